"""``_trace_feed``: a run's trace read as it grows, as events or byte for byte as stored."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest

import igny8_logging as igl
from igny8_logging._trace_feed import poll_trace, stored_lines


def trace_path(base: Path, run: igl.RunLogger) -> Path:
    return base / "1" / "2" / run.run_id / "run_trace.jsonl"


class TestStoredLines:
    """The lines exactly as the handler wrote them; only whole JSON objects."""

    def test_bytes_as_stored(self, base_dir: Path, run_logger: logging.Logger) -> None:
        run = igl.start_run(run_logger, 1, 2)
        run.trace("item", stage=1, text="café ✓ \u2028", value=0.1 + 0.2)
        run.end("completed")
        stored = trace_path(base_dir, run).read_bytes()
        lines = list(stored_lines(str(base_dir), ("1", "2", run.run_id)))
        assert b"".join(line + b"\n" for line in lines) == stored

    def test_partial_and_foreign_lines_are_left_out(
        self, base_dir: Path, run_logger: logging.Logger
    ) -> None:
        run = igl.start_run(run_logger, 1, 2)
        path = trace_path(base_dir, run)
        whole = path.read_bytes()
        with path.open("ab") as trace:
            trace.write(b"not json\n[1, 2]\n")
            trace.write(b'{"event":"half')
        lines = list(stored_lines(str(base_dir), ("1", "2", run.run_id)))
        assert b"".join(line + b"\n" for line in lines) == whole

    def test_no_trace_yet(self, base_dir: Path) -> None:
        (base_dir / "_" / "_" / "run_20260101_000000_abcd1234").mkdir(parents=True)
        assert list(stored_lines(str(base_dir), ("_", "_", "run_20260101_000000_abcd1234"))) == []

    @pytest.mark.timeout(60)
    def test_follow_until_run_end(self, base_dir: Path, run_logger: logging.Logger) -> None:
        run = igl.start_run(run_logger, 1, 2)
        feed = stored_lines(str(base_dir), ("1", "2", run.run_id), follow=True, poll=0.01)
        assert b'"run_start"' in next(feed)

        def write() -> None:
            run.trace("late", stage=1)
            run.end("completed")

        writer = threading.Timer(0.2, write)
        writer.start()
        rest = list(feed)
        writer.join()
        assert [b'"late"' in rest[0], b'"run_end"' in rest[-1]] == [True, True]

    @pytest.mark.timeout(60)
    def test_follow_after_truncation(self, base_dir: Path, run_logger: logging.Logger) -> None:
        """A trace truncated under the follower (copytruncate) is read from its new start."""
        run = igl.start_run(run_logger, 1, 2)
        feed = stored_lines(str(base_dir), ("1", "2", run.run_id), follow=True, poll=0.01)
        assert b'"run_start"' in next(feed)

        def truncate_then_end() -> None:
            os.truncate(trace_path(base_dir, run), 0)
            run.end("completed")

        writer = threading.Timer(0.2, truncate_then_end)
        writer.start()
        rest = list(feed)
        writer.join()
        assert len(rest) == 1
        assert b'"run_end"' in rest[0]


class TestPollTrace:
    """Events in order, through the reader: all there now, or until the run is complete."""

    def test_once_and_following(self, base_dir: Path, run_logger: logging.Logger) -> None:
        run = igl.start_run(run_logger, 1, 2)
        for i in range(700):  # more than one page
            run.trace("item", stage=1, i=i)
        reader = igl.RunLogReader(base_dir)
        now = list(poll_trace(reader, run.run_id, account_id=1, site_id=2, follow=False))
        assert [e["event"] for e in now].count("item") == 700
        writer = threading.Timer(0.2, run.end, args=("completed",))
        writer.start()
        followed = list(poll_trace(reader, run.run_id, account_id=1, site_id=2, poll=0.01))
        writer.join()
        assert followed[:-1] == now
        assert followed[-1]["event"] == "run_end"

    def test_timeout(self, base_dir: Path, run_logger: logging.Logger) -> None:
        run = igl.start_run(run_logger, 1, 2)
        reader = igl.RunLogReader(base_dir)
        seen = list(poll_trace(reader, run.run_id, account_id=1, site_id=2, timeout=0.1, poll=0.01))
        assert [e["event"] for e in seen] == ["run_start"]
