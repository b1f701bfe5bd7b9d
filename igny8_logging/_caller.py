"""Where the user called the stage API: the frame a record's location must name.

``logging`` finds a record's ``pathname`` / ``lineno`` / ``funcName`` by
skipping its own frames and then ``stacklevel - 1`` more.  The stage API sits
a variable number of frames above the user (a method, the best-effort wrapper,
``contextlib``'s ``__enter__`` / ``__exit__`` around ``with run.stage(...)``),
so the level is counted per call by skipping the library's frames, as
``logging.Logger.findCaller`` and structlog's ``_frames`` do, never fixed.
"""

from __future__ import annotations

import contextlib
import logging
import os
from types import CodeType, FrameType
from typing import Final

__all__ = ["caller_stacklevel", "find_caller"]

_PACKAGE_DIR: Final = os.path.dirname(os.path.normcase(os.path.abspath(__file__)))
#: The modules whose frames stand between a user's call and ``Logger.log``.
_API_MODULES: Final = frozenset({"_adapter.py", "_records.py", "_stage_api.py"})
_CONTEXTLIB: Final = os.path.normcase(contextlib.contextmanager.__code__.co_filename)
#: ``logging``'s own file: its frames (a ``LoggerAdapter`` around a ``RunLogger``) are skipped too.
_LOGGING: Final = os.path.normcase(os.path.abspath(logging.__file__))
_UNKNOWN: Final = ("(unknown file)", 0, "(unknown function)")
_library_files: dict[str, bool] = {}
_MAX_LINES: Final = 4096
#: The location of a call site, by (id of its code, instruction offset): (code, location).
_lines: dict[tuple[int, int], tuple[CodeType, tuple[str, int, str]]] = {}


def _is_library(filename: str) -> bool:
    known = _library_files.get(filename)
    if known is None:
        path = os.path.normcase(os.path.abspath(filename))
        known = path in (_CONTEXTLIB, _LOGGING) or (
            os.path.dirname(path) == _PACKAGE_DIR and os.path.basename(path) in _API_MODULES
        )
        if len(_library_files) < 4096:
            _library_files[filename] = known
    return known


def caller_stacklevel(frame: FrameType | None) -> int:
    """The ``stacklevel`` that makes *frame*'s ``Logger.log`` call point at the user.

    *frame* is the frame that calls ``Logger.log`` (stacklevel 1); each library
    frame above it (the stage API, the best-effort wrapper, ``contextlib``'s
    ``__enter__`` / ``__exit__`` around ``run.stage``) adds one.
    """
    level = 1
    caller = None if frame is None else frame.f_back
    while caller is not None and _is_library(caller.f_code.co_filename):
        caller = caller.f_back
        level += 1
    return level + 1 if caller is not None else level


def find_caller(frame: FrameType | None, stacklevel: int = 1) -> tuple[str, int, str]:
    """``Logger.findCaller`` for a record made by the library, *frame* being the first candidate.

    The caller is *frame*, or the first frame above it that is not the
    library's (nor ``logging``'s); a *stacklevel* above 1 goes that many frames
    further, as ``Logger.log``'s does.  ``logging._srcfile = None`` (caller
    lookup switched off, as some applications do for speed) gives logging's
    "unknown" location.
    """
    if logging._srcfile is None:
        return _UNKNOWN
    caller = frame
    while caller is not None and _is_library(caller.f_code.co_filename):
        caller = caller.f_back
    while stacklevel > 1 and caller is not None and caller.f_back is not None:
        caller = caller.f_back
        if not _is_library(caller.f_code.co_filename):
            stacklevel -= 1
    if caller is None:
        return _UNKNOWN
    code = caller.f_code
    # ``f_lineno`` decodes the code's line table up to the current instruction (the
    # cost grows with the function's length); a call site's line never changes, so it
    # is kept by (code, instruction offset).  The code object is held in the entry, so
    # its id cannot be reused while the entry lives.  A traced frame (a debugger may
    # set its line) is always asked.
    key = (id(code), caller.f_lasti)
    known = _lines.get(key)
    if known is not None and known[0] is code and caller.f_trace is None:
        return known[1]
    where = (code.co_filename, caller.f_lineno, code.co_name)
    if len(_lines) >= _MAX_LINES:
        _lines.clear()
    _lines[key] = (code, where)
    return where
