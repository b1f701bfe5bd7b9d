"""The accelerator's loader (``_accel``): the extension unless switched off; CI requires it."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import speedups_module

from igny8_logging import _accel, _format, _handlers, _logrecord, _routing, _trace, _watch


@pytest.fixture(scope="module")
def module() -> Any:
    return speedups_module()


class TestLoader:
    """``_accel`` loads the extension unless ``IGNY8_NO_SPEEDUPS=1``; CI requires it."""

    def test_required_in_ci(self) -> None:
        if not os.environ.get("IGNY8_REQUIRE_SPEEDUPS"):
            pytest.skip("IGNY8_REQUIRE_SPEEDUPS is not set (CI sets it)")
        assert not _accel.DISABLED, "IGNY8_NO_SPEEDUPS is set"
        assert _accel.text_line is not None, _accel.LOAD_ERROR
        assert _accel.trace_line is not None, _accel.LOAD_ERROR
        assert _format._text_line is _accel.text_line
        assert _trace._trace_line is _accel.trace_line
        assert _logrecord.C_BUILD is _accel.build_record is not None, (
            "the C record failed its check"
        )
        assert _routing._route_fast is _accel.route_fast is not None
        assert _watch._pending is _accel.pending is not None
        assert _handlers.C_HANDLE is not None, "the C handle failed its set-up"
        assert _handlers.BaseRunHandler.handle is _handlers.C_HANDLE
        from igny8_logging import redis

        assert redis.C_HANDLE is not None, "the Redis handler's C handle failed its set-up"
        assert redis.RedisStreamHandler.handle is redis.C_HANDLE
        from igny8_logging import _adapter

        assert _adapter.C_METHODS is not None, "the C logging methods failed their set-up"
        assert _adapter.RunLogger.info is _adapter.C_METHODS["info"]

    @pytest.mark.parametrize(("value", "loaded"), [("1", False), ("0", True), ("", True)])
    def test_environment_switch(self, module: Any, value: str, loaded: bool) -> None:
        code = (
            "from igny8_logging import _accel, _format, _trace; "
            "print(_accel.text_line is not None, _format._text_line is not None, "
            "_trace._trace_line is not None)"
        )
        env = {**os.environ, "IGNY8_NO_SPEEDUPS": value}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
        ).stdout.split()
        assert out == [str(loaded)] * 3
