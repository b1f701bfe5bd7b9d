"""The text layout of ``automation_run.log`` and ``stage_*.log`` (``_format``)."""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import text_lines

import igny8_logging as igl
from igny8_logging._format import iso_utc, make_line_safe, truncate_utf8

#: Every test runs with the C accelerator writing the lines, and without it.
pytestmark = pytest.mark.usefixtures("speedups")

RUN_ID = "run_20261129_013000_abcd1234"
CREATED = 1_795_915_800.123456  # 2026-11-29T01:30:00.123Z
RECORD_RE = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<level>[A-Z]+) +"
    r"(?P<where>\[run\]|\[stage [A-Za-z0-9_-]+\]) (?P<message>.*)"
)
BREAKS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
FORGED = "2026-11-29T01:30:00.123Z ERROR   [stage 1] forged record"


def emit(
    logger: logging.Logger,
    msg: str,
    *args: object,
    level: int = logging.INFO,
    created: float = CREATED,
    exc_info: Any = None,
    **attrs: Any,
) -> None:
    """Log one record at a fixed creation time with the given routing attributes."""
    record = logger.makeRecord(logger.name, level, __file__, 1, msg, args, exc_info, extra=attrs)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    logger.handle(record)


def record_lines(lines: list[str]) -> list[str]:
    """The lines that start a record (every other line must start with whitespace)."""
    starts = [line for line in lines if not line[:1].isspace()]
    assert all(RECORD_RE.fullmatch(line) for line in starts), starts
    return starts


@pytest.fixture
def folder(base_dir: Path) -> Path:
    return base_dir / "_" / "_" / RUN_ID


class TestLineLayout:
    """One record starts one line: ``ts LEVEL   [where] message``."""

    def test_exact_stage_line(self, run_logger: logging.Logger, folder: Path) -> None:
        emit(run_logger, "hello %s", "world", run_id=RUN_ID, stage=1)
        expected = "2026-11-29T01:30:00.123Z INFO    [stage 1] hello world"
        assert text_lines(folder / "automation_run.log") == [expected]
        assert text_lines(folder / "stage_1.log") == [expected]
        assert (folder / "stage_1.log").read_bytes().endswith(b"world\n")

    def test_run_records_say_run_and_skip_the_stage_logs(
        self, run_logger: logging.Logger, folder: Path
    ) -> None:
        emit(run_logger, "no stage", level=logging.WARNING, run_id=RUN_ID)
        assert text_lines(folder / "automation_run.log") == [
            "2026-11-29T01:30:00.123Z WARNING [run] no stage"
        ]
        assert sorted(p.name for p in folder.iterdir()) == ["automation_run.log", "run_trace.jsonl"]

    @pytest.mark.parametrize("level", [10, 20, 30, 40, 50])
    def test_every_level_matches_the_layout(
        self, run_logger: logging.Logger, folder: Path, level: int
    ) -> None:
        emit(run_logger, "m", level=level, run_id=RUN_ID, stage="kw")
        (line,) = text_lines(folder / "automation_run.log")
        match = RECORD_RE.fullmatch(line)
        assert match is not None
        assert match["level"] == logging.getLevelName(level)
        assert match["where"] == "[stage kw]"
        assert match["message"] == "m"

    def test_iso_utc(self) -> None:
        assert iso_utc(CREATED) == "2026-11-29T01:30:00.123Z"
        assert iso_utc(CREATED, 999.9) == "2026-11-29T01:30:00.999Z"
        assert iso_utc(0.0) == "1970-01-01T00:00:00.000Z"

    def test_iso_utc_is_right_under_threads(self) -> None:
        """Concurrent records from different seconds never get another second's stamp."""
        expected = {n: iso_utc(CREATED + n, 5) for n in range(4)}
        wrong: list[str] = []

        def stamp(n: int) -> None:
            for _ in range(40_000):
                if iso_utc(CREATED + n, 5) != expected[n]:
                    wrong.append(expected[n])
                    return

        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            threads = [threading.Thread(target=stamp, args=(n,)) for n in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            sys.setswitchinterval(old)
        assert wrong == []

    def test_formatter_on_a_plain_handler(self) -> None:
        formatter = igl.TextFormatter()
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "a\nb", (), None)
        assert formatter.format(record) == "a\n  b"  # no run: just the safe message
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
        record.created, record.msecs = CREATED, 123.4
        with igl.bind_run(RUN_ID, stage=2):
            assert formatter.format(record) == "2026-11-29T01:30:00.123Z INFO    [stage 2] m"


class TestNoForgedLines:
    """Every further physical line of a record starts with whitespace; controls are escaped."""

    @pytest.mark.parametrize("brk", BREAKS, ids=[f"U+{ord(b[-1]):04X}" for b in BREAKS])
    def test_line_breaks_never_start_a_record(
        self, run_logger: logging.Logger, folder: Path, brk: str
    ) -> None:
        emit(run_logger, f"first{brk}{FORGED}{brk}{brk}last", run_id=RUN_ID, stage=1)
        for name in ("automation_run.log", "stage_1.log"):
            data = (folder / name).read_text(encoding="utf-8")
            # Split the way every reader would: str.splitlines honours all these breaks.
            lines = data.splitlines()
            assert len(record_lines(lines)) == 1
            assert lines[0].endswith("[stage 1] first")
            assert lines[1] == "  " + FORGED
            assert lines[-1] == "  last"
            assert data.count("\n") == len(lines)  # every break became an LF

    def test_control_characters_are_escaped(self, run_logger: logging.Logger, folder: Path) -> None:
        emit(run_logger, "a\x1b[31mred\x00nul\x7fdel\x9bcsi\tTab", run_id=RUN_ID)
        (line,) = text_lines(folder / "automation_run.log")
        assert line.endswith(r"[run] a\x1b[31mred\x00nul\x7fdel\x9bcsi" + "\tTab")

    def test_traceback_lines_are_indented(self, run_logger: logging.Logger, folder: Path) -> None:
        try:
            raise ValueError(f"bad\n{FORGED}")
        except ValueError:
            emit(run_logger, "failed", level=logging.ERROR, exc_info=sys.exc_info(), run_id=RUN_ID)
        lines = text_lines(folder / "automation_run.log")
        assert len(record_lines(lines)) == 1
        assert lines[1] == "  Traceback (most recent call last):"
        assert "  " + FORGED in lines

    def test_stack_info_lines_are_indented(self, run_logger: logging.Logger, folder: Path) -> None:
        run_logger.info("here", stack_info=True, extra={"run_id": RUN_ID})
        lines = text_lines(folder / "automation_run.log")
        assert len(record_lines(lines)) == 1
        assert lines[1] == "  Stack (most recent call last):"

    def test_make_line_safe(self) -> None:
        assert make_line_safe("plain") == "plain"
        assert make_line_safe("a\nb\r\nc\u2028d") == "a\n  b\n  c\n  d"
        assert make_line_safe("ü\x85x") == "ü\n  x"
        assert make_line_safe("\x00\n\x1b") == "\\x00\n  \\x1b"


class TestHeader:
    """``automation_run.log`` opens with the run's header, written by ``run_start``."""

    def test_header_fields(self, run_logger: logging.Logger, base_dir: Path) -> None:
        metadata = {"trigger": "manual", "note": f"two\n{FORGED}", "keywords": 120}
        run = igl.start_run(run_logger, 42, "shop-1", metadata=metadata, run_id=RUN_ID)
        run.info("after the header")
        lines = text_lines(base_dir / "42" / "shop-1" / RUN_ID / "automation_run.log")
        assert len(record_lines(lines)) == 2
        first = RECORD_RE.fullmatch(lines[0])
        assert first is not None
        assert first["where"] == "[run]"
        header = "\n".join(lines[1 : lines.index(lines[-1])])
        assert f"run_id: {RUN_ID}" in header
        assert "account: 42" in header
        assert "site: shop-1" in header
        assert f"started: {first['ts']}" in header
        assert f"host: {socket.gethostname()}" in header
        assert f"pid: {os.getpid()}" in header
        assert '"trigger": "manual"' in header
        assert '"keywords": 120' in header
        assert lines[-1].endswith("[run] after the header")

    def test_header_without_tenant_or_metadata(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.start_run(run_logger)
        lines = text_lines(base_dir / "_" / "_" / run.run_id / "automation_run.log")
        assert "  account: null" in lines
        assert "  site: null" in lines
        assert "  metadata: null" in lines


class TestCustomEventsInText:
    """``trace()`` events show their fields in the text logs as ``key=value``."""

    def test_fields_follow_the_message(self, run_logger: logging.Logger, folder: Path) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.trace("item_done", stage=1, message="keyword done", item="red shoes", score=3)
        (line,) = text_lines(folder / "stage_1.log")
        assert line.endswith('[stage 1] keyword done item="red shoes" score=3')


class TestTruncation:
    """Records over ``max_record_bytes`` are cut with ``…[truncated N bytes]``."""

    @pytest.fixture
    def small(self, make_logger: Callable[..., logging.Logger], base_dir: Path) -> logging.Logger:
        opts = {"base_dir": str(base_dir), "max_record_bytes": 1000}
        return make_logger(
            {
                "run": {"class": "igny8_logging.RunLogHandler", **opts},
                "stage": {"class": "igny8_logging.StageLogHandler", **opts},
            }
        )

    def test_message_is_cut_with_marker(self, small: logging.Logger, folder: Path) -> None:
        emit(small, "é" * 3000, run_id=RUN_ID, stage=1)  # 6000 bytes
        for name in ("automation_run.log", "stage_1.log"):
            (line,) = text_lines(folder / name)
            body = line.split("[stage 1] ", 1)[1]
            assert body == "é" * 500 + "…[truncated 5000 bytes]"

    def test_message_with_traceback_is_cut(self, small: logging.Logger, folder: Path) -> None:
        try:
            raise RuntimeError("x" * 5000)
        except RuntimeError:
            emit(small, "m" * 600, level=logging.ERROR, exc_info=sys.exc_info(), run_id=RUN_ID)
        lines = text_lines(folder / "automation_run.log")
        assert len(record_lines(lines)) == 1
        assert re.search(r"…\[truncated \d+ bytes\]$", lines[-1])
        assert len((folder / "automation_run.log").read_bytes()) < 1000 + 200

    def test_small_records_are_untouched(self, small: logging.Logger, folder: Path) -> None:
        emit(small, "x" * 900, run_id=RUN_ID)
        assert "truncated" not in (folder / "automation_run.log").read_text()

    def test_truncate_utf8(self) -> None:
        assert truncate_utf8("abc", 3) == "abc"
        assert truncate_utf8("abcd", 3) == "abc…[truncated 1 bytes]"
        assert truncate_utf8("€€", 4) == "€…[truncated 3 bytes]"  # never half a character


class TestStandardFormatter:
    """A ``logging.Formatter`` set through dictConfig replaces the layout."""

    def test_formatter_replaces_layout(
        self, make_logger: Callable[..., logging.Logger], base_dir: Path, folder: Path
    ) -> None:
        logger = make_logger(
            {
                "run": {
                    "class": "igny8_logging.RunLogHandler",
                    "base_dir": str(base_dir),
                    "formatter": "plain",
                }
            },
            formatters={"plain": {"format": "%(levelname)s|%(name)s|%(message)s"}},
        )
        emit(logger, f"hello\n{FORGED}", run_id=RUN_ID, stage=1)
        assert text_lines(folder / "automation_run.log") == [
            f"INFO|{logger.name}|hello",
            "  " + FORGED,
        ]

    def test_formatter_may_show_the_bound_run(
        self, make_logger: Callable[..., logging.Logger], base_dir: Path, folder: Path
    ) -> None:
        logger = make_logger(
            {
                "stage": {
                    "class": "igny8_logging.StageLogHandler",
                    "base_dir": str(base_dir),
                    "formatter": "ids",
                }
            },
            formatters={"ids": {"format": "%(run_id)s %(account_id)s %(stage)s %(message)s"}},
        )
        with igl.bind_run(RUN_ID, stage=3):
            logger.info("bound")
        assert text_lines(folder / "stage_3.log") == [f"{RUN_ID} None 3 bound"]
