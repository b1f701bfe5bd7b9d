"""The stage API: its events, the caller's location on every record, one failure policy."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_dir, text_lines, trace_events

import igny8_logging as igl
from igny8_logging._clock import clock

RUN_ID = "run_20261129_013000_abcd1234"
HERE = Path(__file__).resolve()


def line_of(marker: str) -> int:
    """The line of this file that ends with the comment ``# @<marker>``."""
    lines = HERE.read_text().splitlines()
    (number,) = [n for n, line in enumerate(lines, 1) if line.endswith(f"# @{marker}")]
    return number


class Records(logging.Handler):
    """Keeps the records it is given (what a formatter or error tracker would see)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


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


def located(record: logging.LogRecord) -> tuple[str, int, str]:
    return (record.pathname, record.lineno, record.funcName)


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


class TestCallerLocation:
    """Every stage-API record points at the line that called the API, not the library."""

    def test_each_method(self, run_logger: logging.Logger, records: Records) -> None:
        run = igl.start_run(run_logger)  # @start_run
        run.stage_start(1)  # @stage_start
        run.stage_progress(1, 1)  # @stage_progress
        run.for_stage(1).progress(2)  # @progress
        run.trace("item", stage=1)  # @trace
        run.stage_retry(1)  # @stage_retry
        run.stage_part_complete(1, task_id="t")  # @stage_part_complete
        run.stage_part_error(1, "e")  # @stage_part_error
        run.stage_revoked(1)  # @stage_revoked
        run.stage_complete(1)  # @stage_complete
        run.stage_error(1, "e")  # @stage_error
        run.end()  # @end
        markers = [
            "start_run",
            "stage_start",
            "stage_progress",
            "progress",
            "trace",
            "stage_retry",
            "stage_part_complete",
            "stage_part_error",
            "stage_revoked",
            "stage_complete",
            "stage_error",
            "end",
        ]
        assert [located(r) for r in records.records] == [
            (str(HERE), line_of(m), "test_each_method") for m in markers
        ]

    def test_through_the_stage_block(self, run_logger: logging.Logger, records: Records) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        with run.stage(1) as st:  # @with_ok
            st.info("inside")  # @inside
        with pytest.raises(KeyError), run.stage(2):  # @with_error
            raise KeyError("k")
        start, inside, complete, start2, error = records.records
        assert {r.pathname for r in records.records} == {str(HERE)}
        assert {r.funcName for r in records.records} == {"test_through_the_stage_block"}
        assert (start.lineno, inside.lineno) == (line_of("with_ok"), line_of("inside"))
        # On exit the interpreter reports the ``with`` statement's line.
        assert complete.lineno in range(line_of("with_ok"), line_of("inside") + 1)
        assert start2.lineno == line_of("with_error")
        assert error.lineno in range(line_of("with_error"), line_of("with_error") + 2)

    def test_a_formatter_shows_the_callers_file(
        self, make_logger: Any, base_dir: Path, tmp_path: Path
    ) -> None:
        logger = make_logger(
            {
                "run": {
                    "class": "igny8_logging.RunLogHandler",
                    "base_dir": str(base_dir),
                    "formatter": "where",
                }
            },
            formatters={"where": {"format": "%(filename)s:%(lineno)d %(message)s"}},
        )
        run = igl.RunLogger.attach(logger, RUN_ID)
        run.stage_complete(1, elapsed=1.0)  # @formatted
        (line,) = text_lines(run_dir(base_dir, run) / "automation_run.log")
        assert line.startswith(f"{HERE.name}:{line_of('formatted')} stage 1 completed")


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
