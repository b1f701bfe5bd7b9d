"""``RunLogger`` builds its records itself (lean path), with the same result as ``logging``'s."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Records, run_dir, text_lines, trace_events

import igny8_logging as igl
from igny8_logging._records import plan_of, standard_logger
from igny8_logging._routing import FIELDS_ATTR, ROUTE_ATTR, Route, route_of

RUN_ID = "run_20261202_013000_abcd1234"


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    log = logging.getLogger(f"test_records.{request.node.name}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log
    log.handlers.clear()


@pytest.fixture
def records(logger: logging.Logger) -> Records:
    handler = Records()
    logger.addHandler(handler)
    return handler


def routed_again(record: logging.LogRecord) -> Route | None:
    """What the handlers would route *record* to from its attributes alone."""
    clone = copy.copy(record)
    clone.__dict__.pop(ROUTE_ATTR, None)
    return route_of(clone)


def same_route(a: Route | None, b: Route | None) -> bool:
    assert a is not None
    assert b is not None
    return (a.ref, a.stage, a.event, a.fields, a.parts) == (
        b.ref,
        b.stage,
        b.event,
        b.fields,
        b.parts,
    )


#: Every test runs with the C accelerator and without it (conftest ``speedups``).
pytestmark = pytest.mark.usefixtures("speedups")


class TestRouteAttached:
    """A RunLogger record carries the route its attributes give, so no handler routes it."""

    @pytest.mark.parametrize(
        "extra",
        [
            None,
            {},
            {"event": "item", "item_id": 1, "keyword": "a b", "score": 0.5},
            {"name": "clashes with LogRecord.name", "module": "m", "n": 2},
            {1: "a non-str key", "ok": True},
            {"_private": 1, "run_id": "ignored", "account_id": 99, "visible": "x"},
        ],
    )
    def test_same_route_as_routing_the_attributes(
        self, logger: logging.Logger, records: Records, extra: dict[Any, Any] | None
    ) -> None:
        run = igl.RunLogger(logger, RUN_ID, 7, 42).for_stage(2)
        run.info("hello %s", "world", extra=extra)
        (record,) = records.records
        attached = record.__dict__[ROUTE_ATTR]
        assert isinstance(attached, Route)
        assert same_route(attached, routed_again(record))
        assert record.getMessage() == "hello world"
        assert (record.run_id, record.account_id, record.site_id, record.stage) == (  # type: ignore[attr-defined]
            RUN_ID,
            7,
            42,
            2,
        )

    def test_fields_that_clash_with_record_attributes_are_kept(
        self, logger: logging.Logger, records: Records
    ) -> None:
        igl.RunLogger(logger, RUN_ID).info("m", extra={"name": "field", 3: "three"})
        (record,) = records.records
        assert record.name == logger.name
        assert record.__dict__[FIELDS_ATTR] == {"name": "field", "3": "three"}
        assert record.__dict__[ROUTE_ATTR].fields == {"name": "field", "3": "three"}

    def test_a_stage_given_to_a_run_adapter_counts(
        self, logger: logging.Logger, records: Records
    ) -> None:
        igl.RunLogger(logger, RUN_ID).info("m", extra={"stage": 3})
        igl.RunLogger(logger, RUN_ID, stage=1).info("m", extra={"stage": 3})
        assert [r.__dict__[ROUTE_ATTR].stage for r in records.records] == [3, 1]

    def test_an_invalid_stage_leaves_the_refusal_to_the_handlers(
        self, base_dir: Path, logger: logging.Logger
    ) -> None:
        handler = igl.RunLogHandler(base_dir)
        logger.addHandler(handler)
        igl.RunLogger(logger, RUN_ID).info("m", extra={"stage": "../escape"})
        assert handler.refused == 1
        assert not any(base_dir.rglob("*.log"))

    def test_stage_api_records_carry_their_route(
        self, logger: logging.Logger, records: Records
    ) -> None:
        run = igl.RunLogger(logger, RUN_ID, 7, 42)
        run.stage_start(1, "keywords", pending=3)
        run.trace("item_scored", stage=1, score=0.9)
        for record in records.records:
            assert same_route(record.__dict__[ROUTE_ATTR], routed_again(record))


class TestStandardPathKept:
    """What a user changed in how records are made is honoured, as by logging itself."""

    def test_a_logger_class_with_its_own_make_record_gets_it(self, logger: logging.Logger) -> None:
        made: list[str] = []

        class Custom(logging.Logger):
            def makeRecord(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
                made.append("custom")
                return super().makeRecord(*args, **kwargs)

        custom = Custom("test_records.custom")
        custom.propagate = False
        custom.setLevel(logging.INFO)
        holder = Records()
        custom.addHandler(holder)
        assert not standard_logger(custom)
        assert standard_logger(logger)
        assert plan_of(igl.RunLogger(custom, RUN_ID).context, custom) is None
        run = igl.RunLogger(custom, RUN_ID, stage=1)
        run.info("one", extra={"event": "item"})
        run.stage_start(1)
        assert made == ["custom", "custom"]
        assert holder.records[0].event == "item"  # type: ignore[attr-defined]
        assert holder.records[0].filename == "test_records.py"

    def test_a_logger_adapter_as_the_logger_still_works(
        self, logger: logging.Logger, records: Records
    ) -> None:
        wrapped = logging.LoggerAdapter(logger, {})
        run = igl.RunLogger(wrapped, RUN_ID, stage=1)  # type: ignore[arg-type]
        run.info("through an adapter")
        (record,) = records.records
        assert record.getMessage() == "through an adapter"
        assert record.funcName == "test_a_logger_adapter_as_the_logger_still_works"

    def test_the_record_factory_is_used(self, logger: logging.Logger, records: Records) -> None:
        class Marked(logging.LogRecord):
            pass

        old = logging.getLogRecordFactory()
        logging.setLogRecordFactory(Marked)
        try:
            igl.RunLogger(logger, RUN_ID).info("m")
        finally:
            logging.setLogRecordFactory(old)
        assert type(records.records[0]) is Marked

    def test_a_subclass_process_is_honoured(self, logger: logging.Logger, records: Records) -> None:
        class Tagging(igl.RunLogger):
            def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
                return f"[tag] {msg}", kwargs

        Tagging(logger, RUN_ID).info("m")
        assert records.records[0].getMessage() == "[tag] m"

    def test_logger_filters_and_levels_apply(
        self, logger: logging.Logger, records: Records
    ) -> None:
        logger.addFilter(lambda record: record.getMessage() != "dropped")
        logger.setLevel(logging.INFO)
        run = igl.RunLogger(logger, RUN_ID)
        run.debug("below the level")
        run.info("dropped")
        run.info("kept")
        assert [r.getMessage() for r in records.records] == ["kept"]


class TestCaller:
    """The location is the user's line, also with ``stacklevel`` and with lookup switched off."""

    def test_location_and_stacklevel(self, logger: logging.Logger, records: Records) -> None:
        run = igl.RunLogger(logger, RUN_ID)

        def helper() -> None:
            run.info("via helper", stacklevel=2)

        run.info("direct")
        helper()
        direct, via = records.records
        assert direct.funcName == via.funcName == "test_location_and_stacklevel"
        assert direct.filename == "test_records.py"
        assert via.lineno == direct.lineno + 1

    def test_srcfile_none_gives_the_unknown_location(
        self, logger: logging.Logger, records: Records, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(logging, "_srcfile", None)
        igl.RunLogger(logger, RUN_ID).info("m")
        record = records.records[0]
        assert (record.pathname, record.lineno, record.funcName) == (
            "(unknown file)",
            0,
            "(unknown function)",
        )

    def test_exc_info_and_stack_info(self, logger: logging.Logger, records: Records) -> None:
        run = igl.RunLogger(logger, RUN_ID)
        try:
            raise KeyError("k")
        except KeyError:
            run.exception("failed")
        run.info("with stack", stack_info=True)
        failed, stacked = records.records
        assert failed.exc_info is not None
        assert failed.exc_info[0] is KeyError
        assert stacked.stack_info is not None
        assert "test_exc_info_and_stack_info" in stacked.stack_info
        assert stacked.funcName == "test_exc_info_and_stack_info"


class TestFilesUnchanged:
    """The lean path writes the same lines as the standard one."""

    def test_same_bytes_either_path(self, base_dir: Path, logger: logging.Logger) -> None:
        for handler_class in (igl.RunLogHandler, igl.StageLogHandler, igl.TraceHandler):
            logger.addHandler(handler_class(base_dir))
        lean = igl.RunLogger(logger, RUN_ID, 7, 42).for_stage(1)
        extra = {"run_id": RUN_ID, "account_id": 7, "site_id": 42, "stage": 1}
        fields = {"event": "item", "item_id": 5, "keyword": "blue shoes", "score": 0.25}
        lean.info("item %d", 5, extra=fields)
        logger.info("item %d", 5, extra={**extra, **fields})
        folder = run_dir(base_dir, lean)
        for name in ("automation_run.log", "stage_1.log"):
            first, second = (line[24:] for line in text_lines(folder / name))
            assert first == second
        one, two = trace_events(folder / "run_trace.jsonl")
        one.pop("ts"), two.pop("ts")
        assert one == two
        assert list(one) == list(two)
