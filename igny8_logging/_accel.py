"""The optional C accelerator (:mod:`._speedups`): its functions, or ``None`` without it.

The extension writes the common case of a record's text line and trace line
(the bytes the Python code writes, see :mod:`._format` and :mod:`._trace`),
builds a stock ``LogRecord`` (:mod:`._logrecord`), turns a ``RunLogger`` call's
``extra=`` into attributes and route (:mod:`._records`), routes a record naming
its run by ids seen before (:mod:`._routing`), asks the inotify descriptor
what it holds (:mod:`._watch`), runs a stock run handler's ``handle`` with
those pieces (:mod:`._handlers`), queues a record's lines for the Redis
sender (:mod:`.redis`) and runs ``RunLogger``'s logging methods
(:mod:`._adapter`); each returns ``None`` for anything else, which
the Python code then handles.  It is built when a C compiler is at hand
(``setup.py``: an optional extension); without it, or with
``IGNY8_NO_SPEEDUPS=1`` in the environment, everything is Python.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "DISABLED",
    "LOAD_ERROR",
    "build_record",
    "configure_calls",
    "configure_handlers",
    "configure_records",
    "configure_redis",
    "configure_routing",
    "pending",
    "plan_attrs",
    "route_fast",
    "set_pid",
    "set_up",
    "text_line",
    "trace_line",
]

TextLine = Callable[[str, str, str, list[tuple[str, Any]] | None, int], bytes | None]
TraceLine = Callable[
    [str, str, str, str, object, object, object, str, list[tuple[str, Any]], int, int],
    bytes | None,
]

#: Whether ``IGNY8_NO_SPEEDUPS`` switched the accelerator off.
DISABLED: Final = os.environ.get("IGNY8_NO_SPEEDUPS", "") not in ("", "0")
#: Why the extension did not load (``None``: it did, or it was switched off).
LOAD_ERROR: str | None = None

text_line: TextLine | None = None
trace_line: TraceLine | None = None
build_record: Callable[..., Any] | None = None
configure_records: Callable[..., bool] | None = None
configure_handlers: Callable[[dict[str, object]], Any] | None = None
configure_calls: Callable[[dict[str, object]], Any] | None = None
configure_redis: Callable[[dict[str, object]], Any] | None = None
set_pid: Callable[[int], None] | None = None
configure_routing: Callable[..., bool] | None = None
route_fast: Callable[[dict[str, Any]], Any] | None = None
plan_attrs: Callable[..., Any] | None = None
pending: Callable[[int], int] | None = None

if not DISABLED:
    try:
        from ._speedups import (
            build_record,
            configure_calls,
            configure_handlers,
            configure_records,
            configure_redis,
            configure_routing,
            pending,
            plan_attrs,
            route_fast,
            set_pid,
            text_line,
            trace_line,
        )
    except ImportError as exc:  # not built (no compiler, a pure-Python install)
        LOAD_ERROR = f"{type(exc).__name__}: {exc}"


def set_up(configure: Callable[[dict[str, object]], Any] | None, spec: dict[str, object]) -> Any:
    """What a ``configure_*`` function of the extension makes of *spec* (a method, or
    methods), ``None`` without it, when it refuses (another interpreter set it up) or fails:
    the Python code is then used."""
    if configure is None:
        return None
    try:
        made = configure(spec)
    except Exception:
        return None
    return made or None
