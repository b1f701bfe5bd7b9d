"""The trace (``run_trace.jsonl``): one JSON object per line, via python-json-logger.

:class:`TraceFormatterMixin` builds the event mapping (common keys first, then
the record's fields) and bounds its size; the serializer comes from the
python-json-logger formatter it is mixed into: :mod:`._trace_json` (standard
library ``json``) or :mod:`._trace_orjson` (orjson, extra ``fast``).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final

from pythonjsonlogger import defaults as pjl_defaults

from ._format import record_ts, truncate_utf8
from ._routing import Route, route_of

__all__ = ["COMMON_KEYS", "TraceFormatterMixin", "json_default"]

COMMON_KEYS: Final = ("ts", "event", "level", "run_id", "account_id", "site_id", "stage", "message")
#: A line is re-encoded with shortened fields when it grows past
#: ``max_record_bytes * _LINE_FACTOR``.
_LINE_FACTOR: Final = 3
_MAX_DEPTH: Final = 32


def json_default(obj: Any) -> Any:
    """python-json-logger's conversions (ISO-8601 dates...), else ``str()``."""
    if pjl_defaults.use_datetime_any(obj):
        return pjl_defaults.datetime_any(obj)
    if pjl_defaults.use_exception_default(obj):
        return pjl_defaults.exception_default(obj)
    if pjl_defaults.use_traceback_default(obj):
        return pjl_defaults.traceback_default(obj)
    if pjl_defaults.use_enum_default(obj):
        return pjl_defaults.enum_default(obj)
    if pjl_defaults.use_bytes_default(obj):
        return pjl_defaults.bytes_default(obj)
    if pjl_defaults.use_dataclass_default(obj):
        return pjl_defaults.dataclass_default(obj)
    if pjl_defaults.use_type_default(obj):
        return pjl_defaults.type_default(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return pjl_defaults.unknown_default(obj)


def _plain(value: Any, depth: int = 0) -> Any:
    """A copy of *value* that any JSON encoder accepts (the slow, safe path)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        # Outside 64 bits a reader would get a float; past 4300 digits str() raises.
        return value if -(2**63) <= value < 2**64 else pjl_defaults.unknown_default(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return pjl_defaults.unknown_default(value)
    if isinstance(value, dict):
        return {str(key): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item, depth + 1) for item in value]
    converted = json_default(value)
    if converted is value or isinstance(converted, str):
        return converted if isinstance(converted, str) else str(converted)
    return _plain(converted, depth + 1)


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return truncate_utf8(value, limit)
    return value


class TraceFormatterMixin(logging.Formatter):
    """Builds trace events; the python-json-logger base class serializes them.

    Override :meth:`event_data` to add or reshape keys.
    """

    max_record_bytes: int = 64 * 1024

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:  # python-json-logger's
        raise NotImplementedError

    def event_data(self, record: logging.LogRecord, route: Route) -> dict[str, Any]:
        """The mapping written for *record* (common keys first, then fields)."""
        limit = self.max_record_bytes
        message = truncate_utf8(record.getMessage(), limit)
        data: dict[str, Any] = {
            "ts": record_ts(record, route),
            "event": route.event or "log",
            "level": record.levelname,
            "run_id": route.ref.run_id,
            "account_id": route.ref.account_id,
            "site_id": route.ref.site_id,
            "stage": route.stage,
            "message": message,
        }
        short = limit // 4  # a str this long cannot exceed the limit in UTF-8
        for name, value in route.fields.items():
            key = name
            while key in data:  # holds the common keys: a field never replaces one
                key += "_"
            # Made plain here, not by the encoder, so every backend writes the same
            # text (orjson would write NaN as null, json huge ints as numbers).
            kind = type(value)
            plain = (
                (kind is str and len(value) <= short)
                or (kind is int and -(2**63) <= value < 2**64)
                or value is None
                or kind is bool
                or (kind is float and math.isfinite(value))
            )
            data[key] = value if plain else _shorten(_plain(value), limit)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text and data.get("traceback") is None:
            used = len(message.encode("utf-8", "surrogatepass"))
            data["traceback"] = truncate_utf8(record.exc_text, max(limit - used, 0))
        return data

    def serialize(self, data: dict[str, Any]) -> str:
        """JSON text for *data*; values no encoder takes become their ``str()``."""
        try:
            return self.jsonify_log_record(data)
        except Exception:  # unencodable values: huge ints, NaN, cycles...
            return self.jsonify_log_record(_plain(data))

    def format_trace(self, record: logging.LogRecord, route: Route) -> str:
        """One trace line, newline included."""
        data = self.event_data(record, route)
        line = self.serialize(data)
        budget = self.max_record_bytes * _LINE_FACTOR + 4096
        if len(line) > budget // 4 and len(line.encode("utf-8", "surrogatepass")) > budget:
            share = max(self.max_record_bytes // max(len(data), 1), 256)
            for key in list(data)[len(COMMON_KEYS) :]:
                value = data[key]
                text = value if isinstance(value, str) else self.serialize({"v": value})
                data[key] = truncate_utf8(text, share)
            line = self.serialize(data)
        return line + "\n"

    def format(self, record: logging.LogRecord) -> str:
        route = route_of(record)
        if route is None:
            return self.serialize({"message": record.getMessage(), "level": record.levelname})
        return self.format_trace(record, route)[:-1]
