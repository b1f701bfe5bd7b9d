"""Stage-API records point at the user's line that called the API, never the library's."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from conftest import Records, run_dir, text_lines

import igny8_logging as igl
from igny8_logging._caller import caller_stacklevel

RUN_ID = "run_20261129_013000_abcd1234"
HERE = Path(__file__).resolve()


def line_of(marker: str) -> int:
    """The line of this file that ends with the comment ``# @<marker>``."""
    lines = HERE.read_text().splitlines()
    (number,) = [n for n, line in enumerate(lines, 1) if line.endswith(f"# @{marker}")]
    return number


@pytest.fixture
def records(run_logger: logging.Logger) -> Iterator[Records]:
    handler = Records()
    run_logger.addHandler(handler)
    yield handler
    run_logger.removeHandler(handler)


def located(record: logging.LogRecord) -> tuple[str, int, str]:
    return (record.pathname, record.lineno, record.funcName)


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
        self, make_logger: Callable[..., logging.Logger], base_dir: Path
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


class TestStacklevel:
    """The level counts the library's frames above the one that calls ``Logger.log``."""

    def test_a_direct_caller_is_stacklevel_2(self) -> None:
        """Called straight from user code, the level is the stdlib's "my caller" (2)."""
        assert caller_stacklevel(sys._getframe(0)) == 2


class TestCallSiteLines:
    """A call site's line is remembered, never mixed up with another code object's."""

    def test_each_call_site_keeps_its_own_line(
        self, run_logger: logging.Logger, records: Records
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        for _ in range(3):
            run.info("one")  # @site_one
            run.info("two")  # @site_two
        lines = [record.lineno for record in records.records]
        assert lines == [line_of("site_one"), line_of("site_two")] * 3

    def test_code_made_and_freed_in_a_loop(
        self, run_logger: logging.Logger, records: Records
    ) -> None:
        """Each new code object (its id perhaps an old one's) gets its own lines."""
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        for blank in range(40):
            namespace: dict[str, object] = {"run": run}
            exec(compile("\n" * blank + "run.info('x')", f"<made {blank}>", "exec"), namespace)
            del namespace
        made = [(record.pathname, record.lineno) for record in records.records]
        assert made == [(f"<made {blank}>", blank + 1) for blank in range(40)]

    def test_a_traced_frame_is_asked_for_its_line(
        self, run_logger: logging.Logger, records: Records
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)

        def tracer(frame: FrameType, event: str, arg: Any) -> Any:
            return tracer

        run.info("before")  # @traced
        sys.settrace(tracer)
        try:
            for _ in range(2):
                run.info("traced")  # @traced_loop
        finally:
            sys.settrace(None)
        lines = [record.lineno for record in records.records]
        assert lines == [line_of("traced"), line_of("traced_loop"), line_of("traced_loop")]
