"""Tests of ``igny8_logging._render``: one rendering per record, the bytes the files get."""

from __future__ import annotations

import json
import logging
import logging.config
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Records

import igny8_logging as igl
from igny8_logging._render import formatted_text, render_text, render_trace, trace_event
from igny8_logging._routing import Route, route_of

#: Every test runs with the C accelerator writing the lines, and without it.
pytestmark = pytest.mark.usefixtures("speedups")


@pytest.fixture
def wired(tmp_path: Path) -> Iterator[tuple[logging.Logger, Records]]:
    name = f"igny8.test.render.{uuid.uuid4().hex}"
    logging.config.dictConfig(igl.logging_config(tmp_path, logger=name, level="DEBUG"))
    logger = logging.getLogger(name)
    logger.propagate = False
    keep = Records()
    logger.addHandler(keep)
    yield logger, keep
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def _route(record: logging.LogRecord) -> Route:
    route = route_of(record)
    assert route is not None
    return route


def _file(tmp_path: Path, name: str) -> bytes:
    (path,) = tmp_path.rglob(name)
    return path.read_bytes()


class TestSameBytesAsFiles:
    """What the renderers give is exactly what the file handlers wrote."""

    def test_text_and_trace_match_files(
        self, tmp_path: Path, wired: tuple[logging.Logger, Records]
    ) -> None:
        logger, keep = wired
        run = igl.start_run(logger)
        run.warning("disk at %d%%", 91)
        for handler in logger.handlers:
            handler.flush()
        record = keep.records[-1]
        route = _route(record)
        text = render_text(record, route)
        assert b"disk at 91%" in text
        assert _file(tmp_path, "automation_run.log").endswith(text)
        line = render_trace(record, route)
        assert line is not None
        assert _file(tmp_path, "run_trace.jsonl").endswith(line)
        assert trace_event(record, route) == json.loads(line)

    def test_second_call_is_cached(self, wired: tuple[logging.Logger, Records]) -> None:
        logger, keep = wired
        run = igl.start_run(logger)
        run.warning("once")
        record = keep.records[-1]
        route = _route(record)
        first = render_text(record, route)
        assert render_text(record, route) is first
        trace = render_trace(record, route)
        assert trace is not None
        assert render_trace(record, route) is trace


class TestTraceSelection:
    """An INFO record without an event has no trace line."""

    def test_info_without_event(self, wired: tuple[logging.Logger, Records]) -> None:
        logger, keep = wired
        run = igl.start_run(logger)
        run.info("plain info")
        record = keep.records[-1]
        route = _route(record)
        assert route.event is None
        assert render_trace(record, route) is None
        assert trace_event(record, route) is None


class TestUserFormatter:
    """A user ``logging.Formatter`` sets the layout, shows run ids, leaves the record alone."""

    def test_formatter_layout(self, wired: tuple[logging.Logger, Records]) -> None:
        logger, keep = wired
        run = igl.start_run(logger)
        run.info("hello\nworld")
        record = keep.records[-1]
        route = _route(record)
        before = dict(record.__dict__)
        out = formatted_text(logging.Formatter("%(run_id)s %(message)s"), record, route)
        assert out.startswith(f"{route.run_id} hello".encode())
        assert out.endswith(b"\n")
        assert out == f"{route.run_id} hello\n  world\n".encode()
        assert record.__dict__ == before
        assert formatted_text(None, record, route) == render_text(record, route)
