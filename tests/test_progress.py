"""``_progress``: the demo's live view, folded with the reader's fold and fitted to a width."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import igny8_logging as igl
from igny8_logging._progress import Progress, new_state


def events() -> list[dict[str, Any]]:
    long_label = "a very long keyword that would never fit in a narrow terminal " * 3
    return [
        {"event": "run_start", "stage": None},
        {"event": "stage_start", "stage": 1, "stage_name": "Keywords", "pending": 3},
        {"event": "keyword_scored", "stage": 1, "keyword": long_label},
        {"event": "stage_progress", "stage": 1, "processed": 1, "total": 3},
        {"event": "stage_retry", "stage": 1, "reason": "ProviderTimeout: " + long_label},
        {"event": "stage_progress", "stage": 1, "processed": 3, "total": 3},
        {
            "event": "stage_complete",
            "stage": 1,
            "processed": 3,
            "elapsed_s": 1.5,
            "credits_used": 3,
        },
        {"event": "stage_start", "stage": 2, "stage_name": "Clusters"},
        {"event": "stage_error", "stage": 2, "error": "boom " * 30},
    ]


def drawn_segments(text: str) -> list[str]:
    """What each redraw left on its terminal line."""
    return [seg for part in text.split("\n") for seg in re.split(r"\r\x1b\[K", part) if seg]


class TestLive:
    """On a terminal, every redraw fits in one line of the terminal's width."""

    def test_every_line_fits(self) -> None:
        out = io.StringIO()
        view = Progress(out, live=True, width=40)
        for ev in events():
            view.event(ev)
        text = out.getvalue()
        assert "\x1b[K" in text
        assert all(len(seg) <= 39 for seg in drawn_segments(text)), drawn_segments(text)
        final = text.split("\n")
        assert sum(1 for line in final if "stage 1  Keywords" in line.rsplit("\r\x1b[K")[-1]) == 1
        assert "retried" in text

    def test_a_wide_terminal_shows_the_whole_line(self) -> None:
        out = io.StringIO()
        view = Progress(out, live=True, width=400)
        for ev in events()[:4]:
            view.event(ev)
        assert view.line("1") in out.getvalue()


class TestPlain:
    """Anywhere else: no escape sequences, one line per finished stage, retries noted."""

    def test_plain_lines(self) -> None:
        out = io.StringIO()
        view = Progress(out, live=False)
        for ev in events():
            view.event(ev)
        lines = out.getvalue().splitlines()
        assert "\x1b" not in out.getvalue()
        assert "\r" not in out.getvalue()
        assert len(lines) == 3
        assert lines[0].startswith("  stage 1  retried: ProviderTimeout")
        assert lines[1].startswith("  stage 1  Keywords  ####################     3/3  done in")
        assert "FAILED: boom" in lines[2]


class TestFold:
    """The view folds with the reader's own fold: it agrees with ``summary`` on every stage."""

    def test_same_state_as_summary(self, base_dir: Path, run_logger: logging.Logger) -> None:
        run = igl.start_run(run_logger, 1, 2)
        with run.stage(1, "Keywords", pending=2) as st:
            run.stage_progress(1, 2, 2)
            st.processed, st.credits_used = 2, 1.5
        run.stage_start(2, "Clusters")
        run.stage_error(2, ValueError("bad"))
        run.end("failed")
        reader = igl.RunLogReader(base_dir)
        state = new_state(run.run_id)
        view = Progress(io.StringIO(), live=False)
        for ev in reader.read_trace(run.run_id, account_id=1, site_id=2).events:
            state.apply(ev)
            view.event(ev)
        summary = state.summary()
        assert view.stages == summary["stages"]
        expected = reader.summary(run.run_id, account_id=1, site_id=2)
        assert summary["stages"] == expected["stages"]
        assert summary["status"] == expected["status"] == "failed"
