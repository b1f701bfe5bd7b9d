"""The stage API: its events, elapsed, any argument value, one failure policy."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from conftest import Records, run_dir, text_lines, trace_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import igny8_logging as igl
from igny8_logging._clock import clock

RUN_ID = "run_20261129_013000_abcd1234"


@pytest.fixture
def records(run_logger: logging.Logger) -> Iterator[Records]:
    handler = Records()
    run_logger.addHandler(handler)
    yield handler
    run_logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def _fresh_failures() -> Iterator[None]:
    igl.RunLogger.failures.reset()
    yield
    igl.RunLogger.failures.reset()


def events(base: Path, run: igl.RunLogger) -> list[dict[str, Any]]:
    return trace_events(run_dir(base, run) / "run_trace.jsonl")


class TestNewEvents:
    """Retries, revokes and the parts of a stage that spans many tasks have their own events."""

    def test_retry_and_revoked(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.stage_start(3)
        run.stage_retry(3, reason="rate limited", retries=1)
        assert clock.started(RUN_ID, 3) is not None  # a retry keeps the stage's start
        run.stage_revoked(3, reason="terminated")
        assert clock.started(RUN_ID, 3) is None
        _, retry, revoked = events(base_dir, run)
        assert (retry["event"], retry["level"], retry["reason"], retry["retries"]) == (
            "stage_retry",
            "WARNING",
            "rate limited",
            1,
        )
        assert (revoked["event"], revoked["level"], revoked["reason"]) == (
            "stage_revoked",
            "WARNING",
            "terminated",
        )
        assert [
            line.split(maxsplit=2)[2] for line in text_lines(run_dir(base_dir, run) / "stage_3.log")
        ][1:] == [
            "[stage 3] stage 3 retrying: rate limited",
            "[stage 3] stage 3 revoked: terminated",
        ]

    def test_parts(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.stage_start(2, pending=2)
        run.stage_part_complete(2, task_id="t-1", processed=4, credits_used=0.5, result={"k": 1})
        try:
            raise TimeoutError("upstream")
        except TimeoutError as exc:
            run.stage_part_error(2, exc, task_id="t-2")
        assert clock.started(RUN_ID, 2) is not None  # parts never complete the stage
        _, done, failed = events(base_dir, run)
        assert {
            k: done[k] for k in ("event", "task_id", "processed", "credits_used", "result")
        } == {
            "event": "stage_part_complete",
            "task_id": "t-1",
            "processed": 4,
            "credits_used": 0.5,
            "result": {"k": 1},
        }
        assert (failed["event"], failed["level"], failed["task_id"]) == (
            "stage_part_error",
            "ERROR",
            "t-2",
        )
        assert (failed["error"], failed["error_type"]) == ("upstream", "TimeoutError")
        assert "raise TimeoutError" in failed["traceback"]
        clock.stop(RUN_ID, 2)


class TestElapsed:
    """``stage_complete``: a given elapsed wins; else measured from a known start; else null."""

    def test_given_elapsed_wins_and_ends_the_measure(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.stage_start(3)
        run.stage_complete(3, processed=1, elapsed=2.5)
        run.stage_complete(3)  # the start was used up by the first completion
        given, unknown = events(base_dir, run)[1:]
        assert (given["elapsed_s"], unknown["elapsed_s"]) == (2.5, None)

    def test_a_start_carried_from_another_host(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        clock.seed(RUN_ID, 2, time.time() - 30)  # what a task's igny8 header carries
        run.stage_complete(2)
        assert 30 <= events(base_dir, run)[0]["elapsed_s"] < 3600

    @pytest.mark.parametrize("elapsed", ["12.5", [1, 2], {"s": 1}, True, float("nan")])
    def test_any_elapsed_value_is_written(
        self, run_logger: logging.Logger, base_dir: Path, elapsed: object
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.stage_complete(3, elapsed=elapsed)  # type: ignore[arg-type]
        (complete,) = events(base_dir, run)
        assert complete["event"] == "stage_complete"
        if elapsed == elapsed:  # NaN is written as JSON allows (not equal to itself)
            assert complete["elapsed_s"] == elapsed
        (line,) = text_lines(run_dir(base_dir, run) / "stage_3.log")
        assert "stage 3 completed: in " in line
        assert not igl.RunLogger.failures.counts


class BrokenFilter(logging.Filter):
    """Makes ``Logger.log`` itself raise (a filter on the logger, not a handler)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    def filter(self, record: logging.LogRecord) -> bool:
        if self.broken:
            raise RuntimeError("broken filter")
        return True


class TestFailurePolicy:
    """A failing stage-API call is counted and reported once per episode, never raised."""

    def test_once_per_episode_counted_per_method(
        self, run_logger: logging.Logger, capfd: pytest.CaptureFixture[str]
    ) -> None:
        broken = BrokenFilter()
        run_logger.addFilter(broken)
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        for _ in range(3):
            run.stage_progress(1, 1)
        run.trace("x")
        err = capfd.readouterr().err.splitlines()
        assert len(err) == 2  # one line per method, not per call
        assert "stage_progress failed" in err[0]
        assert "broken filter" in err[0]
        assert igl.RunLogger.failures.counts == {"stage_progress": 3, "trace": 1}
        broken.broken = False
        run.stage_progress(1, 2)
        run.stage_progress(1, 3)
        assert capfd.readouterr().err.splitlines() == [
            "igny8_logging: RunLogger: stage_progress works again"
        ]

    def test_silent_without_raise_exceptions(
        self,
        run_logger: logging.Logger,
        capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(logging, "raiseExceptions", False)
        run_logger.addFilter(BrokenFilter())
        igl.RunLogger.attach(run_logger, RUN_ID).stage_start(1)
        assert capfd.readouterr().err == ""
        assert igl.RunLogger.failures.counts["stage_start"] == 1
        clock.stop(RUN_ID, 1)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


def _huge_int() -> int:
    return 10**5000  # beyond int's str() digit limit


def _recursive_list() -> list[object]:
    loop: list[object] = [1]
    loop.append(loop)
    return loop


ODD: Final = st.one_of(
    st.sampled_from(
        [
            float("nan"),
            float("-inf"),
            os.fsdecode(b"r-\xff.csv"),  # a lone surrogate
            "\ud800",
            b"\xff\x00",
            "x" * 70_000,
        ]
    ),
    st.builds(Unprintable),
    st.builds(_huge_int),
    st.builds(_recursive_list),
)
VALUES: Final = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | ODD,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        | st.tuples(inner, inner)
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=6,
)


class TestAnyValue:
    """Property: any value in any argument of any stage-API call is handed to the handlers
    unchanged, with the call's event, and the call neither raises nor counts a failure."""

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(value=VALUES, other=VALUES)
    def test_every_call(self, value: Any, other: Any) -> None:
        logger = logging.getLogger("igny8.test.stage_api.property")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        handler = Records()
        logger.addHandler(handler)
        igl.RunLogger.failures.reset()
        try:
            run = igl.start_run(logger, metadata={"v": value})
            run.stage_start(1, value, pending=other, extra=value)
            run.stage_progress(1, value, other, field=value)
            run.stage_complete(1, value, elapsed=other, credits_used=value, result=other)
            run.stage_retry(1, reason=value, retries=other)
            run.stage_revoked(1, reason=other)
            run.stage_part_complete(1, task_id=value, processed=other, result=value)
            run.stage_part_error(1, value, task_id=other)
            run.stage_error(1, value, detail=other)
            run.trace("item", stage=1, message=value, field=other)
            run.end("completed", note=value)
        finally:
            logger.removeHandler(handler)
        fields = [r.__dict__["_igny8_fields"] for r in handler.records]
        assert [r.__dict__["event"] for r in handler.records] == [
            "run_start",
            "stage_start",
            "stage_progress",
            "stage_complete",
            "stage_retry",
            "stage_revoked",
            "stage_part_complete",
            "stage_part_error",
            "stage_error",
            "item",
            "run_end",
        ]
        assert fields[1]["stage_name"] is value
        assert fields[1]["extra"] is value
        assert fields[2]["processed"] is value
        if other is not None:  # a given elapsed is written as it is
            assert fields[3]["elapsed_s"] is other
        assert fields[4]["reason"] is value
        assert fields[6]["task_id"] is value
        assert fields[9]["field"] is other
        assert fields[10]["note"] is value
        assert all(isinstance(r.getMessage(), str) for r in handler.records)
        assert not igl.RunLogger.failures.counts
