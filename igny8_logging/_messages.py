"""The human-readable message of each lifecycle event, built from any value.

The stage API writes whatever its caller passes (``stage_complete(3,
elapsed="12.5")``): the values go to the trace as they are, and the message
shows them as text.  Building a message never raises: a value whose ``str()``
raises, or is too long to show, is shown as a placeholder naming its type
(``<Unprintable object: str() failed>``), so the record is written anyway.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "complete_message",
    "error_message",
    "part_complete_message",
    "progress_message",
    "reason_text",
    "run_end_message",
    "seconds_text",
    "start_message",
    "text",
]

#: The longest text of one value shown in a message (the whole record is capped
#: by the handlers' ``max_record_bytes`` anyway).
MAX_VALUE_CHARS: Final = 1000


def text(value: object, limit: int | None = MAX_VALUE_CHARS) -> str:
    """``str(value)``, or a placeholder naming its type when that fails or is too long.

    *limit* ``None`` keeps any length (a message or an error text: the
    handlers cut a record larger than ``max_record_bytes``, visibly).
    """
    if type(value) is str:
        shown = value
    else:
        try:
            shown = str(value)
        except Exception:
            return f"<{_type_name(value)} object: str() failed>"
        if not isinstance(shown, str):  # pragma: no cover - str() always returns a str
            return f"<{_type_name(value)} object>"
    if limit is not None and len(shown) > limit:
        return f"<{_type_name(value)} of {len(shown)} characters>"
    return shown


def _type_name(value: object) -> str:
    try:
        name = type(value).__name__
    except Exception:  # pragma: no cover - a metaclass hostile enough to fail here
        return "object"
    return name if isinstance(name, str) else "object"


def seconds_text(value: object) -> str:
    """``12.500s`` for a number of seconds, else the value's text (``"12.5"`` stays ``12.5``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            return text(value)
        if math.isfinite(seconds):
            return f"{seconds:.3f}s"
    return text(value)


def _given(value: object) -> bool:
    """Whether to show *value* (not ``None`` nor ``""``), without calling its ``__bool__``."""
    return value is not None and not (type(value) is str and not value)


def reason_text(reason: object) -> str:
    """``": reason"`` when a reason is given, else ``""``."""
    return f": {text(reason)}" if _given(reason) else ""


def start_message(stage: object, name: object, pending: object) -> str:
    message = f"stage {text(stage)} started" + (f": {text(name)}" if _given(name) else "")
    if pending is not None:
        message += f" ({text(pending)} pending)"
    return message


def progress_message(stage: object, processed: object, total: object) -> str:
    done = text(processed) if total is None else f"{text(processed)}/{text(total)}"
    return f"stage {text(stage)} progress: {done}"


def _details(processed: object, elapsed: object, credits_used: object) -> str:
    details = []
    if processed is not None:
        details.append(f"{text(processed)} processed")
    if elapsed is not None:
        details.append(f"in {seconds_text(elapsed)}")
    if credits_used is not None:
        details.append(f"{text(credits_used)} credits")
    return ": " + ", ".join(details) if details else ""


def complete_message(stage: object, processed: object, elapsed: object, credits: object) -> str:
    return f"stage {text(stage)} completed" + _details(processed, elapsed, credits)


def part_complete_message(
    stage: object, task_id: object, processed: object, credits_used: object
) -> str:
    part = f" {text(task_id)}" if task_id is not None else ""
    return f"stage {text(stage)} part{part} completed" + _details(processed, None, credits_used)


def error_message(what: str, error_text: str, error_type: str | None) -> str:
    """``stage 2 failed: ValueError: bad`` (*what* is ``stage 2 failed``...)."""
    return f"{what}: " + (f"{error_type}: {error_text}" if error_type else error_text)


def run_end_message(status: str, elapsed: object) -> str:
    return f"run {status}" + (f" after {seconds_text(elapsed)}" if elapsed is not None else "")
