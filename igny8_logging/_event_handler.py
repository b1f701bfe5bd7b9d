"""``RunEventHandler``: every trace event of a run, as a mapping, to your code.

Subclass it and implement :meth:`RunEventHandler.handle_event`; add it to the
run's logger (``dictConfig`` works: ``{"class": "myapp.logs.MyHandler"}``).
It receives exactly what the trace handler writes, in the process that logged
it: the records that carry an event, and the ``WARNING``+ records of a run,
each as the mapping of its ``run_trace.jsonl`` line.  A failing
``handle_event`` never raises into the caller: it is counted in
:attr:`RunEventHandler.failures` and reported once per episode on stderr, like
a failing file.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from ._render import trace_event
from ._report import FailureLog, write_stderr
from ._routing import Route, route_of
from ._trace import JsonBackend
from ._trace_backend import trace_formatter

__all__ = ["RunEventHandler"]

_KEY = "handle_event"


class RunEventHandler(logging.Handler):
    """A handler whose :meth:`handle_event` receives each trace event of a run."""

    def __init__(
        self,
        level: int | str = logging.NOTSET,
        *,
        max_record_bytes: int = 64 * 1024,
        json_backend: JsonBackend = "auto",
    ) -> None:
        super().__init__(level)
        self.max_record_bytes = max_record_bytes
        self.json_backend = json_backend
        trace_formatter(json_backend, max_record_bytes)  # an unknown backend fails here
        self._report = FailureLog(type(self).__name__, emit=self.report)

    def handle_event(self, event: dict[str, Any]) -> None:
        """Receive one trace event (override it); the base class ignores it."""

    def report(self, message: str) -> None:
        """Tell the operator about a failure (once per episode); stderr by default."""
        write_stderr(message)

    @property
    def failures(self) -> Counter[str]:
        """Failures per kind: ``handle_event`` (your code raised), ``refused`` (bad ids)."""
        return self._report.counts

    def render_event(self, record: logging.LogRecord, route: Route) -> dict[str, Any]:
        """The mapping of *record*'s trace line (the one place that renders it)."""
        event = trace_event(record, route, self.max_record_bytes, self.json_backend)
        return {} if event is None else event

    def emit(self, record: logging.LogRecord) -> None:
        try:
            route = route_of(record)
        except ValueError as exc:
            self._report.failed("refused", f"record refused, not passed on: {exc}")
            return
        except Exception:
            self.handleError(record)
            return
        if route is None or (route.event is None and record.levelno < logging.WARNING):
            return
        try:
            self.handle_event(self.render_event(record, route))
        except Exception as exc:
            self._report.failed(_KEY, f"handle_event failed: {exc!r}")
        else:
            self._report.recovered(_KEY, "handle_event works again")
