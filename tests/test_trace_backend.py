"""Picking the trace's backend (``_trace_backend``)."""

from __future__ import annotations

import pytest

from igny8_logging._trace_backend import trace_formatter


class TestBackends:
    """``json_backend`` picks the encoder: the standard library's ``json`` or orjson."""

    def test_backend_choice(self) -> None:
        assert trace_formatter("json").backend == "json"
        assert trace_formatter("orjson").backend == "orjson"
        assert trace_formatter("auto") is trace_formatter("orjson")  # orjson is installed
        with pytest.raises(ValueError, match="json backend"):
            trace_formatter("yaml")
