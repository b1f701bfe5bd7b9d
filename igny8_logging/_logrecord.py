"""A stock ``logging.LogRecord``, made without its ``__init__``'s per-call path parsing.

``LogRecord.__init__`` splits the caller's path (``os.path.basename`` and
``splitext``, in Python) and looks up the level name on every record: most of
a record's cost when nothing else is done.  :func:`make_record` builds the same
object — same class, same attributes in the same order, the same values — with
the file name and module of each path worked out once.  It is used only while
the record factory is ``logging.LogRecord`` itself (``setLogRecordFactory``
with anything else: that factory is called), and only on the Python versions
whose ``__init__`` it follows: at import it builds one record both ways and
falls back to the class itself if they differ (:data:`FAITHFUL`).
"""

from __future__ import annotations

import collections.abc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from . import _accel

__all__ = ["FAITHFUL", "make_record"]

_LogRecord: Final = logging.LogRecord
_new: Final = object.__new__
_level_names: Final = logging._levelToName
_get_level_name: Final = logging.getLevelName
_NS: Final = sys.version_info >= (3, 13)  # created from time.time_ns(), as 3.13 does
_TASKS: Final = sys.version_info >= (3, 12)  # taskName
_MAX_PATHS: Final = 4096
#: (filename, module) by pathname.
_paths: dict[object, tuple[Any, Any]] = {}
#: This process's id: ``os.getpid()`` is a system call per record; a fork child refreshes it.
_pid = os.getpid()


def _names_of(pathname: Any) -> tuple[Any, Any]:
    """``filename`` and ``module`` as ``LogRecord.__init__`` makes them, kept in ``_paths``."""
    try:
        filename = os.path.basename(pathname)
        names = (filename, os.path.splitext(filename)[0])
    except (TypeError, ValueError, AttributeError):
        names = (pathname, "Unknown module")
    if type(pathname) is str and len(_paths) < _MAX_PATHS:
        _paths[pathname] = names
    return names


def _process_name() -> str | None:
    if not logging.logMultiprocessing:
        return None
    mp = sys.modules.get("multiprocessing")
    if mp is not None:
        try:
            name: str = mp.current_process().name
            return name
        except Exception:
            pass
    return "MainProcess"


def _task_name() -> str | None:
    if not getattr(logging, "logAsyncioTasks", False):
        return None
    asyncio = sys.modules.get("asyncio")
    if asyncio:
        try:
            name: str = asyncio.current_task().get_name()
            return name
        except Exception:
            pass
    return None


def _times_ns() -> tuple[float, float, float]:
    """``created``, ``msecs`` and ``relativeCreated`` as 3.13's ``LogRecord`` makes them."""
    ns = time.time_ns()
    created = ns / 1e9
    msecs = (ns % 1_000_000_000) // 1_000_000 + 0.0
    if msecs == 999.0 and int(created) != ns // 1_000_000_000:
        msecs = 0.0
    return created, msecs, (ns - logging._startTime) / 1e6  # type: ignore[attr-defined]


def _built(
    name: str,
    level: int,
    pathname: str,
    lineno: int,
    msg: object,
    args: Any,
    exc_info: Any,
    func: str | None = None,
    sinfo: str | None = None,
) -> logging.LogRecord:
    """``logging.LogRecord(...)``, built attribute by attribute (see the module docstring)."""
    if _NS:
        created, msecs, relative = _times_ns()
    else:  # 3.11 and 3.12, inline: this is most of a record's cost
        created = time.time()
        msecs = int((created - int(created)) * 1000) + 0.0
        relative = (created - logging._startTime) * 1000  # type: ignore[attr-defined]
    if args and len(args) == 1 and isinstance(args[0], collections.abc.Mapping) and args[0]:
        args = args[0]
    names = _paths.get(pathname)
    filename, module = _names_of(pathname) if names is None else names
    threads = logging.logThreads
    record = _new(_LogRecord)
    record.__dict__ = {
        "name": name,
        "msg": msg,
        "args": args,
        "levelname": _level_names.get(level) or _get_level_name(level),
        "levelno": level,
        "pathname": pathname,
        "filename": filename,
        "module": module,
        "exc_info": exc_info,
        "exc_text": None,
        "stack_info": sinfo,
        "lineno": lineno,
        "funcName": func,
        "created": created,
        "msecs": msecs,
        "relativeCreated": relative,
        "thread": threading.get_ident() if threads else None,
        "threadName": threading.current_thread().name if threads else None,
        "processName": _process_name(),
        "process": _pid if logging.logProcesses else None,
    }
    if _TASKS:
        record.__dict__["taskName"] = _task_name()
    return record


Build = Callable[..., "logging.LogRecord | None"]


def _faithful(build: Build) -> bool:
    """Whether *build* makes what this Python's ``LogRecord`` makes."""
    try:
        for args in ((), (1, "a"), ({"k": 1},)):
            given = ("n", logging.WARNING, "/a/b/c.py", 7, "m %s", args, None, "f", None)
            made = build(*given)
            if made is None or type(made) is not _LogRecord:
                return False
            theirs = _LogRecord(*given).__dict__
            if list(made.__dict__) != list(theirs):
                return False
            # Read as attributes: what formatters see (a dict set the wrong way can hide them).
            ours = {key: getattr(made, key) for key in theirs}
            moving = {"created", "msecs", "relativeCreated"}
            if any(ours[key] != theirs[key] for key in ours if key not in moving):
                return False
            if not ours["created"] - 1 <= theirs["created"] <= ours["created"] + 1:
                return False
    except Exception:
        return False
    return True


def _c_build() -> Build | None:
    """The C accelerator's build (:mod:`._accel`), set up with this module's helpers."""
    build, configure = _accel.build_record, _accel.configure_records
    if build is None or configure is None:
        return None
    try:
        ready = configure(
            _LogRecord,
            logging,
            time.time_ns if _NS else time.time,
            threading.current_thread,
            _process_name,
            _task_name if _TASKS else None,
            _names_of,
            _paths,
            _level_names,
            _get_level_name,
            collections.abc.Mapping,
            _pid,
            _NS,
        )
    except Exception:
        return None
    return build if ready and _faithful(build) else None


#: Whether this Python's ``LogRecord`` is the one :func:`make_record` follows.
FAITHFUL: Final = _faithful(_built)
#: The C build of the stock record (``None``: the Python one, :func:`_built`).
C_BUILD: Final = _c_build()


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()
    if _accel.set_pid is not None:
        _accel.set_pid(_pid)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def make_record(
    name: str,
    level: int,
    pathname: str,
    lineno: int,
    msg: object,
    args: Any,
    exc_info: Any,
    func: str | None = None,
    sinfo: str | None = None,
) -> logging.LogRecord:
    """A record from the current record factory (the fast build for the stock one)."""
    factory = logging.getLogRecordFactory()
    if factory is _LogRecord:
        if C_BUILD is not None:
            record = C_BUILD(name, level, pathname, lineno, msg, args, exc_info, func, sinfo)
            if record is not None:
                return record
        if FAITHFUL:
            return _built(name, level, pathname, lineno, msg, args, exc_info, func, sinfo)
    return factory(name, level, pathname, lineno, msg, args, exc_info, func, sinfo)
