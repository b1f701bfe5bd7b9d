"""``igny8_logging.celery`` on real workers, checked by reading the run's files.

In-process workers (``celery.contrib.testing.worker.start_worker``, ``memory://``
broker, solo and threads pools) share one worker per test class; a separate
``celery worker -P prefork -c 2`` process runs on kombu's filesystem transport
(both logging setups), on Redis and on RabbitMQ.  Nothing is mocked.
"""

from __future__ import annotations

import logging
import logging.config
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from _celery_env import (
    HOOK_LOGGER,
    RECORD_LINE,
    Env,
    assert_well_formed,
    in_process_worker,
    one,
    prefork_worker,
    stage_events,
    wait_until,
)
from _celery_pipeline import chatty_lines, check_pipeline, publish_chatty, publish_pipeline

import igny8_logging as igl
from igny8_logging import celery as igc

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


@pytest.fixture(scope="class")
def solo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with in_process_worker(tmp_path_factory.mktemp("solo"), "solo", 1) as env:
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


class TestSoloPool:
    """Under the solo pool (one thread runs every task), a task's run never outlives it.

    Tasks outside any run write nothing; hostile headers are ignored with one
    warning; failing hooks never fail a task; a header can name the stage; a
    revoked stage task logs ``stage_revoked``; connecting twice changes nothing.
    """

    def test_context_never_leaks_into_the_next_task(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(5, 5)
        with run.bound():
            inside = env.task("t.note").delay("inside the run")
            detached = env.task("t.note").apply_async(
                ("outside any run, detached",), headers={"igny8": None}
            )
        outside = env.task("t.note").delay("outside any run")
        stage_outside = env.task("t.keywords").delay(0)  # a stage task outside any run
        assert inside.get(timeout=20) == "inside the run"
        assert outside.get(timeout=20) == "outside any run"
        assert detached.get(timeout=20) == "outside any run, detached"
        before = wait_until(
            lambda: env.files() if env.text(run).count("inside the run") == 2 else None,
            "the run's records",
        )
        assert stage_outside.get(timeout=20)["processed"] == 0
        after_outside = env.task("t.note").delay("after the stage task")
        assert after_outside.get(timeout=20) == "after the stage task"
        assert env.files() == before  # tasks outside any run wrote no file
        assert "outside any run" not in env.text(run)
        assert [e["event"] for e in env.events(run)] == ["run_start"]

    def test_hostile_headers_are_ignored_with_one_warning(
        self,
        solo_env: Env,
        caplog: pytest.LogCaptureFixture,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:
        env = solo_env
        valid = igl.new_run_id()
        hostile: list[object] = [
            "not a mapping",
            12,
            ["run_id", valid],
            "x" * 1_000_000,
            {"run_id": "x" * 1_000_000, "junk": "y" * 1_000},
            {"run_id": "../../../escape"},
            {"run_id": valid + "\n"},
            {"run_id": valid, "account_id": "../../escape"},
            {"run_id": valid, "account_id": True},
            {"run_id": valid, "site_id": "a" * 65},
            {"run_id": valid, "stage": "../x"},
            {"run_id": valid, "stage": -1},
            {"account_id": 1},
        ]
        everything = tmp_path_factory.getbasetemp()
        before = {p for p in everything.rglob("*") if "barrier-" not in str(p)}
        caplog.set_level(logging.WARNING, logger=HOOK_LOGGER)
        results = [
            env.task("t.note").apply_async((f"hostile {n}",), headers={"igny8": header})
            for n, header in enumerate(hostile)
        ]
        for n, result in enumerate(results):
            assert result.get(timeout=20) == f"hostile {n}"  # every task ran
        warnings = [r for r in caplog.records if r.name == HOOK_LOGGER]
        assert len(warnings) == len(hostile)  # one warning per task, no more
        assert all(r.levelno == logging.WARNING for r in warnings)
        assert all(len(r.getMessage()) < 500 for r in warnings)  # no megabyte in the log
        after = {p for p in everything.rglob("*") if "barrier-" not in str(p)}
        assert after == before  # nothing written anywhere

    def test_a_failing_hook_never_fails_the_task(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(6, 6)
        failures = igc.hook_failures["task_prerun"]
        with run.bound():
            result = env.task("t.bad_stage").delay()  # stage="../../escape": invalid
        assert result.get(timeout=20) == "ran"
        wait_until(lambda: "bad stage task ran" in env.text(run), "the task's record")
        assert igc.hook_failures["task_prerun"] == failures + 1
        assert [e["event"] for e in env.events(run)] == ["run_start"]
        assert sorted(p.name for p in env.folder(run).iterdir()) == [
            "automation_run.log",
            "run_trace.jsonl",
        ]

        class Broken(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                raise RuntimeError("a broken filter")

        broken = Broken()
        logging.getLogger(env.logger).addFilter(broken)
        try:
            with run.bound():
                value = env.task("t.keywords").delay(0).get(timeout=20)
        finally:
            logging.getLogger(env.logger).removeFilter(broken)
        assert value["processed"] == 0  # the stage task succeeded although logging failed

    def test_a_header_stage_makes_a_stage_task(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(8, 8)
        with igl.bind_run(run.run_id, 8, 8, stage=7):
            env.task("t.plain_stage_by_header").delay()
        events = env.events_when(run, lambda ev: len(ev) == 3, "stage 7's events")
        assert stage_events(events, 7) == ["stage_start", "stage_complete"]
        assert one(events, "stage_complete", 7)["processed"] == 1
        assert "[stage 7] stage given by the header" in env.text(run, "stage_7.log")

    def test_a_revoked_stage_task_logs_stage_revoked(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(9, 9)
        with run.bound():
            env.task("t.expiring").apply_async(expires=datetime.now(UTC) - timedelta(minutes=1))
        events = env.events_when(run, lambda ev: len(ev) == 2, "stage_revoked")
        revoked = one(events, "stage_revoked", 6)
        assert (revoked["level"], revoked["reason"]) == ("WARNING", "expired")
        assert revoked["task_name"] == "t.expiring"
        stage = env.summary(run)["stages"]["6"]
        assert (stage["status"], stage["error"]) == ("failed", "expired")
        assert "should never run" not in env.text(run)

    def test_connecting_again_logs_every_event_once(self, solo_env: Env) -> None:
        env = solo_env
        igc.connect(env.app, env.logger)
        igc.connect(env.app, logging.getLogger(env.logger))
        with pytest.raises(ValueError):
            igc.connect(env.app, "igny8.another.logger")
        with pytest.raises(ValueError):
            igc.connect(env.app, logging.getLogger())
        run = env.start_run(10, 10)
        with run.bound():
            env.task("t.keywords").delay(0)
        wait_until(
            lambda: "note via task logger: child of keywords" in env.text(run, "stage_1.log"),
            "the child's records",
        )
        assert stage_events(env.events(run), 1) == ["stage_start", "stage_complete"]
        text = env.text(run)
        for line in ("keywords: fetching 0 keywords", "note: child of keywords"):
            assert text.count(line) == 1

    def test_disconnect_stops_logging(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(12, 12)
        igc.disconnect(env.app)
        try:
            with run.bound():
                value = env.task("t.keywords").delay(0).get(timeout=20)
        finally:
            igc.connect(env.app, env.logger)
        assert value["processed"] == 0
        with run.bound():
            env.task("t.note").delay("connected again").get(timeout=20)
        wait_until(lambda: "connected again" in env.text(run), "the reconnected task's record")
        assert [e["event"] for e in env.events(run)] == ["run_start"]
        assert "keywords: fetching" not in env.text(run)

    def test_eager_calls_stay_in_the_callers_run(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(11, 11)
        with igl.bind_run(run.run_id, 11, 11, stage=8) as outer:
            assert env.task("t.plain_stage_by_header").apply().get() == {"processed": 1}
            assert igl.current_run() == outer  # restored after the task
        header = {"run_id": run.run_id, "account_id": 11, "site_id": 11, "stage": 9}
        env.task("t.note").apply(("eager with a header",), headers={"igny8": header})
        assert igl.current_run() is None
        events = env.events(run)
        assert stage_events(events, 8) == ["stage_start", "stage_complete"]
        assert stage_events(events, 9) == ["stage_start", "stage_complete"]
        assert "[stage 8] stage given by the header" in env.text(run, "stage_8.log")
        assert "[stage 9] note: eager with a header" in env.text(run, "stage_9.log")


# -- a prefork worker in its own process ---------------------------------------------------


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
