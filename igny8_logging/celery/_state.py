"""What the hooks remember: the connected apps, the task running in this thread,
recent task ids, the run's stage starts known here, and the failure counts."""

from __future__ import annotations

import contextvars
import logging
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from celery import Celery, Task

from .._adapter import RunLogger
from .._clock import clock
from .._context import RunContext
from .._ids import Stage
from .._report import FailureLog
from ._forward import Forwarder
from ._header import Header, Role

__all__ = [
    "Connection",
    "Running",
    "concluded",
    "connection_of",
    "connection_of_app",
    "connections",
    "current",
    "failed",
    "failures",
    "known_starts",
    "lock",
    "received",
    "running",
]

#: How many task ids a process remembers (received contexts, logged outcomes).
_RECENT_SIZE: Final = 10_000

#: The one failure policy: each hook's first failure of an episode on stderr.
failures = FailureLog("celery hook")


def failed(hook: str, exc: BaseException) -> None:
    """Count and report a failing hook (never raises)."""
    try:
        failures.failed(hook, f"{hook} failed and was skipped: {exc!r}")
    except Exception:
        pass


@dataclass(slots=True, eq=False)
class Running:
    """What ``task_prerun`` bound for one execution of a task."""

    task_id: str
    task: Task[Any, Any]
    header: Header | None
    context: RunContext | None
    context_token: contextvars.Token[RunContext | None]
    run: RunLogger | None  # the run's logger, bound to the stage when there is one
    stage: Stage | None
    role: Role | None
    started: float | None  # the stage's start (epoch seconds), for an owner
    retries: int = 0
    body_returned: bool = False
    concluded: bool = False
    retry_reason: str | None = None  # what ``self.retry(...)`` was called with, as Celery says it
    retry_logged: bool = False
    token: contextvars.Token[Running | None] | None = None


running: contextvars.ContextVar[Running | None] = contextvars.ContextVar(
    "igny8_logging_celery_task", default=None
)


def current(task_id: object) -> Running | None:
    """The execution of *task_id* running in this thread, if any."""
    state = running.get()
    return state if state is not None and state.task_id == str(task_id) else None


class Recent:
    """A bounded, thread-safe map from task ids to what this process knows of them."""

    def __init__(self, size: int = _RECENT_SIZE) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, task_id: str, item: Any) -> None:
        with self._lock:
            self._items[task_id] = item
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def pop(self, task_id: object) -> Any:
        if not isinstance(task_id, str):
            return None
        with self._lock:
            return self._items.pop(task_id, None)

    def first(self, task_id: object) -> bool:
        """True the first time *task_id* is seen, False after that."""
        if not isinstance(task_id, str):
            return True
        with self._lock:
            if task_id in self._items:
                return False
            self._items[task_id] = True
            while len(self._items) > self._size:
                self._items.popitem(last=False)
            return True


#: Received tasks' headers, for events fired without the request.
received = Recent()
#: Tasks (and stage_chord closers) whose failure this process already logged.
concluded = Recent()


def known_starts(run_id: str) -> dict[str, float]:
    """The run's stage starts known to this process (what published tasks carry)."""
    return clock.starts(run_id)


# -- connected apps ---------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Connection:
    logger: logging.Logger
    forwarder: Forwarder


lock = threading.Lock()
connections: weakref.WeakKeyDictionary[Celery, Connection] = weakref.WeakKeyDictionary()
forwarders: dict[str, Forwarder] = {}


def connection_of_app(app: object) -> Connection | None:
    return connections.get(app) if isinstance(app, Celery) else None


def connection_of(task: object) -> Connection | None:
    """The connection of *task*'s app, ``None`` when it is not connected."""
    return connection_of_app(getattr(task, "app", None))


def only_connection() -> Connection | None:
    """The connection, when exactly one logger is connected (else ``None``)."""
    found = {id(c.logger): c for c in list(connections.values())}
    return next(iter(found.values())) if len(found) == 1 else None
