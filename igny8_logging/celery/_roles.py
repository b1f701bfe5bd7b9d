"""Who a task is in its run: the header it publishes and the role it receives.

Publishing (``before_task_publish``) decides what a new task inherits from the
task running in this thread:

* what the body publishes (its children) is in the body's stage, as a
  ``member``; the replacement of ``self.replace(...)`` (it takes the task's id)
  becomes the stage's ``owner``;
* what Celery publishes once the body returned (the next chain link, link
  callbacks, a chord's body) stays in the run but leaves an owner's stage;
* the tasks a ``stage_chord`` publishes are its ``part`` s.

Receiving (``task_prerun``) turns the header and the task's declaration
(``stage=N``, ``stage_part=True``) into a stage and a role.
"""

from __future__ import annotations

import contextvars
from typing import Any

from .._context import RunContext, current_run
from .._ids import Stage, check_stage
from ._header import Header, Role
from ._state import Running, known_starts, running

__all__ = ["assign", "outgoing", "publishing"]

#: Set while a ``stage_chord`` publishes its parts: the header they get.
publishing: contextvars.ContextVar[Header | None] = contextvars.ContextVar(
    "igny8_logging_stage_chord", default=None
)
_CHORD_UNLOCK = "celery.chord_unlock"


def _with_stage(context: RunContext, stage: Stage | None) -> RunContext:
    return RunContext(context.run_id, context.account_id, context.site_id, stage)


def _from_task(state: Running, context: RunContext, task_id: str, retries: int) -> Header:
    """The header of a task published by the running task *state*."""
    header = state.header
    stage, parent = state.stage, state.task_id
    starts = {**(header.starts if header else {}), **known_starts(context.run_id)}
    closer = header.closer if header else None
    if task_id == state.task_id and retries > state.retries:  # self.retry(): as received
        return header if header is not None else Header(_with_stage(context, None))
    if stage is None:
        return Header(context, None, parent, starts)
    in_stage = _with_stage(context, stage)
    if task_id == closer and state.role != "owner":
        return Header(in_stage, "owner", parent, starts, None, header.parts if header else None)
    if state.role == "owner" and not state.body_returned:
        if task_id == state.task_id:  # self.replace(...): the replacement owns the stage
            if state.started is not None:
                starts[str(stage)] = state.started
            return Header(in_stage, "owner", parent, starts)
        return Header(in_stage, "member", parent, starts, state.task_id)
    if state.role == "owner":  # a chain link or callback, after the stage ended
        starts.pop(str(stage), None)
        return Header(_with_stage(context, None), None, parent, starts)
    return Header(in_stage, "member", parent, starts, closer)


def outgoing(task_id: object, name: object, retries: object = 0) -> Header | None:
    """The header a task published now gets, ``None`` outside any run."""
    context = current_run()
    if context is None:
        return None
    mark = publishing.get()
    if mark is not None and mark.context.run_id == context.run_id:
        if name == _CHORD_UNLOCK:
            return Header(mark.context, "member", mark.parent_id, mark.starts)
        return mark
    state = running.get()
    if state is None or context is not state.context:
        parent = None if state is None else state.task_id
        return Header(context, None, parent, known_starts(context.run_id))
    count = retries if isinstance(retries, int) else 0
    return _from_task(state, context, str(task_id), count)


def declaration(task: Any) -> tuple[Stage | None, bool]:
    """A task's ``stage`` option (checked) and whether it is a ``stage_part``."""
    declared = getattr(task, "stage", None)
    stage = None if declared is None else check_stage(declared)
    return stage, stage is not None and getattr(task, "stage_part", False) is True


def assign(task: Any, header: Header) -> tuple[Stage | None, Role | None, float | None]:
    """The stage, role and (for an owner) known start time of *task* under *header*.

    Raises ``ValueError`` for an invalid ``stage`` option.
    """
    stage = header.context.stage
    if getattr(task, "name", None) == _CHORD_UNLOCK:  # it copies the closer's header
        return (None, None, None) if stage is None else (stage, "member", None)
    if header.role in ("part", "owner") and stage is not None:
        return stage, header.role, header.starts.get(str(stage))
    declared, part = declaration(task)
    if declared is not None:
        if part:
            return declared, "part", None
        return declared, "owner", header.starts.get(str(declared))
    if stage is None:
        return None, None, None
    if header.role == "member":
        return stage, "member", None
    return stage, "owner", header.starts.get(str(stage))
