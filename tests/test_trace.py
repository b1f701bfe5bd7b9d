"""The trace, ``run_trace.jsonl`` (``_trace``, ``_trace_json``, ``_trace_orjson``).

Every test runs over both python-json-logger serializers (``json_backend="json"``
and ``"orjson"``): the trace must read the same whichever is installed.
"""

from __future__ import annotations

import dataclasses
import decimal
import enum
import json
import logging
import math
import os
import re
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import igny8_logging as igl
from igny8_logging._trace import COMMON_KEYS
from igny8_logging._trace_backend import trace_formatter

#: Every test runs with the C accelerator writing the lines, and without it.
pytestmark = pytest.mark.usefixtures("speedups")

RUN_ID = "run_20261129_013000_abcd1234"
TS_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def strict_events(path: Path) -> list[dict[str, Any]]:
    """Parse every line as strict JSON (no NaN/Infinity), one object per line."""

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-JSON constant {name}")

    events = []
    for line in path.read_bytes().split(b"\n")[:-1]:
        event = json.loads(line, parse_constant=no_constants)
        assert isinstance(event, dict)
        events.append(event)
    assert path.read_bytes().endswith(b"\n")
    return events


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


@pytest.fixture(params=["json", "orjson"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def trace_logger(
    backend: str, make_logger: Callable[..., logging.Logger], base_dir: Path
) -> logging.Logger:
    """A logger with only a TraceHandler on *backend*, configured through dictConfig."""
    return make_logger(
        {
            "trace": {
                "class": "igny8_logging.TraceHandler",
                "base_dir": str(base_dir),
                "json_backend": backend,
                "max_record_bytes": 4096,
            }
        }
    )


def events_of(base_dir: Path, run: igl.RunLogger) -> list[dict[str, Any]]:
    account = "_" if run.account_id is None else str(run.account_id)
    site = "_" if run.site_id is None else str(run.site_id)
    return strict_events(base_dir / account / site / run.run_id / "run_trace.jsonl")


class TestCommonKeys:
    """Every line has the common keys, first; ids keep their type; missing ones are null."""

    def test_every_line_of_a_full_run(self, trace_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.start_run(trace_logger, 3, "site-9", metadata={"k": 1})
        run.stage_start(1, "Keywords", pending=2)
        run.stage_progress(1, 1, 2)
        run.trace("item_done", stage=1, item="a")
        run.debug("not traced")
        run.info("not traced either")
        run.for_stage(1).warning("slow")
        run.stage_complete(1, 2)
        run.stage_error("2", "boom")
        run.end("failed")
        events = events_of(base_dir, run)
        assert [e["event"] for e in events] == [
            "run_start",
            "stage_start",
            "stage_progress",
            "item_done",
            "log",
            "stage_complete",
            "stage_error",
            "run_end",
        ]
        for event in events:
            assert tuple(event)[: len(COMMON_KEYS)] == COMMON_KEYS
            assert event["run_id"] == run.run_id
            assert event["account_id"] == 3
            assert event["site_id"] == "site-9"
            assert isinstance(event["message"], str)
            assert isinstance(event["level"], str)
            assert re.fullmatch(TS_RE, event["ts"])
        assert [e["stage"] for e in events] == [None, 1, 1, 1, 1, 1, "2", None]
        assert [e["level"] for e in events][-4:] == ["WARNING", "INFO", "ERROR", "ERROR"]

    def test_missing_ids_are_null(self, trace_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.start_run(trace_logger)
        (event,) = events_of(base_dir, run)
        assert (event["account_id"], event["site_id"], event["stage"]) == (None, None, None)

    def test_ids_keep_int_or_str(self, trace_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.start_run(trace_logger, "1", 2, run_id=RUN_ID)
        run.stage_start("7")
        (start, stage) = strict_events(base_dir / "1" / "2" / RUN_ID / "run_trace.jsonl")
        assert start["account_id"] == "1"
        assert start["site_id"] == 2
        assert stage["stage"] == "7"


class TestEventRows:
    """Each event of the DESIGN table carries its extra keys."""

    def test_run_start(self, trace_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.start_run(trace_logger, 1, 2, metadata={"trigger": "cron", "n": [1, 2]})
        (event,) = events_of(base_dir, run)
        assert event["event"] == "run_start"
        assert event["metadata"] == {"trigger": "cron", "n": [1, 2]}
        assert event["host"] == socket.gethostname()
        assert event["pid"] == os.getpid()

    def test_stage_start_progress_complete(
        self, trace_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        run.stage_start(1, "Keywords", pending=40, source="csv")
        run.stage_progress(1, 10, 40)
        run.stage_complete(1, 40, credits_used=2.5, result={"clusters": 4})
        start, progress, complete = events_of(base_dir, run)
        assert (start["stage_name"], start["pending"], start["source"]) == ("Keywords", 40, "csv")
        assert (progress["processed"], progress["total"]) == (10, 40)
        assert complete["processed"] == 40
        assert complete["credits_used"] == 2.5
        assert complete["result"] == {"clusters": 4}
        assert isinstance(complete["elapsed_s"], float)
        assert complete["elapsed_s"] >= 0

    def test_stage_error_with_traceback(self, trace_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        try:
            raise ValueError("bad keyword")
        except ValueError as exc:
            run.stage_error(2, exc)
        (event,) = events_of(base_dir, run)
        assert event["event"] == "stage_error"
        assert event["level"] == "ERROR"
        assert event["error"] == "bad keyword"
        assert event["error_type"] == "ValueError"
        assert isinstance(event["traceback"], str)
        assert event["traceback"].startswith("Traceback (most recent call last):")
        assert event["traceback"].rstrip().endswith("ValueError: bad keyword")

    def test_stage_error_without_exception(
        self, trace_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        run.stage_error(2, "quota exceeded")
        (event,) = events_of(base_dir, run)
        assert event["error"] == "quota exceeded"
        assert event["traceback"] is None

    @pytest.mark.parametrize(
        ("status", "level"),
        [("completed", "INFO"), ("failed", "ERROR"), ("cancelled", "WARNING")],
    )
    def test_run_end(
        self, trace_logger: logging.Logger, base_dir: Path, status: str, level: str
    ) -> None:
        run = igl.start_run(trace_logger)
        run.end(status)
        event = events_of(base_dir, run)[-1]
        assert (event["event"], event["status"], event["level"]) == ("run_end", status, level)
        assert isinstance(event["elapsed_s"], float)

    def test_custom_events_carry_their_fields(
        self, trace_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        run.trace("keyword_scored", stage=1, keyword="red shoes", score=0.75, tags=["a"])
        (event,) = events_of(base_dir, run)
        assert event["event"] == "keyword_scored"
        assert event["message"] == "keyword_scored"
        assert (event["keyword"], event["score"], event["tags"]) == ("red shoes", 0.75, ["a"])

    def test_plain_records_warning_and_above_only(
        self, trace_logger: logging.Logger, base_dir: Path
    ) -> None:
        with igl.bind_run(RUN_ID, stage=4):
            trace_logger.debug("d")
            trace_logger.info("i")
            trace_logger.warning("w %s", "x", extra={"item": 9})
            trace_logger.error("e")
            trace_logger.critical("c")
        events = strict_events(base_dir / "_" / "_" / RUN_ID / "run_trace.jsonl")
        assert [(e["event"], e["level"], e["message"]) for e in events] == [
            ("log", "WARNING", "w x"),
            ("log", "ERROR", "e"),
            ("log", "CRITICAL", "c"),
        ]
        assert events[0]["item"] == 9

    def test_exception_records_carry_the_traceback(
        self, trace_logger: logging.Logger, base_dir: Path
    ) -> None:
        with igl.bind_run(RUN_ID):
            try:
                1 / 0
            except ZeroDivisionError:
                trace_logger.exception("division")
        (event,) = strict_events(base_dir / "_" / "_" / RUN_ID / "run_trace.jsonl")
        assert "ZeroDivisionError" in event["traceback"]


class TestFieldNames:
    """Fields may use any name, LogRecord attributes included; common keys are never replaced."""

    def test_record_attribute_names_are_kept(
        self, trace_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID, 1, 2)
        run.trace("item", name="red shoes", module="kw", args=[1], msg="m", lineno="x")
        run.warning(
            "careful",
            extra={"name": "n", "levelname": "l", "process": "p", "filename": "f"},
        )
        item, warning = events_of(base_dir, run)
        assert (item["name"], item["module"], item["args"], item["msg"], item["lineno"]) == (
            "red shoes",
            "kw",
            [1],
            "m",
            "x",
        )
        assert (warning["name"], warning["levelname"], warning["process"]) == ("n", "l", "p")
        assert warning["filename"] == "f"

    def test_common_keys_are_never_replaced(
        self, trace_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID, 1, 2)
        clash = {"ts": "evil-ts", "level": "evil-level", "run_id_": "already taken"}
        run.trace("item", stage=1, **clash)
        run.stage_start(1, run_id="evil-run", account_id=666, site_id=666)
        run.warning("w", extra={"event": "evil-event", "ts": "evil-ts", "message": "evil-msg"})
        item, start, warning = events_of(base_dir, run)
        for event in (item, start, warning):
            assert event["run_id"] == RUN_ID
            assert (event["account_id"], event["site_id"]) == (1, 2)
            assert event["ts"] != "evil-ts"
        assert (item["level"], item["message"]) == ("INFO", "item")
        assert warning["message"] == "w"
        # The clashing values are kept under other names, never dropped.
        assert {"evil-ts", "evil-level", "already taken"} <= set(item.values())
        assert {"evil-run", 666} <= set(start.values())
        assert {"evil-ts", "evil-msg"} <= set(warning.values())
        assert warning["event"] == "evil-event"  # 'event' is a routing key, settable by extra


class TestValuesJsonCannotHold:
    """Unserializable values use python-json-logger's defaults or ``str()``; never dropped."""

    def test_conversions(self, trace_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        when = datetime(2026, 11, 29, 1, 30, tzinfo=UTC)
        ident = uuid.UUID(int=1)
        run.trace(
            "values",
            when=when,
            day=date(2026, 11, 29),
            amount=decimal.Decimal("1.10"),
            color=Color.RED,
            point=Point(1, 2),
            tags={"only"},
            frozen=frozenset({3}),
            pair=(1, 2),
            ident=ident,
            thing=Opaque(),
            kind=ValueError,
        )
        (event,) = events_of(base_dir, run)
        assert event["when"] == "2026-11-29T01:30:00+00:00"
        assert event["day"] == "2026-11-29"
        assert event["amount"] == "1.10"
        assert event["color"] == "red"
        assert event["point"] == {"x": 1, "y": 2}
        assert event["tags"] == ["only"]
        assert event["frozen"] == [3]
        assert event["pair"] == [1, 2]
        assert event["ident"] == str(ident)
        assert event["thing"] == "opaque!"
        assert event["kind"] == "ValueError"

    def test_numbers_json_cannot_hold(self, trace_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        run.trace(
            "numbers",
            big=10**30,
            negative=-(10**30),
            huge=10**5000,
            nan=math.nan,
            inf=math.inf,
            nested={"deep": [math.nan, 2**70]},
            fine=2**63 - 1,
        )
        (event,) = events_of(base_dir, run)
        assert event["big"] == str(10**30)
        assert event["negative"] == str(-(10**30))
        # str() refuses ints past 4300 digits: a placeholder naming the type.
        assert event["huge"] == "<unprintable int>"
        assert (event["nan"], event["inf"]) == ("nan", "inf")
        assert event["nested"] == {"deep": ["nan", str(2**70)]}
        assert event["fine"] == 2**63 - 1
        # The reader gets the same event back, exactly.
        (read,) = igl.RunLogReader(base_dir).read_trace(RUN_ID).events
        assert read == event

    def test_cycles_and_odd_keys(self, trace_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        loop: dict[str, Any] = {"name": "loop"}
        loop["self"] = loop
        items: list[Any] = [1]
        items.append(items)
        run.trace("odd", loop=loop, items=items, keys={1: "a", (2, 3): "b"})
        (event,) = events_of(base_dir, run)
        assert event["loop"]["name"] == "loop"
        assert event["items"][0] == 1
        assert set(event["keys"].values()) == {"a", "b"}

    def test_broken_str_never_loses_the_line(
        self, trace_logger: logging.Logger, base_dir: Path
    ) -> None:
        class Broken:
            def __str__(self) -> str:
                raise RuntimeError("no str")

            def __repr__(self) -> str:
                return "<Broken>"

        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        run.trace("broken", thing=Broken(), ok=1)
        (event,) = events_of(base_dir, run)
        assert event["ok"] == 1
        assert "thing" in event


class TestOversize:
    """Records over ``max_record_bytes`` are cut with the marker and stay valid JSON."""

    def test_message_and_traceback_are_cut(
        self, trace_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        try:
            raise RuntimeError("t" * 20_000)
        except RuntimeError:
            run.error("é" * 10_000, exc_info=True)
        (event,) = events_of(base_dir, run)
        assert event["message"] == "é" * 2048 + "…[truncated 15904 bytes]"
        assert "…[truncated" in event["traceback"]
        size = (base_dir / "_" / "_" / RUN_ID / "run_trace.jsonl").stat().st_size
        assert size < 4096 * 4 + 4096

    def test_big_fields_are_cut(self, trace_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        run.trace(
            "big",
            text="x" * 100_000,
            items=list(range(50_000)),
            table={str(n): "v" * 100 for n in range(1000)},
        )
        (event,) = events_of(base_dir, run)
        assert event["text"].startswith("xxx")
        assert event["text"].endswith("bytes]")
        assert "…[truncated" in event["items"]  # cut as its JSON text
        assert "…[truncated" in event["table"]
        size = (base_dir / "_" / "_" / RUN_ID / "run_trace.jsonl").stat().st_size
        assert size < 4096 * 3 + 4096 + 1024

    def test_many_small_records_are_untouched(
        self, trace_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(trace_logger, RUN_ID)
        for n in range(100):
            run.trace("item", n=n, text="ok")
        events = events_of(base_dir, run)
        assert [e["n"] for e in events] == list(range(100))
        assert all("truncated" not in json.dumps(e) for e in events)


class TestFormatterInterface:
    """The trace formatter also works as a plain ``logging.Formatter``."""

    def test_format_outside_a_run(self, backend: str) -> None:
        formatter = trace_formatter(backend)
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hi", (), None)
        assert json.loads(formatter.format(record)) == {"message": "hi", "level": "WARNING"}

    def test_format_inside_a_run(self, backend: str) -> None:
        formatter = trace_formatter(backend)
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hi", (), None)
        with igl.bind_run(RUN_ID, 1, 2, stage=3):
            event = json.loads(formatter.format(record))
        assert tuple(event) == COMMON_KEYS
        assert (event["run_id"], event["stage"], event["event"]) == (RUN_ID, 3, "log")


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class TestEveryValueInBothFiles:
    """A value that cannot be printed is a placeholder naming its type in the text log and
    the trace alike; the record is in both, with no traceback printed per record."""

    @pytest.mark.parametrize("value", [10**5000, Unprintable()], ids=["huge int", "raising"])
    def test_placeholder_in_text_and_trace(
        self, run_logger: logging.Logger, base_dir: Path, value: object,
        capfd: pytest.CaptureFixture[str],
    ) -> None:  # fmt: skip
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        for _ in range(3):
            run.trace("x", value=value, ok=1)
        folder = base_dir / "_" / "_" / RUN_ID
        name = type(value).__name__
        lines = (folder / "automation_run.log").read_text().splitlines()
        assert len(lines) == 3
        assert all(f"<unprintable {name}>" in line and "ok=1" in line for line in lines)
        events = strict_events(folder / "run_trace.jsonl")
        assert [(e["value"], e["ok"]) for e in events] == [(f"<unprintable {name}>", 1)] * 3
        assert "Traceback" not in capfd.readouterr().err

    def test_arguments_that_cannot_be_formatted(
        self,
        make_logger: Callable[..., logging.Logger],
        base_dir: Path,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        logger = make_logger(igl.logging_config(base_dir))
        with igl.bind_run(RUN_ID):
            logger.warning("value %d", Unprintable())
        folder = base_dir / "_" / "_" / RUN_ID
        (line,) = (folder / "automation_run.log").read_text().splitlines()
        assert "value %d <arguments not formatted: TypeError: <unprintable Unprintable>>" in line
        (event,) = strict_events(folder / "run_trace.jsonl")
        assert event["message"].startswith("value %d <arguments not formatted")
        assert "Traceback" not in capfd.readouterr().err

    def test_a_clashing_field_has_one_name_in_both(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.trace("x", run_id="mine", level="high")
        folder = base_dir / "_" / "_" / RUN_ID
        (line,) = (folder / "automation_run.log").read_text().splitlines()
        assert line.endswith(" x run_id_=mine level_=high")
        (event,) = strict_events(folder / "run_trace.jsonl")
        assert (event["run_id_"], event["level_"], event["run_id"]) == ("mine", "high", RUN_ID)


class TestSameBytesFromBothBackends:
    """Both backends write the same bytes for the same record, lone surrogates included."""

    @pytest.fixture
    def pair(self, make_logger: Callable[..., logging.Logger], tmp_path: Path) -> logging.Logger:
        return make_logger(
            {
                backend: {
                    "class": "igny8_logging.TraceHandler",
                    "base_dir": str(tmp_path / backend),
                    "json_backend": backend,
                }
                for backend in ("json", "orjson")
            }
        )

    def test_odd_values(self, pair: logging.Logger, tmp_path: Path) -> None:
        name = os.fsdecode(b"r-\xff.csv")  # a lone surrogate, as from an undecodable name
        run = igl.RunLogger.attach(pair, RUN_ID)
        run.trace("file", path=name, message=f"read {name}")
        run.trace("nums", tiny=1e-7, small=2.5e-05, big=1e22, neg=-0.0, text="café ✓ \u2028")
        run.trace("deep", nested={"f": [1e-9, {"s": name}]}, huge=2**70)
        run.warning("caf\u00e9 %s", name)
        traces = [tmp_path / b / "_" / "_" / RUN_ID / "run_trace.jsonl" for b in ("json", "orjson")]
        data = [path.read_bytes() for path in traces]
        assert data[0] == data[1]
        events = strict_events(traces[0])
        assert len(events) == 4
        assert events[0]["path"] == name  # the surrogate is written, as \udcff
        assert b"\\udcff" in data[0]
        assert b'"text":"caf\xc3\xa9' in data[0]  # UTF-8, compact separators
        assert events[1]["tiny"] == 1e-7
