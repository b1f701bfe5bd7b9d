"""A stage's outcome, logged before Celery acts on it.

Celery's tracer publishes the next chain link and link callbacks right after
the task's body returns, *before* ``task_success``; and it calls errbacks
(``link_error``) from ``backend.mark_as_failure``, *before* ``task_failure``
(``celery/app/trace.py``, ``Info.handle_failure``; the worker's main process
does the same for a hard time limit or a lost pool process).  A chord fails
through ``backend.chord_error_from_stack``, which calls the body's errbacks
before it stores the failure.  So that a run ended by the next link or by an
errback has every stage's outcome before its ``run_end``:

* each task body of a connected app is wrapped: ``stage_complete`` (or
  ``stage_part_complete``) is logged as the body returns;
* ``Backend.mark_as_failure`` logs ``stage_error`` (or ``stage_part_error``)
  first, then stores the failure and calls the errbacks;
* ``Backend.chord_error_from_stack`` logs a ``stage_chord``'s ``stage_error``
  first, with the failed part's own error.

Likewise ``Task.retry`` publishes the next attempt *before* it raises
``Retry`` and the tracer sends ``task_retry``; another pool process (or
thread) may run that attempt, and the rest of the run, first.  So
``stage_retry`` is logged as the retry is published (``before_task_publish``
sees the task's own id with more retries, :func:`retry_published`), with the
reason ``Task.retry`` was given; ``task_retry`` logs it only when nothing did.

The signals (``task_success``, ``task_failure``) still log an outcome nothing
logged before (a task registered after the worker built its tracer); each
outcome is logged once.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final

from celery import Celery, Task
from celery.backends.base import Backend
from celery.exceptions import ChordError, Retry

from .._adapter import RunLogger
from .._ids import Stage
from ._header import HEADER, Header, Role, parse_header
from ._roles import assign
from ._state import (
    Running,
    concluded,
    connection_of,
    connection_of_app,
    connections,
    current,
    failed,
    received,
    running,
)

__all__ = ["failure", "from_request", "install", "retry_published", "success", "wrap_tasks"]

_WRAPPED: Final = "_igny8_body"


def fields_of(task: object, task_id: object) -> dict[str, Any]:
    return {"task_id": task_id, "task_name": getattr(task, "name", None)}


def _has_traceback(exc: object) -> bool:
    return isinstance(exc, BaseException) and isinstance(exc.__traceback__, TracebackType)


def _exc_info(exc: object) -> BaseException | None:
    return exc if isinstance(exc, BaseException) and _has_traceback(exc) else None


# -- the outcome of one task ---------------------------------------------------------------


def success(state: Running, result: Any) -> None:
    """Log the outcome of *state*'s body returning *result* (once)."""
    run, stage = state.run, state.stage
    if state.concluded or run is None or stage is None or state.role == "member":
        return
    state.concluded = True
    returned: Mapping[str, Any] = result if isinstance(result, Mapping) else {}
    fields = fields_of(state.task, state.task_id)
    if state.role == "part":
        run.stage_part_complete(
            stage,
            task_id=state.task_id,
            processed=returned.get("processed"),
            credits_used=returned.get("credits_used"),
            result=returned.get("result"),
            task_name=fields["task_name"],
        )
        return
    processed = returned.get("processed")
    parts = state.header.parts if state.header is not None else None
    if processed is None and parts is not None:  # a stage_chord's closer
        args = state.task.request.args
        first = args[0] if args else None
        processed = len(first) if isinstance(first, list | tuple) else parts
    elapsed = None if state.started is None else round(time.time() - state.started, 3)
    run.stage_complete(
        stage,
        processed,
        elapsed=elapsed,
        credits_used=returned.get("credits_used"),
        result=returned.get("result"),
        **fields,
    )


def retry_published(state: Running, task_id: object, retries: object) -> None:
    """``stage_retry`` for *state*'s owner task, as the message of its next attempt goes out.

    A message with the running task's own id and more retries than it has is the
    retry ``Task.retry`` publishes (``self.replace(...)`` keeps the retries).
    """
    run, stage = state.run, state.stage
    if (
        run is None
        or stage is None
        or state.role != "owner"
        or state.retry_logged
        or str(task_id) != state.task_id
        or not isinstance(retries, int)
        or retries <= state.retries
    ):
        return
    state.retry_logged = True
    run.stage_retry(
        stage,
        reason=state.retry_reason or "retry",
        retries=state.retries,
        **fields_of(state.task, state.task_id),
    )


def from_request(
    task: Any, request: Any, task_id: object
) -> tuple[RunLogger, Stage, Role | None] | None:
    """The run, stage and role of a task, from its request (or what was received)."""
    connection = connection_of(task)
    if connection is None:
        return None
    header: Header | None = None
    value = getattr(request, HEADER, None) if request is not None else None
    if value is not None and getattr(request, "id", None) == task_id:
        try:
            header = parse_header(value)
        except ValueError:
            return None
    if header is None:
        header = received.pop(task_id)
    if header is None:
        return None
    stage, role, _started = assign(task, header)
    if stage is None:
        return None
    context = header.context
    run = RunLogger(connection.logger, context.run_id, context.account_id, context.site_id)
    return run, stage, role


def failure(task: Any, task_id: object, exc: object, traceback: object, request: Any) -> None:
    """Log ``stage_error`` / ``stage_part_error`` for a failed task (once)."""
    state = current(task_id)
    if state is not None:
        if state.concluded or state.run is None or state.stage is None:
            return
        state.concluded = True
        run, stage, role = state.run, state.stage, state.role
    else:
        found = from_request(task, request, task_id)
        if found is None or not concluded.first(task_id):
            return
        run, stage, role = found
    if role == "member":
        return
    fields = fields_of(task, task_id)
    if not _has_traceback(exc):
        fields["traceback"] = traceback if isinstance(traceback, str) else None
    if role == "part":
        fields.pop("task_id")
        run.stage_part_error(stage, exc, task_id=str(task_id), exc_info=_exc_info(exc), **fields)
        return
    run.stage_error(stage, exc, exc_info=_exc_info(exc), **fields)


# -- a stage_chord failed ------------------------------------------------------------------


def _cause(exc: object) -> object:
    """The failed part's own exception inside Celery's ``ChordError``."""
    seen = 0
    while isinstance(exc, ChordError) and exc.__cause__ is not None and seen < 10:
        exc, seen = exc.__cause__, seen + 1
    return exc


def chord_failed(backend: Backend, callback: Any, exc: object) -> None:
    """``stage_error`` for the stage a failed chord's body would have closed (once)."""
    options = getattr(callback, "options", None) or {}
    headers = options.get("headers") or {}
    callback_id = options.get("task_id")
    header: Header | None = None
    value = headers.get(HEADER) if isinstance(headers, Mapping) else None
    if value is not None:
        header = parse_header(value)
    else:  # a replacement's chord: the running part knows its closer
        state = running.get()
        if state is not None and state.header is not None and state.header.closer == callback_id:
            header = Header(state.header.context, "owner")
    if header is None or header.role != "owner" or header.context.stage is None:
        return
    connection = connection_of_app(getattr(backend, "app", None))
    if connection is None or not concluded.first(f"chord:{callback_id}"):
        return
    context, stage = header.context, header.context.stage
    cause = _cause(exc)
    run = RunLogger(connection.logger, context.run_id, context.account_id, context.site_id)
    run.stage_error(
        stage,
        cause,
        exc_info=_exc_info(cause),
        task_id=callback_id,
        task_name=callback.get("task"),
    )


def _app_of(backend: Backend) -> Any:
    app: Any = getattr(backend, "app", None)
    return app


# -- installing ----------------------------------------------------------------------------

_installed = False


def install() -> None:
    """Patch the two backend methods and ``Task.retry`` once (no-ops for unconnected apps)."""
    global _installed
    if _installed:
        return
    _installed = True
    mark_as_failure = Backend.mark_as_failure
    chord_error_from_stack = Backend.chord_error_from_stack

    @functools.wraps(mark_as_failure)
    def logged_mark_as_failure(
        self: Backend,
        task_id: Any,
        exc: Any,
        traceback: Any = None,
        request: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if connections and request is not None:
            try:
                state = current(task_id)
                task = (
                    state.task
                    if state is not None
                    else _app_of(self).tasks.get(getattr(request, "task", None))
                )
                if task is not None:
                    failure(task, task_id, exc, traceback, request)
            except Exception as error:
                failed("mark_as_failure", error)
        return mark_as_failure(self, task_id, exc, traceback, request, *args, **kwargs)

    @functools.wraps(chord_error_from_stack)
    def logged_chord_error(self: Backend, callback: Any, exc: Any = None) -> Any:
        if connections:
            try:
                chord_failed(self, callback, exc if exc is not None else sys.exc_info()[1])
            except Exception as error:
                failed("chord_error_from_stack", error)
        return chord_error_from_stack(self, callback, exc)

    Backend.mark_as_failure = logged_mark_as_failure  # type: ignore[method-assign]
    Backend.chord_error_from_stack = logged_chord_error  # type: ignore[method-assign]
    _note_retries()


def _note_retries() -> None:
    """Patch ``Task.retry`` to keep, for :func:`retry_published`, the reason it will give."""
    retry = Task.retry

    @functools.wraps(retry)
    def noted_retry(
        self: Task[Any, Any],
        args: Any = None,
        kwargs: Any = None,
        exc: Any = None,
        throw: bool = True,
        eta: Any = None,
        countdown: Any = None,
        max_retries: Any = None,
        **options: Any,
    ) -> Any:
        if connections:
            try:
                state = running.get()
                if state is not None and state.task is self:
                    if not eta and countdown is None:  # as Task.retry says it
                        countdown = self.default_retry_delay
                    state.retry_reason = str(Retry(exc=exc, when=eta or countdown))
            except Exception as error:
                failed("retry", error)
        return retry(self, args, kwargs, exc, throw, eta, countdown, max_retries, **options)

    Task.retry = noted_retry  # type: ignore[method-assign]


def _body_returned(task: Task[Any, Any], ok: bool, result: Any = None) -> None:
    try:
        state = running.get()
        if state is None or state.task is not task or state.task_id != str(task.request.id):
            return
        state.body_returned = True
        if ok:
            success(state, result)
    except Exception as error:
        failed("task_body", error)


def wrap(task: Task[Any, Any]) -> None:
    """Wrap *task*'s body so its outcome is logged as it returns (idempotent)."""
    original: Callable[..., Any] = task.run
    if getattr(original, _WRAPPED, False) or str(getattr(task, "name", "")).startswith("celery."):
        return

    @functools.wraps(original)
    def body(*args: Any, **kwargs: Any) -> Any:
        try:
            result = original(*args, **kwargs)
        except BaseException:
            _body_returned(task, False)
            raise
        _body_returned(task, True, result)
        return result

    setattr(body, _WRAPPED, True)
    task.run = body  # type: ignore[method-assign]


def wrap_tasks(app: Celery) -> None:
    """Wrap every task registered on the (finalized) *app*."""
    try:
        for task in list(app.tasks.values()):
            wrap(task)
    except Exception as error:
        failed("wrap_tasks", error)
