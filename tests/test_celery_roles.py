"""Who a task is in its stage: scoping of children and chain links, replace, parts, starts.

On an in-process threads worker, and a prefork worker process for a stage
started in this (the web) process and closed by a task there.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from _celery_env import Env, one, stage_events, wait_until
from celery import chain

import igny8_logging as igl
from igny8_logging.celery import run_logger


class TestStageScoping:
    """Only a body's children inherit its stage; a replacement takes the stage over;
    ``run_logger()`` is the task's run; a stage started elsewhere is not started again."""

    def test_a_chain_link_leaves_the_stage(self, pipeline_threads: Env) -> None:
        env = pipeline_threads
        run = env.start_run(5, 1)
        with run.bound():
            chain(env.task("s.keywords").si("link", 1), env.task("t.note").si("next link")).delay()
        wait_until(lambda: "next link" in env.text(run), "the chain link's record")
        assert "[run] note: next link" in env.text(run)
        assert "next link" not in env.text(run, "stage_1.log")

    def test_a_child_inside_a_stage_task_is_in_the_stage(self, pipeline_threads: Env) -> None:
        env = pipeline_threads
        run = env.start_run(5, 2)
        with run.bound():
            env.task("s.parent").delay()
        wait_until(lambda: "child of parent" in env.text(run, "stage_5.log"), "the child's record")
        assert "[stage 5] note: child of parent" in env.text(run, "stage_5.log")
        assert stage_events(env.events(run), 5) == ["stage_start", "stage_complete"]

    @pytest.mark.parametrize("how", ["task", "chord"])
    def test_replace_hands_the_stage_over(self, pipeline_threads: Env, how: str) -> None:
        env = pipeline_threads
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

    def test_a_declared_part_logs_part_events_only(self, pipeline_threads: Env) -> None:
        env = pipeline_threads
        run = env.start_run(5, 7)
        with run.bound():
            env.task("s.declared_part").delay(1)
        events = env.events_when(run, lambda ev: len(ev) == 2, "the part's event")
        part = one(events, "stage_part_complete", 7)
        assert part["processed"] == 2
        assert "[stage 7] declared part 1" in env.text(run, "stage_7.log")

    def test_run_logger_inside_and_outside_a_run(self, pipeline_threads: Env) -> None:
        env = pipeline_threads
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

    def test_a_stage_started_in_the_web_process_is_closed_by_a_task(
        self, pipeline_prefork: Env
    ) -> None:
        env = pipeline_prefork
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
