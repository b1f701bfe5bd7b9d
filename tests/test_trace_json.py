"""The trace's ``json`` backend (``_trace_json``): the byte format's definition."""

from __future__ import annotations

from igny8_logging._trace_json import JsonTraceFormatter


class TestByteFormat:
    """Compact separators, UTF-8 for non-ASCII, one line ending in a newline."""

    def test_bytes(self) -> None:
        data = {"message": "café", "n": [1, 2]}
        assert JsonTraceFormatter(1024).encode(data) == '{"message":"café","n":[1,2]}\n'.encode()
