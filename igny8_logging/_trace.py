"""The trace (``run_trace.jsonl``): one JSON object per line, the same bytes from either backend.

:class:`TraceFormatter` builds the event mapping (common keys first, then the
record's fields, made JSON-safe by :func:`._values.plain` with
python-json-logger's conversions) and bounds its size.  It does **not** inherit
python-json-logger's ``JsonFormatter``: that formatter's pipeline (``add_fields``,
``rename_fields``, ``static_fields``, ``process_log_record``...) builds another
mapping than the trace's contract, and running it only to switch it off cost
more than the rest of a record.  It uses python-json-logger's encoder helpers
(``pythonjsonlogger.defaults``) for the values JSON cannot hold.  A user who
wants python-json-logger's own pipeline sets a ``JsonFormatter`` on the
``TraceHandler`` (dictConfig ``formatter``): it then replaces this layout.

One byte format, whichever backend: compact separators, UTF-8 (not ``\\uXXXX``
for non-ASCII), lone surrogates escaped as ``\\udXXX``, floats as Python's
``repr``.  The ``json`` backend (:mod:`._trace_json`) is that definition;
the ``orjson`` backend (:mod:`._trace_orjson`, extra ``fast``) encodes the same
bytes in a fraction of the time and hands a record to the ``json`` encoder when
orjson would write it differently (a float below 1e-4, a lone surrogate, an
integer past 64 bits).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Final, Literal

from . import _accel
from ._format import record_message, record_ts, truncate_utf8
from ._routing import COMMON_KEYS, Route, field_items, route_of
from ._values import message_of, plain, safe_str

__all__ = ["COMMON_KEYS", "JsonBackend", "TraceFormatter", "dumps_json"]

JsonBackend = Literal["auto", "json", "orjson"]
#: A line is re-encoded with shortened fields when it grows past
#: ``max_record_bytes * _LINE_FACTOR``.
_LINE_FACTOR: Final = 3
_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")
#: The C accelerator's trace line (:mod:`._accel`), ``None`` without it.
_trace_line = _accel.trace_line
#: The encoders that write :func:`dumps_json`'s bytes (the ``json`` and ``orjson`` backends'),
#: whose lines the C accelerator may write instead.
STOCK_ENCODERS: Final[set[object]] = set()
_encode: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
).encode


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def dumps_json(data: Any) -> bytes:
    """The trace's byte format for plain *data* (see the module docstring), newline included."""
    try:
        text = _encode(data)
    except (TypeError, ValueError, RecursionError):  # not plain after all (a subclass's hook)
        text = _encode(plain(data))
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: written as JSON escapes
        return (_SURROGATE_RE.sub(_escape_surrogate, text) + "\n").encode("utf-8")


def _small_float(value: Any) -> bool:
    """Whether *value* holds a float orjson writes unlike ``repr`` (0 < |x| < 1e-4)."""
    if type(value) is float:
        return value != 0.0 and -1e-4 < value < 1e-4
    if type(value) is list:
        return any(_small_float(item) for item in value)
    if type(value) is dict:
        return any(_small_float(item) for item in value.values())
    return False


def _plain_field(value: Any) -> tuple[Any, bool]:
    """*value* ready for any encoder, and whether orjson would write it unlike ``json``."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value, False
    if kind is int:
        if -(2**63) <= value < 2**64:
            return value, False
    elif (
        kind is float
        and (value >= 1e-4 or value <= -1e-4 or value == 0.0)
        and value - value == 0.0  # finite
    ):
        return value, False
    data = plain(value)
    return data, _small_float(data)


class TraceFormatter(logging.Formatter):
    """Builds trace events and encodes them (``backend``: ``"json"`` or ``"orjson"``).

    Override :meth:`event_data` to add or reshape keys.
    """

    backend: str = "json"

    def __init__(self, max_record_bytes: int = 64 * 1024) -> None:
        super().__init__()
        self.max_record_bytes = max_record_bytes
        self._stock_data = type(self).event_data is TraceFormatter.event_data
        #: Whether the C accelerator may write the lines (stock mapping and encoder).
        self._stock = (
            self._stock_data
            and type(self)._event_data is TraceFormatter._event_data
            and type(self).encode in STOCK_ENCODERS
        )

    def event_data(self, record: logging.LogRecord, route: Route) -> dict[str, Any]:
        """The mapping written for *record* (common keys first, then fields)."""
        data, _ = self._event_data(record, route)
        return data

    def _event_data(self, record: logging.LogRecord, route: Route) -> tuple[dict[str, Any], bool]:
        limit = self.max_record_bytes
        message = route.message or record_message(record, route)
        if len(message) > limit >> 2:  # else it cannot exceed the limit
            message = truncate_utf8(message, limit)
        ref = route.ref
        data: dict[str, Any] = {
            "ts": route.ts or record_ts(record, route),
            "event": route.event or "log",
            "level": record.levelname,
            "run_id": ref.run_id,
            "account_id": ref.account_id,
            "site_id": ref.site_id,
            "stage": route.stage,
            "message": message,
        }
        short = limit // 4  # a str this long cannot exceed the limit in UTF-8
        slow = False
        for key, value in field_items(route):
            kind = type(value)
            if kind is str:
                data[key] = value if len(value) <= short else truncate_utf8(value, limit)
                continue
            if (kind is int and -(2**63) <= value < 2**64) or (
                kind is float and (value >= 1e-4 or value <= -1e-4) and value - value == 0.0
            ):
                data[key] = value  # the common plain numbers, without a call
                continue
            made, odd = _plain_field(value)
            slow = slow or odd
            data[key] = truncate_utf8(made, limit) if type(made) is str else made
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text and data.get("traceback") is None:
            used = len(message.encode("utf-8", "surrogatepass"))
            data["traceback"] = truncate_utf8(safe_str(record.exc_text), max(limit - used, 0))
        return data, slow

    def encode(self, data: dict[str, Any], slow: bool = False) -> bytes:
        """The line for plain *data*, newline included (the ``json`` definition)."""
        return dumps_json(data)

    def format_line(self, record: logging.LogRecord, route: Route) -> bytes:
        """One trace line as bytes, newline included."""
        limit = self.max_record_bytes
        budget = limit * _LINE_FACTOR + 4096  # a longer line is re-encoded, fields shortened
        fast = _trace_line
        if fast is not None and self._stock and not (record.exc_info or record.exc_text):
            ref = route.ref
            line = fast(
                route.ts or record_ts(record, route),
                route.event or "log",
                record.levelname,
                ref.run_id,
                ref.account_id,
                ref.site_id,
                route.stage,
                route.message or record_message(record, route),
                field_items(route),
                limit >> 2,
                budget,
            )
            if line is not None:
                return line
        if self._stock_data:
            data, slow = self._event_data(record, route)
        else:  # overridden: honour it, and make what it returns plain
            data = {str(key): plain(value) for key, value in self.event_data(record, route).items()}
            slow = True
        line = self.encode(data, slow)
        if len(line) > budget:
            share = max(limit // max(len(data), 1), 256)
            for key in list(data)[len(COMMON_KEYS) :]:
                value = data[key]
                text = value if isinstance(value, str) else dumps_json(value)[:-1].decode()
                data[key] = truncate_utf8(text, share)
            line = self.encode(data, slow)
        return line

    def format_trace(self, record: logging.LogRecord, route: Route) -> str:
        """One trace line as text, newline included."""
        return self.format_line(record, route).decode("utf-8")

    def format(self, record: logging.LogRecord) -> str:
        route = route_of(record)
        if route is None:
            message = message_of(record)
            return dumps_json({"message": message, "level": record.levelname})[:-1].decode()
        return self.format_trace(record, route)[:-1]


STOCK_ENCODERS.add(TraceFormatter.encode)
