"""The trace's ``json`` backend (``_trace_json``): the byte format's definition."""

from __future__ import annotations

import pytest

from igny8_logging._trace_json import JsonTraceFormatter

#: Every test runs with the C accelerator writing the lines, and without it.
pytestmark = pytest.mark.usefixtures("speedups")


class TestByteFormat:
    """Compact separators, UTF-8 for non-ASCII, one line ending in a newline."""

    def test_bytes(self) -> None:
        data = {"message": "café", "n": [1, 2]}
        assert JsonTraceFormatter(1024).encode(data) == '{"message":"café","n":[1,2]}\n'.encode()
