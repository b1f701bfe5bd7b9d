"""``igny8_logging._redis_source``: ``RunLogReader(redis_url=...)`` served from the streams.

Against a ``redis-server`` the tests start themselves (``tests/_redis_server.py``),
never the shared 6379; runs are written by a real ``RedisStreamHandler``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _redis_server import Logged, RedisServer, entries

import igny8_logging as igl


def reader_for(server: RedisServer, prefix: str) -> igl.RunLogReader:
    return igl.RunLogReader("/nonexistent", redis_url=server.url, prefix=prefix)


def stored_events(server: RedisServer, prefix: str, run_id: str) -> list[dict[str, Any]]:
    key = f"{prefix}:1:10:{run_id}:run_trace.jsonl"
    return [json.loads(line) for line in entries(server, key)]


class TestCursorPages:
    """Trace pages resume after the last event returned: none is re-sent or skipped."""

    def test_small_pages_of_a_growing_trace_are_each_event_once(
        self, server: RedisServer, prefix: str
    ) -> None:
        logged = Logged(None, server.url, prefix)
        run = igl.start_run(logged.logger, 1, 10)
        reader = reader_for(server, prefix)
        got: list[dict[str, Any]] = []
        cursor = None
        for i in range(12):
            run.trace("item_done", stage=1, item=i)  # the trace grows between pages
            logged.redis.flush()
            page = reader.read_trace(run.run_id, account_id=1, site_id=10, cursor=cursor, limit=2)
            got += page.events
            cursor = page.cursor
            assert not page.complete
        run.end()
        logged.close()
        while True:
            page = reader.read_trace(run.run_id, account_id=1, site_id=10, cursor=cursor, limit=2)
            got += page.events
            cursor = page.cursor
            if page.complete:
                break
            assert page.events
        assert got == stored_events(server, prefix, run.run_id)
        assert [e["item"] for e in got if e["event"] == "item_done"] == list(range(12))
        assert got[-1]["event"] == "run_end"
        again = reader.read_trace(run.run_id, account_id=1, site_id=10, cursor=cursor)
        assert again.events == []
        assert again.complete

    def test_bad_and_foreign_cursors_are_refused(self, server: RedisServer, prefix: str) -> None:
        logged = Logged(None, server.url, prefix)
        run = igl.start_run(logged.logger, 1, 10)
        other = igl.start_run(logged.logger, 1, 10)
        logged.close()
        reader = reader_for(server, prefix)
        page = reader.read_trace(run.run_id, account_id=1, site_id=10, limit=1)
        for bad in ("garbage", page.cursor + "x", "cjE6OTktMDo="):
            with pytest.raises(ValueError):
                reader.read_trace(run.run_id, account_id=1, site_id=10, cursor=bad)
        with pytest.raises(ValueError):  # a cursor of another run
            reader.read_trace(other.run_id, account_id=1, site_id=10, cursor=page.cursor)


class TestTail:
    """``tail`` counts physical lines, also inside a multi-line record, across many entries."""

    def test_tail_counts_physical_lines(self, server: RedisServer, prefix: str) -> None:
        logged = Logged(None, server.url, prefix)
        run = igl.start_run(logged.logger, 1, 10)
        run.info("one\ntwo\nthree")
        run.info("four")
        logged.close()
        reader = reader_for(server, prefix)
        tail = reader.tail(run.run_id, 3, account_id=1, site_id=10)
        assert [tail[0].strip(), tail[1].strip()] == ["two", "three"]  # inside one record
        assert tail[2].endswith("[run] four")

    def test_tail_beyond_one_chunk_of_entries(self, server: RedisServer, prefix: str) -> None:
        logged = Logged(None, server.url, prefix)
        run = igl.start_run(logged.logger, 1, 10)
        for i in range(1500):
            run.info("record %d\nsecond line %d", i, i)
        logged.close()
        tail = reader_for(server, prefix).tail(run.run_id, 2500, account_id=1, site_id=10)
        assert len(tail) == 2500
        assert tail[0].endswith("record 250")
        assert tail[-1].strip() == "second line 1499"


class TestTenancy:
    """A run is read only under its own account and site; listings are per tenant."""

    def test_another_tenant_sees_nothing(self, server: RedisServer, prefix: str) -> None:
        logged = Logged(None, server.url, prefix)
        run = igl.start_run(logged.logger, 1, 10)
        run.end()
        neighbour = igl.start_run(logged.logger, 2, 10)
        logged.close()
        reader = reader_for(server, prefix)
        assert reader.list_runs(account_id=1, site_id=10) == [run.run_id]
        assert reader.list_runs(account_id=2, site_id=10) == [neighbour.run_id]
        assert reader.list_runs(account_id=1, site_id=11) == []
        for account, site in ((2, 10), (1, 11), (None, None)):
            with pytest.raises(igl.RunNotFound):
                reader.tail(run.run_id, 10, account_id=account, site_id=site)
            with pytest.raises(igl.RunNotFound):
                reader.read_trace(run.run_id, account_id=account, site_id=site)

    def test_with_redis_down_the_files_are_read(self, tmp_path: Path, prefix: str) -> None:
        dead = RedisServer(tmp_path / "never-started")
        logged = Logged(tmp_path / "logs", dead.url, prefix, flush_timeout=0.1)
        run = igl.start_run(logged.logger)
        run.info("on disk")
        logged.close()
        reader = igl.RunLogReader(tmp_path / "logs", redis_url=dead.url, prefix=prefix)
        assert reader.tail(run.run_id, 1)[0].endswith("on disk")
        assert reader.list_runs() == [run.run_id]
