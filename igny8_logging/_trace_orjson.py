"""The trace's ``orjson`` backend (extra ``fast``): the same bytes as ``json``, faster."""

from __future__ import annotations

from typing import Any, Final

import orjson

from ._trace import STOCK_ENCODERS, TraceFormatter, dumps_json

__all__ = ["OrjsonTraceFormatter"]

_OPTIONS: Final = orjson.OPT_APPEND_NEWLINE


class OrjsonTraceFormatter(TraceFormatter):
    """Trace lines encoded by ``orjson.dumps``, straight to bytes.

    orjson writes what the ``json`` backend writes for plain data, except floats
    below 1e-4 (``1e-7`` for ``1e-07``), which the caller flags as *slow*, and
    what it refuses (lone surrogates, integers past 64 bits): those lines are
    encoded by the ``json`` backend, so both backends write the same bytes.
    """

    backend = "orjson"

    def encode(self, data: dict[str, Any], slow: bool = False) -> bytes:
        if not slow:
            try:
                return orjson.dumps(data, option=_OPTIONS)
            except TypeError:  # orjson.JSONEncodeError: surrogates, big ints, odd types
                pass
        return dumps_json(data)


STOCK_ENCODERS.add(OrjsonTraceFormatter.encode)
