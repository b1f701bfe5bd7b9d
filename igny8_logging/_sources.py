"""Where a run can be read from: the :class:`RunSource` protocol and its shared pieces.

A run lives in one or more places: the local files (:class:`~._filesource.FileSource`),
Redis Streams (``igny8_logging.redis.RedisSource``), an object-store archive
(``igny8_logging.archive.ArchiveSource``).  :class:`~._reader.RunLogReader`
validates every argument, then asks each source in turn whether it holds the run
and reads the run from the first that does.  A source therefore receives only
validated values: a :class:`~._ids.RunRef` (run id and tenant already checked), a
file name the reader built (``automation_run.log``, ``stage_{stage}.log``,
``run_trace.jsonl``), counts already in range, and a cursor that is ``None`` or a
short ``str`` (whose content the source itself must check).

A source never raises for a run it does not hold except :class:`RunNotFound`
(e.g. the run vanished between :meth:`RunSource.has_run` and the read), raises
``ValueError`` only for a cursor it did not issue, and :class:`SourceUnavailable`
when it cannot be reached (Redis down, the object store unreachable) -- from
``has_run`` too, so the reader can tell "not here" from "cannot tell".

Trace cursors name the kind of source that issued them (:func:`cursor_kind`); a
source says which kinds it reads in ``cursor_kinds``, and the reader serves a
cursor from such a source, so a reader never re-sends or skips events when a run
moves between sources (see :meth:`~._reader.RunLogReader.read_trace`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Final, Protocol, runtime_checkable

from ._ids import MISSING, RUN_LOG, TRACE_FILE, RunRef, TenantId, _describe, check_stage

__all__ = [
    "MAX_CURSOR",
    "MAX_PAGE",
    "MAX_TAIL_LINES",
    "RUN_FILES",
    "RunNotFound",
    "RunSource",
    "SourceUnavailable",
    "TracePage",
    "check_count",
    "check_cursor",
    "cursor_kind",
    "is_run_file",
    "ref_from_parts",
    "tenant_ids",
    "tenant_parts",
]

#: The longest cursor any source issues (a longer one is refused before a source sees it).
MAX_CURSOR: Final = 256
#: The most lines one ``tail`` returns, and the most events one trace page holds.
MAX_TAIL_LINES: Final = 10_000
MAX_PAGE: Final = 10_000
#: The fixed file names of a run folder (plus ``stage_{stage}.log`` per stage).
RUN_FILES: Final = (RUN_LOG, TRACE_FILE)


class RunNotFound(LookupError):
    """No such run for this account/site (or its id is not a valid run id)."""


class SourceUnavailable(ConnectionError):
    """A place runs are read from (Redis, the archive) cannot be reached or read now.

    Raised by :class:`~igny8_logging.RunLogReader` when the run is found in no
    reachable source while one could not be asked, or when that source fails in
    the middle of a read.  ``source`` names it (``"Redis"``, ``"the archive"``),
    ``url`` is its URL without a password; the message says both and the cause.
    Worth a retry later: the HTTP endpoints answer 503, the CLI exits 1.
    """

    def __init__(self, source: str, url: str, cause: object) -> None:
        super().__init__(f"cannot read from {source} {url}: {cause}")
        self.source = source
        self.url = url


@dataclass(slots=True)
class TracePage:
    """A page of trace events; pass ``cursor`` back for the next one.

    ``complete`` is true when the run has ended and this page reaches the end of
    its trace.
    """

    events: list[dict[str, Any]]
    cursor: str
    complete: bool


@runtime_checkable
class RunSource(Protocol):
    """One place runs can be read from (files, Redis, an archive).

    Every method takes validated arguments (see the module docstring).  Names of
    files are the bare file names of the run folder.
    """

    def has_run(self, ref: RunRef) -> bool:
        """Whether this source holds the run (its folder, streams or objects exist)."""
        ...

    def tail(self, ref: RunRef, name: str, lines: int) -> list[str]:
        """The last *lines* physical lines of the file, without newlines; ``[]`` if the
        run has no such file.  Cost depends on *lines*, not on the file's size."""
        ...

    def has_file(self, ref: RunRef, name: str) -> bool:
        """Whether the run has the file *name*."""
        ...

    def read_trace(self, ref: RunRef, cursor: str | None, limit: int) -> TracePage:
        """Up to *limit* whole events after *cursor* (from the start when ``None``).

        The cursor is the source's own, opaque; ``ValueError`` for one it did not
        issue for this run (another run's or tenant's, or not at a line start)."""
        ...

    def events(self, ref: RunRef) -> Iterator[dict[str, Any]]:
        """Every trace event of the run, in order, in bounded memory (the summary
        folds these); nothing when the run has no trace."""
        ...

    def follow(
        self, ref: RunRef, name: str, lines: int, poll_interval: float, timeout: float | None
    ) -> Iterator[str]:
        """Lines of the file as they are appended: first the last *lines* existing
        ones (0: start at the current end), then new ones, returning once the run
        has ended and every line was yielded, or after *timeout* seconds."""
        ...

    def list_runs(self, tenant_parts: tuple[str, str]) -> list[str]:
        """The run ids of one tenant, given as path parts (``"_"`` for a missing id);
        any order (the reader sorts); ``[]`` for an unknown tenant."""
        ...

    def tenants(self) -> list[tuple[str, str]]:
        """Every ``(account, site)`` path-part pair this source holds runs for."""
        ...

    def file_names(self, ref: RunRef) -> list[str]:
        """The run's files (bare names, no dot-files of the library's own)."""
        ...

    def open_file(self, ref: RunRef, name: str) -> BinaryIO:
        """The whole file as a read-only binary stream; ``FileNotFoundError`` if absent."""
        ...


# -- shared helpers -------------------------------------------------------------------


def tenant_parts(account_id: TenantId | None, site_id: TenantId | None) -> tuple[str, str]:
    """The folder names of a (validated) tenant: ``_`` for a missing id."""
    return (
        MISSING if account_id is None else str(account_id),
        MISSING if site_id is None else str(site_id),
    )


def tenant_ids(parts: tuple[str, str]) -> tuple[str | None, str | None]:
    """The ids of a tenant given as folder names: ``None`` for ``_``."""
    account, site = parts
    return (None if account == MISSING else account, None if site == MISSING else site)


def ref_from_parts(run_id: str, parts: tuple[str, str]) -> RunRef:
    """A :class:`RunRef` for a run found under the folders *parts* (validated again)."""
    account, site = tenant_ids(parts)
    return RunRef.checked(run_id, account, site)


def is_run_file(name: str) -> bool:
    """Whether *name* is one of the files a run folder holds (not a dot-file, not foreign)."""
    if name in RUN_FILES:
        return True
    if not (name.startswith("stage_") and name.endswith(".log")):
        return False
    try:
        check_stage(name[len("stage_") : -len(".log")])
    except ValueError:
        return False
    return True


def check_cursor(cursor: object) -> str | None:
    """*cursor* if it is ``None`` or a str of 1..:data:`MAX_CURSOR` characters, else
    ``ValueError`` (the content is for the source to check)."""
    if cursor is None:
        return None
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR:
        raise ValueError("invalid cursor")
    return str.__str__(cursor)


def cursor_kind(cursor: str) -> str | None:
    """The kind tag a source put at the start of its cursor (``"v1"``: a byte offset
    of the files or the archive, ``"r1"``: a Redis stream id), ``None`` for a string
    no source issued."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        return None
    kind, sep, _ = raw.partition(b":")
    return kind.decode("ascii") if sep and kind.isalnum() and kind.isascii() else None


def check_count(value: object, what: str, high: int) -> int:
    """*value* if it is an int from 1 to *high* (not a bool, not a str), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(f"{what} must be an int from 1 to {high}, not {_describe(value)}")
    return int.__int__(value)
