"""Live progress of a run, from its trace: one bar per stage, fitted to the terminal.

:class:`Progress` folds the events with the library's one summary fold
(:class:`RunState`, the same one ``RunLogReader.summary`` and ``igny8-logs show``
use) and draws them: on a terminal, each stage's line is redrawn in place and
cut to the terminal's width (so a redraw never wraps onto a new line); on
anything else, one plain line per finished stage, with no escape sequences.
"""

from __future__ import annotations

from typing import Any, Final, TextIO

from ._display import bar, cell, fit, seconds, terminal_width
from ._events import (
    STAGE_COMPLETE,
    STAGE_ERROR,
    STAGE_PROGRESS,
    STAGE_RETRY,
    STAGE_START,
    RunState,
    StageSummary,
)

__all__ = ["Progress", "new_state"]

BAR_CELLS: Final = 20
POLL_SECONDS: Final = 0.1


def new_state(run_id: str = "") -> RunState:
    """A run's state before any event: the library's one fold (:class:`RunState`), so
    the demo's progress and ``igny8-logs show`` can never disagree about a stage."""
    return RunState(run_id)


class Progress:
    """Per-stage progress bars drawn from trace events on *out*.

    *live* (default: *out* is a terminal) redraws the current stage's line in
    place, cut to *width* (default: the terminal's width); otherwise one plain
    line per finished stage is written, and retries are noted as they happen.
    """

    def __init__(self, out: TextIO, *, live: bool | None = None, width: int | None = None):
        self.out = out
        self.live = out.isatty() if live is None else live
        self.width = width
        encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
        self.full, self.empty = ("█", "░") if encoding.startswith("utf") else ("#", ".")
        self.state = new_state()
        self.stages: dict[str, StageSummary] = {}
        self.last: dict[str, str] = {}
        self.current: str | None = None

    def line(self, key: str) -> str:
        """The progress line of stage *key* (not cut to the width)."""
        st = self.stages[key]
        total = st["total"] if st["total"] is not None else st["pending"]
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        done = st["processed"] if isinstance(st["processed"], int) else 0
        if st["status"] == "completed":
            done = max(done, total or 0)
            shown = bar(1, 1, BAR_CELLS, self.full, self.empty)
            note = f"done in {seconds(st['elapsed_s'])}, {cell(st['credits_used'])} credits"
        else:
            shown = bar(done, total, BAR_CELLS, self.full, self.empty)
            failed = st["status"] == "failed"
            note = f"FAILED: {cell(st['error'])}" if failed else self.last.get(key, "starting")
        count = f"{done}/{total}" if total else str(done)
        return f"  stage {key}  {cell(st['name']):<9} {shown} {count:>7}  {note}"

    def _fitted(self, text: str) -> str:
        # One column short of the width: a full last column makes some terminals wrap.
        return fit(text, (self.width or terminal_width()) - 1)

    def _draw(self, key: str, final: bool) -> None:
        if self.live:
            self.out.write("\r\033[K" + self._fitted(self.line(key)) + ("\n" if final else ""))
        elif final:
            self.out.write(self.line(key) + "\n")
        self.out.flush()

    def _note(self, text: str) -> None:
        if self.live:
            self.out.write("\r\033[K" + self._fitted(text) + "\n")
        else:
            self.out.write(text + "\n")

    def event(self, ev: dict[str, Any]) -> None:
        """Fold *ev* in and redraw its stage."""
        self.state.apply(ev)
        self.stages = self.state.summary()["stages"]
        kind, stage = ev.get("event"), ev.get("stage")
        if stage is None or not isinstance(kind, str):
            return
        key = str(stage)
        if key not in self.stages:
            return
        if self.current not in (None, key) and self.live:
            self.out.write("\n")  # another stage began while this one was drawn
        self.current = key
        if kind == STAGE_RETRY:
            self._note(f"  stage {key}  retried: {cell(ev.get('reason'))}")
        elif kind not in (STAGE_START, STAGE_PROGRESS, STAGE_COMPLETE, STAGE_ERROR, "log"):
            label = ev.get("keyword") or ev.get("cluster") or ev.get("title") or ""
            self.last[key] = f"{kind} {cell(label)}"
        final = kind in (STAGE_COMPLETE, STAGE_ERROR)
        self._draw(key, final)
        if final:
            self.current = None
