"""The v1 pipeline every worker kind runs, and how its files must look afterwards."""

from __future__ import annotations

import uuid
from pathlib import Path

from _celery_env import Env, assert_well_formed, one, stage_events, wait_until
from celery import chain

import igny8_logging as igl

# -- the pipeline every worker kind runs ---------------------------------------------------

PIPELINE_LINES = {
    "stage_1.log": [
        "keywords: fetching 3 keywords",  # the stage task, through get_task_logger
        "item 0 fetched",  # group members published by the stage task, plain logger
        "item 1 fetched",
        "item 2 fetched",
        "note: child of keywords",  # a child (.delay) of the stage task
        "note via task logger: child of keywords",
    ],
    "stage_2.log": [
        "clusters: built from {'keywords': 3}",  # the chain link, after its retry
        "scored 0",  # the chord's header
        "scored 1",
        "scored 2",
        "collected [0, 1, 2]",  # the chord's body (callback)
    ],
    "stage_3.log": ["ideas: starting"],
}


def publish_pipeline(env: Env, run: igl.RunLogger) -> None:
    """Keywords -> Clusters (retried once, starts a chord) -> Ideas (fails), in one chain."""
    with run.bound():
        chain(
            env.task("t.keywords").s(3), env.task("t.clusters").s(), env.task("t.ideas").s()
        ).apply_async()


def check_pipeline(env: Env, run: igl.RunLogger) -> None:
    wait_until(
        lambda: all(
            line in env.text(run, name) for name, lines in PIPELINE_LINES.items() for line in lines
        ),
        "the pipeline's records",
    )
    events = env.events_when(
        run, lambda ev: any(e["event"] == "stage_error" for e in ev), "stage_error"
    )
    assert stage_events(events, None) == ["run_start"]
    assert stage_events(events, 1) == ["stage_start", "stage_complete"]
    # stage_retry is logged as the retry is published, before its next attempt.
    assert stage_events(events, 2) == [
        "stage_start",
        "stage_retry",
        "stage_start",
        "stage_complete",
    ]
    attempts = [e["retries"] for e in events if e["event"] == "stage_start" and e["stage"] == 2]
    assert attempts == [0, 1]
    assert len({e["task_id"] for e in events if e["stage"] == 2}) == 1  # one task, two tries
    assert stage_events(events, 3) == ["stage_start", "stage_error"]
    assert len(events) == 9  # no "log" events: nothing at WARNING or above but the retry

    start = one(events, "stage_start", 1)
    assert (start["stage_name"], start["task_name"]) == ("Keywords", "t.keywords")
    complete = one(events, "stage_complete", 1)
    assert complete["processed"] == 3
    assert complete["credits_used"] == 1.5
    assert complete["result"] == {"keywords": 3}
    assert isinstance(complete["elapsed_s"], float)
    assert complete["elapsed_s"] >= 0
    assert complete["task_id"] == start["task_id"]
    retry = one(events, "stage_retry", 2)
    assert retry["level"] == "WARNING"
    assert "rate limited" in retry["reason"]
    assert retry["retries"] == 0
    clustered = one(events, "stage_complete", 2)
    assert (clustered["processed"], clustered["result"]) == (3, "clustered")
    error = one(events, "stage_error", 3)
    assert error["error_type"] == "ValueError"
    assert error["error"].startswith("no ideas from")
    assert 'raise ValueError("no ideas from "' in error["traceback"]
    for e in events:
        assert (e["run_id"], e["account_id"], e["site_id"]) == (
            run.run_id,
            run.account_id,
            run.site_id,
        )

    check_pipeline_files(env, run)


def check_pipeline_files(env: Env, run: igl.RunLogger) -> None:
    """Each record once in the run log and its stage log; the run's summary."""
    whole = env.text(run)
    assert_well_formed(whole)
    for name, lines in PIPELINE_LINES.items():
        text = env.text(run, name)
        assert_well_formed(text)
        for line in lines:
            assert text.count(f"] {line}\n") == 1, (name, line)
            assert whole.count(f"] {line}\n") == 1, line  # forwarded once, not twice
    assert "Traceback (most recent call last):" in env.text(run, "stage_3.log")
    assert sorted(p.name for p in env.folder(run).iterdir()) == [
        "automation_run.log",
        "run_trace.jsonl",
        "stage_1.log",
        "stage_2.log",
        "stage_3.log",
    ]

    stages = env.summary(run)["stages"]
    assert stages["1"]["status"] == "completed"
    assert (stages["1"]["name"], stages["1"]["processed"]) == ("Keywords", 3)
    assert stages["2"]["status"] == "completed"
    assert stages["3"]["status"] == "failed"
    assert stages["3"]["error"].startswith("no ideas from")


def publish_chatty(env: Env, run: igl.RunLogger, tags: list[str], lines: int, size: int) -> Path:
    barrier = env.tmp / f"barrier-{uuid.uuid4().hex}"
    barrier.mkdir()
    with run.bound():
        for tag in tags:
            env.task("t.chatty").delay(tag, lines, size, str(barrier), len(tags))
    return barrier


def chatty_lines(env: Env, run: igl.RunLogger, expected: int) -> list[str]:
    def lines() -> list[str] | None:
        found = [line for line in env.text(run).splitlines() if " chatty " in line]
        return found if len(found) >= expected else None

    return wait_until(lines, f"{expected} chatty lines")
