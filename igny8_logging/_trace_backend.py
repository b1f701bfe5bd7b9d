"""Picking the trace's backend: :func:`trace_formatter` (``json``, ``orjson`` or ``auto``).

Kept apart from :mod:`._trace` so the backends can build on ``TraceFormatter``
without the base module importing them back.
"""

from __future__ import annotations

import functools

from ._trace import TraceFormatter

__all__ = ["trace_formatter"]


def trace_formatter(backend: str = "auto", max_record_bytes: int = 64 * 1024) -> TraceFormatter:
    """The shared trace formatter on *backend*: ``"json"``, ``"orjson"`` or ``"auto"``.

    ``"auto"`` is orjson when it is installed (extra ``fast``), else ``json``;
    ``"orjson"`` without orjson is an ``ImportError``.  The bytes are the same.
    """
    if backend not in ("auto", "json", "orjson"):
        raise ValueError(f"unknown json backend {backend!r}: use 'auto', 'json' or 'orjson'")
    if backend == "auto":
        try:
            import orjson  # noqa: F401
        except ImportError:
            backend = "json"
        else:
            backend = "orjson"
    return _formatter(backend, max_record_bytes)


@functools.lru_cache(maxsize=16)
def _formatter(backend: str, max_record_bytes: int) -> TraceFormatter:
    if backend == "orjson":
        from ._trace_orjson import OrjsonTraceFormatter

        return OrjsonTraceFormatter(max_record_bytes)
    from ._trace_json import JsonTraceFormatter

    return JsonTraceFormatter(max_record_bytes)
