"""The trace's ``json`` backend: the standard library's encoder, the byte format's definition."""

from __future__ import annotations

from ._trace import TraceFormatter

__all__ = ["JsonTraceFormatter"]


class JsonTraceFormatter(TraceFormatter):
    """Trace lines encoded by the standard library's ``json`` (see :func:`._trace.dumps_json`)."""

    backend = "json"
