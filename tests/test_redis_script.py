"""``igny8_logging._redis_script``: one batch of records as one hand-packed ``EVALSHA``.

Each packed command is sent as is to a ``redis-server`` the tests start themselves
(``tests/_redis_server.py``), and the keys it made are read back with redis-py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from _redis_server import RedisServer, client, entries

from igny8_logging._ids import Stage
from igny8_logging._redis_keys import files_key, index_key, stream_key
from igny8_logging._redis_script import SCRIPT, SHA, Entry, bulk, pack_batch

RUN_A = ("1", "2", "run_20260101_000000_aaaa")
RUN_B = ("1", "2", "run_20260101_000001_bbbb")


def record(parts: tuple[str, ...], stage: Stage | None, text: bytes, trace: bytes | None) -> Entry:
    return (parts, stage, bulk(text), None if trace is None else bulk(trace))


@pytest.fixture
def conn(server: RedisServer) -> Iterator[redis.Redis]:
    c = client(server)
    c.script_load(SCRIPT)
    yield c
    c.close()


def entries_of(c: redis.Redis, key: str) -> list[bytes]:
    raw: list[tuple[bytes, dict[bytes, bytes]]] = c.xrange(key)  # type: ignore[assignment]
    return [fields[b"line"] for _, fields in raw]


def store(c: redis.Redis, command: bytes) -> None:
    """Send one packed command on a connection of *c*'s pool and read its reply."""
    connection: Any = c.connection_pool.get_connection()
    try:
        connection.send_packed_command([command])
        connection.read_response()
    finally:
        c.connection_pool.release(connection)


class TestPackedBatch:
    """A batch reaches each of its streams in the order of its records, whatever the mix."""

    def test_two_runs_with_stages_and_traces_interleaved(
        self, server: RedisServer, conn: redis.Redis, prefix: str
    ) -> None:
        batch = [
            record(RUN_A, None, b"a0\n", b'{"e":"a0"}\n'),
            record(RUN_B, 1, b"b1\n", None),
            record(RUN_A, 2, b"a1\nsecond line\n", None),  # a multi-line record: one entry
            record(RUN_A, "2", b"a2\n", b'{"e":"a2"}\n'),  # 2 and "2": the same file
            record(RUN_B, 1, b"b2\n", b'{"e":"b2"}\n'),
            record(RUN_A, "x", b"a3\n", None),
        ]
        store(conn, pack_batch(prefix, batch, None, None))

        def lines(parts: tuple[str, ...], name: str) -> list[bytes]:
            return entries(server, stream_key(prefix, parts, name))

        assert lines(RUN_A, "automation_run.log") == [
            b"a0\n",
            b"a1\nsecond line\n",
            b"a2\n",
            b"a3\n",
        ]
        assert lines(RUN_A, "stage_2.log") == [b"a1\nsecond line\n", b"a2\n"]
        assert lines(RUN_A, "stage_x.log") == [b"a3\n"]
        assert lines(RUN_A, "run_trace.jsonl") == [b'{"e":"a0"}\n', b'{"e":"a2"}\n']
        assert lines(RUN_B, "automation_run.log") == [b"b1\n", b"b2\n"]
        assert lines(RUN_B, "stage_1.log") == [b"b1\n", b"b2\n"]
        assert lines(RUN_B, "run_trace.jsonl") == [b'{"e":"b2"}\n']
        files = conn.smembers(files_key(prefix, RUN_A))
        assert files == {b"automation_run.log", b"stage_2.log", b"stage_x.log", b"run_trace.jsonl"}
        runs = conn.zrange(index_key(prefix, ("1", "2")), 0, -1)
        assert sorted(runs) == [RUN_A[2].encode(), RUN_B[2].encode()]
        assert conn.ttl(stream_key(prefix, RUN_A, "automation_run.log")) == -1  # ttl=None

    def test_ttl_and_maxlen_apply_to_every_key_of_the_batch(
        self, conn: redis.Redis, prefix: str
    ) -> None:
        batch = [record(RUN_A, 3, b"line %d\n" % i, b"{}\n") for i in range(1000)]
        store(conn, pack_batch(prefix, batch, 100, 600))
        keys = [stream_key(prefix, RUN_A, name) for name in ("automation_run.log", "stage_3.log")]
        keys += [stream_key(prefix, RUN_A, "run_trace.jsonl"), files_key(prefix, RUN_A)]
        keys.append(index_key(prefix, ("1", "2")))
        for key in keys:
            assert 0 < conn.ttl(key) <= 600, key
        for key in keys[:3]:
            info = conn.xinfo_stream(key)
            assert info["entries-added"] == 1000  # every line was stored ...
            assert 100 <= info["length"] < 400  # ... then trimmed to about maxlen
        assert entries_of(conn, keys[0])[-1] == b"line 999\n"

    def test_the_script_is_named_by_its_sha(self, conn: redis.Redis) -> None:
        assert conn.script_exists(SHA.decode()) == [True]
