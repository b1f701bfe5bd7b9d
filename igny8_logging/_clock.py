"""The stage clock: when each stage of each run started, for ``elapsed_s``.

``stage_start`` records a start here; ``stage_complete`` without an explicit
``elapsed`` measures from it.  A start is kept twice: as a monotonic time (for
an exact elapsed in the process that saw the start) and as a wall-clock epoch,
which can travel to other processes and hosts (the Celery ``igny8`` header
carries :meth:`StageClock.starts`; the receiving side calls
:meth:`StageClock.seed`).  A stage started elsewhere is measured against the
wall clock, so its elapsed is as good as the hosts' clocks agree.

The clock is process-wide (:data:`clock`), bounded, and safe to re-enter: the
stage API may be called from a signal handler while the same thread is inside
a clock method, so the lock is re-entrant and every step tolerates an entry
that vanished or appeared in between (no ``KeyError``, no deadlock).
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

__all__ = ["RUN_KEY", "StageClock", "clock"]

#: The "stage" under which a run's own start is kept (``run_end``'s elapsed).
#: It is never a valid stage name, and :meth:`StageClock.starts` leaves it out.
RUN_KEY: Final = ""
_MAX_STAGES_PER_RUN: Final = 1024


@dataclass(slots=True)
class _Start:
    """One stage's start as this process knows it."""

    epoch: float
    #: ``time.monotonic()`` at a local start; ``None`` for a start seeded from elsewhere.
    mono: float | None
    #: Local starts not yet stopped (0 for a seeded start).
    open: int = 1
    #: Several local starts overlapped: which one a stop belongs to is unknown.
    ambiguous: bool = False


def _key(stage: object) -> str | None:
    """``str(stage)``, or ``None`` for a stage whose ``str()`` raises (never recorded)."""
    if type(stage) is str:
        return stage
    try:
        return str(stage)
    except Exception:
        return None


def _valid_epoch(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        epoch = float(value)
    except (OverflowError, ValueError):
        return None
    return epoch if math.isfinite(epoch) and epoch > 0 else None


class StageClock:
    """Stage start times keyed by ``(run_id, str(stage))``, least recently used dropped.

    Overlapping starts of one stage in one process (several tasks of the stage
    on worker threads, each calling ``stage_start``) make its measure
    ambiguous: their stops return ``None`` (the caller's own ``elapsed``, if
    any, is written) until every one of them has stopped.  The stage's first
    start stays its start for :meth:`started` and :meth:`starts`.
    """

    def __init__(self, size: int = 10_000) -> None:
        #: run id -> {str(stage): start}; the runs in least-recently-used order.
        self._runs: OrderedDict[str, dict[str, _Start]] = OrderedDict()
        self._size = size
        # Re-entrant: a signal handler on this thread may call in mid-method.
        self._lock = threading.RLock()
        _after_fork.add(self)

    def _after_fork_in_child(self) -> None:
        # The lock may have been held by a thread that does not exist in the child;
        # the starts themselves are kept (a child may complete a stage its parent started).
        self._lock = threading.RLock()

    def _run(self, run_id: str) -> dict[str, _Start]:
        stages = self._runs.get(run_id)
        if stages is None:
            stages = self._runs.setdefault(run_id, {})
        try:
            self._runs.move_to_end(run_id)
        except KeyError:  # dropped by a re-entrant call in between
            self._runs[run_id] = stages
        while len(self._runs) > self._size:
            try:
                self._runs.popitem(last=False)
            except KeyError:
                break
        return stages

    def start(self, run_id: str, stage: object) -> float:
        """Record a local start of *stage*; return the stage's start epoch."""
        key = _key(stage)
        now, mono = time.time(), time.monotonic()
        if key is None:
            return now
        with self._lock:
            stages = self._run(run_id)
            entry = stages.get(key)
            if entry is None or entry.open <= 0:  # idle, or only seeded: a fresh start
                entry = stages[key] = _Start(now, mono)
                if len(stages) > _MAX_STAGES_PER_RUN:
                    stages.pop(next(iter(stages)), None)
            else:
                entry.open += 1
                entry.ambiguous = True
            return entry.epoch

    def seed(self, run_id: str, stage: object, started_epoch: float) -> None:
        """Know a start from elsewhere (a message header); a local start is kept.

        A value that is not a finite positive number is ignored (it came from a
        message, not from this library).
        """
        epoch, key = _valid_epoch(started_epoch), _key(stage)
        if epoch is None or key is None:
            return
        with self._lock:
            stages = self._run(run_id)
            entry = stages.get(key)
            if entry is None or entry.open <= 0:
                stages[key] = _Start(epoch, None, open=0)

    def started(self, run_id: str, stage: object) -> float | None:
        """The start epoch of *stage* known to this process, if any."""
        stages, key = self._runs.get(run_id), _key(stage)
        entry = None if stages is None or key is None else stages.get(key)
        return None if entry is None else entry.epoch

    def starts(self, run_id: str) -> dict[str, float]:
        """``str(stage)`` -> start epoch of every stage of the run known here."""
        stages = self._runs.get(run_id)
        if not stages:
            return {}
        with self._lock:
            return {key: entry.epoch for key, entry in list(stages.items()) if key != RUN_KEY}

    def stop(self, run_id: str, stage: object) -> float | None:
        """Elapsed seconds since *stage* started (3 decimals), forgetting the start.

        Measured on the monotonic clock for a local start, on the wall clock
        for a seeded one (never below 0 when the hosts' clocks disagree);
        ``None`` when the start is unknown or ambiguous.
        """
        key = _key(stage)
        mono, now = time.monotonic(), time.time()
        with self._lock:
            stages = self._runs.get(run_id)
            entry = None if stages is None or key is None else stages.get(key)
            if entry is None or stages is None or key is None:
                return None
            if entry.open > 1:
                entry.open -= 1
                return None
            if stages.get(key) is entry:
                del stages[key]
            if not stages:
                self._runs.pop(run_id, None)
        if entry.ambiguous:
            return None
        if entry.mono is not None:
            return round(mono - entry.mono, 3)
        return round(max(0.0, now - entry.epoch), 3)

    def forget(self, run_id: str) -> None:
        """Drop every start of the run (after ``run_end``)."""
        with self._lock:
            self._runs.pop(run_id, None)

    def clear(self) -> None:
        """Drop everything (after a fork, or in tests)."""
        with self._lock:
            self._runs.clear()


_after_fork: weakref.WeakSet[StageClock] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for stage_clock in list(_after_fork):
        stage_clock._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)

#: The process-wide clock the stage API and the Celery hooks share.
clock: Final = StageClock()
