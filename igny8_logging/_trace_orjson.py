"""Trace serializer on orjson (python-json-logger's ``OrjsonFormatter``; extra ``fast``)."""

from __future__ import annotations

from pythonjsonlogger.orjson import OrjsonFormatter

from ._trace import TraceFormatterMixin, json_default

__all__ = ["OrjsonTraceFormatter"]


class OrjsonTraceFormatter(TraceFormatterMixin, OrjsonFormatter):
    """Trace lines encoded by ``orjson.dumps``."""

    def __init__(self, max_record_bytes: int = 64 * 1024) -> None:
        OrjsonFormatter.__init__(self, json_default=json_default)
        self.max_record_bytes = max_record_bytes

    def jsonify_log_record(self, log_data: dict[str, object]) -> str:
        return OrjsonFormatter.jsonify_log_record(self, log_data)
