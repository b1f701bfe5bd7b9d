"""Stages that span many tasks, on real workers: ``stage_chord``, parts, scoping, replace.

The pipeline of the issue, ``chain(keywords[stage 1], stage_chord(2, [item x 8],
clusters_done), ideas[stage 3, retried once], finalize)`` with a ``link_error``
errback, runs on a separate ``celery worker -P prefork -c 2`` process (kombu's
filesystem transport, Redis, RabbitMQ); the smaller behaviours run on an
in-process threads worker.  Everything is read back from the run's files.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from _celery_env import Env, in_process_worker, one, prefork_worker, stage_events, wait_until
from celery import chain

import igny8_logging as igl
from igny8_logging.celery import run_logger, stage_chord

PREFORK_KINDS = [
    "filesystem-dictconfig",
    pytest.param("redis", marks=pytest.mark.brokers),
    pytest.param("rabbitmq", marks=pytest.mark.brokers),
]
ITEMS = 8
ITEM_SECONDS = 0.1


@pytest.fixture(scope="module", params=PREFORK_KINDS)
def prefork(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    with prefork_worker(request.param, tmp_path_factory) as env:
        yield env


@pytest.fixture(scope="module")
def threads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with in_process_worker(tmp_path_factory.mktemp("stages-threads"), "threads", 4) as env:
        yield env


def ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()


def ended(events: list[dict[str, Any]]) -> bool:
    return any(e["event"] == "run_end" for e in events)


def publish(env: Env, run: igl.RunLogger, tag: str, fail_item: int | None = None) -> None:
    t = env.task
    parts = [t("s.item").si(tag, i, i == fail_item, ITEM_SECONDS) for i in range(ITEMS)]
    with run.bound():
        chain(
            t("s.keywords").si(tag, ITEMS),
            stage_chord(2, parts, t("s.clusters_done").s(tag), name="Clusters"),
            t("s.ideas").s(tag),
            t("s.finalize").s(tag),
        ).apply_async(link_error=t("s.mark_failed").s())


class TestStageChordPipeline:
    """A fanned-out stage is one stage: its parts log into it, it starts once before them,
    its closer completes it with the elapsed time of the whole stage, and two runs in
    flight on one worker never mix."""

    def test_two_runs_of_two_sites_at_once(self, prefork: Env) -> None:
        env = prefork
        runs = {"alpha": env.start_run(1, "site-a"), "beta": env.start_run(2, "site-b")}
        for tag, run in runs.items():
            publish(env, run, tag)
        for tag, run in runs.items():
            other = "beta" if tag == "alpha" else "alpha"
            events = env.events_when(run, ended, f"run_end of {tag}")
            self.check(env, run, tag, events)
            for name in ("automation_run.log", "stage_1.log", "stage_2.log", "stage_3.log"):
                assert f" of {other}" not in env.text(run, name)
                assert f"for {other}" not in env.text(run, name)

    def check(self, env: Env, run: igl.RunLogger, tag: str, events: list[dict[str, Any]]) -> None:
        stage_2, stage_1 = env.text(run, "stage_2.log"), env.text(run, "stage_1.log")
        for i in range(ITEMS):
            assert stage_2.count(f"[stage 2] item {i} of {tag}\n") == 1
            assert f"item {i} of" not in stage_1
        assert f"[stage 2] clusters done for {tag}: {ITEMS} parts" in stage_2
        names = [e["event"] for e in events]
        assert names[-1] == "run_end"
        assert events[-1]["status"] == "completed"
        assert stage_events(events, 1) == ["stage_start", "stage_complete"]
        start = one(events, "stage_start", 2)
        assert (start["pending"], start["stage_name"]) == (ITEMS, "Clusters")
        parts = [e for e in events if e["event"] == "stage_part_complete"]
        assert len(parts) == ITEMS
        assert all(p["stage"] == 2 for p in parts)
        assert events.index(start) < min(events.index(p) for p in parts)
        assert stage_events(events, 2) == ["stage_start"] + ["stage_part_complete"] * ITEMS + [
            "stage_complete"
        ]
        complete = one(events, "stage_complete", 2)
        assert complete["processed"] == ITEMS  # the parts that succeeded
        assert complete["result"] == {"clusters": ITEMS}
        wall = max(ts(p) for p in parts) - ts(start)
        assert complete["elapsed_s"] >= max(wall, ITEMS * ITEM_SECONDS / 2) - 0.002
        ideas = stage_events(events, 3)
        assert (
            sorted(ideas)
            == ["stage_complete", "stage_progress", "stage_retry"] + ["stage_start"] * 2
        )
        assert stage_events(events, None) == ["run_start", "run_end"]
        stages = env.summary(run)["stages"]
        assert [stages[s]["status"] for s in ("1", "2", "3")] == ["completed"] * 3
        assert stages["2"]["processed"] == ITEMS
        assert env.summary(run)["status"] == "completed"
        assert all(e["run_id"] == run.run_id for e in events)

    def test_a_failing_part_fails_the_stage_once(self, prefork: Env) -> None:
        env = prefork
        run = env.start_run(3, "site-c")
        publish(env, run, "gamma", fail_item=3)
        events = env.events_when(run, ended, "run_end")
        names = [e["event"] for e in events]
        part_error = one(events, "stage_part_error", 2)
        assert (part_error["error_type"], part_error["error"]) == (
            "ValueError",
            "item 3 of gamma failed",
        )
        error = one(events, "stage_error", 2)
        assert (error["error_type"], error["error"]) == ("ValueError", "item 3 of gamma failed")
        assert events.index(part_error) < events.index(error) < names.index("run_end")
        assert names.count("stage_part_complete") == ITEMS - 1
        assert "stage_complete" not in stage_events(events, 2)
        assert stage_events(events, 3) == []
        assert events[-1]["status"] == "failed"
        assert env.summary(run)["stages"]["2"]["status"] == "failed"

    def test_stage_error_precedes_run_end_from_an_errback(self, prefork: Env) -> None:
        env = prefork
        runs = [env.start_run(4, f"fail-{n}") for n in range(20)]
        for n, run in enumerate(runs):
            with run.bound():
                chain(
                    env.task("s.keywords").si(f"f{n}", 1), env.task("s.failing").s(f"f{n}")
                ).apply_async(link_error=env.task("s.mark_failed").s())
        for run in runs:
            events = env.events_when(run, ended, "run_end")
            names = [e["event"] for e in events]
            assert names.count("run_end") == 1
            assert names.index("stage_error") < names.index("run_end"), names
            assert names[-1] == "run_end"
            assert events[-1]["status"] == "failed"


class TestStageScoping:
    """Only a body's children inherit its stage; a replacement takes the stage over;
    ``run_logger()`` is the task's run; a stage started elsewhere is not started again."""

    def test_a_chain_link_leaves_the_stage(self, threads: Env) -> None:
        env = threads
        run = env.start_run(5, 1)
        with run.bound():
            chain(env.task("s.keywords").si("link", 1), env.task("t.note").si("next link")).delay()
        wait_until(lambda: "next link" in env.text(run), "the chain link's record")
        assert "[run] note: next link" in env.text(run)
        assert "next link" not in env.text(run, "stage_1.log")

    def test_a_child_inside_a_stage_task_is_in_the_stage(self, threads: Env) -> None:
        env = threads
        run = env.start_run(5, 2)
        with run.bound():
            env.task("s.parent").delay()
        wait_until(lambda: "child of parent" in env.text(run, "stage_5.log"), "the child's record")
        assert "[stage 5] note: child of parent" in env.text(run, "stage_5.log")
        assert stage_events(env.events(run), 5) == ["stage_start", "stage_complete"]

    @pytest.mark.parametrize("how", ["task", "chord"])
    def test_replace_hands_the_stage_over(self, threads: Env, how: str) -> None:
        env = threads
        run = env.start_run(5, f"replace-{how}")
        with run.bound():
            env.task("s.replacer").delay(how)
        events = env.events_when(
            run, lambda ev: "stage_complete" in stage_events(ev, 4), "stage 4's outcome"
        )
        assert stage_events(events, 4) == ["stage_start", "stage_complete"]
        assert one(events, "stage_complete", 4)["processed"] == (5 if how == "task" else 3)
        replaced = "replacement runs" if how == "task" else "replacement closer"
        wait_until(lambda: replaced in env.text(run, "stage_4.log"), "the replacement's record")

    def test_a_declared_part_logs_part_events_only(self, threads: Env) -> None:
        env = threads
        run = env.start_run(5, 7)
        with run.bound():
            env.task("s.declared_part").delay(1)
        events = env.events_when(run, lambda ev: len(ev) == 2, "the part's event")
        part = one(events, "stage_part_complete", 7)
        assert part["processed"] == 2
        assert "[stage 7] declared part 1" in env.text(run, "stage_7.log")

    def test_run_logger_inside_and_outside_a_run(self, threads: Env) -> None:
        env = threads
        run = env.start_run(5, 8)
        assert env.task("s.probe").delay().get(timeout=20) is None
        assert run_logger() is None
        with run.bound():
            inside = env.task("s.probe").delay().get(timeout=20)
        assert inside == [run.run_id, None]
        with igl.bind_run(run.run_id, 5, 8, stage=9):
            staged = env.task("s.probe").delay().get(timeout=20)
        assert staged == [run.run_id, 9]
        events = env.events_when(run, lambda ev: len(ev) >= 5, "the probes' events")
        assert [e["answer"] for e in events if e["event"] == "probe"] == [42, 42]

    def test_a_stage_started_in_the_web_process_is_closed_by_a_task(self, prefork: Env) -> None:
        env = prefork
        run = env.start_run(6, 6)
        run.stage_start(6, "Web", pending=1)
        before = datetime.now().timestamp()
        wait_until(lambda: datetime.now().timestamp() - before > 0.3, "0.3 s to pass")
        with run.bound():
            env.task("s.web_started").delay()
        events = env.events_when(
            run, lambda ev: "stage_complete" in stage_events(ev, 6), "stage 6's outcome"
        )
        assert stage_events(events, 6) == ["stage_start", "stage_complete"]
        assert one(events, "stage_complete", 6)["elapsed_s"] >= 0.3
