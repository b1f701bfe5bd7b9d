"""Celery integration: per-run logs from signal hooks, one call to wire them.

``connect(app)`` wires Celery's signals so that:

* a task published while a run is bound (``with run.bound():``, ``bind_run``,
  or from inside a task of a run) carries the run in the message header
  ``igny8``: children, chain links, group members, chord callbacks and retries
  stay in the run;
* a worker binds that run for the task's duration (and unbinds it after), so
  plain ``logger.info(...)`` calls inside the task reach the run's files, the
  stage log too inside a stage task.  Records of loggers outside *logger*'s
  hierarchy (``get_task_logger`` loggers, whose parent ``celery.task`` does not
  propagate, and plain module loggers) are handed to *logger*'s run handlers
  by a small handler on the root and ``celery.task`` loggers; records of
  Celery's stack itself (``celery.*``, ``kombu.*``, ``amqp.*``, ``billiard.*``)
  are not.  A record must exist to be handed on: a logger's level still
  applies (under Celery's own logging, the worker's ``-l`` level);
* a stage task, ``@app.task(stage=1, stage_name="Keywords")``, logs
  ``stage_start``, then ``stage_complete`` (``processed``, ``credits_used`` and
  ``result`` from a returned mapping), ``stage_error``, ``stage_retry`` or
  ``stage_revoked``.

The ``igny8`` header is a JSON object: ``run_id``, ``account_id``, ``site_id``,
``stage``, ``parent_id`` (the publishing task, if any) and ``inherited``.  A
``stage`` makes the receiving task a stage task unless ``inherited`` is true:
a task of stage N publishing children passes its stage on for routing only, so
the children's records land in ``stage_N.log`` but they do not start or
complete the stage.  A header the caller set explicitly is left as it is
(``headers={"igny8": None}`` publishes a task outside the bound run); a
header the worker cannot use (not a mapping, invalid ids) is ignored with one
warning, and the task runs outside any run.

Celery fires some events in the worker's main process, not where the task
ran: a revoke, a hard time limit, a lost pool process.  Their run comes from
the request (or, for a hard time limit, from what the main process received),
never from the context variable, and each is logged once.

No hook ever raises into Celery or fails a task: a failing hook is reported
once on stderr per hook and counted in :data:`hook_failures`.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from celery import Celery, Task, signals

from ._adapter import RunLogger
from ._context import RunContext, current_run, make_context, reset_context, set_context
from ._handlers import BaseRunHandler
from ._ids import Stage, check_stage

__all__ = ["HEADER", "connect", "disconnect", "hook_failures"]

#: The message header that carries the run context.
HEADER: Final = "igny8"
#: How many task ids the worker's main process remembers: the contexts of
#: received tasks, for the events Celery fires there without the request (a
#: hard time limit), and the outcomes it already logged.
_RECENT_SIZE: Final = 10_000
#: Loggers whose records are never copied into a run: Celery's stack's own.
_CELERY_LOGGERS: Final = frozenset({"celery", "kombu", "amqp", "billiard"})
_FORWARDED: Final = "_igny8_forwarded"

#: Hook failures per hook name (reported on stderr the first time only).
hook_failures: Counter[str] = Counter()

_log = logging.getLogger(__name__)


# -- the header -------------------------------------------------------------------------


def _parse_header(value: object) -> tuple[RunContext, bool]:
    """The context and ``inherited`` flag of an ``igny8`` header; ``ValueError`` if unusable."""
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping, not {type(value).__name__}")
    context = make_context(
        value.get("run_id"), value.get("account_id"), value.get("site_id"), value.get("stage")
    )
    return context, value.get("inherited") is True


def _outgoing() -> tuple[RunContext, bool, str | None] | None:
    """The context a task published (or applied eagerly) now inherits, if any.

    Returns ``(context, inherited, parent_id)``: the stage is inherited when the
    context is the one a running task's hook bound (nobody re-bound it since).
    """
    context = current_run()
    if context is None:
        return None
    running = _running.get()
    if running is None:
        return context, False, None
    return context, context is running.context, running.task_id


# -- per-task state ---------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Running:
    """What ``task_prerun`` bound for one execution of a task."""

    task_id: str
    context: RunContext | None
    context_token: contextvars.Token[RunContext | None]
    run: RunLogger | None  # set for a stage task of a run
    stage: Stage | None
    started: float
    token: contextvars.Token[_Running | None] | None = None


_running: contextvars.ContextVar[_Running | None] = contextvars.ContextVar(
    "igny8_logging_celery_task", default=None
)


class _Recent:
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


#: Received tasks' ``(context, inherited)``, for events fired without the request.
_received = _Recent()
#: Tasks whose outcome the main process logged (Celery may signal a hard time limit twice).
_concluded = _Recent()


# -- forwarding records of other loggers ------------------------------------------------


class _Forwarder(logging.Handler):
    """Hands records of a run from other loggers to the run handlers of one logger.

    Installed on the root logger and on Celery's ``celery.task`` logger (which
    does not propagate), so that records of ``get_task_logger`` loggers and of
    plain module loggers emitted inside a task of a run reach the run's files.
    Records of the target logger's own hierarchy (they get there by
    propagation), of Celery's loggers, and of no run are left alone.  A record
    is handed over at most once and never re-propagated: no loops, no duplicates.
    """

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target
        self._prefix = target.name + "."
        self._sources = (logging.root, logging.getLogger("celery.task"))

    def install(self) -> None:
        """Attach to the root and ``celery.task`` loggers unless already there.

        Called before every task: a logging setup that ran since (Celery's
        root-logger takeover, a ``dictConfig``) may have removed it.
        """
        for logger in self._sources:
            if self not in logger.handlers:
                logger.addHandler(self)

    def uninstall(self) -> None:
        for logger in self._sources:
            logger.removeHandler(self)

    def handle(self, record: logging.LogRecord) -> bool:  # no handler lock needed
        d = record.__dict__
        name = record.name
        if (
            d.get(_FORWARDED)
            or (d.get("run_id") is None and current_run() is None)
            or name == self.target.name
            or name.startswith(self._prefix)
            or name.partition(".")[0] in _CELERY_LOGGERS
            or not self.target.isEnabledFor(record.levelno)
        ):
            return False
        d[_FORWARDED] = True
        for handler in self.target.handlers:
            if isinstance(handler, BaseRunHandler) and record.levelno >= handler.level:
                handler.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


# -- connections ------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Connection:
    logger: logging.Logger
    forwarder: _Forwarder


_lock = threading.Lock()
_connections: weakref.WeakKeyDictionary[Celery, _Connection] = weakref.WeakKeyDictionary()
_forwarders: dict[str, _Forwarder] = {}


def connect(app: Celery, logger: logging.Logger | str = "igny8.automation") -> None:
    """Wire *app*'s task signals to per-run logging on *logger* (idempotent).

    Call it where the app is defined, so web and worker processes alike do it.
    The run handlers belong on *logger* (``logging_config`` puts them there).
    Connecting the same app again does nothing; with another logger it is a
    ``ValueError``, as is the root logger.
    """
    target = logging.getLogger(logger) if isinstance(logger, str) else logger
    if target is logging.root:
        raise ValueError("connect() needs a named logger, not the root logger")
    with _lock:
        known = _connections.get(app)
        if known is not None:
            if known.logger is not target:
                raise ValueError(f"{app!r} is already connected to logger {known.logger.name!r}")
            return
        forwarder = _forwarders.get(target.name)
        if forwarder is None:
            forwarder = _forwarders[target.name] = _Forwarder(target)
        _connections[app] = _Connection(target, forwarder)
        for signal, receiver in _RECEIVERS:
            signal.connect(receiver, weak=False, dispatch_uid=f"igny8_logging.{receiver.__name__}")


def disconnect(app: Celery) -> None:
    """Undo :func:`connect` for *app* (tests, reconfiguration); unknown apps are ignored."""
    with _lock:
        known = _connections.pop(app, None)
        if known is None:
            return
        if not any(c.forwarder is known.forwarder for c in _connections.values()):
            known.forwarder.uninstall()
            _forwarders.pop(known.logger.name, None)
        if not _connections:
            for signal, receiver in _RECEIVERS:
                signal.disconnect(receiver, dispatch_uid=f"igny8_logging.{receiver.__name__}")


def _connection_of(task: object) -> _Connection | None:
    app = getattr(task, "app", None)
    try:
        return _connections.get(app)  # type: ignore[arg-type]
    except TypeError:  # not weak-referenceable: not a connected app
        return None


def _failed(hook: str, exc: BaseException) -> None:
    hook_failures[hook] += 1
    if hook_failures[hook] == 1:
        try:
            sys.stderr.write(
                f"igny8_logging: celery hook {hook} failed and was skipped: {exc!r} "
                "(further failures of this hook are counted in "
                "igny8_logging.celery.hook_failures)\n"
            )
        except Exception:
            pass


def _stage_of(task: Task[Any, Any], context: RunContext | None, inherited: bool) -> Stage | None:
    """The stage *task* starts and completes: its ``stage`` option, else a header's own."""
    declared = getattr(task, "stage", None)
    if declared is not None:
        return check_stage(declared)
    if context is not None and not inherited:
        return context.stage
    return None


def _stage_fields(task: Task[Any, Any], task_id: object) -> dict[str, Any]:
    return {"task_id": task_id, "task_name": getattr(task, "name", None)}


# -- the hooks --------------------------------------------------------------------------


def _before_task_publish(headers: Any = None, **_: Any) -> None:
    """Put the bound run context into the ``igny8`` header (unless the caller set one)."""
    try:
        if not _connections or not isinstance(headers, dict) or HEADER in headers:
            return
        outgoing = _outgoing()
        if outgoing is None:
            return
        context, inherited, parent_id = outgoing
        value = context.as_dict()
        value["parent_id"] = parent_id
        value["inherited"] = inherited
        headers[HEADER] = value
    except Exception as exc:
        _failed("before_task_publish", exc)


def _task_received(request: Any = None, **_: Any) -> None:
    """Remember a received task's context for events fired without its request."""
    try:
        if not _connections:
            return
        header = request.request_dict.get(HEADER)
        if isinstance(header, Mapping):
            try:
                _received.put(request.id, _parse_header(header))
            except ValueError:
                pass  # warned about once, when the task runs
    except Exception as exc:
        _failed("task_received", exc)


def _task_prerun(sender: Any = None, task_id: Any = None, task: Any = None, **_: Any) -> None:
    """Bind the task's run (from its header) until ``task_postrun``; log ``stage_start``."""
    task = task if task is not None else sender
    connection = _connection_of(task)
    if connection is None:
        return
    try:
        connection.forwarder.install()
        request = task.request
        header = getattr(request, HEADER, None)
        if header is None and request.is_eager:
            header = (request.headers or {}).get(HEADER)
        context: RunContext | None = None
        inherited = False
        if header is not None:
            try:
                context, inherited = _parse_header(header)
            except ValueError as exc:
                _log.warning(
                    "ignoring the invalid %s header of task %s[%s]: %s; "
                    "the task runs outside any run",
                    HEADER,
                    getattr(task, "name", "?"),
                    task_id,
                    str(exc)[:200],
                )
        elif request.is_eager:
            outgoing = _outgoing()  # called directly inside a run: stays in it
            if outgoing is not None:
                context, inherited, _parent = outgoing
        stage: Stage | None = None
        run: RunLogger | None = None
        if context is not None:
            try:
                stage = _stage_of(task, context, inherited)
            except ValueError as exc:
                _failed("task_prerun", exc)  # an invalid stage option: no stage events
            if stage is not None:
                context = RunContext(context.run_id, context.account_id, context.site_id, stage)
                run = RunLogger(
                    connection.logger, context.run_id, context.account_id, context.site_id
                )
        state = _Running(str(task_id), context, set_context(context), run, stage, time.monotonic())
        state.token = _running.set(state)
    except Exception as exc:
        _failed("task_prerun", exc)
        return
    if run is not None and stage is not None:
        try:
            run.stage_start(
                stage, _stage_name(task), retries=request.retries, **_stage_fields(task, task_id)
            )
        except Exception as exc:
            _failed("task_prerun", exc)


def _stage_name(task: Task[Any, Any]) -> str | None:
    name = getattr(task, "stage_name", None)
    return None if name is None else str(name)


def _current(task_id: object) -> _Running | None:
    running = _running.get()
    return running if running is not None and running.task_id == str(task_id) else None


def _task_success(sender: Any = None, result: Any = None, **_: Any) -> None:
    """``stage_complete`` with the measured elapsed time and the returned counts."""
    try:
        running = _current(sender.request.id)
        if running is None or running.run is None or running.stage is None:
            return
        returned = result if isinstance(result, Mapping) else {}
        running.run.stage_complete(
            running.stage,
            returned.get("processed"),
            elapsed=round(time.monotonic() - running.started, 3),
            credits_used=returned.get("credits_used"),
            result=returned.get("result"),
            **_stage_fields(sender, running.task_id),
        )
    except Exception as exc:
        _failed("task_success", exc)


def _from_request(
    task: Task[Any, Any], request: Any, task_id: object
) -> tuple[RunLogger, Stage] | None:
    """The run and stage of a stage task, from its request (or what was received)."""
    connection = _connection_of(task)
    if connection is None:
        return None
    parsed: tuple[RunContext, bool] | None = None
    if request is not None and getattr(request, "id", None) == task_id:
        header = getattr(request, HEADER, None)
        if header is not None:
            try:
                parsed = _parse_header(header)
            except ValueError:
                return None
    if parsed is None:
        parsed = _received.pop(task_id)
    if parsed is None:
        return None
    context, inherited = parsed
    stage = _stage_of(task, context, inherited)
    if stage is None:
        return None
    run = RunLogger(connection.logger, context.run_id, context.account_id, context.site_id)
    return run, stage


def _stage_task(
    task: Any, request: Any, task_id: object, *, once: bool = False
) -> tuple[RunLogger, Stage] | None:
    """The run and stage of a stage task: from the task running here, else from the
    request (an event fired in the worker's main process; with *once*, only the
    first of such events for this task id counts)."""
    running = _current(task_id)
    if running is not None:
        if running.run is None or running.stage is None:
            return None
        return running.run, running.stage
    found = _from_request(task, request, task_id)
    if found is None or (once and not _concluded.first(task_id)):
        return None
    return found


def _task_failure(
    sender: Any = None, task_id: Any = None, exception: Any = None, einfo: Any = None, **_: Any
) -> None:
    """``stage_error`` with the exception's type, message and traceback.

    Fired in the pool process for an exception raised by the task, and in the
    worker's main process for a hard time limit or a lost worker process: there
    the run comes from the request or from what the main process received.
    """
    try:
        found = _stage_task(sender, sender.request, task_id, once=True)
        if found is None:
            return
        run, stage = found
        fields = _stage_fields(sender, task_id)
        if isinstance(exception, BaseException) and isinstance(
            exception.__traceback__, TracebackType
        ):
            run.stage_error(stage, exception, exc_info=exception, **fields)
        else:
            text = getattr(einfo, "traceback", None)
            run.stage_error(stage, exception, traceback=text, **fields)
    except Exception as exc:
        _failed("task_failure", exc)


def _task_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    """``stage_retry`` (``WARNING``) with the reason and the retries so far."""
    try:
        task_id = getattr(request, "id", None)
        found = _stage_task(sender, request, task_id)
        if found is None:
            return
        run, stage = found
        text = "retry" if reason is None else str(reason)
        run.for_stage(stage).warning(
            "stage %s retried: %s",
            stage,
            text,
            extra={
                "event": "stage_retry",
                "reason": text,
                "retries": getattr(request, "retries", None),
                **_stage_fields(sender, task_id),
            },
        )
    except Exception as exc:
        _failed("task_retry", exc)


def _task_revoked(
    sender: Any = None,
    request: Any = None,
    terminated: Any = None,
    expired: Any = None,
    **_: Any,
) -> None:
    """``stage_revoked`` (``WARNING``); fired in the worker's main process."""
    try:
        task_id = getattr(request, "id", None)
        found = _from_request(sender, request, task_id)
        if found is None or not _concluded.first(task_id):
            return
        run, stage = found
        reason = "expired" if expired else "terminated" if terminated else "revoked"
        run.for_stage(stage).warning(
            "stage %s revoked: %s",
            stage,
            reason,
            extra={"event": "stage_revoked", "reason": reason, **_stage_fields(sender, task_id)},
        )
    except Exception as exc:
        _failed("task_revoked", exc)


def _task_postrun(task_id: Any = None, **_: Any) -> None:
    """Unbind what ``task_prerun`` bound: nothing leaks into the next task."""
    try:
        running = _current(task_id)
        if running is None:
            return
        reset_context(running.context_token)
        if running.token is not None:
            _running.reset(running.token)
        _received.pop(running.task_id)
    except Exception as exc:
        _failed("task_postrun", exc)


_RECEIVERS: Final = (
    (signals.before_task_publish, _before_task_publish),
    (signals.task_received, _task_received),
    (signals.task_prerun, _task_prerun),
    (signals.task_success, _task_success),
    (signals.task_failure, _task_failure),
    (signals.task_retry, _task_retry),
    (signals.task_revoked, _task_revoked),
    (signals.task_postrun, _task_postrun),
)
