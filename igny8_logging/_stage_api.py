"""The stage API of :class:`~igny8_logging.RunLogger`: one method per lifecycle event.

Each method writes one record carrying its event (the names of
:mod:`._events`) and its fields, to the run log, the stage log and the trace.
What every method guarantees:

* it never raises into its caller: a failure is counted in
  ``RunLogger.failures`` (a :class:`~igny8_logging._report.FailureLog`, keyed
  by method name) and reported on stderr once per episode;
* any argument value is written (the trace keeps it as it is, the message
  shows it as text, see :mod:`._messages`);
* the record points at the caller: its ``pathname`` / ``lineno`` /
  ``funcName`` are the line that called the API, found by skipping the
  library's own frames (as ``logging`` skips its own), so it is right through
  ``with run.stage(...)`` and through the best-effort wrapper alike.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar, Final, ParamSpec, TypeAlias

from . import _events as ev
from . import _messages as msg
from ._caller import caller_stacklevel
from ._clock import RUN_KEY, clock
from ._context import RunContext
from ._ids import Stage, run_started_at
from ._records import RunPlan, log_record
from ._report import FailureLog
from ._routing import FIELDS_ATTR

__all__ = ["ExcInfo", "StageApi", "best_effort", "failures"]

ExcInfo: TypeAlias = (
    "bool | BaseException | tuple[type[BaseException], BaseException, TracebackType | None] | None"
)
_SysExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]

P = ParamSpec("P")

# -- never raise ----------------------------------------------------------------------

#: The stage API's failures, keyed by method name (``RunLogger.failures``).
failures: Final = FailureLog("RunLogger")


def best_effort(method: Callable[P, None]) -> Callable[P, None]:
    """Count, report once per episode and swallow a stage-API method's failure."""
    name = method.__name__

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception as exc:
            failures.failed(name, f"{name} failed and was skipped: {msg.text(repr_of(exc))}")
        else:
            if failures.failing(name):
                failures.recovered(name, f"{name} works again")

    return call


def repr_of(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} object: repr() failed>"


def _exc_info(error: object, exc_info: ExcInfo) -> _SysExcInfo | None:
    if exc_info is True:
        info = sys.exc_info()
        return None if info[0] is None or info[1] is None else (info[0], info[1], info[2])
    if isinstance(exc_info, BaseException):
        return (type(exc_info), exc_info, exc_info.__traceback__)
    if (
        isinstance(exc_info, tuple)
        and len(exc_info) == 3
        and isinstance(exc_info[1], BaseException)
        and (exc_info[2] is None or isinstance(exc_info[2], TracebackType))
    ):
        return (type(exc_info[1]), exc_info[1], exc_info[2])
    if isinstance(error, BaseException) and error.__traceback__ is not None:
        return (type(error), error, error.__traceback__)
    return None


def _error_parts(error: object, exc_info: ExcInfo) -> tuple[str, str | None, _SysExcInfo | None]:
    """The error's text, its type's name and the ``exc_info`` to log."""
    info = _exc_info(error, exc_info)
    if isinstance(error, BaseException):
        error_type: str | None = type(error).__name__
    else:
        error_type = info[0].__name__ if info else None
    return msg.text(error, None), error_type, info


class StageApi(logging.LoggerAdapter[logging.Logger]):
    """The lifecycle events of a run; :class:`~igny8_logging.RunLogger` adds the binding."""

    context: RunContext
    #: The lean path's shared ids (``None``: the standard ``Logger.log`` path).
    _plan: RunPlan | None
    #: The stage API's failure counts, per method name (``RunLogger.failures.counts``).
    failures: ClassVar[FailureLog] = failures

    def _event(
        self,
        level: int,
        event: str,
        stage: object,
        message: str,
        fields: dict[str, Any],
        exc_info: _SysExcInfo | None = None,
    ) -> None:
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        context = self.context
        extra = {
            "run_id": context.run_id,
            "account_id": context.account_id,
            "site_id": context.site_id,
            "stage": context.stage if stage is None else stage,
            "event": event,
            FIELDS_ATTR: fields,
        }
        plan = self._plan
        if plan is not None and plan.logger is logger:
            route = plan.route(extra["stage"], event, fields)
            log_record(logger, level, message, (), extra, route, 2, exc_info)
            return
        stacklevel = caller_stacklevel(sys._getframe(0))
        logger.log(level, message, exc_info=exc_info, extra=extra, stacklevel=stacklevel)

    @best_effort
    def stage_start(
        self, stage: Stage, name: str | None = None, pending: int | None = None, **fields: Any
    ) -> None:
        """Log ``stage_start``; a ``stage_complete`` in this process measures from here.

        The start is also what tasks published inside the run carry (see
        :meth:`~igny8_logging._clock.StageClock.starts`).
        """
        clock.start(self.context.run_id, stage)
        self._event(
            logging.INFO,
            ev.STAGE_START,
            stage,
            msg.start_message(stage, name, pending),
            {"stage_name": name, "pending": pending, **fields},
        )

    @best_effort
    def stage_progress(
        self,
        stage: Stage,
        processed: int,
        total: int | None = None,
        message: str | None = None,
        **fields: Any,
    ) -> None:
        """Log ``stage_progress`` (``processed`` of ``total`` items so far)."""
        self._progress(stage, processed, total, message, fields)

    def _progress(
        self,
        stage: object,
        processed: object,
        total: object,
        message: object,
        fields: dict[str, Any],
    ) -> None:
        text = msg.progress_message(stage, processed, total) if message is None else message
        self._event(
            logging.INFO,
            ev.STAGE_PROGRESS,
            stage,
            msg.text(text, None),
            {"processed": processed, "total": total, **fields},
        )

    @best_effort
    def stage_complete(
        self,
        stage: Stage,
        processed: int | None = None,
        *,
        elapsed: float | None = None,
        credits_used: float | None = None,
        result: Any = None,
        **fields: Any,
    ) -> None:
        """Log ``stage_complete``: the given ``elapsed``, else measured from the stage's start.

        The start is known when this process logged ``stage_start`` or a task's
        header carried it; otherwise ``elapsed_s`` is null.
        """
        measured = clock.stop(self.context.run_id, stage)
        elapsed_s = measured if elapsed is None else elapsed
        self._event(
            logging.INFO,
            ev.STAGE_COMPLETE,
            stage,
            msg.complete_message(stage, processed, elapsed_s, credits_used),
            {
                "processed": processed,
                "elapsed_s": elapsed_s,
                "credits_used": credits_used,
                "result": result,
                **fields,
            },
        )

    @best_effort
    def stage_error(
        self, stage: Stage, error: object, *, exc_info: ExcInfo = None, **fields: Any
    ) -> None:
        """Log ``stage_error`` at ``ERROR`` with the error, its type and traceback."""
        text, error_type, info = _error_parts(error, exc_info)
        clock.stop(self.context.run_id, stage)
        self._event(
            logging.ERROR,
            ev.STAGE_ERROR,
            stage,
            msg.error_message(f"stage {msg.text(stage)} failed", text, error_type),
            {"error": text, "error_type": error_type, "traceback": None, **fields},
            exc_info=info,
        )

    @best_effort
    def stage_retry(self, stage: Stage, *, reason: object = None, **fields: Any) -> None:
        """Log ``stage_retry`` at ``WARNING``: the stage runs again (its start is kept)."""
        self._event(
            logging.WARNING,
            ev.STAGE_RETRY,
            stage,
            f"stage {msg.text(stage)} retrying" + msg.reason_text(reason),
            {"reason": reason, **fields},
        )

    @best_effort
    def stage_revoked(self, stage: Stage, *, reason: object = None, **fields: Any) -> None:
        """Log ``stage_revoked`` at ``WARNING``: the stage will not complete here."""
        clock.stop(self.context.run_id, stage)
        self._event(
            logging.WARNING,
            ev.STAGE_REVOKED,
            stage,
            f"stage {msg.text(stage)} revoked" + msg.reason_text(reason),
            {"reason": reason, **fields},
        )

    @best_effort
    def stage_part_complete(
        self,
        stage: Stage,
        *,
        task_id: str | None = None,
        processed: int | None = None,
        credits_used: float | None = None,
        result: Any = None,
        **fields: Any,
    ) -> None:
        """Log ``stage_part_complete``: one task of a stage that spans many succeeded.

        A part neither starts nor completes its stage (the stage's clock is untouched).
        """
        self._event(
            logging.INFO,
            ev.STAGE_PART_COMPLETE,
            stage,
            msg.part_complete_message(stage, task_id, processed, credits_used),
            {
                "task_id": task_id,
                "processed": processed,
                "credits_used": credits_used,
                "result": result,
                **fields,
            },
        )

    @best_effort
    def stage_part_error(
        self,
        stage: Stage,
        error: object,
        *,
        task_id: str | None = None,
        exc_info: ExcInfo = None,
        **fields: Any,
    ) -> None:
        """Log ``stage_part_error`` at ``ERROR``: one part failed (like :meth:`stage_error`)."""
        text, error_type, info = _error_parts(error, exc_info)
        part = f" {msg.text(task_id)}" if task_id is not None else ""
        self._event(
            logging.ERROR,
            ev.STAGE_PART_ERROR,
            stage,
            msg.error_message(f"stage {msg.text(stage)} part{part} failed", text, error_type),
            {
                "task_id": task_id,
                "error": text,
                "error_type": error_type,
                "traceback": None,
                **fields,
            },
            exc_info=info,
        )

    @best_effort
    def trace(
        self, event: str, *, stage: Stage | None = None, message: str | None = None, **fields: Any
    ) -> None:
        """Log a custom event (per-item progress...) to the logs and the trace."""
        name = msg.text(event)
        self._event(
            logging.INFO, name, stage, name if message is None else msg.text(message, None), fields
        )

    @best_effort
    def progress(
        self, processed: int, total: int | None = None, message: str | None = None, **fields: Any
    ) -> None:
        """``stage_progress`` for the stage this adapter is bound to (the run's, if none)."""
        self._progress(self.context.stage, processed, total, message, fields)

    @best_effort
    def end(self, status: str = "completed", **fields: Any) -> None:
        """Log ``run_end`` with ``status`` (completed, failed, cancelled) and ``elapsed_s``.

        An unknown status is written as ``failed`` (with ``requested_status``)
        and reported once.
        """
        run_id = self.context.run_id
        if not isinstance(status, str) or status not in ev.RUN_STATUSES:
            failures.failed(
                "end.status", f"unknown run status {repr_of(status)} for {run_id}, using 'failed'"
            )
            fields.setdefault("requested_status", msg.text(status))
            status = "failed"
        elapsed_s = clock.stop(run_id, RUN_KEY)
        if elapsed_s is None:
            started = run_started_at(run_id)
            if started is not None:
                elapsed_s = round(max(0.0, time.time() - started.timestamp()), 3)
        clock.forget(run_id)
        level = {"completed": logging.INFO, "cancelled": logging.WARNING}.get(status, logging.ERROR)
        self._event(
            level,
            ev.RUN_END,
            None,
            msg.run_end_message(status, elapsed_s),
            {"status": status, "elapsed_s": elapsed_s, **fields},
        )
