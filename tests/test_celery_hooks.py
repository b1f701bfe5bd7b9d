"""The signal hooks on a real in-process solo worker: a task's run never outlives it.

Tasks outside any run write nothing; hostile headers are ignored with one
warning; failing hooks never fail a task; a header can name the stage; a
revoked stage task logs ``stage_revoked``; eager calls stay in the caller's run;
a retry's ``stage_retry`` is written before its next attempt is published.
"""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _celery_env import (
    HOOK_LOGGER,
    Env,
    in_process_worker,
    one,
    stage_events,
    wait_until,
)
from celery import signals

import igny8_logging as igl
from igny8_logging import celery as igc


@pytest.fixture(scope="class")
def solo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with in_process_worker(tmp_path_factory.mktemp("solo"), "solo", 1) as env:
        yield env


class TestSoloPool:
    """Under the solo pool (one thread runs every task), a task's run never outlives it.

    Tasks outside any run write nothing; hostile headers are ignored with one
    warning; failing hooks never fail a task; a header can name the stage; a
    revoked stage task logs ``stage_revoked``; eager calls stay in the caller's run;
    a retry's ``stage_retry`` is written before its next attempt is published.
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

    def test_a_retry_is_logged_before_its_next_attempt_is_published(self, solo_env: Env) -> None:
        # Task.retry publishes the next attempt before Celery sends task_retry: on a
        # busy worker that attempt (and the rest of the run) could be logged first.
        env = solo_env
        run = env.start_run(12, 12)
        at_publish: list[list[str]] = []

        def look(sender: Any = None, headers: Any = None, **_: Any) -> None:
            if sender == "t.clusters" and (headers or {}).get("retries"):
                at_publish.append([e["event"] for e in env.events(run)])

        signals.before_task_publish.connect(look, weak=False)  # after the library's hook
        try:
            with run.bound():
                result = env.task("t.clusters").delay({"result": "twelve"})
            assert result.get(timeout=20)["result"] == "clustered"
        finally:
            signals.before_task_publish.disconnect(look)
        assert at_publish == [["run_start", "stage_start", "stage_retry"]]
        events = env.events_when(
            run, lambda ev: "stage_complete" in stage_events(ev, 2), "stage_complete"
        )
        assert stage_events(events, 2) == [  # in order, the retry logged once
            "stage_start",
            "stage_retry",
            "stage_start",
            "stage_complete",
        ]
        retry = one(events, "stage_retry", 2)
        assert retry["reason"] == "Retry in 0s: RuntimeError('rate limited')"  # Celery's words
        assert (retry["retries"], retry["task_name"]) == (0, "t.clusters")
        assert retry["task_id"] == result.id
        assert env.summary(run)["stages"]["2"]["status"] == "completed"

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
