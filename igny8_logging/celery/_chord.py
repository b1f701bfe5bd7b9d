"""``stage_chord``: one stage fanned out over many tasks, closed by one."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from celery import chord, group
from celery.canvas import Signature

from .._adapter import RunLogger
from .._clock import clock
from .._context import RunContext, current_run
from .._ids import Stage, check_stage
from ._header import HEADER, Header
from ._roles import publishing
from ._state import connection_of_app, failed, known_starts, only_connection, running

__all__ = ["stage_chord"]

_KEY = "igny8_stage"


@Signature.register_type(name="igny8_stage_chord")
class StageChord(chord):
    """A chord whose header is the parts of one stage and whose body closes it.

    It serializes as a chain link (``subtask_type`` ``igny8_stage_chord``), so
    a worker rebuilds it as this class when the previous link returns.
    """

    def __init__(self, header: Any, body: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(header, body, *args, **kwargs)
        self.subtask_type = "igny8_stage_chord"  # type: ignore[misc]

    @property
    def stage_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.kwargs.get(_KEY) or {}
        return info

    def run(self, header: Any, body: Any, partial_args: Any, *args: Any, **kwargs: Any) -> Any:
        mark = None
        try:
            mark = self._start(header, body)
        except Exception as exc:
            failed("stage_chord", exc)
        if mark is None:
            return super().run(header, body, partial_args, *args, **kwargs)
        token = publishing.set(mark)
        try:
            return super().run(header, body, partial_args, *args, **kwargs)
        finally:
            publishing.reset(token)

    def _start(self, header: Any, body: Any) -> Header | None:
        """Log ``stage_start`` and mark the body as the stage's closer; the parts' header."""
        context = current_run()
        info = self.stage_info
        if context is None or "stage" not in info:
            return None
        connection = connection_of_app(_app_of(self, body)) or only_connection()
        if connection is None:
            return None
        stage: Stage = check_stage(info["stage"])
        tasks = header.tasks if isinstance(header, group) else list(header)
        count = len(tasks)
        run = RunLogger(connection.logger, context.run_id, context.account_id, context.site_id)
        run.stage_start(stage, info.get("name"), pending=count)
        epoch = clock.started(context.run_id, stage) or time.time()
        in_stage = RunContext(context.run_id, context.account_id, context.site_id, stage)
        starts = {**known_starts(context.run_id), str(stage): epoch}
        state = running.get()
        parent = state.task_id if state is not None else None
        owner = Header(in_stage, "owner", parent, starts, None, count)
        headers = dict(body.options.get("headers") or {})
        headers[HEADER] = owner.as_dict()
        body.options["headers"] = headers
        return Header(in_stage, "part", parent, starts, None, None)


def _app_of(sig: chord, body: Any) -> Any:
    get_app: Any = getattr(sig, "_get_app", None)
    return get_app(body) if get_app is not None else None


def stage_chord(
    stage: Stage,
    parts: Iterable[Signature[Any]],
    closer: Signature[Any],
    *,
    name: str | None = None,
) -> StageChord:
    """A chord of *parts* closed by *closer*, as one stage of the run it is published in.

    Usable alone (``.apply_async()`` / ``.delay()``) or as a chain link.
    Published inside a run it logs ``stage_start`` (``pending`` = the number of
    parts) before any part runs; every part runs as a part of *stage*
    (``stage_part_complete`` / ``stage_part_error``); *closer* logs the stage's
    ``stage_complete`` (``processed`` from its returned mapping, else the number
    of parts that succeeded, ``elapsed_s`` from the ``stage_start``), and a
    failed part fails the stage once, with that part's own error.
    """
    check_stage(stage)
    sig = StageChord(group(list(parts)), closer)
    sig.kwargs[_KEY] = {"stage": stage, "name": name}
    return sig
