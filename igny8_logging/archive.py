"""Archive ended runs to S3-compatible object storage, and read them back (extra ``s3``).

:func:`archive_runs` copies each ended run to
``{prefix}/{account}/{site}/{run_id}/{file}``; :class:`ArchiveSource` reads those
objects back, and ``RunLogReader(archive_url=...)`` uses it for runs no longer
held locally.  Endpoint and credentials come the standard boto3 way
(``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID`` ...).

How a run is archived, so that it is copied once and never lost:

1. its files are read through the reader (local files, the mirror, Redis), and
   each is uploaded (in bounded parts, with SHA-256 checksums) unless the store
   already holds exactly its bytes, which is how an interrupted archive resumes;
2. every object is checked: its size and checksum against what was read;
3. the manifest ``.igny8-archive.json`` (the only other object of a run) is
   written last, listing each file's size and digests: a run archived again is
   read locally, compared, and uploads nothing;
4. only then, with ``delete``, the local run folder is removed, provided its files
   are still those that were checked (no link followed).

A run that fails (the store unreachable, an object that does not verify, a file
that cannot be read) keeps its local copy and is reported once; the others go on,
and :class:`ArchiveError` at the end lists the failures.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from ._archive_source import MANIFEST, ArchiveSource, Manifest, run_prefix
from ._checksums import Digest, digest_stream
from ._events import is_run_end
from ._files import open_tree_dir
from ._filesource import FileSource
from ._ids import MISSING, RunRef, check_tenant
from ._reader import RunLogReader
from ._s3 import S3Store, StoreError
from ._sources import RunNotFound, RunSource, ref_from_parts

__all__ = [
    "MANIFEST",
    "ArchiveError",
    "ArchiveEvent",
    "ArchiveFailure",
    "ArchiveSource",
    "StoreError",
    "archive_runs",
]

#: After this many runs in a row failed to reach the store, the rest are not tried.
_UNREACHABLE_RUNS: Final = 3

EventKind = Literal["planned", "candidate", "bytes", "uploaded", "archived", "kept", "removed", "failed"]


@dataclass(frozen=True, slots=True)
class ArchiveEvent:
    """One step of :func:`archive_runs`, for a progress display.

    ``planned`` (``count`` runs to do), ``candidate`` (with ``dry_run``: a run it
    would archive), ``bytes`` (``size`` more bytes read or sent),
    ``uploaded`` (the object ``name`` of a run), ``archived`` (a run is in the store,
    ``count`` objects uploaded for it now, ``size`` bytes in all), ``kept`` (it was
    already archived: nothing uploaded), ``removed`` (its local copy was deleted),
    ``failed`` (``message`` says why; nothing local was removed).
    """

    kind: EventKind
    run_id: str = ""
    tenant: tuple[str, str] = ("_", "_")
    name: str = ""
    count: int = 0
    size: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class ArchiveFailure:
    """A run that could not be archived (its local copy is untouched)."""

    run_id: str
    tenant: tuple[str, str]
    message: str

    def __str__(self) -> str:
        return f"{'/'.join(self.tenant)}/{self.run_id}: {self.message}"


class ArchiveError(Exception):
    """Some runs could not be archived; ``archived`` lists those that were."""

    def __init__(self, failures: list[ArchiveFailure], archived: list[str]) -> None:
        self.failures = failures
        self.archived = archived
        count = len(failures)
        super().__init__(
            f"{count} run{'s' if count != 1 else ''} not archived (first: {failures[0]})"
        )


@dataclass(slots=True)
class _Run:
    """A run to archive: where it is read from, and when it ended."""

    ref: RunRef
    source: RunSource
    ended_at: str
    local_dir: str | None = None  # the base dir of the local copy that delete removes


Progress = Callable[[ArchiveEvent], None]


def _check_days(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValueError(f"older_than_days must be a number >= 0, not {value!r}")
    return float(value)


def archive_runs(
    reader: RunLogReader,
    url: str,
    *,
    older_than_days: float = 0,
    account_id: int | str | None = None,
    site_id: int | str | None = None,
    delete: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[str]:
    """Copy each run that ended more than *older_than_days* ago to ``url``
    (``s3://bucket/prefix``); return the ids of the runs now archived.

    Every account and site unless *account_id* / *site_id* name one (like
    :func:`~igny8_logging.prune_runs`); a running run is never archived.  With
    *delete*, each run's local folder is removed once its objects verified;
    *dry_run* lists the runs it would archive and touches nothing.  Runs that
    fail are skipped (kept locally) and raised together at the end as
    :class:`ArchiveError`; a bad URL or argument is a ``ValueError`` at once.
    """
    days = _check_days(older_than_days)
    target = ArchiveSource(url)
    cutoff = datetime.now(UTC) - timedelta(days=days)
    emit: Progress = progress or (lambda event: None)
    runs = list(_ended_runs(reader, cutoff, account_id, site_id))
    emit(ArchiveEvent("planned", count=len(runs)))
    if dry_run:
        for run in runs:
            emit(ArchiveEvent("candidate", run.ref.run_id, run.ref.tenant_parts))
        return [run.ref.run_id for run in runs]
    archived: list[str] = []
    failures: list[ArchiveFailure] = []
    unreachable = 0
    for run in runs:
        tenant = run.ref.tenant_parts
        if unreachable >= _UNREACHABLE_RUNS:
            message = f"not tried: the store was unreachable for {unreachable} runs in a row"
            failures.append(ArchiveFailure(run.ref.run_id, tenant, message))
            emit(ArchiveEvent("failed", run.ref.run_id, tenant, message=message))
            continue
        try:
            _archive_one(target, run, delete, emit)
        except RunNotFound:
            continue  # vanished mid-walk (pruned, or archived by another process)
        except (StoreError, OSError, ValueError) as exc:
            unreachable = unreachable + 1 if _unreachable(exc) else 0
            message = target.store.mask(" ".join(str(exc).split()) or type(exc).__name__)
            failures.append(ArchiveFailure(run.ref.run_id, tenant, message))
            emit(ArchiveEvent("failed", run.ref.run_id, tenant, message=message))
            continue
        unreachable = 0
        archived.append(run.ref.run_id)
    if failures:
        raise ArchiveError(failures, archived)
    return archived


def _unreachable(exc: BaseException) -> bool:
    return isinstance(exc, StoreError) and exc.code is None


# -- one run ------------------------------------------------------------------------


def _archive_one(target: ArchiveSource, run: _Run, delete: bool, emit: Progress) -> None:
    """Archive one run (resuming what an interrupted archive left), then maybe delete it."""
    store, ref = target.store, run.ref
    tenant = ref.tenant_parts
    base = run_prefix(store, ref)
    old = Manifest.parse(store.get_json(base + MANIFEST), ref.run_id)
    names = run.source.file_names(ref)
    if not names:
        raise RunNotFound(ref.run_id)
    files: dict[str, Digest] = {}
    uploaded = 0
    for name in names:
        known = None if old is None else old.files.get(name)
        digest, sent = _archive_file(store, run, name, known, emit)
        files[name] = digest
        if sent:
            uploaded += 1
            emit(ArchiveEvent("uploaded", ref.run_id, tenant, name=name, size=digest.size))
    if old is None or old.files != files:
        manifest = Manifest(ref.run_id, files, run.ended_at, _now())
        data = json.dumps(manifest.as_dict(*tenant), indent=1, sort_keys=True).encode()
        store.put_bytes(base + MANIFEST, data, "application/json")
        target.forget(ref)
    total = sum(digest.size for digest in files.values())
    kind: EventKind = "archived" if uploaded or old is None else "kept"
    emit(ArchiveEvent(kind, ref.run_id, tenant, count=uploaded, size=total))
    if delete and run.local_dir is not None:
        _remove_local(run.local_dir, ref, files)
        emit(ArchiveEvent("removed", ref.run_id, tenant, size=total))


def _archive_file(
    store: S3Store, run: _Run, name: str, known: Digest | None, emit: Progress
) -> tuple[Digest, bool]:
    """Make the object of *name* hold the file's bytes; returns its digest and whether
    it was uploaded now (not when the store already held exactly these bytes)."""
    key = run_prefix(store, run.ref) + name
    if known is not None or store.head(key) is not None:
        with run.source.open_file(run.ref, name) as stream:
            local = digest_stream(stream)
        if (known is None or known == local) and store.verify(key, local) is None:
            return local, False  # archived before, or by a run that was interrupted
    with run.source.open_file(run.ref, name) as stream:
        digest = store.upload(key, stream, lambda size: emit(ArchiveEvent("bytes", size=size)))
    problem = store.verify(key, digest)
    if problem is not None:
        raise StoreError(f"{problem} after upload")
    return digest, True


def _remove_local(base_dir: str, ref: RunRef, files: dict[str, Digest]) -> None:
    """Remove the run folder, if its files are exactly the ones that were archived."""
    account, site, run_id = ref.parts
    try:
        site_fd = open_tree_dir(base_dir, (account, site))
    except FileNotFoundError:
        return  # removed meanwhile (a concurrent prune or archive)
    try:
        _check_unchanged(site_fd, run_id, files)
        # shutil.rmtree with dir_fd removes through descriptors: no link is followed.
        shutil.rmtree(run_id, dir_fd=site_fd)
    finally:
        os.close(site_fd)
    for parts, name in (((account,), site), ((), account)):
        try:
            fd = open_tree_dir(base_dir, parts)
        except OSError:
            return
        try:
            os.rmdir(name, dir_fd=fd)
        except OSError:
            return  # not empty (other runs), or gone
        finally:
            os.close(fd)


def _check_unchanged(site_fd: int, run_id: str, files: dict[str, Digest]) -> None:
    run_fd = os.open(run_id, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=site_fd)
    try:
        with os.scandir(run_fd) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # the library's own dot-files (locks)
                digest = files.get(entry.name)
                size = entry.stat(follow_symlinks=False).st_size
                if digest is None or digest.size != size or not entry.is_file(
                    follow_symlinks=False
                ):
                    raise OSError(
                        f"archived, but the local copy is kept: {entry.name} changed "
                        "meanwhile (archive again to copy it)"
                    )
    finally:
        os.close(run_fd)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the walk -----------------------------------------------------------------------


def _wanted(value: int | str | None, what: str) -> str | None:
    """The folder name a tenant filter selects (``None``: every one; ``"_"``: no id)."""
    if value is None or value == MISSING:
        return value
    checked = check_tenant(value, what)
    return None if checked is None else str(checked)


def _sources(reader: RunLogReader) -> list[RunSource]:
    """The reader's sources but archives: a run is read where the reader reads it."""
    return [source for source in reader.sources if not isinstance(source, ArchiveSource)]


def _ended_at(source: RunSource, ref: RunRef) -> str | None:
    """The ``ts`` of the run's ``run_end`` (``None`` while it runs)."""
    find = getattr(source, "run_end", None)
    if callable(find):
        event = find(ref)
    else:
        event = None
        for item in source.events(ref):
            if is_run_end(item):
                event = item
    ts = None if not isinstance(event, dict) else event.get("ts")
    return ts if isinstance(ts, str) else None


def _parse_ts(ts: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _ended_runs(
    reader: RunLogReader,
    cutoff: datetime,
    account_id: int | str | None,
    site_id: int | str | None,
) -> Iterator[_Run]:
    """Every run of the wanted tenants whose ``run_end`` is older than *cutoff*, oldest
    first, with the source the reader reads it from."""
    account, site = _wanted(account_id, "account_id"), _wanted(site_id, "site_id")
    sources = _sources(reader)
    tenants = sorted({pair for source in sources for pair in source.tenants()})
    for parts in tenants:
        if account not in (None, parts[0]) or site not in (None, parts[1]):
            continue
        run_ids = {run_id for source in sources for run_id in source.list_runs(parts)}
        for run_id in sorted(run_ids, key=lambda run: (run[4:19], run)):
            try:
                ref = ref_from_parts(run_id, parts)
                holder = next((s for s in sources if s.has_run(ref)), None)
                ts = None if holder is None else _ended_at(holder, ref)
            except (RunNotFound, ValueError, OSError):
                continue  # vanished mid-walk, or not a run of ours
            when = None if ts is None else _parse_ts(ts)
            if holder is None or ts is None or when is None or when >= cutoff:
                continue
            local = next(
                (s for s in sources if isinstance(s, FileSource) and s.has_run(ref)), None
            )
            yield _Run(ref, holder, ts, None if local is None else local.base_dir)
