"""``igny8_logging._redis_sender``: the bounded buffer and the batching thread.

Against ``redis-server`` processes the tests start themselves (``tests/_redis_server.py``),
never the shared 6379; the outage tests start theirs late or kill and restart them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from _redis_server import Logged, RedisServer, client, entries, require_redis_server, stream_bytes

import igny8_logging as igl
from igny8_logging._redis_keys import stream_key
from igny8_logging._redis_script import Entry, bulk
from igny8_logging._redis_sender import Sender

PARTS = ("1", "2", "run_sender")


def entry(i: int) -> Entry:
    return (PARTS, None, bulk(b"line %d\n" % i), None)


@pytest.fixture
def late_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server on a reserved port, not started yet: the test starts it when it wants."""
    require_redis_server()
    srv = RedisServer(tmp_path / "late")
    yield srv
    srv.stop()


def make_sender(srv: RedisServer, prefix: str, *, buffer: int, batch_size: int) -> Sender:
    errors: list[Exception] = []

    def connect() -> redis.Redis:
        return redis.Redis.from_url(srv.url, socket_connect_timeout=0.5, socket_timeout=5)

    return Sender(
        connect,
        prefix,
        maxlen=None,
        ttl=None,
        buffer=buffer,
        batch_size=batch_size,
        on_error=errors.append,
        on_success=lambda: None,
    )


def drain(sender: Sender) -> None:
    """Wait until the sender has sent all it holds (each wait_idle retries once)."""
    for _ in range(200):
        if sender.wait_idle(0.5):
            return
    raise AssertionError(f"still {len(sender.queue)} queued")


class TestBoundedBuffer:
    """While Redis is down the buffer keeps the newest ``buffer`` records and counts the rest."""

    def test_drops_the_oldest_and_counts_them_exactly(
        self, late_server: RedisServer, prefix: str
    ) -> None:
        sender = make_sender(late_server, prefix, buffer=10, batch_size=4)
        try:
            for i in range(100):
                sender.put(entry(i))  # Redis is down: never raises, never blocks
            assert not sender.wait_idle(0.2)
            late_server.start()
            drain(sender)
        finally:
            sender.close(2.0)
        assert sender.dropped == 90
        key = stream_key(prefix, PARTS, "automation_run.log")
        assert entries(late_server, key) == [b"line %d\n" % i for i in range(90, 100)]


class TestBatching:
    """Queued records leave in batches of ``batch_size``, each one atomic ``EVALSHA``."""

    def test_ten_records_in_batches_of_three_are_four_scripts(
        self, late_server: RedisServer, prefix: str
    ) -> None:
        sender = make_sender(late_server, prefix, buffer=100, batch_size=3)
        try:
            for i in range(10):
                sender.put(entry(i))  # queued while Redis is down
            late_server.start()
            drain(sender)
        finally:
            sender.close(2.0)
        stats: dict[str, dict[str, int]] = client(late_server).info("commandstats")
        evalsha = stats["cmdstat_evalsha"]
        sent = evalsha["calls"] - evalsha.get("failed_calls", 0)
        assert sent == 4  # 3 + 3 + 3 + 1 (the first try of a new server is NOSCRIPT)
        key = stream_key(prefix, PARTS, "automation_run.log")
        assert entries(late_server, key) == [b"line %d\n" % i for i in range(10)]
        assert sender.dropped == 0


class TestStreamOptions:
    """The script trims each stream with ``MAXLEN ~``."""

    def test_streams_are_trimmed_to_about_maxlen(self, server: RedisServer, prefix: str) -> None:
        logged = Logged(None, server.url, prefix, maxlen=100)
        run = igl.start_run(logged.logger)
        for i in range(2000):
            run.info("line %d", i)
        logged.close()
        key = f"{prefix}:_:_:{run.run_id}:automation_run.log"
        length = client(server).xlen(key)
        assert 100 <= length < 400  # approximate trimming (whole macro nodes)
        assert entries(server, key)[-1].endswith(b"line 1999\n")


class TestOutage:
    """Redis going away never reaches the caller; the buffer then drop-oldest; it recovers."""

    def test_killed_mid_run_then_restarted(
        self,
        own_server: RedisServer,
        prefix: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        logged = Logged(tmp_path, own_server.url, prefix, buffer=50, flush_timeout=0.2)
        run = igl.start_run(logged.logger)
        run.info("before the outage")
        logged.redis.flush()
        own_server.stop()
        for i in range(300):
            run.info("during the outage %d", i)  # never raises, never blocks
        logged.redis.flush()  # returns at once while Redis is down
        assert logged.redis.dropped >= 300 - 50 - logged.redis.batch_size
        assert logged.redis.pending <= 50 + logged.redis.batch_size
        own_server.start()
        run.info("after the restart")
        run.end()
        logged.redis.flush()
        errors = capsys.readouterr().err
        assert errors.count("cannot send to Redis") == 1, errors
        assert "works again" in errors
        logged.close()
        log = (tmp_path / "_" / "_" / run.run_id / "automation_run.log").read_text()
        assert all(f"during the outage {i}\n" in log for i in range(300))  # files complete
        after = stream_bytes(own_server, f"{prefix}:_:_:{run.run_id}:automation_run.log")
        assert b"after the restart" in after
        assert b"during the outage 299\n" in after  # the newest of the buffer were kept
        assert b"during the outage 0\n" not in after  # the oldest were dropped
        assert after.count(b"after the restart") == 1

    def test_close_with_redis_down_returns(self, tmp_path: Path, prefix: str) -> None:
        dead = RedisServer(tmp_path / "never-started")  # a free port nobody listens on
        logged = Logged(None, dead.url, prefix, flush_timeout=0.3)
        run = igl.start_run(logged.logger)
        run.info("nowhere to go")
        logged.close()  # bounded: the test's timeout would catch a hang
        assert logged.redis.pending == 2  # run_start and the record, still held
