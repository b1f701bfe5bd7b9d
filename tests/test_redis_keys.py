"""``igny8_logging._redis_keys``: the key layout the stream handler writes and the reader reads.

The layout tests write through a real ``RedisStreamHandler`` into a ``redis-server``
the tests start themselves (``tests/_redis_server.py``), never the shared 6379.
"""

from __future__ import annotations

import pytest
from _redis_server import Logged, RedisServer, client

import igny8_logging as igl
from igny8_logging._redis_keys import check_prefix, files_key, index_key, stream_key
from igny8_logging.redis import RedisSource, RedisStreamHandler


class TestKeyNames:
    """Keys are ``{prefix}:{account}:{site}:{run_id}:{name}``; the indexes are dot-named."""

    def test_stream_files_and_index_keys(self) -> None:
        parts = ("7", "_", "run_x")
        assert stream_key("p", parts, "stage_2.log") == "p:7:_:run_x:stage_2.log"
        assert files_key("p", parts) == "p:7:_:run_x:.files"
        assert index_key("p", ("7", "_")) == "p:7:_:.runs"

    def test_the_handler_writes_exactly_these_keys(self, server: RedisServer, prefix: str) -> None:
        logged = Logged(None, server.url, prefix)
        run = igl.start_run(logged.logger, "acme", None)
        run.for_stage(2).info("in stage 2")
        run.end()
        logged.close()
        parts = ("acme", "_", run.run_id)
        expected = {
            stream_key(prefix, parts, name)
            for name in ("automation_run.log", "run_trace.jsonl", "stage_2.log")
        }
        expected |= {files_key(prefix, parts), index_key(prefix, ("acme", "_"))}
        keys = client(server).keys(f"{prefix}:*")
        got = {k.decode() if isinstance(k, bytes) else k for k in keys}
        assert got == expected


class TestIndexes:
    """The files set names the run's files; the tenant's sorted set lists its runs; both expire."""

    def test_streams_expire_after_ttl_and_the_tenant_index_lists_the_run(
        self, server: RedisServer, prefix: str
    ) -> None:
        logged = Logged(None, server.url, prefix, ttl=3600)
        run = igl.start_run(logged.logger, "acme", None)
        run.end()
        logged.close()
        r = client(server)
        base = f"{prefix}:acme:_:{run.run_id}"
        for key in (f"{base}:automation_run.log", f"{base}:run_trace.jsonl", f"{base}:.files"):
            assert 0 < r.ttl(key) <= 3600, key
        assert r.smembers(f"{base}:.files") == {b"automation_run.log", b"run_trace.jsonl"}
        assert r.zrange(f"{prefix}:acme:_:.runs", 0, -1) == [run.run_id.encode()]
        assert 0 < r.ttl(f"{prefix}:acme:_:.runs") <= 3600


class TestPrefix:
    """A prefix is a non-empty str without whitespace; the handler and reader refuse others."""

    @pytest.mark.parametrize("bad", ["", "a b", "tab\there", "new\nline", None, 5, b"igny8"])
    def test_bad_prefixes_are_refused(self, bad: object) -> None:
        with pytest.raises(ValueError):
            check_prefix(bad)
        with pytest.raises(ValueError):
            RedisStreamHandler("redis://127.0.0.1:1/0", prefix=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            RedisSource("redis://127.0.0.1:1/0", prefix=bad)  # type: ignore[arg-type]

    def test_good_prefixes_are_kept(self) -> None:
        for good in ("igny8", "app:logs", "x-1.y"):
            assert check_prefix(good) == good

    def test_runs_under_another_prefix_are_not_seen(self, server: RedisServer, prefix: str) -> None:
        logged = Logged(None, server.url, prefix)
        run = igl.start_run(logged.logger, 1, 2)
        logged.close()
        mine = igl.RunLogReader("/nonexistent", redis_url=server.url, prefix=prefix)
        other = igl.RunLogReader("/nonexistent", redis_url=server.url, prefix=prefix + "x")
        assert mine.list_runs(account_id=1, site_id=2) == [run.run_id]
        assert other.list_runs(account_id=1, site_id=2) == []
        with pytest.raises(igl.RunNotFound):
            other.tail(run.run_id, 1, account_id=1, site_id=2)
