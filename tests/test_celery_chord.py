"""``stage_chord``: a fanned-out stage on a real prefork worker, read back from the run's files.

The pipeline of the issue, ``chain(keywords[stage 1], stage_chord(2, [item x 8],
clusters_done), ideas[stage 3, retried once], finalize)`` with a ``link_error``
errback, runs on a separate ``celery worker -P prefork -c 2`` process (kombu's
filesystem transport, Redis, RabbitMQ).
"""

from __future__ import annotations

from typing import Any

from _celery_env import Env, one, stage_events
from _celery_stages import (
    ITEM_SECONDS,
    ITEMS,
    ended,
    publish,
    ts,
)

import igny8_logging as igl


class TestStageChordPipeline:
    """A fanned-out stage is one stage: its parts log into it, it starts once before them,
    its closer completes it with the elapsed time of the whole stage, and two runs in
    flight on one worker never mix."""

    def test_two_runs_of_two_sites_at_once(self, pipeline_prefork: Env) -> None:
        env = pipeline_prefork
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
        assert stage_events(events, 3) == [  # the retry logged before its next attempt
            "stage_start",
            "stage_retry",
            "stage_start",
            "stage_progress",
            "stage_complete",
        ]
        assert stage_events(events, None) == ["run_start", "run_end"]
        stages = env.summary(run)["stages"]
        assert [stages[s]["status"] for s in ("1", "2", "3")] == ["completed"] * 3
        assert stages["2"]["processed"] == ITEMS
        assert env.summary(run)["status"] == "completed"
        assert all(e["run_id"] == run.run_id for e in events)

    def test_a_failing_part_fails_the_stage_once(self, pipeline_prefork: Env) -> None:
        env = pipeline_prefork
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
