"""``igny8_logging.celery`` on real workers, checked by reading the run's files.

In-process workers (``celery.contrib.testing.worker.start_worker``, ``memory://``
broker, solo and threads pools) share one worker per test class; a separate
``celery worker -P prefork -c 2`` process runs on kombu's filesystem transport
(both logging setups), on Redis and on RabbitMQ.  Nothing is mocked.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from _celery_env import (
    RECORD_LINE,
    Env,
    assert_well_formed,
    in_process_worker,
    one,
    prefork_worker,
    stage_events,
)
from _celery_pipeline import chatty_lines, check_pipeline, publish_chatty, publish_pipeline

PREFORK_KINDS = [
    "filesystem-celery-logging",
    "filesystem-dictconfig",
    pytest.param("redis", marks=pytest.mark.brokers),
    pytest.param("rabbitmq", marks=pytest.mark.brokers),
]


@pytest.fixture(scope="class")
def threads_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with in_process_worker(tmp_path_factory.mktemp("threads"), "threads", 4) as env:
        yield env


class TestThreadsPool:
    """Under the threads pool, every task of a run logs into that run and no other.

    Stage tasks log their lifecycle in order; children, chain links, group
    members, chord header and body and retries stay in the run and the stage;
    records of ``get_task_logger`` and plain loggers reach the run once.
    """

    def test_pipeline(self, threads_env: Env) -> None:
        run = threads_env.start_run(7, 3)
        publish_pipeline(threads_env, run)
        check_pipeline(threads_env, run)

    def test_two_runs_in_flight_never_mix(self, threads_env: Env) -> None:
        env = threads_env
        first, second = env.start_run(1, "site-a"), env.start_run(2, "site-b")
        barrier = env.tmp / f"barrier-{uuid.uuid4().hex}"
        barrier.mkdir()
        for tag, run in (("first", first), ("second", second)):
            with run.bound():
                for n in range(2):  # four tasks meet at the barrier: all four threads busy
                    env.task("t.chatty").delay(f"{tag}{n}", 60, 100, str(barrier), 4)
        for tag, other, run in (("first", "second", first), ("second", "first", second)):
            lines = chatty_lines(env, run, 120)
            assert len(lines) == 120
            assert all(f" chatty {tag}" in line for line in lines)
            assert {line.split()[4] for line in lines} == {f"{tag}0", f"{tag}1"}
            assert other not in env.text(run)
        assert len(os.listdir(barrier)) == 4  # the four tasks did run at the same time


@pytest.fixture(scope="class", params=PREFORK_KINDS)
def prefork_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    with prefork_worker(request.param, tmp_path_factory) as env:
        yield env


class TestPreforkWorker:
    """Under a real ``celery worker -P prefork -c 2`` process, runs log as in-process.

    The same pipeline reaches the run's files from two pool processes, with
    Celery's own logging and with ``setup_logging`` + ``dictConfig``, on the
    filesystem transport, Redis and RabbitMQ; lines written concurrently by
    two processes never tear; events fired in the worker's main process (hard
    time limit, lost pool process, revoke) land in the run, once.
    """

    def test_pipeline(self, prefork_env: Env) -> None:
        run = prefork_env.start_run(7, "site-3")
        publish_pipeline(prefork_env, run)
        check_pipeline(prefork_env, run)

    def test_two_pool_processes_never_tear_lines(self, prefork_env: Env) -> None:
        env = prefork_env
        run = env.start_run(4, 4)
        size = 3000  # each record is larger than a pipe buffer's atomic write
        barrier = publish_chatty(env, run, ["left", "right"], 150, size)
        lines = chatty_lines(env, run, 300)
        assert len(lines) == 300
        pids = set()
        for line in lines:
            assert RECORD_LINE.match(line), line[:100]
            assert line.endswith(" " + "x" * size)
            pids.add(line.split("pid=")[1].split()[0])
        assert len(pids) == 2  # both pool processes wrote at the same time
        assert len(os.listdir(barrier)) == 2
        assert_well_formed(env.text(run))

    def test_events_fired_in_the_main_process(self, prefork_env: Env) -> None:
        env = prefork_env
        run = env.start_run(12, 12)
        with run.bound():
            env.task("t.slow").apply_async((30,), time_limit=1)  # killed: hard time limit
            env.task("t.lost").delay()  # kills its own pool process

        env.events_when(
            run,
            lambda ev: {e["stage"] for e in ev if e["event"] == "stage_error"} == {4, 5},
            "stage_error for stages 4 and 5",
        )
        with run.bound():
            env.task("t.expiring").apply_async(expires=datetime.now(UTC) - timedelta(minutes=1))
        events = env.events_when(run, lambda ev: any(e["stage"] == 6 for e in ev), "stage_revoked")
        assert stage_events(events, 4) == ["stage_start", "stage_error"]  # once, not twice
        assert one(events, "stage_error", 4)["error_type"] == "TimeLimitExceeded"
        assert stage_events(events, 5) == ["stage_start", "stage_error"]
        assert one(events, "stage_error", 5)["error_type"] == "WorkerLostError"
        assert stage_events(events, 6) == ["stage_revoked"]
        assert one(events, "stage_revoked", 6)["reason"] == "expired"
        stages = env.summary(run)["stages"]
        assert [stages[s]["status"] for s in ("4", "5", "6")] == ["failed"] * 3
        assert "woke up" not in env.text(run)
