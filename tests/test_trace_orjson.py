"""The trace's ``orjson`` backend (``_trace_orjson``)."""

from __future__ import annotations

from typing import Any

import pytest

from igny8_logging._trace import dumps_json
from igny8_logging._trace_orjson import OrjsonTraceFormatter

#: Every test runs with the C accelerator writing the lines, and without it.
pytestmark = pytest.mark.usefixtures("speedups")


class TestSameBytesAsJson:
    """What orjson refuses or writes differently is handed to the ``json`` encoder."""

    @pytest.mark.parametrize(
        "data",
        [{"n": 2**70}, {"s": "a\ud800b"}, {"f": 1e-7}, {"t": "é", "l": [1, 2.5]}],
    )
    def test_bytes(self, data: dict[str, Any]) -> None:
        slow = "f" in data
        assert OrjsonTraceFormatter(1024).encode(data, slow=slow) == dumps_json(data)
