"""The signal receivers: the header at publish, the run bound around each task."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from celery import signals

from .._adapter import RunLogger
from .._clock import clock
from .._context import RunContext, reset_context, set_context
from ._header import HEADER, Header, parse_header
from ._outcome import failure, fields_of, from_request, retry_published, success, wrap
from ._roles import assign, outgoing
from ._state import (
    Running,
    concluded,
    connection_of,
    connections,
    current,
    failed,
    received,
    running,
)

__all__ = ["RECEIVERS"]

_log = logging.getLogger("igny8_logging.celery")


def _before_task_publish(sender: Any = None, headers: Any = None, **_: Any) -> None:
    """Put the run context into the ``igny8`` header (unless the caller set one).

    The running task's own retry logs its ``stage_retry`` here, before the next
    attempt can start.
    """
    try:
        if not connections or not isinstance(headers, dict):
            return
        state = running.get()
        if state is not None:
            retry_published(state, headers.get("id"), headers.get("retries"))
        if HEADER in headers:
            return
        header = outgoing(headers.get("id"), sender, headers.get("retries") or 0)
        if header is not None:
            headers[HEADER] = header.as_dict()
    except Exception as exc:
        failed("before_task_publish", exc)


def _task_received(request: Any = None, **_: Any) -> None:
    """Remember a received task's header for events fired without its request."""
    try:
        if not connections:
            return
        value = request.request_dict.get(HEADER)
        if isinstance(value, Mapping):
            try:
                received.put(request.id, parse_header(value))
            except ValueError:
                pass  # warned about once, when the task runs
    except Exception as exc:
        failed("task_received", exc)


def _header_of(task: Any, task_id: object) -> Header | None:
    request = task.request
    value = getattr(request, HEADER, None)
    if value is None and request.is_eager:
        value = (request.headers or {}).get(HEADER)
        if value is None:  # called directly inside a run: stays in it
            return outgoing(task_id, getattr(task, "name", None), request.retries or 0)
    if value is None:
        return None
    try:
        return parse_header(value)
    except ValueError as exc:
        _log.warning(
            "ignoring the invalid %s header of task %s[%s]: %s; the task runs outside any run",
            HEADER,
            getattr(task, "name", "?"),
            task_id,
            str(exc)[:200],
        )
        return None


def _task_prerun(sender: Any = None, task_id: Any = None, task: Any = None, **_: Any) -> None:
    """Bind the task's run (from its header) until ``task_postrun``; log ``stage_start``."""
    task = task if task is not None else sender
    connection = connection_of(task)
    if connection is None:
        return
    try:
        connection.forwarder.install()
        wrap(task)  # a task registered late: its later tracers log before Celery acts
        header = _header_of(task, task_id)
        context: RunContext | None = None
        stage = role = started = None
        run: RunLogger | None = None
        if header is not None:
            context = header.context
            try:
                stage, role, started = assign(task, header)
            except ValueError as exc:
                failed("task_prerun", exc)  # an invalid stage option: no stage events
            context = RunContext(context.run_id, context.account_id, context.site_id, stage)
            run = RunLogger(
                connection.logger,
                context.run_id,
                context.account_id,
                context.site_id,
                stage=stage,
            )
        retries = task.request.retries or 0
        state = Running(
            str(task_id),
            task,
            header,
            context,
            set_context(context),
            run,
            stage,
            role,
            started,
            retries,
        )
        state.token = running.set(state)
    except Exception as exc:
        failed("task_prerun", exc)
        return
    if run is not None and stage is not None and role == "owner" and started is None:
        try:
            run.stage_start(stage, _stage_name(task), retries=retries, **fields_of(task, task_id))
            state.started = clock.started(run.run_id, stage)
        except Exception as exc:
            failed("task_prerun", exc)


def _stage_name(task: Any) -> str | None:
    name = getattr(task, "stage_name", None)
    return None if name is None else str(name)


def _task_success(sender: Any = None, result: Any = None, **_: Any) -> None:
    """The outcome, unless the wrapped body logged it already."""
    try:
        state = current(sender.request.id)
        if state is not None:
            success(state, result)
    except Exception as exc:
        failed("task_success", exc)


def _task_failure(
    sender: Any = None, task_id: Any = None, exception: Any = None, einfo: Any = None, **_: Any
) -> None:
    """``stage_error`` unless ``mark_as_failure`` logged it already.

    Fired in the pool process for an exception raised by the task, and in the
    worker's main process for a hard time limit or a lost worker process.
    """
    try:
        failure(sender, task_id, exception, getattr(einfo, "traceback", None), sender.request)
    except Exception as exc:
        failed("task_failure", exc)


def _task_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    """``stage_retry`` (``WARNING``) with the reason and the retries so far."""
    try:
        task_id = getattr(request, "id", None)
        state = current(task_id)
        if state is not None and state.retry_logged:
            return  # logged as the retry was published
        found = (
            (state.run, state.stage, state.role)
            if state is not None and state.run is not None and state.stage is not None
            else from_request(sender, request, task_id)
        )
        if found is None or found[2] != "owner":
            return
        run, stage, _role = found
        text = "retry" if reason is None else str(reason)
        run.stage_retry(
            stage,
            reason=text,
            retries=getattr(request, "retries", None),
            **fields_of(sender, task_id),
        )
    except Exception as exc:
        failed("task_retry", exc)


def _task_revoked(
    sender: Any = None, request: Any = None, terminated: Any = None, expired: Any = None, **_: Any
) -> None:
    """``stage_revoked`` (``WARNING``); fired in the worker's main process."""
    try:
        task_id = getattr(request, "id", None)
        found = from_request(sender, request, task_id)
        if found is None or found[2] != "owner" or not concluded.first(task_id):
            return
        run, stage, _role = found
        reason = "expired" if expired else "terminated" if terminated else "revoked"
        run.stage_revoked(stage, reason=reason, **fields_of(sender, task_id))
    except Exception as exc:
        failed("task_revoked", exc)


def _task_postrun(task_id: Any = None, **_: Any) -> None:
    """Unbind what ``task_prerun`` bound: nothing leaks into the next task."""
    try:
        state = current(task_id)
        if state is None:
            return
        reset_context(state.context_token)
        if state.token is not None:
            running.reset(state.token)
        received.pop(state.task_id)
    except Exception as exc:
        failed("task_postrun", exc)


RECEIVERS: Final = (
    (signals.before_task_publish, _before_task_publish),
    (signals.task_received, _task_received),
    (signals.task_prerun, _task_prerun),
    (signals.task_success, _task_success),
    (signals.task_failure, _task_failure),
    (signals.task_retry, _task_retry),
    (signals.task_revoked, _task_revoked),
    (signals.task_postrun, _task_postrun),
)
