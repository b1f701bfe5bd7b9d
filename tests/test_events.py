"""The event vocabulary and the one fold of a trace into a run summary (``_events``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import igny8_logging as igl
from igny8_logging._events import (
    RUN_END,
    RUN_START,
    RUN_STATUSES,
    STAGE_COMPLETE,
    STAGE_ERROR,
    STAGE_PART_COMPLETE,
    STAGE_PART_ERROR,
    STAGE_PROGRESS,
    STAGE_RETRY,
    STAGE_REVOKED,
    STAGE_START,
    STAGE_STATUSES,
    RunState,
    fold,
    is_run_end,
)

RUN_ID = "run_20261129_013000_abcd1234"


def ev(kind: str, stage: object = None, **fields: Any) -> dict[str, Any]:
    return {"event": kind, "stage": stage, "ts": "2026-11-29T01:30:00.000Z", **fields}


class TestIncrementalFold:
    """``RunState.apply`` folds one event at a time; ``summary()`` is the state so far."""

    def test_summary_after_each_event(self) -> None:
        state = RunState(RUN_ID, 5, "shop")
        assert state.summary() == {
            "run_id": RUN_ID,
            "account_id": 5,
            "site_id": "shop",
            "status": "running",
            "started_at": None,
            "ended_at": None,
            "elapsed_s": None,
            "stages": {},
        }
        state.apply(ev(RUN_START, ts="2026-11-29T01:30:00.000Z"))
        state.apply(ev(STAGE_START, 1, stage_name="Keywords", pending=10))
        assert state.summary()["stages"]["1"]["status"] == "running"
        state.apply(ev(STAGE_PROGRESS, 1, processed=4, total=10))
        row = state.summary()["stages"]["1"]
        assert (row["processed"], row["total"], row["name"], row["pending"]) == (
            4,
            10,
            "Keywords",
            10,
        )
        state.apply(ev(STAGE_COMPLETE, 1, processed=10, elapsed_s=2.5, credits_used=3))
        state.apply(ev(RUN_END, status="completed", elapsed_s=3.0, ts="2026-11-29T01:30:03.000Z"))
        summary = state.summary()
        assert summary["status"] == "completed"
        assert (summary["ended_at"], summary["elapsed_s"]) == ("2026-11-29T01:30:03.000Z", 3.0)
        assert summary["stages"]["1"] == {
            "status": "completed",
            "name": "Keywords",
            "pending": 10,
            "processed": 10,
            "total": 10,
            "credits_used": 3,
            "elapsed_s": 2.5,
            "error": None,
            "parts": 0,
            "failed_parts": 0,
        }

    def test_stage_keys_are_str_of_the_stage(self) -> None:
        summary = fold([ev(STAGE_START, 1), ev(STAGE_START, "ideas")], RUN_ID)
        assert list(summary["stages"]) == ["1", "ideas"]

    def test_unknown_run_status_reads_as_failed(self) -> None:
        assert fold([ev(RUN_END, status="weird")], RUN_ID)["status"] == "failed"
        for status in RUN_STATUSES:
            assert fold([ev(RUN_END, status=status)], RUN_ID)["status"] == status


class TestStageRules:
    """Retries keep a stage running, revokes fail it, and an ended run leaves none running."""

    def test_retry_leaves_the_stage_running(self) -> None:
        summary = fold([ev(STAGE_START, 1), ev(STAGE_RETRY, 1, error="flaky")], RUN_ID)
        assert summary["stages"]["1"]["status"] == "running"

    def test_retry_after_an_error_runs_again(self) -> None:
        events = [ev(STAGE_START, 1), ev(STAGE_ERROR, 1, error="boom"), ev(STAGE_RETRY, 1)]
        row = fold(events, RUN_ID)["stages"]["1"]
        assert (row["status"], row["error"]) == ("running", None)

    def test_a_late_retry_does_not_reopen_a_completed_stage(self) -> None:
        """Celery signals ``task_retry`` after it publishes the retry, which may finish first."""
        events = [ev(STAGE_START, 3), ev(STAGE_START, 3), ev(STAGE_COMPLETE, 3), ev(STAGE_RETRY, 3)]
        summary = fold([*events, {"event": "run_end", "status": "completed"}], RUN_ID)
        assert summary["stages"]["3"]["status"] == "completed"

    def test_revoke_fails_the_stage(self) -> None:
        row = fold([ev(STAGE_START, 2), ev(STAGE_REVOKED, 2, reason="terminated")], RUN_ID)
        assert (row["stages"]["2"]["status"], row["stages"]["2"]["error"]) == (
            "failed",
            "terminated",
        )
        assert fold([ev(STAGE_REVOKED, 2)], RUN_ID)["stages"]["2"]["error"] == "revoked"

    def test_a_stage_interrupted_by_the_run_end_failed(self) -> None:
        """Stage status is running/completed/failed: an ended run's unfinished stage failed,
        with the run's status as its error."""
        events = [
            ev(STAGE_START, 1),
            ev(STAGE_COMPLETE, 1, processed=1),
            ev(STAGE_START, 2),
            ev(RUN_END, status="cancelled"),
        ]
        stages = fold(events, RUN_ID)["stages"]
        assert stages["1"]["status"] == "completed"
        assert (stages["2"]["status"], stages["2"]["error"]) == ("failed", "run cancelled")

    def test_the_elapsed_of_stage_complete_wins(self) -> None:
        events = [ev(STAGE_START, 1), ev(STAGE_COMPLETE, 1, elapsed_s=12.5)]
        assert fold(events, RUN_ID)["stages"]["1"]["elapsed_s"] == 12.5


class TestParts:
    """A stage fanned out into parts: processed and credits sum the parts' unless the
    stage gives its own; parts and failed parts are counted."""

    def test_parts_are_summed_and_counted(self) -> None:
        events = [
            ev(STAGE_START, 2, pending=3),
            ev(STAGE_PART_COMPLETE, 2, task_id="a", processed=4, credits_used=1.5),
            ev(STAGE_PART_COMPLETE, 2, task_id="b", processed=6, credits_used=0.5),
            ev(STAGE_PART_ERROR, 2, task_id="c", error="bad item"),
        ]
        row = fold(events, RUN_ID)["stages"]["2"]
        assert (row["processed"], row["credits_used"]) == (10, 2.0)
        assert (row["parts"], row["failed_parts"], row["status"]) == (3, 1, "running")

    def test_the_stage_own_processed_wins(self) -> None:
        events = [
            ev(STAGE_START, 2),
            ev(STAGE_PART_COMPLETE, 2, processed=4),
            ev(STAGE_COMPLETE, 2, processed=99),
        ]
        row = fold(events, RUN_ID)["stages"]["2"]
        assert (row["processed"], row["parts"], row["status"]) == (99, 1, "completed")

    def test_parts_written_by_a_run_reach_the_summary(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.start_run(run_logger, run_id=RUN_ID)
        run.stage_start(2, "Clusters", pending=2)
        run.trace(STAGE_PART_COMPLETE, stage=2, task_id="t1", processed=3)
        run.trace(STAGE_PART_ERROR, stage=2, task_id="t2", error="x", error_type="ValueError")
        run.stage_error(2, "a part failed")
        run.end("failed")
        row = igl.RunLogReader(base_dir).summary(RUN_ID)["stages"]["2"]
        assert (row["processed"], row["parts"], row["failed_parts"]) == (3, 2, 1)
        assert (row["status"], row["error"]) == ("failed", "a part failed")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
_kinds = st.sampled_from(
    [
        RUN_START,
        RUN_END,
        STAGE_START,
        STAGE_PROGRESS,
        STAGE_COMPLETE,
        STAGE_ERROR,
        STAGE_RETRY,
        STAGE_REVOKED,
        STAGE_PART_COMPLETE,
        STAGE_PART_ERROR,
        "item",
    ]
)
_fields = ["stage", "status", "processed", "total", "pending", "credits_used", "elapsed_s"]
_event = st.fixed_dictionaries(
    {"event": _kinds | _json}, optional={name: _json for name in [*_fields, "error", "ts"]}
)


class TestOddValues:
    """Any JSON value in any field is folded, never a crash (issue 10 item 6)."""

    @settings(max_examples=300, deadline=None)
    @given(st.lists(_event, max_size=12))
    def test_any_json_values(self, events: list[dict[str, Any]]) -> None:
        summary = fold(events, RUN_ID)
        assert summary["status"] in ("running", *RUN_STATUSES)
        for row in summary["stages"].values():
            assert row["status"] in STAGE_STATUSES
            assert row["failed_parts"] <= row["parts"]
        json.dumps(summary, default=str)

    def test_a_dict_elapsed_from_a_file_is_shown_as_is(self, base_dir: Path) -> None:
        folder = base_dir / "_" / "_" / RUN_ID
        folder.mkdir(parents=True)
        lines = [
            {"event": STAGE_START, "stage": 1, "pending": [1, 2]},
            {"event": STAGE_PART_COMPLETE, "stage": 1, "processed": {"n": 1}},
            {"event": STAGE_COMPLETE, "stage": 1, "elapsed_s": {"s": 1}, "credits_used": "2"},
            {"event": RUN_END, "status": ["completed"], "elapsed_s": [1]},
        ]
        (folder / "run_trace.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        summary = igl.RunLogReader(base_dir).summary(RUN_ID)
        row = summary["stages"]["1"]
        assert (row["elapsed_s"], row["pending"], row["credits_used"]) == ({"s": 1}, [1, 2], "2")
        assert (row["processed"], row["parts"]) == (None, 1)  # a dict is no count to sum
        assert (summary["status"], summary["elapsed_s"]) == ("failed", [1])


class TestIsRunEnd:
    """One test of "has this run ended"."""

    def test_only_run_end(self) -> None:
        assert is_run_end({"event": RUN_END})
        assert not is_run_end({"event": "run_ended"})
        assert not is_run_end({"message": RUN_END})
