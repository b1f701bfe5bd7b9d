"""``make_record`` gives what ``logging.LogRecord(...)`` gives, faster, and honours the factory."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import configured_speedups

from igny8_logging import _logrecord
from igny8_logging._logrecord import FAITHFUL, make_record

MOVING = {"created", "msecs", "relativeCreated"}


def compare(*given: Any) -> None:
    """Both ways of making a record of *given* agree on every attribute, in order."""
    before = time.time()
    ours = make_record(*given)
    theirs = logging.LogRecord(*given)
    after = time.time()
    assert type(ours) is logging.LogRecord
    assert list(ours.__dict__) == list(theirs.__dict__)
    for key, value in theirs.__dict__.items():
        if key not in MOVING:
            assert ours.__dict__[key] == value, key
    assert before - 0.001 <= ours.created <= after + 0.001
    whole_ms = int((ours.created - int(ours.created)) * 1000)
    assert ours.msecs == whole_ms or ours.msecs in (0.0, 999.0)
    assert ours.args == theirs.args


@pytest.fixture
def restore_flags() -> Iterator[None]:
    saved = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    yield
    logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved


#: Every test runs with the C accelerator and without it (conftest ``speedups``).
pytestmark = pytest.mark.usefixtures("speedups")


class TestSameRecord:
    """Every attribute ``LogRecord.__init__`` sets, with the same value, in the same order."""

    def test_this_python_is_followed(self) -> None:
        assert FAITHFUL

    @pytest.mark.parametrize(
        "args",
        [(), (1, "two"), ({"k": 1},), ({},), ([1],)],
        ids=["none", "tuple", "mapping", "empty-mapping", "list"],
    )
    def test_args(self, args: Any) -> None:
        compare("n", logging.INFO, "/srv/app/tasks.py", 3, "m %s", args, None)

    @pytest.mark.parametrize(
        "pathname", ["/srv/app/tasks.py", "relative/x.tar.gz", "noext", "", "/dir/"]
    )
    def test_paths(self, pathname: str) -> None:
        compare("n", logging.INFO, pathname, 1, "m", (), None, "func", "stack")

    def test_a_path_that_is_not_a_str(self) -> None:
        compare("n", logging.INFO, None, 1, "m", (), None)

    def test_levels_including_custom_and_unknown(self) -> None:
        logging.addLevelName(25, "NOTICE")
        try:
            for level in (logging.DEBUG, 25, logging.CRITICAL, 37):
                compare("n", level, "/a.py", 1, "m", (), None)
        finally:
            logging.addLevelName(25, "Level 25")

    def test_exc_info(self) -> None:
        try:
            raise ValueError("v")
        except ValueError as exc:
            compare("n", logging.ERROR, "/a.py", 1, "m", (), (ValueError, exc, exc.__traceback__))

    def test_in_a_named_thread(self) -> None:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                compare("n", logging.INFO, "/a.py", 1, "m", (), None)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        thread = threading.Thread(target=run, name="worker-7")
        thread.start()
        thread.join()
        assert not errors

    def in_thread(self, thread: threading.Thread) -> None:
        thread.start()
        thread.join()

    def test_a_renamed_thread_and_process(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import multiprocessing

        monkeypatch.setattr(threading.current_thread(), "name", "renamed-thread")
        monkeypatch.setattr(multiprocessing.current_process(), "name", "renamed-process")
        compare("n", logging.INFO, "/a.py", 1, "m", (), None)
        record = make_record("n", logging.INFO, "/a.py", 1, "m", (), None)
        assert (record.threadName, record.processName) == ("renamed-thread", "renamed-process")

    def test_a_replaced_current_process(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import multiprocessing

        class Fake:
            name = "fake-process"

        monkeypatch.setattr(multiprocessing, "current_process", Fake)
        compare("n", logging.INFO, "/a.py", 1, "m", (), None)
        assert make_record("n", logging.INFO, "/a.py", 1, "m", (), None).processName == (
            "fake-process"
        )

    def test_a_thread_class_with_its_own_name(self) -> None:
        seen: list[object] = []

        class Named(threading.Thread):
            @property
            def name(self) -> str:  # type: ignore[override]
                return "from-the-property"

            def run(self) -> None:
                compare("n", logging.INFO, "/a.py", 1, "m", (), None)
                seen.append(make_record("n", logging.INFO, "/a.py", 1, "m", (), None).threadName)

        self.in_thread(Named())
        assert seen == ["from-the-property"]

    def test_a_thread_threading_did_not_start(self) -> None:
        import _thread

        done = threading.Event()
        seen: list[object] = []

        def run() -> None:
            try:
                compare("n", logging.INFO, "/a.py", 1, "m", (), None)
                seen.append(make_record("n", logging.INFO, "/a.py", 1, "m", (), None).threadName)
            except BaseException as exc:  # reported by the main thread
                seen.append(exc)
            finally:
                done.set()

        _thread.start_new_thread(run, ())
        assert done.wait(10)
        assert len(seen) == 1
        assert str(seen[0]).startswith("Dummy-")

    def test_in_an_asyncio_task(self) -> None:
        async def main() -> None:
            compare("n", logging.INFO, "/a.py", 1, "m", (), None)

        asyncio.run(main())

    def test_switched_off_attributes(self, restore_flags: None) -> None:
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
        compare("n", logging.INFO, "/a.py", 1, "m", (), None)
        record = make_record("n", logging.INFO, "/a.py", 1, "m", (), None)
        assert (record.thread, record.process, record.processName) == (None, None, None)

    def test_a_fork_child_records_its_own_pid(self) -> None:
        """The process id is kept between records; a forked child's records carry the child's."""
        parent = make_record("n", logging.INFO, "/a.py", 1, "m", (), None)
        assert parent.process == os.getpid()
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # the child: report its record's pid and its own, then leave at once
            try:
                record = make_record("n", logging.INFO, "/a.py", 1, "m", (), None)
                os.write(write_end, f"{record.process} {os.getpid()}".encode())
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            seen, own = pipe.read().decode().split()
        os.waitpid(child, 0)
        assert seen == own == str(child)


class TestFactory:
    """Another record factory is called instead, with the same arguments."""

    def test_custom_factory(self) -> None:
        calls: list[tuple[Any, ...]] = []
        old = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            calls.append(args)
            return old(*args, **kwargs)

        logging.setLogRecordFactory(factory)
        try:
            make_record("n", logging.INFO, "/a.py", 1, "m", (), None, "f", None)
        finally:
            logging.setLogRecordFactory(old)
        assert calls == [("n", logging.INFO, "/a.py", 1, "m", (), None, "f", None)]

    def test_unfaithful_python_uses_the_class(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(_logrecord, "FAITHFUL", False)
        monkeypatch.setattr(_logrecord, "C_BUILD", None)
        made: list[str] = []

        class Spy(logging.LogRecord):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                made.append("init")
                super().__init__(*args, **kwargs)

        monkeypatch.setattr(_logrecord, "_LogRecord", Spy)
        monkeypatch.setattr(logging, "_logRecordFactory", Spy)
        record = make_record("n", logging.INFO, "/a.py", 1, "m", (), None)
        assert made == ["init"]
        assert type(record) is Spy

    def test_a_build_that_differs_is_not_used(self) -> None:
        """The check a build must pass before it is used (the C one at import) fails one
        that hides an attribute, drops one, or reorders them."""

        def hiding(*given: Any) -> logging.LogRecord:
            record = logging.LogRecord(*given)
            del record.__dict__["created"]
            return record

        def reordered(*given: Any) -> logging.LogRecord:
            record = logging.LogRecord(*given)
            record.__dict__ = dict(reversed(record.__dict__.items()))
            return record

        assert _logrecord._faithful(logging.LogRecord)
        assert not _logrecord._faithful(hiding)
        assert not _logrecord._faithful(reordered)
        assert not _logrecord._faithful(lambda *given: None)

    def test_the_c_build_hands_odd_args_back(self) -> None:
        module = configured_speedups()
        record = module.build_record("n", logging.INFO, "/srv/t.py", 1, "m %s", (1,), None)
        assert type(record) is logging.LogRecord
        assert (record.filename, record.module, record.getMessage()) == ("t.py", "t", "m 1")
        odd_args = ["not a tuple"]
        assert module.build_record("n", logging.INFO, "/a.py", 1, "m", odd_args, None) is None
