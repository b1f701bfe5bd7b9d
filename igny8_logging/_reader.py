"""Reading runs back: tails, trace pages, summaries, listings and live follow.

:class:`RunLogReader` is a facade over the places a run can be read from (see
:mod:`._sources`): Redis when it holds the run, else the local files, else the
archive.  Every id from outside is validated here, before any source sees it, so a
reader can be put behind an HTTP endpoint: an unknown run, an invalid id and a run
of another account or site all look the same (:class:`RunNotFound`); a bad count
or cursor is a ``ValueError``; a source that cannot be reached when it is needed
is a :class:`SourceUnavailable`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, BinaryIO, Final, TypeVar

from ._events import RunSummary, fold, is_run_end
from ._filesource import FileSource
from ._ids import (
    RUN_LOG,
    RunRef,
    TenantId,
    check_stage,
    check_tenant,
    default_base_dir,
    run_started_at,
    stage_file,
)
from ._report import FailureLog
from ._sources import (
    MAX_PAGE,
    MAX_TAIL_LINES,
    RunNotFound,
    RunSource,
    SourceUnavailable,
    TracePage,
    check_count,
    check_cursor,
    cursor_kind,
    is_run_file,
    tenant_ids,
    tenant_parts,
)

__all__ = [
    "MAX_PAGE",
    "MAX_TAIL_LINES",
    "RunLogReader",
    "RunNotFound",
    "SourceUnavailable",
    "TracePage",
]

_NO_TIME: Final = datetime.min.replace(tzinfo=UTC)
_T = TypeVar("_T")


#: Sources left out of listings (Redis down...): said on stderr once per outage of
#: each place (keyed by the source's ``repr``: its kind and URL, never a password).
listing_failures: Final = FailureLog("RunLogReader")


def _listed(source: RunSource, listing: Callable[..., list[_T]], *args: Any) -> list[_T]:
    """*source*'s *listing*; nothing from a source that cannot be reached (said once)."""
    place = repr(source)
    try:
        found = listing(*args)
    except SourceUnavailable as exc:
        listing_failures.failed(place, f"{exc}; the runs it holds are not listed until it answers")
        return []
    if listing_failures.failing(place):
        listing_failures.recovered(place, f"{place} answers again")
    return found


def _first_holder(sources: Sequence[RunSource], ref: RunRef) -> RunSource | None:
    """The first of *sources* holding the run, passing over one that cannot be reached;
    ``None`` when none holds it, the first :class:`SourceUnavailable` when one could not
    tell."""
    unreachable: SourceUnavailable | None = None
    for source in sources:
        try:
            if source.has_run(ref):
                return source
        except SourceUnavailable as exc:
            unreachable = unreachable or exc
    if unreachable is not None:
        raise unreachable
    return None


def _is_seconds(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value >= 0


def _optional_str(value: object, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{what} must be a str or None, not {type(value).__name__}")
    return value


class RunLogReader:
    """Reads runs from Redis, the files under *base_dir*, and an archive, in that order.

    *base_dir* defaults to ``$IGNY8_LOG_DIR``, else the library default.  With
    *redis_url*, a run that Redis holds (keys under *prefix*) is read from Redis;
    with *archive_url*, a run found neither there nor in the files is read from the
    archive (a local copy, when present, wins).  *sources*, when given, replaces that
    list: the :class:`~._sources.RunSource` objects to ask, in order (then
    *redis_url* / *archive_url* are not used).  Sources are built on first use, so
    the constructor touches neither disk nor network.
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str] | None = None,
        *,
        redis_url: str | None = None,
        prefix: str = "igny8",
        archive_url: str | None = None,
        sources: Sequence[RunSource] | None = None,
    ) -> None:
        self.base_dir = os.fspath(base_dir) if base_dir is not None else default_base_dir()
        self.redis_url = _optional_str(redis_url, "redis_url")
        self.archive_url = _optional_str(archive_url, "archive_url")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError("prefix must be a non-empty str")
        self.prefix = prefix
        self._sources: tuple[RunSource, ...] | None = None
        if sources is not None:
            self._sources = tuple(sources)
            for source in self._sources:
                if not isinstance(source, RunSource):
                    raise TypeError(f"not a RunSource: {type(source).__name__}")

    @property
    def sources(self) -> tuple[RunSource, ...]:
        """The sources asked, in order (built on first use)."""
        if self._sources is None:
            built: list[RunSource] = []
            if self.redis_url is not None:
                # The 'redis' extra, imported only when asked for.
                redis = importlib.import_module("igny8_logging.redis")
                built.append(redis.RedisSource(self.redis_url, self.prefix))
            built.append(FileSource(self.base_dir))
            if self.archive_url is not None:
                archive = importlib.import_module("igny8_logging.archive")  # the 's3' extra
                built.append(archive.ArchiveSource(self.archive_url))
            self._sources = tuple(built)
        return self._sources

    # -- locating ------------------------------------------------------------------

    def _ref(self, run_id: object, account_id: object, site_id: object) -> RunRef:
        try:
            return RunRef.checked(run_id, account_id, site_id)
        except ValueError as exc:
            raise RunNotFound(str(exc)) from None

    def _source(self, ref: RunRef) -> RunSource:
        """The first source holding the run; a source that cannot be reached is
        passed over (Redis down: the files are read), and when no other holds the
        run its :class:`SourceUnavailable` is raised rather than ``RunNotFound``."""
        holder = _first_holder(self.sources, ref)
        if holder is None:
            raise RunNotFound(
                f"no run {ref.run_id} for account {ref.account_id!r}, site {ref.site_id!r}"
            )
        return holder

    def _cursor_source(self, ref: RunRef, cursor: str) -> RunSource:
        """The source that reads *cursor*: the first source of the cursor's kind that
        still holds the run, even when another source is now asked first (a run read
        from the files until Redis got it keeps its file cursors: no re-send, no skip).
        ``ValueError`` when no source of that kind holds the run any more."""
        kind = cursor_kind(cursor)
        readers = [s for s in self.sources if kind in getattr(s, "cursor_kinds", ())]
        unreachable: SourceUnavailable | None = None
        try:
            found = _first_holder(readers, ref)
        except SourceUnavailable as exc:
            found, unreachable = None, exc
        if found is not None:
            return found
        holder = self._source(ref)  # RunNotFound / SourceUnavailable come first
        if not readers:
            return holder  # a cursor of no known kind: the holder refuses it
        if unreachable is not None:
            raise unreachable
        raise ValueError(
            "invalid cursor: the source that issued it no longer holds this run "
            "(start again without a cursor)"
        )

    def _locate(
        self, run_id: object, account_id: object, site_id: object
    ) -> tuple[RunRef, RunSource]:
        ref = self._ref(run_id, account_id, site_id)
        return ref, self._source(ref)

    @staticmethod
    def _log_name(stage: object) -> str:
        return RUN_LOG if stage is None else stage_file(check_stage(stage))

    # -- reads -----------------------------------------------------------------------

    def tail(
        self,
        run_id: str,
        lines: int = 100,
        *,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
        stage: object = None,
    ) -> list[str]:
        """The last *lines* physical lines of the run log (or the stage's log); ``[]``
        when the run has no such log yet.  A line longer than 128 KiB is cut with a
        ``…[truncated N bytes]`` marker; one whose start lies over 1 MiB back (only
        foreign content) ends the scan: its last 128 KiB are returned, marked
        ``…[start not read]`` in front."""
        check_count(lines, "lines", MAX_TAIL_LINES)
        name = self._log_name(stage)
        ref, source = self._locate(run_id, account_id, site_id)
        return source.tail(ref, name, lines)

    def has_log(
        self,
        run_id: str,
        *,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
        stage: object = None,
    ) -> bool:
        """Whether the run has its log (or the stage's log) yet."""
        name = self._log_name(stage)
        ref, source = self._locate(run_id, account_id, site_id)
        return source.has_file(ref, name)

    def read_trace(
        self,
        run_id: str,
        *,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
        cursor: str | None = None,
        limit: int = 500,
    ) -> TracePage:
        """Up to *limit* whole trace events after *cursor* (from the start when ``None``).

        A cursor is read by the kind of source that issued it, as long as one holds
        the run: a cursor of the files stays a cursor of the files (or of the run's
        archived copy, the same bytes) once Redis holds the run, and a Redis cursor
        is read from Redis.  When no such source holds the run any more (Redis
        expired it, the local copy was pruned), ``ValueError``: start again."""
        check_count(limit, "limit", MAX_PAGE)
        checked = check_cursor(cursor)
        ref = self._ref(run_id, account_id, site_id)
        source = self._source(ref) if checked is None else self._cursor_source(ref, checked)
        return source.read_trace(ref, checked, limit)

    def events(
        self, run_id: str, *, account_id: TenantId | None = None, site_id: TenantId | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every trace event of the run, in order, in bounded memory."""
        ref, source = self._locate(run_id, account_id, site_id)
        return source.events(ref)

    def summary(
        self, run_id: str, *, account_id: TenantId | None = None, site_id: TenantId | None = None
    ) -> RunSummary:
        """The run's status and per-stage state, folded from its trace
        (:class:`~._events.RunState` rules; a plain ``dict``)."""
        ref, source = self._locate(run_id, account_id, site_id)
        lifecycle = getattr(source, "lifecycle_events", None)  # a cheaper pre-filtered read
        events = lifecycle(ref) if lifecycle is not None else source.events(ref)
        return fold(events, ref.run_id, ref.account_id, ref.site_id)

    def run_end(
        self, run_id: str, *, account_id: TenantId | None = None, site_id: TenantId | None = None
    ) -> dict[str, Any] | None:
        """The run's ``run_end`` event, ``None`` while it runs (a backward scan of the
        trace's end where the source can, else a pass over its events)."""
        ref, source = self._locate(run_id, account_id, site_id)
        find = getattr(source, "run_end", None)
        if find is not None:
            found: dict[str, Any] | None = find(ref)
            return found
        last = None
        for event in source.events(ref):
            if is_run_end(event):
                last = event
        return last

    def follow(
        self,
        run_id: str,
        *,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
        stage: object = None,
        lines: int = 0,
        poll_interval: float = 0.2,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Yield lines as they are appended; return once the run ended and all were yielded.

        Starts at the end of the log as it is now; *lines* > 0 first yields that
        many existing lines (like ``tail -n N -f``).  *timeout* (seconds) stops
        following a run that does not end.  A file truncated or replaced under it
        is followed from its new start.  Bad arguments and an unknown run raise
        here, at the call, not at the first ``next()``.
        """
        if lines:
            check_count(lines, "lines", MAX_TAIL_LINES)
        for value, what in ((poll_interval, "poll_interval"), (timeout, "timeout")):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"{what} must be a number of seconds")
        name = self._log_name(stage)
        ref, source = self._locate(run_id, account_id, site_id)
        return source.follow(ref, name, lines, poll_interval, timeout)

    # -- listing ----------------------------------------------------------------------

    def list_runs(
        self, *, account_id: TenantId | None = None, site_id: TenantId | None = None
    ) -> list[str]:
        """The run ids of one account/site from every source, each once, newest first
        by the time in the id (``[]`` for an unknown tenant).  A source that cannot be
        reached is left out (Redis down: the files' runs are listed)."""
        parts = tenant_parts(
            check_tenant(account_id, "account_id"), check_tenant(site_id, "site_id")
        )
        runs = {run for source in self.sources for run in _listed(source, source.list_runs, parts)}
        return sorted(runs, key=lambda run: (run_started_at(run) or _NO_TIME, run), reverse=True)

    def tenants(self) -> list[tuple[str | None, str | None]]:
        """Every ``(account_id, site_id)`` with runs in any source that can be reached,
        ``None`` for a missing id (the ``_`` folders), sorted by folder names; ids are
        folder names (str)."""
        parts = {pair for source in self.sources for pair in _listed(source, source.tenants)}
        return [tenant_ids(pair) for pair in sorted(parts)]

    def run_files(
        self, run_id: str, *, account_id: TenantId | None = None, site_id: TenantId | None = None
    ) -> list[str]:
        """The names of the run's files (``automation_run.log``, ``stage_N.log``,
        ``run_trace.jsonl``), from the source the run is read from."""
        ref, source = self._locate(run_id, account_id, site_id)
        return source.file_names(ref)

    def open_file(
        self,
        run_id: str,
        name: str,
        *,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
    ) -> BinaryIO:
        """One of the run's files as a read-only binary stream (close it); ``ValueError``
        for a name that is no run file, ``FileNotFoundError`` when the run lacks it."""
        if not isinstance(name, str) or not is_run_file(name):
            raise ValueError(f"not a file of a run: {name!r}")
        ref, source = self._locate(run_id, account_id, site_id)
        return source.open_file(ref, name)
