"""A record's bytes for each kind of run file, made once and shared by every destination.

The file handlers, the mirror, and any other destination (the Redis stream
handler, ``RunEventHandler``) ask here for what a record looks like in a file:

* :func:`render_text` -- its line(s) in ``automation_run.log`` and
  ``stage_{stage}.log`` (the same bytes in both), default layout;
* :func:`render_trace` -- its line in ``run_trace.jsonl``, or ``None`` when the
  record does not reach the trace (no event, below ``WARNING``);
* :func:`trace_event` -- the mapping of that line (what ``json.loads`` of it gives).

Each result is cached on the record's :class:`~._routing.Route`, so a second
destination asking for the same rendering pays a dictionary lookup.  A standard
``logging.Formatter`` set on a handler replaces the layout for that handler only
(see :mod:`._handlers`); these functions give the library's own layout.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from typing import Any, Final

from ._format import TextFormatter, make_line_safe, truncate_utf8
from ._routing import Route
from ._trace import JsonBackend, TraceFormatter
from ._trace_backend import trace_formatter
from ._values import safe_str

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "formatted_text",
    "reaches_trace",
    "render_text",
    "render_trace",
    "text_bytes",
    "text_formatter",
    "trace_bytes",
    "trace_event",
]

DEFAULT_MAX_RECORD_BYTES: Final = 64 * 1024


@functools.lru_cache(maxsize=16)
def text_formatter(max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> TextFormatter:
    """The shared default text formatter for *max_record_bytes* (one per size)."""
    return TextFormatter(max_record_bytes)


def text_bytes(formatter: TextFormatter, record: logging.LogRecord, route: Route) -> bytes:
    """*formatter*'s text for *record*, encoded, cached per formatter on the route."""
    rendered = route.rendered
    data = rendered.get(formatter)
    if data is None:
        data = rendered[formatter] = formatter.format_bytes(record, route)
    return data


def trace_bytes(formatter: TraceFormatter, record: logging.LogRecord, route: Route) -> bytes:
    """*formatter*'s trace line for *record*, cached per formatter on the route."""
    rendered = route.rendered
    data = rendered.get(formatter)
    if data is None:
        data = rendered[formatter] = formatter.format_line(record, route)
    return data


def reaches_trace(record: logging.LogRecord, route: Route) -> bool:
    """Whether *record* belongs in the trace: it carries an event, or is ``WARNING``+."""
    return route.event is not None or record.levelno >= logging.WARNING


def render_text(
    record: logging.LogRecord, route: Route, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> bytes:
    """The bytes the run and stage logs get for *record* (newline included)."""
    return text_bytes(text_formatter(max_record_bytes), record, route)


def render_trace(
    record: logging.LogRecord,
    route: Route,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    backend: JsonBackend = "auto",
) -> bytes | None:
    """The bytes ``run_trace.jsonl`` gets for *record* (newline included), or ``None``."""
    if not reaches_trace(record, route):
        return None
    return trace_bytes(trace_formatter(backend, max_record_bytes), record, route)


def trace_event(
    record: logging.LogRecord,
    route: Route,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    backend: JsonBackend = "auto",
) -> dict[str, Any] | None:
    """The mapping of *record*'s trace line (``None`` when it has none), parsed from its bytes."""
    line = render_trace(record, route, max_record_bytes, backend)
    if line is None:
        return None
    event: dict[str, Any] = json.loads(line)
    return event


def formatted_text(
    formatter: logging.Formatter | None,
    record: logging.LogRecord,
    route: Route,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> bytes:
    """The text line a destination with *formatter* writes for *record*.

    ``None`` or a :class:`TextFormatter` give the library's layout (cached on the
    route); any other ``logging.Formatter`` replaces the layout: it formats a copy
    of the record that shows the route's ids as attributes (``%(run_id)s`` ...),
    so later handlers see the record unchanged, and the result is made line-safe
    and cut to *max_record_bytes* like the library's own lines.
    """
    if formatter is None:
        return text_bytes(text_formatter(max_record_bytes), record, route)
    if isinstance(formatter, TextFormatter):
        return text_bytes(formatter, record, route)
    clone = copy.copy(record)
    d = clone.__dict__
    for key, value in (
        ("run_id", route.run_id),
        ("account_id", route.account_id),
        ("site_id", route.site_id),
        ("stage", route.stage),
        ("event", route.event),
    ):
        d.setdefault(key, value)
    text = truncate_utf8(safe_str(formatter.format(clone)), max_record_bytes)
    return (make_line_safe(text) + "\n").encode("utf-8", "backslashreplace")
