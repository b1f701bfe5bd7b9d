"""The event vocabulary: every event name, run status and stage status, in one place.

The trace (``run_trace.jsonl``) is a sequence of events; this module names them
and says what they mean to a reader.  Writers (the adapter, the Celery hooks)
and readers (the summary fold, the CLI, the demo) import these names instead of
spelling the strings themselves.  The fold of a trace into a run summary lives
here too (:func:`fold`), so the reader, the CLI and the demo show the same state.
"""

from __future__ import annotations

from typing import Final, Literal

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
    "RunStatus",
    "StageStatus",
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
