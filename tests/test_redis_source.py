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


def page_all(reader: igl.RunLogReader, run_id: str, cursor: str | None) -> list[dict[str, Any]]:
    """Every event after *cursor*, in pages of 2, until the page that completes the run."""
    got: list[dict[str, Any]] = []
    for _ in range(200):
        page = reader.read_trace(run_id, cursor=cursor, limit=2)
        got += page.events
        cursor = page.cursor
        if page.complete:
            return got
    raise AssertionError("the trace never completed")


def trace_file(base: Path, run_id: str) -> list[dict[str, Any]]:
    lines = (base / "_" / "_" / run_id / "run_trace.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


class TestCursorContinuity:
    """A cursor is read by the kind of source that issued it while one still holds the run."""

    def test_file_cursors_go_on_from_the_files_once_redis_holds_the_run(
        self, tmp_path: Path, prefix: str
    ) -> None:
        late = RedisServer(tmp_path / "late")  # not started: Redis is down at first
        logged = Logged(tmp_path / "logs", late.url, prefix, flush_timeout=0.2)
        try:
            run = igl.start_run(logged.logger)
            for i in range(5):
                run.trace("item_done", item=i)
            reader = igl.RunLogReader(tmp_path / "logs", redis_url=late.url, prefix=prefix)
            got: list[dict[str, Any]] = []
            cursor = None
            for _ in range(2):  # Redis is down: these pages come from the files
                page = reader.read_trace(run.run_id, cursor=cursor, limit=2)
                got += page.events
                cursor = page.cursor
            late.start()
            for i in range(5, 8):
                run.trace("item_done", item=i)
            run.end()
            logged.redis.flush()
            assert logged.redis.pending == 0
            assert reader.read_trace(run.run_id).events == stored_events_of(late, prefix, run)
            got += page_all(reader, run.run_id, cursor)  # the old cursor, Redis holding the run
        finally:
            logged.close()
            late.stop()
        assert got == trace_file(tmp_path / "logs", run.run_id)  # each event exactly once
        assert [e["item"] for e in got if e["event"] == "item_done"] == list(range(8))

    def test_a_redis_cursor_of_a_run_redis_lost_is_refused_or_unavailable(
        self, tmp_path: Path, own_server: RedisServer, prefix: str
    ) -> None:
        logged = Logged(tmp_path / "logs", own_server.url, prefix)
        run = igl.start_run(logged.logger)
        run.end()
        logged.close()
        reader = igl.RunLogReader(tmp_path / "logs", redis_url=own_server.url, prefix=prefix)
        cursor = reader.read_trace(run.run_id, limit=1).cursor  # from Redis
        own_server.stop()
        with pytest.raises(igl.SourceUnavailable):  # Redis cannot say: try again later
            reader.read_trace(run.run_id, cursor=cursor)
        own_server.start()  # back, empty: the files still hold the run, Redis does not
        with pytest.raises(ValueError, match="no longer holds this run"):
            reader.read_trace(run.run_id, cursor=cursor)
        assert len(reader.read_trace(run.run_id).events) == 2  # a new start: the files


def stored_events_of(srv: RedisServer, prefix: str, run: igl.RunLogger) -> list[dict[str, Any]]:
    key = f"{prefix}:_:_:{run.run_id}:run_trace.jsonl"
    return [json.loads(line) for line in entries(srv, key)]


class TestRedisDown:
    """Redis unreachable is a ``SourceUnavailable`` naming the URL without its password."""

    def test_every_read_of_a_run_only_redis_holds(
        self, own_server: RedisServer, prefix: str
    ) -> None:
        logged = Logged(None, own_server.url, prefix)
        run = igl.start_run(logged.logger, 1, 10)
        run.info("in redis only")
        logged.close()
        url = own_server.url.replace("redis://", "redis://:s3cret@")
        reader = igl.RunLogReader("/nonexistent", redis_url=url, prefix=prefix)
        follow = reader.follow(run.run_id, account_id=1, site_id=10, lines=1, timeout=30)
        assert next(follow).endswith("in redis only")
        own_server.stop()
        ids: dict[str, Any] = {"account_id": 1, "site_id": 10}
        for read in (
            lambda: reader.tail(run.run_id, 5, **ids),
            lambda: reader.read_trace(run.run_id, **ids),
            lambda: reader.summary(run.run_id, **ids),
            lambda: reader.run_files(run.run_id, **ids),
            lambda: next(follow),  # Redis went away in the middle of a follow
            lambda: reader.tail("run_20200101_000000_abcd", 5, **ids),  # cannot tell: not a 404
        ):
            with pytest.raises(igl.SourceUnavailable) as info:
                read()
            assert info.value.source == "Redis"
            assert f"127.0.0.1:{own_server.port}" in str(info.value)
            assert "s3cret" not in str(info.value)
            assert "***" in info.value.url
        assert reader.list_runs(account_id=1, site_id=10) == []  # listings leave Redis out

    def test_listings_say_once_that_redis_is_left_out_and_when_it_is_back(
        self,
        own_server: RedisServer,
        prefix: str,
        tmp_path: Path,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        dead = RedisServer(tmp_path / "never-started").url
        files = Logged(tmp_path / "logs", dead, prefix, flush_timeout=0.1)
        on_disk = igl.start_run(files.logger)
        files.close()
        url = own_server.url.replace("redis://", "redis://:s3cret@")
        reader = igl.RunLogReader(tmp_path / "logs", redis_url=url, prefix=prefix)
        own_server.stop()
        capfd.readouterr()
        assert reader.list_runs() == [on_disk.run_id]
        assert reader.list_runs() == [on_disk.run_id]
        said = capfd.readouterr().err.splitlines()
        assert len(said) == 1
        assert "RunLogReader" in said[0]
        assert "not listed" in said[0]
        assert f"127.0.0.1:{own_server.port}" in said[0]
        assert "s3cret" not in said[0]
        own_server.start()  # empty again (it keeps nothing on disk)
        assert reader.list_runs() == [on_disk.run_id]
        back = capfd.readouterr().err.splitlines()
        assert len(back) == 1
        assert "answers again" in back[0]
