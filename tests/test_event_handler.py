"""``RunEventHandler``: each trace event of a run, as the mapping of its trace line."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import igny8_logging as igl


class Collect(igl.RunEventHandler):
    """Keeps every event it receives (a subclass, as users write them)."""

    def __init__(self, level: int | str = logging.NOTSET, **options: Any) -> None:
        super().__init__(level, **options)
        self.events: list[dict[str, Any]] = []

    def handle_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)


class Failing(igl.RunEventHandler):
    def handle_event(self, event: dict[str, Any]) -> None:
        raise RuntimeError("the app's database is down")


@pytest.fixture
def logger(base_dir: Path, request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    name = f"igny8.test.events.{request.node.name}"
    config = igl.logging_config(base_dir, logger=name)
    config["handlers"]["events"] = {"class": f"{__name__}.Collect"}
    config["loggers"][name]["handlers"].append("events")
    logging.config.dictConfig(config)
    log = logging.getLogger(name)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def collector(logger: logging.Logger) -> Collect:
    return next(h for h in logger.handlers if isinstance(h, Collect))


class TestEvents:
    """From dictConfig, the handler receives exactly the trace's lines, as mappings."""

    def test_every_trace_line_reaches_handle_event(
        self, logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.start_run(logger, 3, 4, metadata={"source": "test"})
        with run.stage(1, "Keywords", pending=2) as st:
            st.info("a plain INFO record: not a trace event")
            st.result = {"keywords": 2}
        run.warning("a warning of the run")
        run.trace("item_done", stage=1, item=7)
        run.end()
        logger.info("no run: never an event")
        trace = base_dir / "3" / "4" / run.run_id / "run_trace.jsonl"
        lines = [json.loads(line) for line in trace.read_text("utf-8").splitlines()]
        events = collector(logger).events
        assert events == lines
        assert [e["event"] for e in events] == [
            "run_start",
            "stage_start",
            "stage_complete",
            "log",
            "item_done",
            "run_end",
        ]
        assert events[2]["result"] == {"keywords": 2}
        assert events[4]["item"] == 7


class TestFailures:
    """A failing ``handle_event`` never raises into the caller; it is counted and reported once."""

    def test_failures_are_counted_not_raised(
        self, run_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
    ) -> None:
        handler = Failing()
        run_logger.addHandler(handler)
        try:
            run = igl.start_run(run_logger, 1, 1)
            run.stage_start(1)
            run.end()
        finally:
            run_logger.removeHandler(handler)
        assert handler.failures["handle_event"] == 3
        err = capsys.readouterr().err
        assert err.count("handle_event failed") == 1
        assert "the app's database is down" in err
