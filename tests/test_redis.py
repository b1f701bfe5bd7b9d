"""``RedisStreamHandler`` and ``RunLogReader(redis_url=...)`` against a real ``redis-server``.

Every test talks to a ``redis-server`` the tests start themselves on a free port
(``tests/_redis_server.py``), never the shared one on 6379; the fault tests own
theirs and kill / restart it.
"""

from __future__ import annotations

import json
import logging
import logging.config
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _redis_server import Logged, RedisServer, client, entries, stream_bytes

import igny8_logging as igl
from igny8_logging.redis import RedisStreamHandler


def write_pipeline(logger: logging.Logger, account: Any = 1, site: Any = 10) -> igl.RunLogger:
    """A run with a header, a multi-line record, a traceback, stages and item events."""
    run = igl.start_run(logger, account, site, metadata={"name": "pipeline", "n": 3})
    run.info("first line\nsecond line of the same record")
    with run.stage(1, "Keywords", pending=3) as st:
        for item in range(3):
            st.info("keyword %d", item)
            run.trace("item_done", stage=1, item=item)
        st.processed = 3
    try:
        raise ValueError("boom")
    except ValueError:
        run.for_stage(2).exception("stage 2 item failed")
    run.warning("a warning reaches the trace")
    run.end("completed")
    return run


class TestStreams:
    """Each run file has one stream whose entries are exactly the file's records."""

    def test_each_stream_holds_the_file_bytes_one_entry_per_record(
        self, server: RedisServer, prefix: str, tmp_path: Path
    ) -> None:
        logged = Logged(tmp_path, server.url, prefix)
        run = write_pipeline(logged.logger)
        logged.close()
        folder = tmp_path / "1" / "10" / run.run_id
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["automation_run.log", "run_trace.jsonl", "stage_1.log", "stage_2.log"]
        for name in names:
            key = f"{prefix}:1:10:{run.run_id}:{name}"
            assert stream_bytes(server, key) == (folder / name).read_bytes(), name
        run_log = entries(server, f"{prefix}:1:10:{run.run_id}:automation_run.log")
        multi = [e for e in run_log if b"first line" in e]
        assert multi == [
            b"".join(
                line + b"\n"
                for line in (folder / "automation_run.log").read_bytes().split(b"\n")
                if b"first line" in line or b"second line of the same" in line
            )
        ]
        assert all(e.endswith(b"\n") for e in run_log)

    def test_a_user_formatter_on_both_sides_gives_the_same_lines(
        self, server: RedisServer, prefix: str, tmp_path: Path
    ) -> None:
        logged = Logged(tmp_path, server.url, prefix)
        formatter = logging.Formatter("%(levelname)s|%(name)s|%(message)s")
        for handler in [*logged.files[:2], logged.redis]:  # the text handlers and Redis
            handler.setFormatter(formatter)
        run = write_pipeline(logged.logger)
        logged.close()
        folder = tmp_path / "1" / "10" / run.run_id
        log = (folder / "automation_run.log").read_bytes()
        assert b"INFO|igny8.test.redis." in log  # the user's format was used
        for name in sorted(p.name for p in folder.iterdir()):
            key = f"{prefix}:1:10:{run.run_id}:{name}"
            assert stream_bytes(server, key) == (folder / name).read_bytes(), name

    def test_used_alone_it_writes_no_files(
        self, server: RedisServer, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("IGNY8_LOG_DIR", str(tmp_path / "default"))
        logged = Logged(None, server.url, prefix)
        run = igl.start_run(logged.logger, 5, 6)
        run.info("only in Redis")
        logged.close()
        assert list(tmp_path.iterdir()) == []
        assert b"only in Redis" in stream_bytes(
            server, f"{prefix}:5:6:{run.run_id}:automation_run.log"
        )

    def test_records_of_no_run_are_ignored(self, server: RedisServer, prefix: str) -> None:
        logged = Logged(None, server.url, prefix)
        logged.logger.info("not in a run")
        logged.close()
        assert client(server).keys(f"{prefix}:*") == []


class TestConfiguration:
    """The handler is configured from dictConfig and from ``logging_config(redis_url=...)``."""

    def test_logging_config_adds_the_redis_handler(
        self, server: RedisServer, tmp_path: Path, prefix: str
    ) -> None:
        config = igl.logging_config(tmp_path, logger=f"igny8.test.{prefix}", redis_url=server.url)
        assert config["handlers"]["redis"]["url"] == server.url
        config["handlers"]["redis"]["prefix"] = prefix
        logging.config.dictConfig(config)
        logger = logging.getLogger(f"igny8.test.{prefix}")
        logger.propagate = False
        try:
            (handler,) = [h for h in logger.handlers if isinstance(h, RedisStreamHandler)]
            run = igl.start_run(logger, 1, 2)
            run.info("configured")
        finally:
            for h in list(logger.handlers):
                logger.removeHandler(h)
                h.close()
        folder = tmp_path / "1" / "2" / run.run_id
        key = f"{prefix}:1:2:{run.run_id}:automation_run.log"
        assert stream_bytes(server, key) == (folder / "automation_run.log").read_bytes()
        assert handler.prefix == prefix

    def test_bad_options_are_refused_at_once(self) -> None:
        for opts in ({"maxlen": 0}, {"ttl": -1}, {"buffer": True}, {"prefix": ""}):
            with pytest.raises(ValueError):
                RedisStreamHandler("redis://127.0.0.1:1/0", **opts)


EXIT_SCRIPT = """
import logging, sys
import igny8_logging as igl
from igny8_logging.redis import RedisStreamHandler
logger = logging.getLogger("igny8.exit")
logger.propagate = False
logger.setLevel(logging.INFO)
logger.addHandler(RedisStreamHandler(sys.argv[1], prefix=sys.argv[2]))
run = igl.start_run(logger)
for i in range(int(sys.argv[3])):
    run.info("record %d", i)
print(run.run_id)
"""


class TestExit:
    """Interpreter exit sends what is buffered, and never hangs when Redis is down."""

    def run_script(self, url: str, prefix: str, count: int) -> str:
        done = subprocess.run(
            [sys.executable, "-c", EXIT_SCRIPT, url, prefix, str(count)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    def test_exit_flushes_the_buffer(self, server: RedisServer, prefix: str) -> None:
        run_id = self.run_script(server.url, prefix, 5000)
        key = f"{prefix}:_:_:{run_id}:automation_run.log"
        assert client(server).xlen(key) == 5001  # the header and every record

    def test_exit_with_redis_down_does_not_hang(self, tmp_path: Path, prefix: str) -> None:
        dead = RedisServer(tmp_path / "never-started")
        assert self.run_script(dead.url, prefix, 100).startswith("run_")


def _child(url: str, prefix: str, run_id: str, n: int) -> None:
    logger = logging.getLogger("igny8.test.redis.fork")
    run = igl.RunLogger.attach(logger, run_id)
    for i in range(50):
        run.info("child %d record %d", n, i)
    # No flush or close: the child exits as a prefork worker does.


class TestFork:
    """Prefork children get their own sender; the parent's queue is not sent twice."""

    def test_fork_children_records_arrive_once(self, server: RedisServer, prefix: str) -> None:
        logged = Logged(None, server.url, prefix)
        logger = logging.getLogger("igny8.test.redis.fork")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(logged.redis)
        try:
            run = igl.start_run(logger)
            run.info("parent before fork")  # the parent's sender thread is running
            ctx = multiprocessing.get_context("fork")
            children = [
                ctx.Process(target=_child, args=(server.url, prefix, run.run_id, n))
                for n in range(3)
            ]
            for child in children:
                child.start()
            for child in children:
                child.join(60)
                assert child.exitcode == 0
            run.info("parent after fork")
        finally:
            logger.removeHandler(logged.redis)
            logged.close()
        lines = entries(server, f"{prefix}:_:_:{run.run_id}:automation_run.log")
        body = b"".join(lines)
        for n in range(3):
            for i in range(50):
                assert body.count(f"child {n} record {i}\n".encode()) == 1
        assert body.count(b"parent before fork") == 1
        assert body.count(b"parent after fork") == 1
        assert os.getpid() == logged.redis._pid


HOST_SCRIPT = """
import logging, logging.config, sys
import igny8_logging as igl
from igny8_logging._events import STAGE_PART_COMPLETE

url, prefix, base, run_id, phase = sys.argv[1:6]
config = igl.logging_config(base, logger="igny8.host", level="DEBUG", redis_url=url)
config["handlers"]["redis"]["prefix"] = prefix
logging.config.dictConfig(config)
logger = logging.getLogger("igny8.host")
if phase == "start":
    run = igl.start_run(logger, 1, 10, metadata={"hosts": 2}, run_id=run_id)
    run.stage_start(3, "Chord", pending=4)
    sys.exit(0)
run = igl.RunLogger.attach(logger, run_id, 1, 10)
if phase in ("a", "b"):
    stage, parts = (1, (0, 1)) if phase == "a" else (2, (2, 3))
    with run.stage(stage, f"Stage {stage}", pending=100) as st:
        for i in range(100):
            st.info("host %s item %d", phase, i)
            if i % 10 == 0:
                run.stage_progress(stage, i, 100)
        st.processed = 100
    for part in parts:
        part_log = run.for_stage(3)
        part_log.info("host %s part %d\\nwith a second line", phase, part)
        run.trace(STAGE_PART_COMPLETE, stage=3, task_id=f"part-{part}", processed=1)
elif phase == "close":
    run.stage_complete(3, processed=4)
elif phase == "end":
    run.end("completed")
"""


def run_host(url: str, prefix: str, base: Path, run_id: str, phase: str) -> subprocess.Popen[str]:
    """One "host": its own process and base dir (no shared dir)."""
    return subprocess.Popen(
        [sys.executable, "-c", HOST_SCRIPT, url, prefix, str(base), run_id, phase],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_all(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


def file_lines(bases: list[Path], run_id: str, name: str) -> list[bytes]:
    lines: list[bytes] = []
    for base in bases:
        path = base / "1" / "10" / run_id / name
        if path.exists():
            lines += path.read_bytes().splitlines()
    return lines


class TestTwoHosts:
    """Two hosts sharing no filesystem log one run: Redis alone gives the whole of it."""

    def test_a_reader_with_only_redis_sees_both_hosts(
        self, server: RedisServer, prefix: str, tmp_path: Path
    ) -> None:
        import threading
        from collections import Counter

        host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
        run_id = igl.new_run_id()
        wait_all(run_host(server.url, prefix, host_a, run_id, "start"))
        reader = igl.RunLogReader(tmp_path / "web-host", redis_url=server.url, prefix=prefix)
        followed: list[str] = []
        follower = threading.Thread(
            target=lambda: followed.extend(
                reader.follow(run_id, account_id=1, site_id=10, lines=10_000, timeout=120)
            )
        )
        follower.start()
        wait_all(
            *(run_host(server.url, prefix, b, run_id, p) for b, p in [(host_a, "a"), (host_b, "b")])
        )
        wait_all(run_host(server.url, prefix, host_b, run_id, "close"))
        wait_all(run_host(server.url, prefix, host_a, run_id, "end"))
        follower.join(120)
        assert not (tmp_path / "web-host").exists()
        bases = [host_a, host_b]
        expected = file_lines(bases, run_id, "automation_run.log")
        # every line of both hosts, each once, by tail and by follow
        tail = reader.tail(run_id, 10_000, account_id=1, site_id=10)
        assert Counter(tail) == Counter(line.decode() for line in expected)
        assert Counter(followed) == Counter(tail)
        for base in bases:  # each host's lines in its own order: a subsequence of the tail
            own = (base / "1" / "10" / run_id / "automation_run.log").read_text().splitlines()
            rest = iter(tail)
            assert all(line in rest for line in own), base  # `in` consumes: order kept
        # the streams' lines are the hosts' file lines, file by file
        for name in [
            "automation_run.log",
            "stage_1.log",
            "stage_2.log",
            "stage_3.log",
            "run_trace.jsonl",
        ]:
            key = f"{prefix}:1:10:{run_id}:{name}"
            got = stream_bytes(server, key).splitlines()
            assert Counter(got) == Counter(file_lines(bases, run_id, name)), name
        # every trace event exactly once across small pages
        events: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = reader.read_trace(run_id, account_id=1, site_id=10, cursor=cursor, limit=3)
            events += page.events
            cursor = page.cursor
            if page.complete:
                break
            assert page.events
        trace = [json.loads(line) for line in file_lines(bases, run_id, "run_trace.jsonl")]
        assert Counter(json.dumps(e, sort_keys=True) for e in events) == Counter(
            json.dumps(e, sort_keys=True) for e in trace
        )
        assert events[-1]["event"] == "run_end"
        summary = reader.summary(run_id, account_id=1, site_id=10)
        assert summary["status"] == "completed"
        stages = summary["stages"]
        assert {k: v["status"] for k, v in stages.items()} == {
            "1": "completed",
            "2": "completed",
            "3": "completed",
        }
        assert stages["3"]["processed"] == 4
        assert stages["2"]["name"] == "Stage 2"
        assert run_id in reader.list_runs(account_id=1, site_id=10)
        assert reader.list_runs(account_id=2, site_id=10) == []
        with pytest.raises(igl.RunNotFound):
            reader.tail(run_id, 10, account_id=2, site_id=10)  # another tenant's view
