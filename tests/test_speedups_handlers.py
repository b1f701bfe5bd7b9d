"""The C ``handle`` of the run handlers (``_speedups_handlers.c``): the Python handlers' files.

``BaseRunHandler.handle`` is the extension's when it is built.  For every kind
of record it writes what ``handle_unlocked`` + ``emit`` write, byte for byte
and with the same counts, or hands the record to them; whatever a user changes
(a filter, a formatter, a replaced method, fsync, a patched ``os``) makes it
hand over, so the change is honoured.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import configured_speedups, traced_growth

import igny8_logging as igl
from igny8_logging import _files, _handlers
from igny8_logging._routing import FIELDS_ATTR, Route
from igny8_logging._trace_backend import trace_formatter

RUN_ID = "run_20261202_120000_c0ffee42"
CREATED = 1_795_915_800.123456
HANDLER_CLASSES = (igl.RunLogHandler, igl.StageLogHandler, igl.TraceHandler)


@pytest.fixture(autouse=True)
def c_handle() -> Any:
    """The C handle, set up (a skip without the extension, a failure when CI requires it)."""
    configured_speedups()
    assert _handlers.C_HANDLE is not None, "the C handle was not set up"
    assert _handlers.BaseRunHandler.handle is _handlers.C_HANDLE
    return _handlers.C_HANDLE


class Setup:
    """A fresh logger with the three handlers on *base* (and a mirror), time held still."""

    def __init__(self, root: Path, name: str, mirror: bool = True, **options: Any) -> None:
        self.root = root
        self.logger = logging.getLogger(f"igny8.test.c_handle.{name}")
        self.logger.handlers.clear()
        self.logger.filters.clear()
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        shared = root / "mirror" if mirror else None
        self.handlers = [cls(root / "base", shared, **options) for cls in HANDLER_CLASSES]
        for handler in self.handlers:
            self.logger.addHandler(handler)
        self.logger.addFilter(self._still)

    @staticmethod
    def _still(record: logging.LogRecord) -> bool:
        record.created = CREATED
        record.msecs = 123.0
        return True

    def files(self) -> dict[str, bytes]:
        return {
            str(path.relative_to(self.root)): path.read_bytes()
            for path in sorted(self.root.rglob("*"))
            if path.is_file()
        }

    def counts(self) -> list[tuple[dict[str, int], int]]:
        return [(h.failures, h.refused) for h in self.handlers]

    def close(self) -> None:
        for handler in self.handlers:
            self.logger.removeHandler(handler)
            handler.close()


class Odd:
    def __str__(self) -> str:
        return "odd"


class Hostile:
    def __str__(self) -> str:
        raise RuntimeError("no str")


def every_kind_of_record(logger: logging.Logger) -> None:
    """Records through every branch of the C handle and its hand-overs."""
    run = igl.start_run(logger, account_id=7, site_id=42, run_id=RUN_ID, metadata={"k": "v"})
    stage = run.for_stage(1)
    stage.info("scored %d of %d", 1, 2, extra={"event": "item", "item_id": 5, "score": 0.5})
    stage.info("scored %d of %d", 2, 2, extra={"event": "item", "item_id": 6, "score": 0.25})
    stage.info("plain info", extra={"item_id": 7})
    stage.debug("debug line")
    stage.warning("a warning %s", "here", extra={"keyword": "blue shoes"})
    run.trace("item_scored", stage=1, message="traced", item_id=8, keyword="a b", ok=True)
    run.trace("odd_fields", stage=2, message="odd", value=Odd(), tiny=1e-7, big=2**70)
    run.trace("clash", stage=2, message="clash", level="mine", ts="also", event_="x")
    run.info("run level, no stage")
    run.for_stage(3).info("multi\nline\x00message", extra={"event": "item", "n": 1})
    stage.info("é ✓ 😀 \ud800 non-ascii", extra={"event": "item", "text": "\udcff"})
    stage.info("long " + "x" * 20_000, extra={"event": "item", "blob": "y" * 20_000})
    stage.info("%s %s", "too few")  # formatting fails: the placeholder message
    stage.info(Odd())  # a message that is no str
    stage.info("dict %(a)s", {"a": 1})
    try:
        raise ValueError("boom")
    except ValueError:
        stage.exception("failed item", extra={"event": "item_failed", "item_id": 9})
    stage.info("with stack", stack_info=True)
    ids = {"run_id": RUN_ID, "account_id": 7, "site_id": 42}
    for n in range(3):  # plain logger records: the second and third hit the route cache
        logger.info("plain %d", n, extra={**ids, "stage": 2, "event": "item", "item_id": n})
    logger.warning("plain warning, no event", extra={**ids, "stage": 2})
    logger.info("plain run record", extra={**ids})
    logger.info("plain, fields clash", extra={**ids, "event": "item", FIELDS_ATTR: {"name": 1}})
    logger.info("plain, odd event", extra={**ids, "event": 42})
    logger.info("plain, hostile event", extra={**ids, "event": Hostile()})
    logger.info("no run at all")
    logger.info("refused", extra={"run_id": "../escape"})
    logger.info("refused stage", extra={**ids, "stage": "../x"})
    with igl.bind_run(RUN_ID, 7, 42, stage=4):
        logger.info("bound %s", "record", extra={"event": "item"})
        logger.error("bound error")
    logger.info("other tenant", extra={"run_id": RUN_ID, "account_id": 8, "stage": 1})


def run_both(
    tmp_path: Path, scenario: Callable[[logging.Logger], None], **options: Any
) -> list[tuple[dict[str, int], int]]:
    """*scenario* through the C handle and through ``handle_unlocked``: the same files."""
    results = []
    for variant, handle in (("c", _handlers.C_HANDLE), ("python", _handlers.handle_unlocked)):
        saved = _handlers.BaseRunHandler.handle
        _handlers.BaseRunHandler.handle = handle  # type: ignore[assignment]
        setup = Setup(tmp_path / variant, f"{variant}.{id(scenario)}", **options)
        try:
            scenario(setup.logger)
        finally:
            setup.close()
            _handlers.BaseRunHandler.handle = saved
        results.append((setup.files(), setup.counts()))
    (c_files, c_counts), (py_files, py_counts) = results
    assert sorted(c_files) == sorted(py_files)
    for name in py_files:
        assert c_files[name] == py_files[name], name
    assert c_counts == py_counts
    assert len(py_files) >= 2 * 3  # both trees, several files
    return py_counts


class TestSameFiles:
    """Every file the Python handle writes, the C handle writes the same, counts included."""

    def test_every_kind_of_record(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        counts = run_both(tmp_path, every_kind_of_record)
        assert [refused for _, refused in counts] == [2, 2, 2]
        err = capsys.readouterr().err
        assert err.count("record refused") == 2 * 3  # reported once per handler and variant

    @pytest.mark.parametrize("max_record_bytes", [64, 300, 4096])
    def test_small_record_limits(self, tmp_path: Path, max_record_bytes: int) -> None:
        run_both(tmp_path, every_kind_of_record, max_record_bytes=max_record_bytes)

    def test_json_backend(self, tmp_path: Path) -> None:
        # Only TraceHandler takes json_backend: set it on that one.
        def scenario(logger: logging.Logger) -> None:
            for handler in logger.handlers:
                if isinstance(handler, igl.TraceHandler):
                    handler.trace_formatter = trace_formatter("json", handler.max_record_bytes)
            every_kind_of_record(logger)

        run_both(tmp_path, scenario)

    def test_fsync_always(self, tmp_path: Path) -> None:
        run_both(tmp_path, every_kind_of_record, fsync="always")


def runs_interleaved(logger: logging.Logger) -> None:
    """Records of three runs taking turns (a threaded worker's), and of their stages."""
    runs = [
        igl.start_run(logger, account_id=7, site_id=site, run_id=f"{RUN_ID[:-1]}{site}")
        for site in (1, 2, 3)
    ]
    for n in range(20):
        for run in runs:
            run.for_stage(1 + n % 2).info("item %d", n, extra={"event": "item", "n": n})


class TestOpenFiles:
    """Records of runs taking turns are written on the open descriptors, least recent
    evicted first, as the Python handle writes them."""

    def test_runs_taking_turns(self, tmp_path: Path) -> None:
        run_both(tmp_path, runs_interleaved)

    def test_runs_taking_turns_few_open_files(self, tmp_path: Path) -> None:
        run_both(tmp_path, runs_interleaved, max_open_files=2)

    def test_least_recently_used_is_evicted(self, tmp_path: Path) -> None:
        setup = Setup(tmp_path, "lru", mirror=False, max_open_files=2)
        try:
            first, second, third = (
                igl.start_run(setup.logger, site_id=site).for_stage(1) for site in (1, 2, 3)
            )
            for stage in (first, second, first):  # the first run's file is now the recent one
                stage.info("item", extra={"event": "item"})
            third.info("item", extra={"event": "item"})  # evicts the least recent: second's
            (tree,) = setup.handlers[0].trees
            assert [key[1] for key in tree._fds] == ["1", "3"]
        finally:
            setup.close()


class TestHandsOver:
    """What a user changes on a handler, its class or the file layer is honoured."""

    @pytest.fixture
    def setup(self, tmp_path: Path) -> Iterator[Setup]:
        made = Setup(tmp_path, "hands_over", mirror=False)
        yield made
        made.close()

    def log(self, setup: Setup) -> igl.RunLogger:
        run = igl.start_run(setup.logger, run_id=RUN_ID)
        run.for_stage(1).info("item %d", 1, extra={"event": "item"})
        return run

    def run_log(self, setup: Setup) -> bytes:
        return (setup.root / "base" / "_" / "_" / RUN_ID / "automation_run.log").read_bytes()

    def test_a_filter(self, setup: Setup) -> None:
        setup.handlers[0].addFilter(lambda record: "item" not in record.getMessage())
        self.log(setup)
        assert b"item 1" not in self.run_log(setup)
        assert b"item 1" in (setup.root / "base/_/_" / RUN_ID / "stage_1.log").read_bytes()

    def test_a_formatter(self, setup: Setup) -> None:
        setup.handlers[0].setFormatter(logging.Formatter("custom %(run_id)s %(message)s"))
        self.log(setup)
        assert f"custom {RUN_ID} item 1\n".encode() in self.run_log(setup)

    def test_a_method_replaced_on_the_instance(self, setup: Setup) -> None:
        handler = setup.handlers[0]

        def render(record: logging.LogRecord, route: Route) -> bytes:
            return b"mine\n"

        handler.render = render  # type: ignore[method-assign]
        self.log(setup)
        assert self.run_log(setup).endswith(b"mine\n")

    def test_a_method_replaced_on_the_class(
        self, setup: Setup, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(igl.StageLogHandler, "filename", lambda self, record, route: "x.log")
        self.log(setup)
        assert (setup.root / "base/_/_" / RUN_ID / "x.log").exists()

    def test_a_subclass(self, tmp_path: Path) -> None:
        class Upper(igl.RunLogHandler):
            def render(self, record: logging.LogRecord, route: Route) -> bytes:
                return super().render(record, route).upper()

        logger = logging.getLogger("igny8.test.c_handle.subclass")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        handler = Upper(tmp_path)
        logger.addHandler(handler)
        try:
            igl.start_run(logger, run_id=RUN_ID).info("quiet words")
        finally:
            logger.removeHandler(handler)
            handler.close()
        assert b"QUIET WORDS" in (tmp_path / "_/_" / RUN_ID / "automation_run.log").read_bytes()

    def test_a_patched_os_in_the_file_layer(
        self, setup: Setup, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.log(setup)  # the descriptors are open: the next records take the fast branch
        written: list[int] = []

        class Counting:
            def __getattr__(self, name: str) -> Any:
                return getattr(os, name)

            def write(self, fd: int, data: bytes) -> int:
                written.append(len(data))
                return os.write(fd, data)

        monkeypatch.setattr(_files, "os", Counting())
        self.log(setup)
        assert len(written) >= 3

    def test_a_getmessage_replaced_on_logrecord(
        self, setup: Setup, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(logging.LogRecord, "getMessage", lambda self: "replaced")
        self.log(setup)
        assert self.run_log(setup).endswith(b"replaced\n")


class TestFailures:
    """Failed writes are counted and reported as the Python handle counts them."""

    def test_a_closed_descriptor_is_reopened(self, tmp_path: Path) -> None:
        setup = Setup(tmp_path, "closed", mirror=False)
        try:
            run = igl.start_run(setup.logger, run_id=RUN_ID)
            run.info("first")
            for handler in setup.handlers:
                for tree in handler.trees:
                    for entry in tree._fds.values():
                        os.close(entry.fd)  # closed behind the library's back
            run.info("second")
            assert [h.failures for h in setup.handlers] == [{"primary": 0}] * 3
        finally:
            setup.close()
        text = (tmp_path / "base/_/_" / RUN_ID / "automation_run.log").read_text()
        assert "first" in text
        assert "second" in text

    def test_an_error_inside_goes_to_handle_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        setup = Setup(tmp_path, "errors", mirror=False)
        seen: list[BaseException | None] = []

        def handle_error(record: logging.LogRecord) -> None:
            seen.append(sys.exc_info()[1])

        try:
            run = igl.start_run(setup.logger, run_id=RUN_ID)
            handler = setup.handlers[0]
            monkeypatch.setattr(handler, "handleError", handle_error)
            handler.trees = "not a list"  # type: ignore[assignment]
            run.info("record")  # neither handle may raise into the caller
        finally:
            setup.handlers[0].trees = []
            setup.close()
        assert len(seen) == 1
        assert isinstance(seen[0], Exception)

    def test_enospc_on_the_fast_branch(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """ENOSPC simulated on an open descriptor (the real full disk: test_faults)."""
        setup = Setup(tmp_path, "enospc", mirror=False)
        try:
            run = igl.start_run(setup.logger, run_id=RUN_ID)
            run.for_stage(1).info("before", extra={"event": "item"})

            class Full:
                def __getattr__(self, name: str) -> Any:
                    return getattr(os, name)

                def write(self, fd: int, data: bytes) -> int:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            monkeypatch.setattr(_files, "os", Full())
            run.for_stage(1).info("lost", extra={"event": "item"})
            assert [h.failures for h in setup.handlers] == [{"primary": 1}] * 3
            monkeypatch.undo()
            run.for_stage(1).info("after", extra={"event": "item"})
        finally:
            setup.close()
        text = (tmp_path / "base/_/_" / RUN_ID / "stage_1.log").read_text()
        assert "before" in text
        assert "after" in text
        assert "lost" not in text


class TestMemory:
    """Nothing is kept per record: the fast path and its hand-overs free what they make."""

    def test_no_growth_over_many_records(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(logging, "raiseExceptions", False)  # the refusals stay quiet
        setup = Setup(tmp_path, "memory")
        run = igl.start_run(setup.logger, account_id=7, site_id=42)
        stage = run.for_stage(1)
        ids = {"run_id": run.run_id, "account_id": 7, "site_id": 42}

        def batch(count: int) -> None:
            for n in range(count):
                stage.info("item %d", n, extra={"event": "item", "n": n})
                setup.logger.info("plain %d", n, extra={**ids, "stage": 2, "event": "item"})
                setup.logger.info("refused", extra={"run_id": "../x"})
                stage.warning("no event")

        try:
            with contextlib.redirect_stderr(io.StringIO()):
                grown = traced_growth(batch)
        finally:
            setup.close()
        assert grown < 64 * 1024  # one object leaked per record would be > 1 MB
