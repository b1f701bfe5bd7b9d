"""The optional C accelerator (``_speedups``, loaded by ``_accel``): the Python code's bytes.

For any input the extension writes exactly what the Python code writes, or
returns ``None`` and leaves the record to it; for the common case (printable
text, short plain fields) it does write the line.  The differential tests call
the extension directly; the file tests check the handlers use it.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import logging
import math
import random
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import speedups_module
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import igny8_logging as igl
from igny8_logging import _format, _trace
from igny8_logging._events import LIFECYCLE, LOG, RUN_START
from igny8_logging._format import TextFormatter, record_message, record_ts
from igny8_logging._ids import RunRef
from igny8_logging._routing import Route, field_items, make_route
from igny8_logging._trace import TraceFormatter
from igny8_logging._trace_json import JsonTraceFormatter
from igny8_logging._trace_orjson import OrjsonTraceFormatter

RUN_ID = "run_20261129_013000_abcd1234"
CREATED = 1_795_915_800.123456

#: Characters the layouts treat specially, and some that they must not.
NASTY = [
    " ", '"', "\\", "=", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "\x85", "\xa0",
    "\u2028", "é", "✓", "😀", "\ud800", "\udcff", "\udfff", "a", "Z", "0",
]  # fmt: skip
nasty_text = st.text(
    alphabet=st.one_of(st.sampled_from(NASTY), st.characters(exclude_categories=())),
    max_size=24,
)
plain_text = st.text(alphabet=st.sampled_from("abc xyz_-.é✓😀"), max_size=20)
texts = st.one_of(nasty_text, plain_text, st.just(""))
EDGE_INTS = [
    0, 1, -1, 10**18 - 1, 10**18, -(10**18) + 1, -(10**18),
    2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**30,
]  # fmt: skip
ints = st.one_of(st.integers(), st.sampled_from(EDGE_INTS))
EDGE_FLOATS = [
    1e-4, -1e-4, math.nextafter(1e-4, 0), -math.nextafter(1e-4, 0), 0.0, -0.0, 1e-7,
    1e16, 1e22, 1.5e300, 5e-324, 0.1, 12345.678, math.inf, -math.inf, math.nan,
]  # fmt: skip
floats = st.one_of(st.floats(), st.sampled_from(EDGE_FLOATS))


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    ONE = 1


class Text(str):
    pass


class Number(float):
    pass


OTHERS = [
    Color.RED, Level.ONE, Text("sub class"), Text("x"), Number(1.5), b"raw", [1, "a"],
    {"k": 1.5}, (1, 2), {3}, decimal.Decimal("1.5"), datetime.date(2026, 1, 2), object,
]  # fmt: skip
values = st.one_of(texts, ints, floats, st.booleans(), st.none(), st.sampled_from(OTHERS))
#: Names, some of them the trace's common keys (renamed by field_items).
names = st.one_of(st.sampled_from(["item_id", "ts", "message", "a b", "k=v"]), texts)
fields = st.dictionaries(names, values, max_size=6)
events = st.one_of(st.none(), st.sampled_from(["item", LOG, RUN_START, *sorted(LIFECYCLE)]), texts)
levels = st.one_of(st.sampled_from(["INFO", "WARNING", "Level 5", "CUSTOM"]), texts)
stages = st.one_of(st.none(), st.sampled_from([1, 2, "build", "a-b"]))
tenants = st.one_of(st.none(), st.sampled_from([7, 0, 10**20, "acme", "site.1"]))
limits = st.sampled_from([64, 256, 64 * 1024])


def make_record(
    message: str, level: str, fields: dict[str, Any], event: str | None, stage: Any, tenant: Any
) -> tuple[logging.LogRecord, Route]:
    record = logging.LogRecord("igny8.test", logging.INFO, __file__, 1, message, (), None)
    record.created = CREATED
    record.levelname = level
    route = make_route(RunRef(RUN_ID, tenant, tenant), stage, event, fields)
    return record, route


# -- the Python definitions, and the extension called as the formatters call it ------


def python_text(formatter: TextFormatter, record: logging.LogRecord, route: Route) -> bytes:
    return formatter.format_record(record, route).encode("utf-8", "backslashreplace")


def c_text(
    module: Any, formatter: TextFormatter, record: logging.LogRecord, route: Route
) -> bytes | None:
    event = route.event
    assert event != RUN_START  # the Python code's own
    items = (
        None
        if event is None or not route.fields or event in _format._NO_FIELDS
        else field_items(route)
    )
    line: bytes | None = module.text_line(
        record_ts(record, route),
        formatter._head(record.levelname, route.stage),
        record_message(record, route),
        items,
        formatter.max_record_bytes >> 2,
    )
    return line


def python_trace(formatter: TraceFormatter, record: logging.LogRecord, route: Route) -> bytes:
    saved = _trace._trace_line
    _trace._trace_line = None
    try:
        return formatter.format_line(record, route)
    finally:
        _trace._trace_line = saved


def c_trace(
    module: Any, formatter: TraceFormatter, record: logging.LogRecord, route: Route
) -> bytes | None:
    limit = formatter.max_record_bytes
    line: bytes | None = module.trace_line(
        record_ts(record, route),
        route.event or "log",
        record.levelname,
        route.ref.run_id,
        route.ref.account_id,
        route.ref.site_id,
        route.stage,
        record_message(record, route),
        field_items(route),
        limit >> 2,
        limit * 3 + 4096,
    )
    return line


# -- what the extension must write itself (an independent statement of the common case)


def _printable(text: object) -> bool:
    return type(text) is str and text.isprintable()


def _text_value(value: Any) -> str | None:
    """The value's text in a key=value pair, when the common case covers it."""
    kind = type(value)
    if kind is str:
        if not value.isprintable():
            return None
        if value and " " not in value:
            return str(value)
        return None if '"' in value or "\\" in value else f'"{value}"'
    if kind is int:
        return str(value) if -(10**18) < value < 10**18 else None
    if kind is float:
        return repr(value) if math.isfinite(value) else None
    if value is None or kind is bool:
        return json.dumps(value)
    return None


def text_is_common(record: logging.LogRecord, route: Route, short: int) -> bool:
    message = record.getMessage()
    if not _printable(message) or len(message) > short:
        return False
    if not _no_surrogate(record.levelname):
        return False
    event = route.event
    if event is None or not route.fields or event in _format._NO_FIELDS:
        return True
    shown = []
    for key, value in field_items(route):
        text = _text_value(value)
        if not _printable(key) or text is None:
            return False
        shown.append(f"{key}={text}")
    return len(" ".join(shown)) <= short


def _no_surrogate(text: str) -> bool:
    return not any("\ud800" <= ch <= "\udfff" for ch in text)


def _json_value_common(value: Any, short: int | None) -> bool:
    kind = type(value)
    if kind is str:
        return _no_surrogate(value) and (short is None or len(value) <= short)
    if kind is int:
        return bool(-(2**63) <= value < 2**64)
    if kind is float:
        return math.isfinite(value) and bool(value >= 1e-4 or value <= -1e-4 or value == 0.0)
    return value is None or kind is bool


def trace_is_common(record: logging.LogRecord, route: Route, limit: int) -> bool:
    short = limit >> 2
    ref = route.ref
    common = [route.event or "log", record.levelname, ref.account_id, ref.site_id, route.stage]
    return (
        all(_json_value_common(value, None) for value in common)
        and _json_value_common(record.getMessage(), short)
        and all(
            _no_surrogate(key) and _json_value_common(value, short)
            for key, value in field_items(route)
        )
    )


@pytest.fixture(scope="module")
def module() -> Any:
    return speedups_module()


SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class TestTextLine:
    """``text_line`` gives ``format_record``'s encoded bytes or ``None``; common lines itself."""

    @SETTINGS
    @given(message=texts, level=levels, fields=fields, event=events, stage=stages, limit=limits)
    @example(message="keyword scored", level="INFO", fields={"item_id": 12345}, event="item",
             stage=1, limit=64 * 1024)  # fmt: skip
    @example(message="", level="INFO", fields={"e": "", "q": "a b", "n": None, "t": True,
             "f": -0.0, "big": 10**18 - 1}, event="item", stage=None, limit=64 * 1024)  # fmt: skip
    def test_same_bytes_or_none(
        self,
        module: Any,
        message: str,
        level: str,
        fields: dict[str, Any],
        event: str | None,
        stage: Any,
        limit: int,
    ) -> None:
        if event == RUN_START:
            event = "item"
        formatter = TextFormatter(limit)
        record, route = make_record(message, level, fields, event, stage, None)
        expected = python_text(formatter, record, route)
        record, route = make_record(message, level, fields, event, stage, None)
        got = c_text(module, formatter, record, route)
        assert got is None or got == expected
        if text_is_common(record, route, limit >> 2):
            assert got == expected

    def test_floats_as_repr_again_and_again(self, module: Any) -> None:
        """Floats are written as ``repr`` however often (and in whatever order) they recur."""
        rng = random.Random(5)
        shown = [rng.uniform(-1, 1) * 10 ** rng.randint(-4, 300) for _ in range(500)]
        shown += [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(500)]
        shown = [value for value in shown if math.isfinite(value)]
        for value in shown + shown[::-1] + shown:
            assert module.text_line("", "", "m", [("k", value)], 99) == f"m k={value!r}\n".encode()

    def test_unusual_values_go_back_to_python(self, module: Any) -> None:
        formatter = TextFormatter()
        for value in [*OTHERS, 10**18, -(10**18), math.inf, math.nan, 'a "b"', "a\\ b", "x\n"]:
            record, route = make_record("m", "INFO", {"v": value}, "item", 1, None)
            assert c_text(module, formatter, record, route) is None, value

    def test_cut_message_or_fields_go_back_to_python(self, module: Any) -> None:
        formatter = TextFormatter(64)  # short: 16 characters
        record, route = make_record("x" * 17, "INFO", {}, None, 1, None)
        assert c_text(module, formatter, record, route) is None
        record, route = make_record("x" * 16, "INFO", {"k": "v" * 14}, "item", 1, None)
        assert c_text(module, formatter, record, route) == python_text(formatter, record, route)
        record, route = make_record("x" * 16, "INFO", {"k": "v" * 15}, "item", 1, None)
        assert c_text(module, formatter, record, route) is None

    def test_odd_arguments_give_none(self, module: Any) -> None:
        assert module.text_line("t", "h", Text("m"), None, 10) is None
        assert module.text_line("t", "h", "m", (("k", 1),), 10) is None
        assert module.text_line("t", "h", "m", [("k", 1, 2)], 10) is None
        assert module.text_line("t", "h", "m", [(Text("k"), 1)], 10) is None
        assert module.text_line("t\ud800", "h", "m", None, 10) is None
        with pytest.raises(TypeError):
            module.text_line("t", "h", "m", None)


class TestTraceLine:
    """``trace_line`` writes ``format_line``'s bytes (both backends), or ``None``; common ones."""

    @SETTINGS
    @given(
        message=texts,
        level=levels,
        fields=fields,
        event=events,
        stage=stages,
        tenant=tenants,
        limit=limits,
    )
    @example(message="keyword scored", level="INFO", fields={"item_id": 12345, "ts": "x",
             "score": 0.87}, event="item", stage=1, tenant=7, limit=64 * 1024)  # fmt: skip
    @example(message="a\nb\x01\x7f\u2028é😀", level="WARNING", fields={"q\"\\\t": "\b\f\r",
             "i": 2**64 - 1, "j": -(2**63), "f": 1e-4, "z": -0.0, "b": False, "n": None},
             event=None, stage="build", tenant="acme", limit=64 * 1024)  # fmt: skip
    def test_same_bytes_or_none(
        self,
        module: Any,
        message: str,
        level: str,
        fields: dict[str, Any],
        event: str | None,
        stage: Any,
        tenant: Any,
        limit: int,
    ) -> None:
        expected = set()
        for kind in (JsonTraceFormatter, OrjsonTraceFormatter):
            record, route = make_record(message, level, fields, event, stage, tenant)
            expected.add(python_trace(kind(limit), record, route))
        assert len(expected) == 1  # the backends agree, as before
        record, route = make_record(message, level, fields, event, stage, tenant)
        got = c_trace(module, JsonTraceFormatter(limit), record, route)
        assert got is None or {got} == expected
        if trace_is_common(record, route, limit):
            assert {got} == expected

    def test_unusual_values_go_back_to_python(self, module: Any) -> None:
        formatter = JsonTraceFormatter()
        odd = [*OTHERS, 2**64, -(2**63) - 1, 1e-5, -5e-324, math.inf, math.nan, "\udcff"]
        for value in odd:
            record, route = make_record("m", "INFO", {"v": value}, "item", 1, None)
            assert c_trace(module, formatter, record, route) is None, value
        record, route = make_record("m", "INFO", {"\ud800": 1}, "item", 1, None)
        assert c_trace(module, formatter, record, route) is None

    def test_long_lines_go_back_to_python(self, module: Any) -> None:
        """A line past the re-encode budget is left to the Python code, which shortens it."""
        formatter = JsonTraceFormatter(64)  # budget: 64 * 3 + 4096 bytes; fields cut past 16
        many = {f"f{i}": "v" * 16 for i in range(250)}
        record, route = make_record("m", "INFO", many, "item", 1, None)
        assert c_trace(module, formatter, record, route) is None
        few = dict(list(many.items())[:100])
        record, route = make_record("m", "INFO", few, "item", 1, None)
        assert c_trace(module, formatter, record, route) == python_trace(formatter, record, route)

    def test_odd_arguments_give_none(self, module: Any) -> None:
        line = module.trace_line("t", "e", "INFO", "r", None, None, None, "m", [], 10, 1000)
        assert line == (
            b'{"ts":"t","event":"e","level":"INFO","run_id":"r","account_id":null,'
            b'"site_id":null,"stage":null,"message":"m"}\n'
        )
        assert module.trace_line("t", "e", "INFO", "r", None, None, None, "m", None, 10, 1000)
        assert module.trace_line("t", "e", "INFO", "r", 1.5j, None, None, "m", [], 10, 1000) is None
        assert (
            module.trace_line("t", "e", "INFO", "r", None, None, None, "m", [(1, 2)], 9, 999)
            is None
        )
        assert module.trace_line("t", "e", "INFO", "r", None, None, None, "m", [], 10, 10) is None
        with pytest.raises(TypeError):
            module.trace_line("t", "e")


# -- the formatters and handlers use it -----------------------------------------------


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, module: Any) -> dict[str, list[bool]]:
    """Counts the extension's calls through the formatters (and whether it wrote the line).

    The handlers run their Python ``handle`` here: the C one calls the line
    functions itself (``test_speedups_handlers`` checks its bytes).
    """
    from igny8_logging import _handlers

    monkeypatch.setattr(_handlers.BaseRunHandler, "handle", _handlers.handle_unlocked)
    seen: dict[str, list[bool]] = {"text": [], "trace": []}

    def spy(name: str, real: Callable[..., bytes | None]) -> Callable[..., bytes | None]:
        def call(*args: Any) -> bytes | None:
            line = real(*args)
            seen[name].append(line is not None)
            return line

        return call

    monkeypatch.setattr(_format, "_text_line", spy("text", module.text_line))
    monkeypatch.setattr(_trace, "_trace_line", spy("trace", module.trace_line))
    return seen


class TestFormattersUseIt:
    """The stock layouts' common records are written by the extension; hooks are honoured."""

    @pytest.mark.parametrize("backend", ["json", "orjson"])
    def test_handlers_write_its_lines(
        self,
        calls: dict[str, list[bool]],
        make_logger: Callable[..., logging.Logger],
        tmp_path: Path,
        backend: str,
    ) -> None:
        where = {"base_dir": str(tmp_path)}
        logger = make_logger(
            {
                "run": {"class": "igny8_logging.RunLogHandler", **where},
                "trace": {"class": "igny8_logging.TraceHandler", "json_backend": backend, **where},
            }
        )
        run = igl.RunLogger.attach(logger, RUN_ID)
        run.for_stage(1).info("scored %d", 5, extra={"event": "item", "item_id": 12345})
        assert True in calls["text"]
        assert True in calls["trace"]
        (trace,) = tmp_path.rglob("run_trace.jsonl")
        last = json.loads(trace.read_bytes().splitlines()[-1])
        assert last["item_id"] == 12345
        (text,) = tmp_path.rglob("automation_run.log")
        assert text.read_text().splitlines()[-1].endswith("scored 5 item_id=12345")

    def test_overridden_hooks_are_not_bypassed(self, calls: dict[str, list[bool]]) -> None:
        class Body(TextFormatter):
            def format_body(self, record: logging.LogRecord, route: Route) -> str:
                return "custom"

        class Upper(JsonTraceFormatter):
            def encode(self, data: dict[str, Any], slow: bool = False) -> bytes:
                return super().encode(data, slow).upper()

        class Extra(JsonTraceFormatter):
            def event_data(self, record: logging.LogRecord, route: Route) -> dict[str, Any]:
                return {**super().event_data(record, route), "extra": 1}

        record, route = make_record("m", "INFO", {"k": 1}, "item", 1, None)
        assert Body().format_bytes(record, route).endswith(b"] custom\n")
        assert Upper().format_line(record, route).startswith(b'{"TS":')
        assert Extra().format_line(record, route).endswith(b',"extra":1}\n')
        assert calls == {"text": [], "trace": []}

    def test_tracebacks_stay_python(self, calls: dict[str, list[bool]]) -> None:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
        record, route = make_record("m", "ERROR", {}, None, 1, None)
        record.exc_info = exc_info
        assert b"ValueError: boom" in TextFormatter().format_bytes(record, route)
        assert b'"traceback":' in JsonTraceFormatter().format_line(record, route)
        assert calls == {"text": [], "trace": []}
