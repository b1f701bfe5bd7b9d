"""``RunLogger``'s logging methods in C (``_speedups_calls.c``): the Python methods' records.

``RunLogger.debug`` ... ``critical`` are the extension's when it is built.  For
every kind of call they make the record the Python methods make (every
attribute but the times, the same caller location, the same route) and hand it
to the same handlers, or hand the call to the Python method; whatever a user
changes (a filter, a subclass, a logger class, a record factory, logging's
``_srcfile``) is honoured.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from conftest import Records, configured_speedups
from test_speedups_handlers import RUN_ID, Setup

import igny8_logging as igl
from igny8_logging import _adapter
from igny8_logging._routing import ROUTE_ATTR

MOVING = {"created", "msecs", "relativeCreated", ROUTE_ATTR}
METHODS = ("debug", "info", "warning", "error", "critical")


@pytest.fixture(autouse=True)
def c_methods() -> Any:
    """The C methods, set up (a skip without the extension, a failure when CI requires it)."""
    configured_speedups()
    assert _adapter.C_METHODS is not None, "the C logging methods were not set up"
    for name in METHODS:
        assert getattr(igl.RunLogger, name) is _adapter.C_METHODS[name]
    return _adapter.C_METHODS


def route_of(record: logging.LogRecord) -> Any:
    route = record.__dict__.get(ROUTE_ATTR)
    if route is None or route is False:
        return route
    return (route.ref, route.stage, route.event, route.fields, route.parts)


_TS = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def timeless(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files with each record's time taken out (the two runs log at other times)."""
    return {name: _TS.sub(b"<ts>", data) for name, data in files.items()}


def both(
    tmp_path: Path,
    scenario: Callable[[logging.Logger], None],
    logger_class: type[logging.Logger] | None = None,
) -> list[logging.LogRecord]:
    """*scenario* through the C methods and the Python ones: the same records and files."""
    results = []
    for variant, methods in (("c", _adapter.C_METHODS), ("python", _adapter.PY_METHODS)):
        assert methods is not None
        saved = {name: igl.RunLogger.__dict__[name] for name in METHODS}
        for name, method in methods.items():
            setattr(igl.RunLogger, name, method)
        setup = Setup(tmp_path / variant, f"calls.{id(scenario)}", mirror=False)
        setup.logger.removeFilter(setup._still)  # no filter: the C methods call the handlers
        if logger_class is not None:
            setup.logger.__class__ = logger_class
        records = Records()
        setup.logger.addHandler(records)
        try:
            scenario(setup.logger)
        finally:
            setup.logger.removeHandler(records)
            setup.close()
            for name, method in saved.items():
                setattr(igl.RunLogger, name, method)
        results.append((records.records, timeless(setup.files())))
    (c_records, c_files), (py_records, py_files) = results
    assert len(c_records) == len(py_records)
    for ours, theirs in zip(c_records, py_records, strict=True):
        assert list(ours.__dict__) == list(theirs.__dict__)
        for key, value in theirs.__dict__.items():
            if key == "exc_info" and value is not None:  # each run raised its own
                mine: Any = ours.exc_info
                assert (mine[0], str(mine[1])) == (value[0], str(value[1]))
            elif key not in MOVING:
                assert ours.__dict__[key] == value, key
        assert route_of(ours) == route_of(theirs)
    assert c_files == py_files
    return py_records


def cached(logger: logging.Logger) -> logging.Logger:
    """*logger* with every level in its cache (the C methods ask the cache only)."""
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        logger.isEnabledFor(level)
    return logger


def every_kind_of_call(logger: logging.Logger) -> None:
    run = igl.RunLogger(logger, RUN_ID, 7, 42)
    stage = run.for_stage(1)
    for name in METHODS:
        getattr(stage, name)("%s at %d", name, 1, extra={"event": "item", "n": 1})
        getattr(run, name)(name)
    stage.info("one arg %d", 5)
    stage.info("mapping %(a)s", {"a": 1})
    stage.info("empty extra", extra={})
    stage.info("none extra", extra=None)
    stage.info("own keys", extra={"name": "x", "module": "m", 3: "three"})
    stage.info("a stage", extra={"stage": 9})
    run.info("a stage on a run", extra={"stage": 9, "event": "item"})
    stage.info("private", extra={"_hidden": 1, "event": "item"})
    stage.info("odd event", extra={"event": 42})
    try:
        raise ValueError("boom")
    except ValueError:
        stage.error("failed", exc_info=True)
        stage.exception("failed again", extra={"event": "item_failed"})
    stage.info("with stack", stack_info=True)
    stage.info("stacklevel", stacklevel=2)
    stage.log(logging.WARNING, "via log")
    stage.info(Odd())
    stage.info("%s %s", "too few")


class Odd:
    def __str__(self) -> str:
        return "odd"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Odd)

    __hash__ = object.__hash__


class TestSameRecords:
    """Every record the Python methods make, the C ones make the same, to the same files."""

    def test_every_kind_of_call(self, tmp_path: Path) -> None:
        records = both(tmp_path, every_kind_of_call)
        assert len(records) > 25
        assert {r.pathname for r in records} == {str(Path(__file__).resolve())}

    def test_levels_not_enabled_or_not_cached(self, tmp_path: Path) -> None:
        def scenario(logger: logging.Logger) -> None:
            run = igl.RunLogger(logger, RUN_ID, 7, 42)
            logger.setLevel(logging.WARNING)  # clears the logger's cache
            run.info("not enabled")
            run.warning("enabled, not cached yet")
            run.warning("enabled, cached")
            logger.disabled = True
            run.error("disabled")
            logger.disabled = False

        records = both(tmp_path, scenario)
        assert [r.getMessage() for r in records] == ["enabled, not cached yet", "enabled, cached"]

    def test_propagation_and_handler_levels(self, tmp_path: Path) -> None:
        parent_records = Records()

        def scenario(logger: logging.Logger) -> None:
            parent = logging.getLogger(logger.name.rsplit(".", 1)[0])
            parent.addHandler(parent_records)
            logger.propagate = True
            quiet = Records()
            quiet.setLevel(logging.ERROR)
            logger.addHandler(quiet)
            try:
                run = igl.RunLogger(cached(logger), RUN_ID, 7, 42)
                run.info("to the parent")
                run.error("to both")
                assert [r.getMessage() for r in quiet.records] == ["to both"]
            finally:
                parent.removeHandler(parent_records)
                logger.removeHandler(quiet)
                logger.propagate = False

        both(tmp_path, scenario)
        assert [r.getMessage() for r in parent_records.records] == ["to the parent", "to both"] * 2

    def test_a_logger_filter_and_a_handler_removing_itself(self, tmp_path: Path) -> None:
        def scenario(logger: logging.Logger) -> None:
            class Once(logging.Handler):
                def emit(self, record: logging.LogRecord) -> None:
                    logger.removeHandler(self)

            logger.addHandler(Once())
            logger.addFilter(lambda record: "secret" not in record.getMessage())
            run = igl.RunLogger(logger, RUN_ID, 7, 42)
            run.info("kept")
            run.info("secret")
            run.info("kept again")

        records = both(tmp_path, scenario)
        assert [r.getMessage() for r in records] == ["kept", "kept again"]


class TestHandsOver:
    """What a user changes is honoured: the Python method runs, or the change is seen."""

    def test_no_handler_anywhere(self, capsys: pytest.CaptureFixture[str]) -> None:
        logger = logging.getLogger("igny8.test.calls.nowhere")
        logger.propagate = False
        logger.handlers.clear()
        igl.RunLogger(cached(logger), RUN_ID, 7, 42).warning("to the last resort")
        assert "to the last resort" in capsys.readouterr().err

    def test_a_record_factory(self, tmp_path: Path) -> None:
        made: list[str] = []
        default = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            made.append(args[4])
            return default(*args, **kwargs)

        logging.setLogRecordFactory(factory)
        try:
            records = both(tmp_path, lambda logger: igl.RunLogger(logger, RUN_ID).info("made"))
        finally:
            logging.setLogRecordFactory(default)
        assert made == ["made", "made"]
        assert records[0].getMessage() == "made"

    def test_a_logger_class_with_its_own_call_handlers(self, tmp_path: Path) -> None:
        seen: list[str] = []

        class Counting(logging.Logger):
            def callHandlers(self, record: logging.LogRecord) -> None:
                seen.append(record.getMessage())
                super().callHandlers(record)

        both(tmp_path, lambda logger: igl.RunLogger(logger, RUN_ID).info("counted"), Counting)
        assert seen == ["counted", "counted"]

    def test_a_subclass_with_its_own_log_call(self, tmp_path: Path) -> None:
        seen: list[int] = []

        class Mine(igl.RunLogger):
            def _log_call(self, level: int, msg: object, args: Any, kwargs: Any) -> None:
                seen.append(level)
                super()._log_call(level, msg, args, kwargs)

        setup = Setup(tmp_path, "subclass", mirror=False)
        try:
            Mine(setup.logger, RUN_ID).info("mine")
        finally:
            setup.close()
        assert seen == [logging.INFO]

    def test_srcfile_switched_off(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(logging, "_srcfile", None)
        records = both(tmp_path, lambda logger: igl.RunLogger(logger, RUN_ID).info("where?"))
        assert (records[0].pathname, records[0].lineno) == ("(unknown file)", 0)

    def test_an_unknown_keyword_raises_as_logging_does(self, tmp_path: Path) -> None:
        setup = Setup(tmp_path, "keyword", mirror=False)
        try:
            run = igl.RunLogger(setup.logger, RUN_ID)
            with pytest.raises(TypeError):
                run.info("x", colour="blue")
            with pytest.raises(TypeError):
                run.info()  # type: ignore[call-arg]
        finally:
            setup.close()


class TestFastPath:
    """The common call runs no Python function of the library's between call and handler."""

    def test_no_python_between(self, tmp_path: Path) -> None:
        setup = Setup(tmp_path, "fast", mirror=False)
        setup.logger.removeFilter(setup._still)
        stage = igl.RunLogger(setup.logger, RUN_ID, 7, 42).for_stage(1)
        names: list[str] = []

        def profile(frame: FrameType, event: str, arg: object) -> None:
            if event == "call":
                names.append(frame.f_code.co_name)

        def log(n: int) -> None:
            stage.info("item %d", n, extra={"event": "item", "n": n})

        try:
            log(0)  # the call site's location cached
            sys.setprofile(profile)
            try:
                for n in range(20):
                    log(n)
            finally:
                sys.setprofile(None)
        finally:
            setup.close()
        python = {"_log_call", "log_record", "find_caller", "make_record", "attrs"}
        python |= {"isEnabledFor", "handle", "callHandlers", "filter"}  # logging's own
        assert python.isdisjoint(names), names
