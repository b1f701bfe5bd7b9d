"""The ``logging.Handler`` classes: one per kind of file in a run folder.

Each handler routes a record by its run context (see :mod:`._routing`), renders
it once, and appends the bytes to the primary tree under ``base_dir`` and, when
configured, to the mirror under ``shared_dir`` through the same
:class:`~._files.FileTree` code.  ``emit`` never raises: a failing destination
is reported once on stderr until it works again and counted in ``failures``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any, Final

from ._files import FileTree
from ._format import TextFormatter, make_line_safe, truncate_utf8
from ._ids import RUN_LOG, TRACE_FILE, default_base_dir, stage_file
from ._routing import Route, route_of
from ._trace import TraceFormatterMixin

__all__ = ["BaseRunHandler", "RunLogHandler", "StageLogHandler", "TraceHandler"]

FSYNC_POLICIES: Final = ("never", "stage", "always")
#: Events after which the ``stage`` fsync policy syncs the files.
SYNC_EVENTS: Final = frozenset({"stage_complete", "stage_error", "run_end"})


@functools.lru_cache(maxsize=8)
def _shared_text_formatter(max_record_bytes: int) -> TextFormatter:
    # One instance per size, so the run and stage handlers share the rendering.
    return TextFormatter(max_record_bytes)


def trace_formatter(
    backend: str = "auto", max_record_bytes: int = 64 * 1024
) -> TraceFormatterMixin:
    """A trace formatter on *backend*: ``"json"``, ``"orjson"`` or ``"auto"``."""
    if backend not in ("auto", "json", "orjson"):
        raise ValueError(f"unknown json backend {backend!r}: use 'auto', 'json' or 'orjson'")
    if backend != "json":
        try:
            from ._trace_orjson import OrjsonTraceFormatter
        except ImportError:
            if backend == "orjson":
                raise
        else:
            return OrjsonTraceFormatter(max_record_bytes)
    from ._trace_json import JsonTraceFormatter

    return JsonTraceFormatter(max_record_bytes)


class BaseRunHandler(logging.Handler):
    """Common machinery: routing, the primary and mirror trees, failure reporting.

    Subclasses implement :meth:`filename` (which file of the run folder a
    record goes to, or ``None``) and :meth:`render` (its bytes).
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str] | None = None,
        shared_dir: str | os.PathLike[str] | None = None,
        *,
        level: int | str = logging.NOTSET,
        dir_mode: int = 0o750,
        file_mode: int = 0o640,
        max_record_bytes: int = 64 * 1024,
        max_open_files: int = 32,
        fsync: str = "never",
    ) -> None:
        super().__init__(level)
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {FSYNC_POLICIES}, not {fsync!r}")
        if not isinstance(max_record_bytes, int) or max_record_bytes < 64:
            raise ValueError("max_record_bytes must be an int >= 64")
        self.base_dir = os.fspath(base_dir) if base_dir is not None else default_base_dir()
        self.shared_dir = os.fspath(shared_dir) if shared_dir is not None else None
        self.max_record_bytes = max_record_bytes
        self.fsync = fsync
        tree_opts: dict[str, Any] = {
            "dir_mode": dir_mode,
            "file_mode": file_mode,
            "max_open": max_open_files,
        }
        self.trees = [FileTree(self.base_dir, label="primary", **tree_opts)]
        if self.shared_dir is not None:
            self.trees.append(FileTree(self.shared_dir, label="mirror", **tree_opts))
        self.refused = 0
        self._refusal_reported = False

    # -- hooks -------------------------------------------------------------

    def filename(self, record: logging.LogRecord, route: Route) -> str | None:
        """The file of the run folder *record* goes to, ``None`` to skip it."""
        raise NotImplementedError

    def render(self, record: logging.LogRecord, route: Route) -> bytes:
        """The bytes appended for *record*, ending with a newline."""
        raise NotImplementedError

    def report(self, message: str) -> None:
        """Tell the operator about a failure (once per episode); stderr by default."""
        try:
            sys.stderr.write(f"igny8_logging: {type(self).__name__}: {message}\n")
            sys.stderr.flush()
        except Exception:
            pass

    # -- counts ------------------------------------------------------------

    @property
    def failures(self) -> dict[str, int]:
        """Failed writes per destination: ``{"primary": n, "mirror": n}``."""
        return {tree.label: tree.failures for tree in self.trees}

    # -- logging.Handler -----------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            try:
                route = route_of(record)
            except ValueError as exc:
                self._refuse(exc)
                return
            if route is None:
                return
            name = self.filename(record, route)
            if name is None:
                return
            data = self.render(record, route)
            sync = self.fsync == "always" or (self.fsync == "stage" and route.event in SYNC_EVENTS)
            parts = route.parts
            for tree in self.trees:
                try:
                    tree.write(parts, name, data, sync=sync)
                except Exception as exc:
                    self._failed(tree, parts, name, exc)
                else:
                    if tree.failing:
                        tree.failing = False
                        self.report(f"{tree.label} {tree.root!r} works again")
        except Exception:
            self.handleError(record)

    def _refuse(self, exc: ValueError) -> None:
        self.refused += 1
        if not self._refusal_reported:
            self._refusal_reported = True
            self.report(f"record refused, not written: {exc} (further refusals are counted)")

    def _failed(self, tree: FileTree, parts: tuple[str, ...], name: str, exc: Exception) -> None:
        tree.failures += 1
        if not tree.failing:
            tree.failing = True
            where = os.path.join(tree.root, *parts, name)
            self.report(
                f"cannot write {tree.label} {where!r}: {exc} "
                "(further failures are counted, not reported, until it works again)"
            )

    def flush(self) -> None:
        """Nothing is buffered: every record is written when it is emitted."""

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            for tree in self.trees:
                tree.close()
        super().close()


def _stamp(record: logging.LogRecord, route: Route) -> None:
    """Give the route's ids to a user's formatter as attributes (``%(run_id)s``...)."""
    d = record.__dict__
    for key, value in (
        ("run_id", route.run_id),
        ("account_id", route.account_id),
        ("site_id", route.site_id),
        ("stage", route.stage),
        ("event", route.event),
    ):
        d.setdefault(key, value)


class _TextHandler(BaseRunHandler):
    def render(self, record: logging.LogRecord, route: Route) -> bytes:
        formatter = self.formatter or _shared_text_formatter(self.max_record_bytes)
        if isinstance(formatter, TextFormatter):
            data = route.rendered.get(formatter)
            if data is None:
                text = formatter.format_record(record, route)
                data = route.rendered[formatter] = text.encode("utf-8", "backslashreplace")
            return data
        _stamp(record, route)
        text = truncate_utf8(formatter.format(record), self.max_record_bytes)
        return (make_line_safe(text) + "\n").encode("utf-8", "backslashreplace")


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

    ``json_backend`` picks python-json-logger's serializer: ``"orjson"`` (extra
    ``fast``), ``"json"`` (standard library) or ``"auto"`` (orjson when installed).
    """

    def __init__(
        self,
        base_dir: str | os.PathLike[str] | None = None,
        shared_dir: str | os.PathLike[str] | None = None,
        *,
        json_backend: str = "auto",
        **opts: Any,
    ) -> None:
        super().__init__(base_dir, shared_dir, **opts)
        self.trace_formatter = trace_formatter(json_backend, self.max_record_bytes)

    def filename(self, record: logging.LogRecord, route: Route) -> str | None:
        if route.event is None and record.levelno < logging.WARNING:
            return None
        return TRACE_FILE

    def render(self, record: logging.LogRecord, route: Route) -> bytes:
        formatter = self.formatter
        if isinstance(formatter, TraceFormatterMixin):
            text = formatter.format_trace(record, route)
        elif formatter is not None:
            _stamp(record, route)
            text = make_line_safe(formatter.format(record)) + "\n"
        else:
            text = self.trace_formatter.format_trace(record, route)
        return text.encode("utf-8", "backslashreplace")
