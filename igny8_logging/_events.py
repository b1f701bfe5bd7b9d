"""The event vocabulary: every event name, run status and stage status, in one place.

The trace (``run_trace.jsonl``) is a sequence of events; this module names them
and says what they mean to a reader.  Writers (the adapter, the Celery hooks)
and readers (the summary fold, the CLI, the demo) import these names instead of
spelling the strings themselves.  The fold of a trace into a run summary lives
here too (:func:`fold`), so the reader, the CLI and the demo show the same state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, TypedDict

__all__ = [
    "LIFECYCLE",
    "LOG",
    "RUN_END",
    "RUN_START",
    "RUN_STATUSES",
    "STAGE_COMPLETE",
    "STAGE_ERROR",
    "STAGE_PART_COMPLETE",
    "STAGE_PART_ERROR",
    "STAGE_PROGRESS",
    "STAGE_RETRY",
    "STAGE_REVOKED",
    "STAGE_START",
    "STAGE_STATUSES",
    "SYNC_EVENTS",
    # reader: the fold
    "RunState",
    "RunStatus",
    "RunSummary",
    "StageStatus",
    "StageSummary",
    "fold",
    "is_run_end",
]

# -- event names ---------------------------------------------------------------------

RUN_START: Final = "run_start"
RUN_END: Final = "run_end"
STAGE_START: Final = "stage_start"
STAGE_PROGRESS: Final = "stage_progress"
STAGE_COMPLETE: Final = "stage_complete"
STAGE_ERROR: Final = "stage_error"
STAGE_RETRY: Final = "stage_retry"
STAGE_REVOKED: Final = "stage_revoked"
STAGE_PART_COMPLETE: Final = "stage_part_complete"
STAGE_PART_ERROR: Final = "stage_part_error"
#: The event of a plain record at ``WARNING`` or above that carries no event.
LOG: Final = "log"

#: Events the library itself writes; their fields are shown in the message, not
#: repeated as ``key=value`` in the text logs.
LIFECYCLE: Final = frozenset(
    {
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
    }
)

#: Events after which ``fsync="stage"`` syncs the files.
SYNC_EVENTS: Final = frozenset({STAGE_COMPLETE, STAGE_ERROR, RUN_END})

# -- statuses --------------------------------------------------------------------------

RunStatus = Literal["running", "completed", "failed", "cancelled"]
StageStatus = Literal["running", "completed", "failed"]

#: The statuses ``RunLogger.end`` accepts (a run that ended).
RUN_STATUSES: Final[tuple[str, ...]] = ("completed", "failed", "cancelled")
STAGE_STATUSES: Final[tuple[str, ...]] = ("running", "completed", "failed")

# -- reader: the fold of a trace into a run summary --------------------------------------
# (branch "reader": one fold for the reader's summary(), the CLI and the demo.)

#: Values read from a trace: any JSON value may stand in any field.
JSONValue = Any


class StageSummary(TypedDict):
    """One stage's row of a run summary (the keys the contract lists, plus parts)."""

    status: StageStatus
    name: JSONValue
    pending: JSONValue
    processed: JSONValue
    total: JSONValue
    credits_used: JSONValue
    elapsed_s: JSONValue
    error: JSONValue
    #: Parts (``stage_part_complete`` / ``stage_part_error``) seen, and how many failed.
    parts: int
    failed_parts: int


class RunSummary(TypedDict):
    """What :meth:`RunLogReader.summary` returns (a plain ``dict`` at run time)."""

    run_id: str
    account_id: JSONValue
    site_id: JSONValue
    status: RunStatus
    started_at: JSONValue
    ended_at: JSONValue
    elapsed_s: JSONValue
    stages: dict[str, StageSummary]


_STAGE_EVENTS: Final = frozenset(
    {
        STAGE_START,
        STAGE_PROGRESS,
        STAGE_COMPLETE,
        STAGE_ERROR,
        STAGE_RETRY,
        STAGE_REVOKED,
        STAGE_PART_COMPLETE,
        STAGE_PART_ERROR,
    }
)


def is_run_end(event: Mapping[str, Any]) -> bool:
    """Whether a trace event ends its run (the one test of "has this run ended")."""
    return event.get("event") == RUN_END


def _number(value: object) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if isinstance(value, int) or math.isfinite(value) else None


class _Stage:
    """A stage's state while the trace is folded (stage-level values win over parts')."""

    __slots__ = (
        "credits",
        "elapsed",
        "error",
        "failed_parts",
        "name",
        "part_credits",
        "part_processed",
        "parts",
        "pending",
        "processed",
        "status",
        "total",
    )

    def __init__(self) -> None:
        self.status: StageStatus = "running"
        self.name: JSONValue = None
        self.pending: JSONValue = None
        self.processed: JSONValue = None
        self.total: JSONValue = None
        self.credits: JSONValue = None
        self.elapsed: JSONValue = None
        self.error: JSONValue = None
        self.parts = 0
        self.failed_parts = 0
        self.part_processed: int | float | None = None
        self.part_credits: int | float | None = None

    def part(self, event: Mapping[str, Any], failed: bool) -> None:
        self.parts += 1
        self.failed_parts += failed
        processed = _number(event.get("processed"))
        if processed is not None:
            self.part_processed = (self.part_processed or 0) + processed
        credits = _number(event.get("credits_used"))
        if credits is not None:
            self.part_credits = (self.part_credits or 0) + credits

    def row(self, run_status: RunStatus, run_ended: bool) -> StageSummary:
        status, error = self.status, self.error
        if run_ended and status == "running":
            # A run that ended leaves no stage running: one it interrupted failed.
            status, error = "failed", f"run {run_status}"
        return {
            "status": status,
            "name": self.name,
            "pending": self.pending,
            "processed": self.part_processed if self.processed is None else self.processed,
            "total": self.total,
            "credits_used": self.part_credits if self.credits is None else self.credits,
            "elapsed_s": self.elapsed,
            "error": error,
            "parts": self.parts,
            "failed_parts": self.failed_parts,
        }


class RunState:
    """A run's state, folded event by event from its trace (usable incrementally).

    ``apply(event)`` takes any mapping (any JSON value in any field, never an error);
    ``summary()`` gives the :class:`RunSummary` at that point.  Rules: ``run_end``
    sets the run's status (an unknown status reads as ``failed``); a stage is
    ``running`` from its first event, ``completed`` on ``stage_complete``, ``failed``
    on ``stage_error`` / ``stage_revoked``, ``running`` again on ``stage_start`` or
    ``stage_retry`` (a late ``stage_retry`` never reopens a completed stage); once the run
    has ended a stage still running shows ``failed`` with error ``"run <status>"``;
    ``processed`` / ``credits_used`` come from the stage's own events, else the sum of
    its parts'.
    """

    def __init__(
        self, run_id: str, account_id: JSONValue = None, site_id: JSONValue = None
    ) -> None:
        self.run_id = run_id
        self.account_id = account_id
        self.site_id = site_id
        self.status: RunStatus = "running"
        self.ended = False
        self.started_at: JSONValue = None
        self.ended_at: JSONValue = None
        self.elapsed_s: JSONValue = None
        self.stages: dict[str, _Stage] = {}

    def apply(self, event: Mapping[str, Any]) -> None:
        """Fold one trace event in."""
        kind = event.get("event")
        if kind == RUN_START:
            self.started_at = event.get("ts")
        elif kind == RUN_END:
            status = event.get("status")
            self.status = status if status in RUN_STATUSES else "failed"
            self.ended = True
            self.ended_at, self.elapsed_s = event.get("ts"), event.get("elapsed_s")
        elif isinstance(kind, str) and kind in _STAGE_EVENTS and event.get("stage") is not None:
            self._stage_event(kind, event)

    def _stage_event(self, kind: str, event: Mapping[str, Any]) -> None:
        stage = self.stages.setdefault(_stage_key(event["stage"]), _Stage())
        if kind == STAGE_START or (kind == STAGE_RETRY and stage.status != "completed"):
            # Celery signals task_retry after publishing the retry, so a retry's
            # stage_retry can follow the retried attempt's stage_complete: it never
            # reopens a completed stage.
            stage.status, stage.error = "running", None
            if kind == STAGE_START:
                stage.name = _given(event, "stage_name", stage.name)
                stage.pending = _given(event, "pending", stage.pending)
        elif kind == STAGE_PROGRESS:
            stage.processed = _given(event, "processed", stage.processed)
            stage.total = _given(event, "total", stage.total)
        elif kind == STAGE_COMPLETE:
            stage.status = "completed"
            stage.processed = _given(event, "processed", stage.processed)
            stage.credits = _given(event, "credits_used", stage.credits)
            stage.elapsed = _given(event, "elapsed_s", stage.elapsed)
        elif kind == STAGE_ERROR:
            stage.status, stage.error = "failed", event.get("error")
        elif kind == STAGE_REVOKED:
            stage.status, stage.error = "failed", event.get("reason") or "revoked"
        elif kind in (STAGE_PART_COMPLETE, STAGE_PART_ERROR):
            stage.part(event, failed=kind == STAGE_PART_ERROR)

    def summary(self) -> RunSummary:
        """The run's summary as folded so far (a fresh dict each call)."""
        return {
            "run_id": self.run_id,
            "account_id": self.account_id,
            "site_id": self.site_id,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "elapsed_s": self.elapsed_s,
            "stages": {
                key: stage.row(self.status, self.ended) for key, stage in self.stages.items()
            },
        }


def _stage_key(stage: object) -> str:
    try:
        return str(stage)
    except ValueError:  # an int too long to print: keyed by its type, still folded
        return f"<{type(stage).__name__}>"


def _given(event: Mapping[str, Any], name: str, current: JSONValue) -> JSONValue:
    value = event.get(name)
    return current if value is None else value


def fold(
    events: Iterable[Mapping[str, Any]],
    run_id: str,
    account_id: JSONValue = None,
    site_id: JSONValue = None,
) -> RunSummary:
    """The summary of a whole sequence of trace events (``RunState`` in one call)."""
    state = RunState(run_id, account_id, site_id)
    for event in events:
        state.apply(event)
    return state.summary()
