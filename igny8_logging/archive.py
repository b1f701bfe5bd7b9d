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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, Final, Literal

from ._archive_source import MANIFEST, ArchiveSource, Manifest, run_prefix
from ._checksums import Digest, digest_stream
from ._filesource import FileSource
from ._ids import RunRef, TenantId
from ._opening import open_tree_dir
from ._reader import RunLogReader
from ._retention import _remove_if_empty, _remove_run, cutoff, iter_ended_runs
from ._s3 import S3Store, StoreError
from ._sources import RunNotFound

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

EventKind = Literal[
    "planned", "candidate", "bytes", "uploaded", "archived", "kept", "removed", "failed"
]


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


@dataclass(frozen=True, slots=True)
class _Run:
    """A run to archive: when it ended, and the base dir of a local copy (which
    ``delete`` removes)."""

    ref: RunRef
    ended_at: str
    local_dir: str | None


Progress = Callable[[ArchiveEvent], None]


def archive_runs(
    reader: RunLogReader | str | os.PathLike[str],
    url: str,
    *,
    older_than_days: float = 0,
    account_id: TenantId | None = None,
    site_id: TenantId | None = None,
    delete: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[str]:
    """Copy each run that ended more than *older_than_days* ago to ``url``
    (``s3://bucket/prefix``); return the ids of the runs now archived.

    *reader* is a :class:`~igny8_logging.RunLogReader` (runs are read where it
    reads them: Redis, the files, the mirror; never from an archive) or a base
    dir.  Every account and site unless *account_id* / *site_id* name one (like
    :func:`~igny8_logging.prune_runs`); a running run is never archived.  With
    *delete*, each run's local folder is removed once its objects verified;
    *dry_run* lists the runs it would archive and touches nothing; *progress*
    receives an :class:`ArchiveEvent` at each step.  Runs that fail are skipped
    (kept locally) and raised together at the end as :class:`ArchiveError`; a
    bad URL or argument is a ``ValueError`` at once.
    """
    if not isinstance(reader, RunLogReader):
        reader = RunLogReader(reader)  # a base dir: its local tree
    cutoff(older_than_days)  # a bad limit is a ValueError before anything is read
    target = ArchiveSource(url)
    target.store.connect()  # without boto3: ImportError here, not once per run
    emit: Progress = progress or (lambda event: None)
    reader = _without_archives(reader)
    runs = list(_ended_runs(reader, older_than_days, account_id, site_id))
    emit(ArchiveEvent("planned", count=len(runs)))
    if dry_run:
        for run in runs:
            emit(ArchiveEvent("candidate", run.ref.run_id, run.ref.tenant_parts))
        return [run.ref.run_id for run in runs]
    archived, failures = _archive_each(target, reader, runs, delete, emit)
    if failures:
        raise ArchiveError(failures, archived)
    return archived


def _archive_each(
    target: ArchiveSource,
    reader: RunLogReader,
    runs: list[_Run],
    delete: bool,
    emit: Progress,
) -> tuple[list[str], list[ArchiveFailure]]:
    """Archive *runs* one by one: the ids archived, and the failures (a run that
    fails is kept locally; after ``_UNREACHABLE_RUNS`` unreachable runs in a row
    the rest are not tried)."""
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
            _archive_one(target, reader, run, delete, emit)
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
    return archived, failures


def _unreachable(exc: BaseException) -> bool:
    return isinstance(exc, StoreError) and exc.code is None


# -- one run ------------------------------------------------------------------------


def _archive_one(
    target: ArchiveSource, reader: RunLogReader, run: _Run, delete: bool, emit: Progress
) -> None:
    """Archive one run (resuming what an interrupted archive left), then maybe delete it."""
    store, ref = target.store, run.ref
    tenant = ref.tenant_parts
    base = run_prefix(store, ref)
    stored = {key[len(base) :] for key in store.keys(base)}  # one LIST: what a rerun finds
    old = None
    if MANIFEST in stored:
        old = Manifest.parse(store.get_json(base + MANIFEST), ref.run_id)
    names = reader.run_files(ref.run_id, account_id=ref.account_id, site_id=ref.site_id)
    if not names:
        raise RunNotFound(ref.run_id)
    files: dict[str, Digest] = {}
    uploaded = 0
    for name in names:
        known = None if old is None else old.files.get(name)
        digest, sent = _archive_file(store, reader, ref, name, known, name in stored, emit)
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
    store: S3Store,
    reader: RunLogReader,
    ref: RunRef,
    name: str,
    known: Digest | None,
    exists: bool,
    emit: Progress,
) -> tuple[Digest, bool]:
    """Make the object of *name* hold the file's bytes; returns its digest and whether
    it was uploaded now (not when the store already held exactly these bytes)."""
    key = run_prefix(store, ref) + name

    def open_file() -> BinaryIO:
        return reader.open_file(ref.run_id, name, account_id=ref.account_id, site_id=ref.site_id)

    if known is not None or exists:
        with open_file() as stream:
            local = digest_stream(stream)
        if (known is None or known == local) and store.verify(key, local) is None:
            return local, False  # archived before, or by a run that was interrupted
    with open_file() as stream:
        digest = store.upload(key, stream, lambda size: emit(ArchiveEvent("bytes", size=size)))
    problem = store.verify(key, digest)
    if problem is not None:
        raise StoreError(f"{problem} after upload")
    return digest, True


def _remove_local(base_dir: str, ref: RunRef, files: dict[str, Digest]) -> None:
    """Remove the run folder (as prune does: no link followed), if its files are
    exactly the ones that were archived."""
    account, site, run_id = ref.parts
    try:
        site_fd = open_tree_dir(base_dir, (account, site))
    except FileNotFoundError:
        return  # removed meanwhile (a concurrent prune or archive)
    try:
        _check_unchanged(site_fd, run_id, files)
    finally:
        os.close(site_fd)
    _remove_run(base_dir, (account, site), run_id)
    _remove_if_empty(base_dir, (account,), site)
    _remove_if_empty(base_dir, (), account)


def _check_unchanged(site_fd: int, run_id: str, files: dict[str, Digest]) -> None:
    """``OSError`` unless the run folder holds exactly the archived files (by name and
    size: a line appended since it was read, or a copy unlike the one read)."""
    try:
        run_fd = os.open(run_id, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=site_fd)
    except FileNotFoundError:
        return  # removed meanwhile
    try:
        with os.scandir(run_fd) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # the library's own dot-files (locks)
                digest = files.get(entry.name)
                size = entry.stat(follow_symlinks=False).st_size
                if (
                    digest is None
                    or digest.size != size
                    or not entry.is_file(follow_symlinks=False)
                ):
                    raise OSError(
                        f"archived, but the local copy is kept: its {entry.name} changed "
                        "meanwhile or differs from the copy read (archive again to copy it)"
                    )
    finally:
        os.close(run_fd)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the walk -----------------------------------------------------------------------


def _without_archives(reader: RunLogReader) -> RunLogReader:
    """A reader over the same sources but archives: the runs still to copy."""
    sources = [source for source in reader.sources if not isinstance(source, ArchiveSource)]
    return RunLogReader(reader.base_dir, sources=sources)


def _ended_runs(
    reader: RunLogReader, days: float, account_id: TenantId | None, site_id: TenantId | None
) -> Iterator[_Run]:
    """The runs to archive (the walk ``prune_runs`` takes), each with the local tree
    that holds a copy of it, if one does."""
    for found in iter_ended_runs(reader, days, account_id, site_id):
        ref = RunRef.checked(found.run_id, found.account_id, found.site_id)
        local = next(
            (s for s in reader.sources if isinstance(s, FileSource) and s.has_run(ref)), None
        )
        ended = found.ended_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        yield _Run(ref, ended, None if local is None else local.base_dir)
