"""What the hooks remember: bounded recent task ids, and the hooks' failure counts."""

from __future__ import annotations

import pytest

from igny8_logging import celery as igc
from igny8_logging.celery._state import Recent, failed, failures


class TestRecent:
    """A task id is "first" once; the memory stays bounded (the oldest ids are dropped)."""

    def test_first_once_and_bounded(self) -> None:
        recent = Recent(size=3)
        assert recent.first("a") is True
        assert recent.first("a") is False
        for task_id in ("b", "c", "d"):
            recent.first(task_id)
        assert recent.first("a") is True  # dropped, so seen as new


class TestHookFailures:
    """A failing hook is counted in ``hook_failures`` and reported once per episode."""

    def test_counted_and_reported_once(self, capsys: pytest.CaptureFixture[str]) -> None:
        before = igc.hook_failures["test_hook"]
        for _ in range(3):
            failed("test_hook", RuntimeError("boom"))
        assert igc.hook_failures["test_hook"] == before + 3
        assert igc.hook_failures is failures.counts
        err = capsys.readouterr().err
        assert err.count("test_hook failed and was skipped") == (1 if before == 0 else 0)
