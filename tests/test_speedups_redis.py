"""The C ``handle`` of ``RedisStreamHandler`` (``_speedups_redis.c``): the Python handler's streams.

``RedisStreamHandler.handle`` is the extension's when it is built.  For every
kind of record it queues what ``handle_unlocked`` + ``emit`` queue, so Redis
holds the same bytes, or it hands the record to them; whatever a user changes (a
filter, a formatter, a replaced method, a subclass) makes it hand over, so the
change is honoured.  Tests run against a private ``redis-server``.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from _redis_server import RedisServer, client, entries
from conftest import configured_speedups, traced_growth
from test_speedups_handlers import RUN_ID, Setup, every_kind_of_record

import igny8_logging as igl
from igny8_logging import _handlers
from igny8_logging import redis as igr
from igny8_logging._redis_sender import Sender
from igny8_logging.redis import RedisStreamHandler


@pytest.fixture(autouse=True)
def c_handle() -> Any:
    """The C handle, set up (a skip without the extension, a failure when CI requires it)."""
    configured_speedups()
    assert igr.C_HANDLE is not None, "the C handle was not set up"
    assert RedisStreamHandler.handle is igr.C_HANDLE
    return igr.C_HANDLE


def python_handled(handler: RedisStreamHandler) -> RedisStreamHandler:
    """*handler* with the Python handle (``handle_unlocked``), set on the instance."""
    handler.handle = functools.partial(_handlers.handle_unlocked, handler)  # type: ignore[method-assign]
    return handler


def streams(srv: RedisServer, prefix: str) -> dict[str, list[bytes]]:
    """Every stream under *prefix*, by its key without the prefix."""
    keys = sorted(k.decode() for k in client(srv).scan_iter(f"{prefix}:*") if b":files" not in k)
    found = {}
    for key in keys:
        if client(srv).type(key) == b"stream":
            found[key[len(prefix) :]] = entries(srv, key)
    return found


class Pair:
    """Three file handlers, then a Redis handler with the C handle and one with Python's."""

    def __init__(self, root: Path, srv: RedisServer, name: str, **options: Any) -> None:
        self.setup = Setup(root, name, mirror=False)
        self.c = RedisStreamHandler(srv.url, prefix="c", **options)
        self.py = python_handled(RedisStreamHandler(srv.url, prefix="py", **options))
        for handler in (self.c, self.py):
            self.setup.logger.addHandler(handler)
        self.srv = srv

    def compare(self) -> dict[str, list[bytes]]:
        for handler in (self.c, self.py):
            handler.flush()
        c, py = streams(self.srv, "c"), streams(self.srv, "py")
        assert sorted(c) == sorted(py)
        for key in py:
            assert c[key] == py[key], key
        assert (self.c.dropped, self.c.refused) == (self.py.dropped, self.py.refused)
        return py

    def close(self) -> None:
        for handler in (self.c, self.py):
            self.setup.logger.removeHandler(handler)
            handler.close()
        self.setup.close()


@pytest.fixture
def pairs(tmp_path: Path, own_server: RedisServer) -> Iterator[Callable[..., Pair]]:
    """Makes a :class:`Pair` in the test itself (pytest gives the non-propagating loggers
    of the set-up phase its own capturing handler too), closed at the end."""
    made: list[Pair] = []

    def make(**options: Any) -> Pair:
        made.append(Pair(tmp_path / str(len(made)), own_server, f"pair{len(made)}", **options))
        return made[-1]

    yield make
    for pair in made:
        pair.close()


class Calls:
    """Counts the Python functions of the Redis handler and its sender while active."""

    NAMES = ("emit", "put", "handle_unlocked")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(self.NAMES, 0)

    def __enter__(self) -> Calls:
        def profile(frame: FrameType, event: str, arg: object) -> None:
            if event == "call" and frame.f_code.co_name in self.counts:
                self.counts[frame.f_code.co_name] += 1

        sys.setprofile(profile)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)


class TestSameStreams:
    """Every stream the Python handle fills, the C handle fills the same, counts included."""

    def test_every_kind_of_record(
        self, pairs: Callable[..., Pair], capsys: pytest.CaptureFixture[str]
    ) -> None:
        pair = pairs()
        every_kind_of_record(pair.setup.logger)
        found = pair.compare()
        run = f":7:42:{RUN_ID}:"
        assert {f"{run}automation_run.log", f"{run}stage_1.log", f"{run}run_trace.jsonl"} <= set(
            found
        )
        assert len(found[f"{run}automation_run.log"]) > 20
        assert pair.c.refused == 2  # the two refused records, counted once per handler
        capsys.readouterr()

    def test_a_record_no_file_handler_rendered(self, pairs: Callable[..., Pair]) -> None:
        pair = pairs()
        for handler in pair.setup.handlers:  # the Redis handlers alone: they render
            pair.setup.logger.removeHandler(handler)
        run = igl.RunLogger(pair.setup.logger, RUN_ID, 7, 42)
        run.for_stage(2).info("rendered by redis %d", 1, extra={"event": "item", "n": 1})
        run.for_stage(2).warning("a warning")
        run.info("no stage")
        found = pair.compare()
        assert len(found[f":7:42:{RUN_ID}:automation_run.log"]) == 3
        assert len(found[f":7:42:{RUN_ID}:run_trace.jsonl"]) == 2

    def test_a_full_buffer_drops_the_oldest_the_same(self, pairs: Callable[..., Pair]) -> None:
        made = pairs(buffer=5, flush_timeout=10.0)
        for handler in (made.c, made.py):
            handler._sender.linger = 1.0  # nothing sent while the records come
        stage = igl.RunLogger(made.setup.logger, RUN_ID, 7, 42).for_stage(1)
        for n in range(40):
            stage.info("item %d", n, extra={"event": "item", "n": n})
        assert made.c.dropped == made.py.dropped == 35
        found = made.compare()
        kept = [line.split(b"] ")[1] for line in found[f":7:42:{RUN_ID}:stage_1.log"]]
        assert kept == [b"item %d n=%d\n" % (n, n) for n in range(35, 40)]  # the newest five


class TestFastPath:
    """A routed, rendered record is queued without any Python call but the first's."""

    def test_no_python_for_the_common_case(self, tmp_path: Path, own_server: RedisServer) -> None:
        setup = Setup(tmp_path, "fast", mirror=False)
        handler = RedisStreamHandler(own_server.url, prefix="fast", flush_timeout=10.0)
        setup.logger.addHandler(handler)
        try:
            handler._sender.linger = 1.0  # the queue stays filled while the records come
            stage = igl.RunLogger(setup.logger, RUN_ID, 7, 42).for_stage(1)
            stage.info("first", extra={"event": "item"})  # starts the sender thread
            with Calls() as calls:
                for n in range(50):
                    stage.info("item %d", n, extra={"event": "item", "n": n})
                    stage.info("plain %d", n)
            assert calls.counts == {"emit": 0, "put": 0, "handle_unlocked": 0}
            assert handler.pending == 101
            handler.flush()
            key = f"fast:7:42:{RUN_ID}:"
            assert len(entries(own_server, key + "stage_1.log")) == 101
            assert len(entries(own_server, key + "run_trace.jsonl")) == 51
        finally:
            setup.logger.removeHandler(handler)
            handler.close()
            setup.close()

    def test_the_python_handle_calls_emit(self, tmp_path: Path, own_server: RedisServer) -> None:
        setup = Setup(tmp_path, "slow", mirror=False)
        handler = python_handled(RedisStreamHandler(own_server.url, prefix="slow"))
        setup.logger.addHandler(handler)
        try:
            stage = igl.RunLogger(setup.logger, RUN_ID, 7, 42).for_stage(1)
            with Calls() as calls:
                for n in range(10):
                    stage.info("item %d", n, extra={"event": "item", "n": n})
            assert calls.counts["emit"] == 10  # what the test above tells apart
        finally:
            setup.logger.removeHandler(handler)
            handler.close()
            setup.close()


class TestHandsOver:
    """What a user changes on the handler or its class is honoured."""

    def log(self, pair: Pair) -> None:
        stage = igl.RunLogger(pair.setup.logger, RUN_ID, 7, 42).for_stage(1)
        stage.info("kept %d", 1, extra={"event": "item"})
        stage.info("secret %d", 2, extra={"event": "item"})
        stage.warning("warned")

    def test_a_filter(self, pairs: Callable[..., Pair]) -> None:
        pair = pairs()
        for handler in (pair.c, pair.py):
            handler.addFilter(lambda record: "secret" not in record.getMessage())
        self.log(pair)
        found = pair.compare()
        lines = found[f":7:42:{RUN_ID}:stage_1.log"]
        assert len(lines) == 2
        assert not any(b"secret" in line for line in lines)

    def test_a_formatter(self, pairs: Callable[..., Pair]) -> None:
        pair = pairs()
        for handler in (pair.c, pair.py):
            handler.setFormatter(logging.Formatter("%(levelname)s|%(message)s"))
        self.log(pair)
        found = pair.compare()
        assert found[f":7:42:{RUN_ID}:stage_1.log"][0] == b"INFO|kept 1\n"

    def test_emit_replaced_on_the_instance(self, pairs: Callable[..., Pair]) -> None:
        pair = pairs()
        seen: list[str] = []
        pair.c.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
        self.log(pair)
        assert seen == ["kept 1", "secret 2", "warned"]
        pair.c.flush()
        assert streams(pair.srv, "c") == {}

    def test_a_subclass(self, tmp_path: Path, own_server: RedisServer) -> None:
        class Counting(RedisStreamHandler):
            calls = 0

            def emit(self, record: logging.LogRecord) -> None:
                Counting.calls += 1
                super().emit(record)

        setup = Setup(tmp_path, "subclass", mirror=False)
        handler = Counting(own_server.url, prefix="sub")
        setup.logger.addHandler(handler)
        try:
            igl.RunLogger(setup.logger, RUN_ID, 7, 42).info("quiet")
            handler.flush()
            assert Counting.calls == 1  # the subclass's emit ran
            assert entries(own_server, f"sub:7:42:{RUN_ID}:automation_run.log")[0].endswith(
                b"quiet\n"
            )
        finally:
            setup.logger.removeHandler(handler)
            handler.close()
            setup.close()

    def test_a_closed_handler_queues_nothing(self, pairs: Callable[..., Pair]) -> None:
        pair = pairs()
        for handler in (pair.c, pair.py):
            handler.close()
        self.log(pair)
        assert (pair.c.pending, pair.py.pending) == (0, 0)
        assert streams(pair.srv, "c") == streams(pair.srv, "py") == {}


class TestFailures:
    """An error inside goes to ``handleError``; the caller never sees it."""

    def test_an_error_inside_goes_to_handle_error(
        self, tmp_path: Path, own_server: RedisServer
    ) -> None:
        setup = Setup(tmp_path, "error", mirror=False)
        handler = RedisStreamHandler(own_server.url, prefix="err")
        setup.logger.addHandler(handler)
        errors: list[tuple[str, BaseException | None]] = []
        handler.handleError = lambda record: errors.append(  # type: ignore[method-assign]
            (record.getMessage(), sys.exc_info()[1])
        )

        class Broken(Sender):
            @property
            def queue(self) -> Any:  # type: ignore[override]
                raise RuntimeError("no queue")

        real = handler._sender
        handler._sender = Broken.__new__(Broken)
        try:
            igl.RunLogger(setup.logger, RUN_ID, 7, 42).info("lost")  # never raises
        finally:
            handler._sender = real
            setup.logger.removeHandler(handler)
            handler.close()
            setup.close()
        assert [(message, str(exc)) for message, exc in errors] == [("lost", "no queue")]
        assert b"lost" in (tmp_path / "base/7/42" / RUN_ID / "automation_run.log").read_bytes()


class TestMemory:
    """Nothing is kept per record: what the fast path makes goes with the sent batch."""

    def test_no_growth_over_many_records(self, tmp_path: Path, own_server: RedisServer) -> None:
        setup = Setup(tmp_path, "memory", mirror=False)
        handler = RedisStreamHandler(own_server.url, prefix="mem")
        setup.logger.addHandler(handler)
        stage = igl.RunLogger(setup.logger, RUN_ID, 7, 42).for_stage(1)

        def batch(count: int) -> None:
            for n in range(count):
                stage.info("item %d", n, extra={"event": "item", "n": n})
                stage.warning("no event")
            handler.flush()

        try:
            grown = traced_growth(batch)  # after the caches and the connection are made
        finally:
            setup.logger.removeHandler(handler)
            handler.close()
            setup.close()
        assert grown < 64 * 1024  # one object leaked per record would be > 1 MB
        assert len(entries(own_server, f"mem:7:42:{RUN_ID}:stage_1.log")) == 11_000
