"""Rendering shared by the command line and the demo: cells, the stage table, bars, widths.

Everything here turns values read from a trace (any JSON value, or whatever a
foreign file holds) into text that fits one terminal line, and never raises on
an odd value: a table cell, a progress bar and a line cut to the terminal's
width.  :class:`CommandError` lives here too, so that both the CLI and the demo
report failures the same way without importing each other.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "CommandError",
    "bar",
    "cell",
    "fit",
    "seconds",
    "stage_order",
    "stage_table",
    "terminal_width",
]

#: Width used when the output is not a terminal and ``$COLUMNS`` says nothing.
FALLBACK_WIDTH: Final = 100
STAGE_COLUMNS: Final = ("stage", "name", "status", "processed/total", "credits", "elapsed", "error")


class CommandError(Exception):
    """A failure to report as one line on stderr (exit status 1)."""


def cell(value: object) -> str:
    """*value* as one table cell: ``-`` for ``None``, whitespace collapsed, JSON for
    containers; never raises (a value whose ``str()`` fails shows its type)."""
    if value is None:
        return "-"
    try:
        if isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False, default=str)
        else:
            text = str(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return " ".join(text.split()) or "-"


def seconds(value: object) -> str:
    """An elapsed time cell: ``1.234s`` for a number, else the value as a cell."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.3f}s"
    return cell(value)


def stage_order(key: str) -> tuple[int, int, str]:
    """Sort key for stage keys: numbered stages by number, then named ones by name."""
    return (0, int(key), "") if key.isascii() and key.isdigit() else (1, 0, key)


def _stage_row(key: str, stage: Mapping[str, Any], error_width: int) -> list[str]:
    processed, total = stage.get("processed"), stage.get("total")
    done = f"{cell(processed)}/{cell(total)}" if total is not None else cell(processed)
    return [
        cell(key),
        cell(stage.get("name")),
        cell(stage.get("status")),
        done,
        cell(stage.get("credits_used")),
        seconds(stage.get("elapsed_s")),
        fit(cell(stage.get("error")), error_width),
    ]


def stage_table(summary: Mapping[str, Any], error_width: int = 60) -> list[str]:
    """The stage table of a run summary, one string per row, the header first."""
    rows = [list(STAGE_COLUMNS)]
    stages = summary.get("stages") or {}
    for key in sorted(stages, key=stage_order):
        stage = stages[key]
        rows.append(_stage_row(key, stage if isinstance(stage, Mapping) else {}, error_width))
    return columns(rows)


def columns(rows: list[list[str]]) -> list[str]:
    """Rows of cells left-aligned in columns two spaces apart (trailing spaces cut)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def fit(text: str, width: int) -> str:
    """*text* cut to at most *width* characters, an ellipsis marking the cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def bar(done: int, total: int | None, width: int, full: str = "#", empty: str = ".") -> str:
    """A progress bar of *width* cells, *done* of *total* filled (empty when unknown)."""
    width = max(width, 0)
    filled = 0 if not total else max(0, min(width, width * done // total))
    return full * filled + empty * (width - filled)


def terminal_width() -> int:
    """The terminal's width: ``$COLUMNS``, else standard output's terminal, else a default."""
    return shutil.get_terminal_size((FALLBACK_WIDTH, 24)).columns or FALLBACK_WIDTH
