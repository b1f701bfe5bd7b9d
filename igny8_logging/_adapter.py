"""``RunLogger``: a ``logging.LoggerAdapter`` bound to a run (and stage), and ``start_run``.

The lifecycle events (``stage_start``, ``stage_complete``, ``end``...) are
:class:`~igny8_logging._stage_api.StageApi`'s; this module adds what binds an
adapter to a run: construction and validation, ``extra=`` merging, stage-bound
clones, the ambient context (``bound``, ``stage``) and :meth:`RunLogger.current`.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, Final

from . import _accel, _caller, _logrecord, _records
from . import _events as ev
from . import _messages as msg
from ._caller import caller_stacklevel
from ._clock import RUN_KEY, clock
from ._context import RunContext, current_run, make_context, reset_context, set_context
from ._ids import Stage, TenantId, check_stage, new_run_id
from ._records import log_record, plan_of
from ._routing import FIELDS_ATTR, RECORD_ATTRS, ROUTE_ATTR
from ._stage_api import ExcInfo, StageApi, failures, repr_of

__all__ = ["C_METHODS", "PY_METHODS", "ExcInfo", "RunLogger", "start_run"]

DEFAULT_LOGGER: Final = "igny8.automation"
#: The keyword arguments of a logging call that the lean path takes (others: ``process``).
_CALL_KWARGS: Final = frozenset({"extra", "exc_info", "stack_info", "stacklevel"})


def _logger(logger: logging.Logger | str) -> logging.Logger:
    return logging.getLogger(logger) if isinstance(logger, str) else logger


class RunLogger(StageApi):
    """A run's logger: ``.info()`` etc. plus the stage API.

    Records go to the run log, and to the stage log when this adapter is bound
    to a stage (:meth:`for_stage`, ``with run.stage(...) as st``).  A call's own
    ``extra=`` is merged with the run context; the run's ids cannot be
    overridden that way.  No logging method raises into the caller; failures
    are counted in :attr:`failures` (``RunLogger.failures.counts``).
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
        self._init(_logger(logger), make_context(run_id, account_id, site_id, stage))

    def _init(self, logger: logging.Logger, context: RunContext) -> None:
        self.context = context
        logging.LoggerAdapter.__init__(self, logger, context.as_dict())
        # The lean path (``_records``) unless a subclass changed ``process``.
        self._plan = plan_of(context, logger) if type(self).process is RunLogger.process else None
        #: Set these inside ``with run.stage(...) as st`` for ``stage_complete``.
        self.processed: int | None = None
        self.credits_used: float | None = None
        self.result: Any = None

    @classmethod
    def _of(cls, logger: logging.Logger, context: RunContext) -> RunLogger:
        """An adapter for an already validated *context*."""
        run = cls.__new__(cls)
        run._init(logger, context)
        return run

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

    @classmethod
    def current(cls, logger: logging.Logger | str = DEFAULT_LOGGER) -> RunLogger | None:
        """The run bound in the ambient context (with its stage), or ``None`` outside a run.

        Inside ``bind_run(...)``, ``with run.bound():`` or a Celery task of a
        run, this is the adapter to call ``stage_progress`` / ``trace`` on.
        """
        context = current_run()
        return None if context is None else cls._of(_logger(logger), context)

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
        context = self.context
        bound = RunContext(context.run_id, context.account_id, context.site_id, stage)
        return type(self)._of(self.logger, bound)

    # -- LoggerAdapter -----------------------------------------------------------

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log_call(logging.DEBUG, msg, args, kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log_call(logging.INFO, msg, args, kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log_call(logging.WARNING, msg, args, kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log_call(logging.ERROR, msg, args, kwargs)

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        kwargs["exc_info"] = exc_info
        self._log_call(logging.ERROR, msg, args, kwargs)

    def critical(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log_call(logging.CRITICAL, msg, args, kwargs)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not isinstance(level, int):
            if logging.raiseExceptions:
                raise TypeError("level must be an integer")
            return
        self._log_call(level, msg, args, kwargs)

    def _log_call(self, level: int, msg: object, args: tuple[object, ...], kwargs: Any) -> None:
        """One logging call: the lean path (:mod:`._records`), else ``LoggerAdapter``'s."""
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        plan = self._plan
        if kwargs:
            given = kwargs.get("extra")
            lean = len(kwargs) == 1 and given is not None
            if not (lean or kwargs.keys() <= _CALL_KWARGS):
                plan = None  # an unknown keyword: logging's own error
        else:
            given, lean = None, True
        if plan is None or plan.logger is not logger:
            msg, kwargs = self.process(msg, kwargs)
            kwargs["stacklevel"] = (
                caller_stacklevel(sys._getframe(0)) + kwargs.get("stacklevel", 1) - 1
            )
            logger.log(level, msg, *args, **kwargs)
            return
        made = plan.attrs(given) if given else None
        if made is None and given:  # the library's own keys among them: process() merges
            extra = self.process(msg, {"extra": given})[1]["extra"]
            made = (extra, None)
        attrs, route = made or (plan.ids, plan.route(plan.stage, None, {}))
        if lean:
            log_record(logger, level, msg, args, attrs, route, 3)
        else:
            log_record(
                logger,
                level,
                msg,
                args,
                attrs,
                route,
                3,
                kwargs.get("exc_info"),
                kwargs.get("stack_info", False),
                kwargs.get("stacklevel", 1),
            )

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra: dict[str, Any] = {}
        given = kwargs.get("extra")
        if isinstance(given, Mapping) and given:
            fields: dict[str, Any] = {}
            for key, value in given.items():
                if key in RECORD_ATTRS or not isinstance(key, str):
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

    # -- binding -------------------------------------------------------------------

    def for_stage(self, stage: Stage) -> RunLogger:
        """An adapter of this run bound to *stage*; ``ValueError`` for an invalid stage."""
        return self._bound_to(check_stage(stage))

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
        and ``st.result`` for the ``stage_complete`` event.  An invalid stage
        does not raise (this is a logging call): it is reported, and the
        handlers refuse its records.
        """
        try:
            st = self.for_stage(stage)
        except ValueError as exc:
            failures.failed("stage", f"stage failed and was skipped: {msg.text(repr_of(exc))}")
            st = self._bound_to(stage)
        self.stage_start(stage, name, pending, **fields)
        token = set_context(st.context) if st.context.stage is not None else None
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


def _metadata(metadata: object) -> object:
    """A copy of *metadata* to write; ``TypeError`` when it is not a mapping."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping, not {type(metadata).__name__}")
    try:
        return dict(metadata)
    except Exception as exc:  # a mapping that cannot be read: the run starts anyway
        failures.failed(
            "start_run.metadata", f"start_run could not read its metadata: {repr_of(exc)}"
        )
        return f"<{type(metadata).__name__} object: unreadable>"


def start_run(
    logger: logging.Logger | str,
    account_id: TenantId | None = None,
    site_id: TenantId | None = None,
    *,
    metadata: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> RunLogger:
    """Start a run: a new id (unless given), its header and the ``run_start`` event.

    Raises ``ValueError`` for ids that fail validation and ``TypeError`` for
    ``metadata`` that is not a mapping (programming errors, found at once);
    nothing else raises.
    """
    run = RunLogger(logger, new_run_id() if run_id is None else run_id, account_id, site_id)
    fields = {"metadata": _metadata(metadata), "host": socket.gethostname(), "pid": os.getpid()}
    _log_run_start(run, fields)
    return run


def _log_run_start(run: RunLogger, fields: dict[str, Any]) -> None:
    try:
        clock.start(run.run_id, RUN_KEY)
        run._event(logging.INFO, ev.RUN_START, None, "run started", fields)
    except Exception as exc:
        failures.failed("start_run", f"start_run failed and was skipped: {repr_of(exc)}")
    else:
        if failures.failing("start_run"):
            failures.recovered("start_run", "start_run works again")


#: RunLogger's logging methods in Python (what the C ones hand unusual calls to).
PY_METHODS: Final = {
    name: RunLogger.__dict__[name] for name in ("debug", "info", "warning", "error", "critical")
}


def _c_methods() -> dict[str, Any] | None:
    """The C accelerator's ``debug`` ... ``critical`` (``_speedups_calls.c``): ``_log_call``
    in one call for the common case, with the C record and ``extra=`` (else ``None``)."""
    configure = _accel.configure_calls
    if _logrecord.C_BUILD is None or _records._plan_attrs is None:
        return None
    spec: dict[str, object] = {
        "RunLogger": RunLogger,
        "_log_call": RunLogger._log_call,
        "Logger.isEnabledFor": logging.Logger.isEnabledFor,
        "Logger.callHandlers": logging.Logger.callHandlers,
        "vars(logging)": vars(logging),
        "LogRecord": logging.LogRecord,
        "ROUTE_ATTR": ROUTE_ATTR,
        "find_caller": _caller.find_caller,
        "_is_library": _caller._is_library,
        "_library_files": _caller._library_files,
        "_lines": _caller._lines,
        **{name.upper(): getattr(logging, name.upper()) for name in PY_METHODS},
        **PY_METHODS,
    }
    made = _accel.set_up(configure, spec)
    return made if isinstance(made, dict) and set(made) == set(PY_METHODS) else None


#: The C methods set on :class:`RunLogger` when the accelerator is built, else ``None``.
C_METHODS: Final = _c_methods()
if C_METHODS is not None:
    for _name, _method in C_METHODS.items():
        setattr(RunLogger, _name, _method)
