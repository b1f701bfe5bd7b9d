"""Any value, anywhere in a record: written, in every file it belongs to, the same by both backends.

Hypothesis feeds values of any type -- raising ``__str__`` / ``__repr__``, ints past
``str()``'s limit, recursive containers, lone surrogates, dates, sets, bytes -- as
messages, arguments and fields, through ``logger.info(msg, *args, extra=...)``,
``run.for_stage(1).info(...)`` and ``run.trace(event, **fields)``, with a ``json``
and an ``orjson`` trace handler side by side.  Nothing may raise or hang; each record
is in the run log, the stage log and both traces; every trace line is valid JSON; the
two traces are byte-identical.
"""

from __future__ import annotations

import datetime
import decimal
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import igny8_logging as igl

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


class RaisingStr:
    def __str__(self) -> str:
        raise RuntimeError("no str")


class RaisingBoth:
    def __str__(self) -> str:
        raise ValueError("no str")

    def __repr__(self) -> str:
        raise ValueError("no repr")


def _recursive_list() -> list[Any]:
    items: list[Any] = [1]
    items.append(items)
    return items


def _recursive_dict() -> dict[str, Any]:
    loop: dict[str, Any] = {"k": "v"}
    loop["self"] = loop
    return loop


SURROGATES = ["\udcff", "r-\udcff.csv", "\ud800", "a\udfffb", os.fsdecode(b"\xfe\xff")]
odd: st.SearchStrategy[Any] = st.sampled_from(
    [2**64, 2**63, -(2**63) - 1, float("nan"), float("inf"), 1e-7,
     -2.5e-05, 1e300, b"\xff\x00", {1, 2}, frozenset({"a"}), (1, "b"), decimal.Decimal("1.10"),
     datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC), datetime.date(2026, 1, 1),
     ValueError("boom"), ValueError, None, True]
)  # fmt: skip
#: Ints past str()'s 4300 digits (drawn by a map: hypothesis cannot repr them in a list).
huge = st.sampled_from([5000, -5000]).map(lambda n: 10**n if n > 0 else -(10**-n))
odd = odd | huge | st.builds(RaisingStr) | st.builds(RaisingBoth)
odd = odd | st.builds(_recursive_list) | st.builds(_recursive_dict)
texts = (
    st.text(max_size=30)
    | st.sampled_from(SURROGATES)
    | st.text(
        alphabet=st.sampled_from(["\n", "\r", "\x00", "\x1b", "é", "\u2028", "\t", " ", "x"]),
        max_size=12,
    )
)
scalars = st.integers() | st.floats() | texts | odd
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(texts | st.integers(), inner, max_size=3)
    ),
    max_leaves=6,
)  # fmt: skip
CLASHING = ["name", "module", "msg", "args", "run_id", "ts", "level", "run_id_", "levelname"]
names = st.sampled_from([*CLASHING, "item", "x y", "é"]) | st.text(min_size=1, max_size=6)
field_maps = st.dictionaries(
    names.filter(lambda n: n not in ("stage", "event", "message") and not n.startswith("_")),
    values,
    max_size=4,
)
calls = st.lists(
    st.tuples(
        st.sampled_from(["plain", "adapter", "trace"]),
        texts | values,  # the message (or the event name)
        st.lists(values, max_size=2),  # the arguments
        field_maps,
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[logging.Logger]:
    logger = logging.getLogger("igny8.reliability.values")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handlers: list[logging.Handler] = [
        igl.RunLogHandler(tmp_path / "json"),
        igl.StageLogHandler(tmp_path / "json"),
        igl.TraceHandler(tmp_path / "json", json_backend="json"),
        igl.TraceHandler(tmp_path / "orjson", json_backend="orjson"),
    ]
    for handler in handlers:
        logger.addHandler(handler)
    yield logger
    for handler in handlers:
        logger.removeHandler(handler)
        handler.close()


Call = tuple[str, Any, list[Any], dict[str, Any]]


def _emit(logger: logging.Logger, run: igl.RunLogger, call: Call) -> None:
    kind, message, args, fields = call
    if kind == "plain":
        extra = {key: value for key, value in fields.items() if key not in igl_record_attrs()}
        logger.warning(message, *args, extra={**extra, "run_id": run.run_id, "stage": 1})
    elif kind == "adapter":
        run.for_stage(1).info(message, *args, extra={**fields, "event": "item"})
    else:
        event = message if isinstance(message, str) and message else "item"
        run.trace(event, stage=1, **fields)


def igl_record_attrs() -> frozenset[str]:
    from igny8_logging._routing import RECORD_ATTRS

    return RECORD_ATTRS


def _record_lines(path: Path) -> int:
    """Records in a text log: the lines that do not continue a record (no indent)."""
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    return sum(1 for line in lines[:-1] if not line[:1].isspace())


class TestAnyValue:
    """Every record is written whole to each of its files, the trace the same from both
    backends, whatever values it carries; no logging call raises."""

    @pytest.mark.timeout(600)
    def test_any_value_anywhere(
        self, logger: logging.Logger, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        @SETTINGS
        @given(records=calls)
        def check(records: list[Call]) -> None:
            for foreign in [h for h in logger.handlers if not isinstance(h, igl.BaseRunHandler)]:
                logger.removeHandler(foreign)  # pytest's capture handler formats with the stdlib
            run = igl.RunLogger.attach(logger, igl.new_run_id())
            for call in records:
                _emit(logger, run, call)
            folders = [tmp_path / b / "_" / "_" / run.run_id for b in ("json", "orjson")]
            assert _record_lines(folders[0] / "automation_run.log") == len(records)
            assert _record_lines(folders[0] / "stage_1.log") == len(records)
            traces = [(folder / "run_trace.jsonl").read_bytes() for folder in folders]
            assert traces[0] == traces[1]
            lines = traces[0].split(b"\n")
            assert lines[-1] == b""
            assert len(lines) - 1 == len(records)
            for line in lines[:-1]:
                event = json.loads(line)
                assert event["run_id"] == run.run_id
                assert event["stage"] == 1

        check()
        assert "Traceback" not in capfd.readouterr().err
