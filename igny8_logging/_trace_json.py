"""Trace serializer on the standard library's ``json`` (python-json-logger's ``JsonFormatter``)."""

from __future__ import annotations

from pythonjsonlogger.json import JsonFormatter

from ._trace import TraceFormatterMixin, json_default

__all__ = ["JsonTraceFormatter"]


class JsonTraceFormatter(TraceFormatterMixin, JsonFormatter):
    """Trace lines encoded by ``json.dumps`` (no NaN: such values become strings)."""

    def __init__(self, max_record_bytes: int = 64 * 1024) -> None:
        JsonFormatter.__init__(self, json_default=json_default)
        self.max_record_bytes = max_record_bytes

    def jsonify_log_record(self, log_data: dict[str, object]) -> str:
        return self.json_serializer(log_data, default=self.json_default, allow_nan=False)  # type: ignore[no-any-return]
