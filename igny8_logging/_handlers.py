"""The ``logging.Handler`` classes: one per kind of file in a run folder.

Each handler routes a record by its run context (see :mod:`._routing`), gets
its bytes from :mod:`._render` (made once per record, whichever handler or
destination asks first), and appends them to the primary tree under
``base_dir`` and, when configured, to the mirror under ``shared_dir`` through
the same :class:`~._files.FileTree` code: one ``write`` per record per file on
an ``O_APPEND`` descriptor, nothing buffered.

``handle`` takes no handler lock: an ``O_APPEND`` write is atomic, and the
descriptor cache has its own (re-entrant) lock.  The handler's lock still
exists for ``acquire`` / ``release`` callers (``dictConfig``, ``logging.shutdown``).
``emit`` never raises: a failing destination is reported once until it works
again and counted (:class:`~._report.FailureLog`; :meth:`BaseRunHandler.report`
is the override point).

With the C accelerator built, ``BaseRunHandler.handle`` is :data:`C_HANDLE`:
the same work in one C call for the stock handlers' common case (no filter,
no formatter, ``fsync="never"``, no method replaced, the file already open),
writing the bytes this module writes; anything else it hands to
:func:`handle_unlocked` and ``emit`` (``_speedups_handlers.c``).
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Literal, get_args

from . import _accel, _files, _format, _ids, _routing, _trace
from ._events import LOG, RUN_START, SYNC_EVENTS
from ._files import FileTree
from ._ids import RUN_LOG, TRACE_FILE, default_base_dir, stage_file
from ._render import formatted_text, text_bytes, text_formatter, trace_bytes
from ._report import FailureLog, write_stderr
from ._routing import ROUTE_ATTR, Route, route_of
from ._trace import JsonBackend, TraceFormatter
from ._trace_backend import trace_formatter
from ._watch import WATCHER

__all__ = [
    "C_HANDLE",
    "BaseRunHandler",
    "FsyncPolicy",
    "RunLogHandler",
    "StageLogHandler",
    "TraceHandler",
    "handle_unlocked",
]

FsyncPolicy = Literal["never", "stage", "always"]
FSYNC_POLICIES: Final = get_args(FsyncPolicy)
PathArg = str | os.PathLike[str] | None
_poll: Final = WATCHER.poll


def handle_unlocked(
    handler: logging.Handler, record: logging.LogRecord
) -> logging.LogRecord | bool:
    """``Handler.handle`` without the lock, for handlers whose ``emit`` needs none."""
    if handler.filters:
        rv = handler.filter(record)
        if not rv:
            return rv
        if isinstance(rv, logging.LogRecord):  # Python 3.12+: a filter may replace it
            record = rv
    handler.emit(record)
    return True


class BaseRunHandler(logging.Handler):
    """Common machinery: routing, the primary and mirror trees, failure reporting.

    Subclasses implement :meth:`filename` (which file of the run folder a
    record goes to, or ``None``) and :meth:`render` (its bytes).
    """

    def __init__(
        self,
        base_dir: PathArg = None,
        shared_dir: PathArg = None,
        *,
        level: int | str = logging.NOTSET,
        dir_mode: int = 0o750,
        file_mode: int = 0o640,
        max_record_bytes: int = 64 * 1024,
        max_open_files: int = 32,
        fsync: FsyncPolicy = "never",
    ) -> None:
        super().__init__(level)
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, not {fsync!r}")
        if type(max_record_bytes) is not int or max_record_bytes < 64:
            raise ValueError("max_record_bytes must be an int >= 64")
        self.base_dir = os.fspath(base_dir) if base_dir is not None else default_base_dir()
        self.shared_dir = os.fspath(shared_dir) if shared_dir is not None else None
        self.max_record_bytes = max_record_bytes
        self.fsync: FsyncPolicy = fsync
        roots = [("primary", self.base_dir)]
        if self.shared_dir is not None:
            roots.append(("mirror", self.shared_dir))
        #: The primary tree, then the mirror's when ``shared_dir`` is set.
        self.trees = [
            FileTree(root, label=label, dir_mode=dir_mode, file_mode=file_mode,
                     max_open=max_open_files)
            for label, root in roots
        ]  # fmt: skip
        #: Failures per destination (``"primary"``, ``"mirror"``) and refusals (``"refused"``).
        self.failure_log = FailureLog(type(self).__name__, emit=self.report)
        self._failed_once = False
        self._text = text_formatter(max_record_bytes)

    # -- hooks -------------------------------------------------------------

    def filename(self, record: logging.LogRecord, route: Route) -> str | None:
        """The file of the run folder *record* goes to, ``None`` to skip it."""
        raise NotImplementedError

    def render(self, record: logging.LogRecord, route: Route) -> bytes:
        """The bytes appended for *record*, ending with a newline."""
        raise NotImplementedError

    def report(self, line: str) -> None:
        """Tell the operator about a failure (once per episode) or a recovery.

        *line* reads ``"<HandlerClass>: <what happened>"``; the default writes it
        on stderr (silent when ``logging.raiseExceptions`` is false).
        """
        write_stderr(line)

    # -- counts ------------------------------------------------------------

    @property
    def failures(self) -> dict[str, int]:
        """Failed writes per destination: ``{"primary": n, "mirror": n}``."""
        counts = self.failure_log.counts
        return {tree.label: counts[tree.label] for tree in self.trees}

    @property
    def refused(self) -> int:
        """Records refused for naming an invalid run, tenant or stage."""
        return self.failure_log.counts["refused"]

    # -- logging.Handler -----------------------------------------------------

    #: Filter, then emit without the handler lock (see the module docstring).
    handle = handle_unlocked  # type: ignore[assignment]

    def emit(self, record: logging.LogRecord) -> None:
        try:
            route = record.__dict__.get(ROUTE_ATTR)
            if route is None:
                route = self._route(record)
            if not route:
                return
            name = self.filename(record, route)
            if name is None:
                return
            data = self.render(record, route)
            if not route.polled:  # once per record, for every handler and tree
                route.polled = True
                _poll()
            fsync = self.fsync
            sync = fsync != "never" and (fsync == "always" or route.event in SYNC_EVENTS)
            parts = route.parts
            for tree in self.trees:
                self._append(tree, parts, name, data, sync)
        except Exception:
            self.handleError(record)

    def _append(
        self, tree: FileTree, parts: tuple[str, ...], name: str, data: bytes, sync: bool
    ) -> None:
        """One tree's append: a failure counted and reported, a recovery reported."""
        try:
            tree.append_at(parts, name, data, sync)
        except Exception as exc:
            self._failed(tree, (*parts, name), exc)
        else:
            if self._failed_once:
                self._recovered(tree)

    def _recovered(self, tree: FileTree) -> None:
        self.failure_log.recovered(tree.label, f"{tree.label} {tree.root!r} works again")

    def _route(self, record: logging.LogRecord) -> Route | None:
        try:
            return route_of(record)
        except ValueError as exc:
            self.failure_log.failed("refused", f"record refused, not written: {exc}")
            return None

    def _failed(self, tree: FileTree, key: tuple[str, ...], exc: Exception) -> None:
        self._failed_once = True
        where = tree.path(key)
        self.failure_log.failed(tree.label, f"cannot write {tree.label} {where!r}: {exc}")

    def flush(self) -> None:
        """Nothing is buffered: every record is written when it is emitted."""

    def close(self) -> None:
        for tree in self.trees:
            tree.close()
        super().close()


def _report_error(handler: logging.Handler, record: logging.LogRecord, exc: Exception) -> None:
    """``handler.handleError(record)`` for *exc*, raised in the C handle (see below)."""
    try:
        raise exc
    except Exception:
        handler.handleError(record)


class _TextHandler(BaseRunHandler):
    def render(self, record: logging.LogRecord, route: Route) -> bytes:
        formatter = self.formatter
        if formatter is None:  # the library's layout, made once per record for every file
            return text_bytes(self._text, record, route)
        return formatted_text(formatter, record, route, self.max_record_bytes)


class RunLogHandler(_TextHandler):
    """Writes every record of a run to ``{run folder}/automation_run.log``."""

    def filename(self, record: logging.LogRecord, route: Route) -> str | None:
        return RUN_LOG


class StageLogHandler(_TextHandler):
    """Writes the records of a stage to ``{run folder}/stage_{stage}.log``."""

    def filename(self, record: logging.LogRecord, route: Route) -> str | None:
        return None if route.stage is None else stage_file(route.stage)


class TraceHandler(BaseRunHandler):
    """Writes events and ``WARNING``+ records to ``{run folder}/run_trace.jsonl``.

    ``json_backend``: ``"orjson"`` (extra ``fast``), ``"json"`` (standard
    library) or ``"auto"`` (orjson when installed); both write the same bytes.
    """

    def __init__(
        self,
        base_dir: PathArg = None,
        shared_dir: PathArg = None,
        *,
        level: int | str = logging.NOTSET,
        dir_mode: int = 0o750,
        file_mode: int = 0o640,
        max_record_bytes: int = 64 * 1024,
        max_open_files: int = 32,
        fsync: FsyncPolicy = "never",
        json_backend: JsonBackend = "auto",
    ) -> None:
        super().__init__(
            base_dir,
            shared_dir,
            level=level,
            dir_mode=dir_mode,
            file_mode=file_mode,
            max_record_bytes=max_record_bytes,
            max_open_files=max_open_files,
            fsync=fsync,
        )
        self.json_backend: JsonBackend = json_backend
        self.trace_formatter = trace_formatter(json_backend, self.max_record_bytes)

    def filename(self, record: logging.LogRecord, route: Route) -> str | None:
        if route.event is None and record.levelno < logging.WARNING:
            return None
        return TRACE_FILE

    def render(self, record: logging.LogRecord, route: Route) -> bytes:
        formatter = self.formatter
        if formatter is None:
            return trace_bytes(self.trace_formatter, record, route)
        if isinstance(formatter, TraceFormatter):
            return trace_bytes(formatter, record, route)
        return formatted_text(formatter, record, route, self.max_record_bytes)


def _c_handle() -> Callable[[BaseRunHandler, logging.LogRecord], object] | None:
    """The C accelerator's ``handle`` (:mod:`._accel`): :func:`handle_unlocked` and
    ``emit`` in one call for the stock handlers' common case, else this module's code."""
    configure = _accel.configure_handlers
    if configure is None or _routing._route_fast is None:
        return None
    spec: dict[str, object] = {
        "BaseRunHandler": BaseRunHandler,
        "RunLogHandler": RunLogHandler,
        "StageLogHandler": StageLogHandler,
        "TraceHandler": TraceHandler,
        "emit": BaseRunHandler.emit,
        "RunLogHandler.filename": RunLogHandler.filename,
        "StageLogHandler.filename": StageLogHandler.filename,
        "TraceHandler.filename": TraceHandler.filename,
        "RunLogHandler.render": RunLogHandler.render,
        "StageLogHandler.render": StageLogHandler.render,
        "TraceHandler.render": TraceHandler.render,
        "_route": BaseRunHandler._route,
        "handle_unlocked": handle_unlocked,
        "_report_error": _report_error,
        "Route": Route,
        "ROUTE_ATTR": ROUTE_ATTR,
        "LogRecord": logging.LogRecord,
        "LogRecord.getMessage": logging.LogRecord.getMessage,
        "FileTree": FileTree,
        "FileTree.append_at": FileTree.append_at,
        "OrderedDict": OrderedDict,
        "vars(_files)": vars(_files),
        "os": os,
        "_stage_files": _ids._stage_files,
        "RUN_LOG": RUN_LOG,
        "TRACE_FILE": TRACE_FILE,
        "RUN_START": RUN_START,
        "LOG": LOG,
        "_NO_FIELDS": _format._NO_FIELDS,
        "_COMMON": _routing._COMMON,
        "WATCHER": WATCHER,
        "WARNING": logging.WARNING,
        "_LINE_FACTOR": _trace._LINE_FACTOR,
    }
    made: Callable[[BaseRunHandler, logging.LogRecord], object] | None = _accel.set_up(
        configure, spec
    )
    return made


#: The C ``handle`` when the accelerator is built (it replaces :func:`handle_unlocked`
#: on :class:`BaseRunHandler`), else ``None``.
C_HANDLE: Final = _c_handle()
if C_HANDLE is not None:
    BaseRunHandler.handle = C_HANDLE  # type: ignore[assignment]
