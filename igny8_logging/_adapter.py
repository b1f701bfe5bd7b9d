"""``RunLogger``: a ``logging.LoggerAdapter`` with the run and stage API."""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeAlias

from ._context import RunContext, make_context, reset_context, set_context
from ._ids import Stage, TenantId, check_stage, new_run_id, run_started_at
from ._routing import FIELDS_ATTR

__all__ = ["RunLogger", "start_run"]

ExcInfo: TypeAlias = (
    "bool | BaseException | tuple[type[BaseException], BaseException, TracebackType | None] | None"
)
RUN_STATUSES: Final = ("completed", "failed", "cancelled")

#: ``extra=`` keys a ``LogRecord`` refuses (they would raise ``KeyError``).
_RECORD_ATTRS: Final = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
}
_ID_KEYS: Final = ("run_id", "account_id", "site_id")


class _Clock:
    """Start times seen by this process, for ``elapsed`` (bounded, thread-safe).

    When the same run and stage is started again before it completes (several
    tasks of one stage on worker threads), which start a completion belongs to
    is unknown: such completions report the ``elapsed`` they are given instead.
    """

    def __init__(self, size: int = 10_000) -> None:
        # key -> [start time, or None when ambiguous; starts not yet stopped]
        self._starts: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def start(self, key: tuple[str, str]) -> None:
        with self._lock:
            entry = self._starts.get(key)
            if entry is None:
                self._starts[key] = [time.monotonic(), 1]
            else:
                entry[0] = None
                entry[1] += 1
                self._starts.move_to_end(key)
            while len(self._starts) > self._size:
                self._starts.popitem(last=False)

    def stop(self, key: tuple[str, str]) -> float | None:
        with self._lock:
            entry = self._starts.get(key)
            if entry is None:
                return None
            entry[1] -= 1
            if entry[1] <= 0:
                del self._starts[key]
        started = entry[0]
        return None if started is None else round(time.monotonic() - started, 3)


_clock = _Clock()


def _report(what: str, exc: BaseException) -> None:
    try:
        sys.stderr.write(f"igny8_logging: {what} failed and was skipped: {exc!r}\n")
    except Exception:
        pass


P = ParamSpec("P")


def _best_effort(method: Callable[P, None]) -> Callable[P, None]:
    """Report and swallow a stage-API method's own failure: logging never raises."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception as exc:
            _report(method.__name__, exc)

    return call


def _exc_info(
    error: object, exc_info: ExcInfo
) -> tuple[type[BaseException], BaseException, TracebackType | None] | None:
    if exc_info is True:
        info = sys.exc_info()
        return None if info[0] is None else info
    if isinstance(exc_info, BaseException):
        return (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple):
        return exc_info
    if isinstance(error, BaseException) and error.__traceback__ is not None:
        return (type(error), error, error.__traceback__)
    return None


def _logger(logger: logging.Logger | str) -> logging.Logger:
    return logging.getLogger(logger) if isinstance(logger, str) else logger


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A run's logger: ``.info()`` etc. plus the stage API.

    Records go to the run log, and to the stage log when this adapter is bound
    to a stage (:meth:`for_stage`, ``with run.stage(...) as st``).  A call's own
    ``extra=`` is merged with the run context; the run's ids cannot be
    overridden that way.  No method raises into the caller.
    """

    def __init__(
        self,
        logger: logging.Logger | str,
        run_id: str,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
        *,
        stage: Stage | None = None,
    ) -> None:
        self.context = make_context(run_id, account_id, site_id, stage)
        super().__init__(_logger(logger), self.context.as_dict())
        #: Set these inside ``with run.stage(...) as st`` for ``stage_complete``.
        self.processed: int | None = None
        self.credits_used: float | None = None
        self.result: Any = None

    @classmethod
    def attach(
        cls,
        logger: logging.Logger | str,
        run_id: str,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
    ) -> RunLogger:
        """Continue an existing run (another process or host); needs no files."""
        return cls(logger, run_id, account_id, site_id)

    @property
    def run_id(self) -> str:
        return self.context.run_id

    @property
    def account_id(self) -> TenantId | None:
        return self.context.account_id

    @property
    def site_id(self) -> TenantId | None:
        return self.context.site_id

    @property
    def stage_id(self) -> Stage | None:
        """The stage this adapter is bound to, if any."""
        return self.context.stage

    def _bound_to(self, stage: Stage | None) -> RunLogger:
        clone = object.__new__(type(self))
        context = self.context
        clone.context = RunContext(context.run_id, context.account_id, context.site_id, stage)
        logging.LoggerAdapter.__init__(clone, self.logger, clone.context.as_dict())
        clone.processed = clone.credits_used = clone.result = None
        return clone

    # -- LoggerAdapter -----------------------------------------------------------

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra: dict[str, Any] = {}
        given = kwargs.get("extra")
        if isinstance(given, Mapping) and given:
            fields: dict[str, Any] = {}
            for key, value in given.items():
                if key in _RECORD_ATTRS or not isinstance(key, str):
                    fields[str(key)] = value
                else:
                    extra[key] = value
            if fields:
                extra[FIELDS_ATTR] = {**extra.get(FIELDS_ATTR, {}), **fields}
        context = self.context
        extra["run_id"] = context.run_id
        extra["account_id"] = context.account_id
        extra["site_id"] = context.site_id
        if context.stage is not None or "stage" not in extra:
            extra["stage"] = context.stage
        kwargs["extra"] = extra
        return msg, kwargs

    # -- the stage API -----------------------------------------------------------

    def _event(
        self,
        level: int,
        event: str,
        stage: object,
        message: str,
        fields: dict[str, Any],
        exc_info: Any = None,
    ) -> None:
        try:
            if not self.logger.isEnabledFor(level):
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
            self.logger.log(level, message, exc_info=exc_info, extra=extra, stacklevel=3)
        except Exception as exc:
            _report(f"{event} for {self.context.run_id}", exc)

    def _stage_key(self, stage: object) -> tuple[str, str]:
        return (self.context.run_id, str(stage))

    @_best_effort
    def stage_start(
        self, stage: Stage, name: str | None = None, pending: int | None = None, **fields: Any
    ) -> None:
        """Log ``stage_start``; ``stage_complete`` in this process measures from here."""
        _clock.start(self._stage_key(stage))
        message = f"stage {stage} started" + (f": {name}" if name else "")
        if pending is not None:
            message += f" ({pending} pending)"
        self._event(
            logging.INFO,
            "stage_start",
            stage,
            message,
            {"stage_name": name, "pending": pending, **fields},
        )

    @_best_effort
    def stage_progress(
        self,
        stage: Stage,
        processed: int,
        total: int | None = None,
        message: str | None = None,
        **fields: Any,
    ) -> None:
        """Log ``stage_progress`` (``processed`` of ``total`` items so far)."""
        if message is None:
            done = f"{processed}/{total}" if total is not None else f"{processed}"
            message = f"stage {stage} progress: {done}"
        self._event(
            logging.INFO,
            "stage_progress",
            stage,
            message,
            {"processed": processed, "total": total, **fields},
        )

    @_best_effort
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
        """Log ``stage_complete``; ``elapsed_s`` is measured when this process saw the start."""
        measured = _clock.stop(self._stage_key(stage))
        elapsed_s = measured if measured is not None else elapsed
        details = []
        if processed is not None:
            details.append(f"{processed} processed")
        if elapsed_s is not None:
            details.append(f"in {elapsed_s:.3f}s")
        if credits_used is not None:
            details.append(f"{credits_used} credits")
        message = f"stage {stage} completed" + (": " + ", ".join(details) if details else "")
        self._event(
            logging.INFO,
            "stage_complete",
            stage,
            message,
            {
                "processed": processed,
                "elapsed_s": elapsed_s,
                "credits_used": credits_used,
                "result": result,
                **fields,
            },
        )

    @_best_effort
    def stage_error(
        self, stage: Stage, error: object, *, exc_info: ExcInfo = None, **fields: Any
    ) -> None:
        """Log ``stage_error`` at ``ERROR`` with the error, its type and traceback."""
        try:
            info = _exc_info(error, exc_info)
        except Exception:
            info = None
        if isinstance(error, BaseException):
            error_type: str | None = type(error).__name__
        else:
            error_type = info[0].__name__ if info else None
        text = str(error)
        _clock.stop(self._stage_key(stage))
        self._event(
            logging.ERROR,
            "stage_error",
            stage,
            f"stage {stage} failed: " + (f"{error_type}: {text}" if error_type else text),
            {"error": text, "error_type": error_type, "traceback": None, **fields},
            exc_info=info,
        )

    @_best_effort
    def trace(
        self, event: str, *, stage: Stage | None = None, message: str | None = None, **fields: Any
    ) -> None:
        """Log a custom event (per-item progress...) to the logs and the trace."""
        self._event(logging.INFO, str(event), stage, message or str(event), fields)

    @_best_effort
    def progress(
        self, processed: int, total: int | None = None, message: str | None = None, **fields: Any
    ) -> None:
        """``stage_progress`` for the stage this adapter is bound to."""
        self.stage_progress(self.context.stage, processed, total, message, **fields)  # type: ignore[arg-type]

    @_best_effort
    def end(self, status: str = "completed", **fields: Any) -> None:
        """Log ``run_end`` with ``status`` (completed, failed, cancelled) and ``elapsed_s``."""
        if status not in RUN_STATUSES:
            _report(
                f"run_end for {self.run_id}",
                ValueError(f"unknown status {status!r}, using 'failed'"),
            )
            fields.setdefault("requested_status", str(status))
            status = "failed"
        elapsed_s = _clock.stop((self.run_id, ""))
        if elapsed_s is None:
            started = run_started_at(self.run_id)
            if started is not None:
                elapsed_s = round((datetime.now(UTC) - started).total_seconds(), 3)
        level = {"completed": logging.INFO, "cancelled": logging.WARNING}.get(status, logging.ERROR)
        message = f"run {status}" + (f" after {elapsed_s:.3f}s" if elapsed_s is not None else "")
        self._event(
            level, "run_end", None, message, {"status": status, "elapsed_s": elapsed_s, **fields}
        )

    # -- binding -------------------------------------------------------------------

    def for_stage(self, stage: Stage) -> RunLogger:
        """An adapter of this run bound to *stage*."""
        return self._bound_to(stage)

    @contextmanager
    def bound(self) -> Iterator[RunContext]:
        """Bind this run (and stage) as the ambient context for the block."""
        token = set_context(self.context)
        try:
            yield self.context
        finally:
            reset_context(token)

    @contextmanager
    def stage(
        self, stage: Stage, name: str | None = None, pending: int | None = None, **fields: Any
    ) -> Iterator[RunLogger]:
        """Start a stage; complete it on exit, log ``stage_error`` and re-raise on an exception.

        Inside the block the stage is the ambient context, so records of any
        logger go to the stage log; set ``st.processed``, ``st.credits_used``
        and ``st.result`` for the ``stage_complete`` event.
        """
        st = self.for_stage(stage)
        self.stage_start(stage, name, pending, **fields)
        try:
            check_stage(stage)
            token = set_context(st.context)
        except Exception:  # a bad stage: its records are refused by the handlers
            token = None
        try:
            yield st
        except BaseException as exc:
            self.stage_error(stage, exc, exc_info=exc)
            raise
        else:
            self.stage_complete(stage, st.processed, credits_used=st.credits_used, result=st.result)
        finally:
            if token is not None:
                reset_context(token)


def start_run(
    logger: logging.Logger | str,
    account_id: TenantId | None = None,
    site_id: TenantId | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> RunLogger:
    """Start a run: a new id (unless given), its header and the ``run_start`` event.

    Raises ``ValueError`` for ids that fail validation.
    """
    run = RunLogger(logger, new_run_id() if run_id is None else run_id, account_id, site_id)
    _clock.start((run.run_id, ""))
    run._event(
        logging.INFO,
        "run_start",
        None,
        "run started",
        {
            "metadata": dict(metadata) if metadata is not None else None,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        },
    )
    return run
