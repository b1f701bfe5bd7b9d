"""Making a run's records: the ``LogRecord`` of a ``RunLogger`` call, its route attached.

Through ``LoggerAdapter.log`` a record costs ``process`` (a new ``extra``),
``Logger.log`` / ``_log``, ``makeRecord`` copying ``extra`` key by key with a
check against the record's own attributes, and then the first handler routing
the record again from those attributes.  A ``RunLogger`` knows its run's
validated ids, so :func:`log_record` builds the record itself: the logger's
caller (the first frame that is not the library's, :func:`._caller.find_caller`), the
current record factory (``logging.setLogRecordFactory`` is honoured; the stock
one without its per-call path parsing, :mod:`._logrecord`), the
attributes in one ``update``, and the :class:`~._routing.Route` attached
(:data:`~._routing.ROUTE_ATTR`), so that every handler skips routing.  The
record is then given to ``logger.handle``: the logger's filters, its handlers
and propagation work as ever.

A logger whose class overrides ``makeRecord``, ``_log``, ``findCaller`` or
``handle`` gets the standard path (:func:`standard_logger` says which), so such
an override is honoured.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, Final

from ._caller import caller_stacklevel, find_caller
from ._context import RunContext
from ._logrecord import make_record
from ._routing import (
    FIELDS_ATTR,
    RECORD_ATTRS,
    ROUTE_ATTR,
    ROUTING_KEYS,
    Route,
    checked_ref,
    checked_stage,
    plan_attrs_fast,
)

__all__ = ["RunPlan", "log_record", "plan_of", "standard_logger"]

_LOGGER: Final = logging.Logger
_STOCK: Final = (_LOGGER.makeRecord, _LOGGER._log, _LOGGER.findCaller, _LOGGER.handle)
_standard: dict[type, bool] = {}
#: ``RunPlan.attrs`` in C (:mod:`._accel`), ``None`` without it.
_plan_attrs = plan_attrs_fast


def standard_logger(logger: logging.Logger) -> bool:
    """Whether *logger* makes and handles its records as ``logging.Logger`` does (no
    override of ``makeRecord``, ``_log``, ``findCaller`` or ``handle``)."""
    kind = type(logger)
    known = _standard.get(kind)
    if known is None:
        known = isinstance(logger, logging.Logger) and (
            (kind.makeRecord, kind._log, kind.findCaller, kind.handle) == _STOCK
        )
        _standard[kind] = known
    return known


class RunPlan:
    """What every record of one adapter shares: its logger, validated ids, folder and stage."""

    __slots__ = ("ids", "logger", "parts", "ref", "stage")

    def __init__(self, context: RunContext, logger: logging.Logger) -> None:
        #: The logger the plan was made for (another one, or a custom class: standard path).
        self.logger = logger
        self.ref, self.parts = checked_ref(context.run_id, context.account_id, context.site_id)
        self.stage = None if context.stage is None else checked_stage(context.stage)
        #: The record attributes naming the run (what user formatters show).
        self.ids: dict[str, Any] = {
            "run_id": self.ref.run_id,
            "account_id": self.ref.account_id,
            "site_id": self.ref.site_id,
            "stage": self.stage,
        }

    def route(self, stage: object, event: str | None, fields: dict[str, Any]) -> Route | None:
        """The route of a record of *stage* (validated here; ``None`` when invalid)."""
        if stage is not self.stage and stage is not None:
            try:
                stage = checked_stage(stage)
            except ValueError:
                return None  # the handlers route it, and refuse it, counting the refusal
        return Route(self.ref, stage, event, fields, self.parts)

    def attrs(self, given: object) -> tuple[dict[str, Any], Route | None] | None:
        """A call's ``extra=`` as record attributes, and the record's route.

        What ``RunLogger.process`` makes of it: the run's ids win over the
        call's, a ``stage`` of the call counts only on an adapter bound to no
        stage, and keys the record has of its own (``name``, ``module``...) or
        that are not ``str`` are kept as fields (:data:`FIELDS_ATTR`).  ``None``
        when *given* holds the library's own keys (left to ``process``).
        """
        if _plan_attrs is not None:  # the C accelerator: the common case, else None
            made: tuple[dict[str, Any], Route | None] | None = _plan_attrs(
                given, self.ids, self.ref, self.stage, self.parts
            )
            if made is not None:
                return made
        if type(given) is not dict and not isinstance(given, Mapping):
            return self.ids, self.route(self.stage, None, {})
        if FIELDS_ATTR in given or ROUTE_ATTR in given:
            return None
        fields: dict[str, Any] = {}
        plain = RECORD_ATTRS.isdisjoint(given)
        if plain:
            for key, value in given.items():
                if type(key) is not str:
                    plain = False
                    break
                if key not in ROUTING_KEYS and key[:1] != "_":
                    fields[key] = value
        if plain:
            attrs = {**given, **self.ids}
        else:
            attrs, fields = self._split(given)
        stage = self.stage
        if stage is None and "stage" in given:
            stage = attrs["stage"] = given["stage"]
        event = attrs.get("event")
        if event is not None and type(event) is not str:
            return attrs, None  # the handlers name it (a hostile __str__ is their business)
        return attrs, self.route(stage, event, fields)

    def _split(self, given: Mapping[Any, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``attrs`` for a mapping with keys that cannot be attributes (kept as fields)."""
        attrs: dict[str, Any] = {}
        fields: dict[str, Any] = {}
        named: dict[str, Any] = {}
        for key, value in given.items():
            if key in RECORD_ATTRS or not isinstance(key, str):
                named[str(key)] = value
            else:
                attrs[key] = value
                if key not in ROUTING_KEYS and key[:1] != "_":
                    fields[key] = value
        attrs.update(self.ids)
        if named:
            attrs[FIELDS_ATTR] = named
            fields.update(named)
        return attrs, fields


def plan_of(context: RunContext, logger: logging.Logger) -> RunPlan | None:
    """The lean path's plan for *context* on *logger*; ``None`` for the standard path.

    ``None`` when the logger's class overrides how records are made, or the
    context's ids do not validate (its records are then refused by the handlers).
    """
    if not standard_logger(logger):
        return None
    try:
        return RunPlan(context, logger)
    except ValueError:
        return None


def log_record(
    logger: logging.Logger,
    level: int,
    msg: object,
    args: Any,
    attrs: dict[str, Any],
    route: Route | None,
    skip: int,
    exc_info: Any = None,
    stack_info: bool = False,
    stacklevel: int = 1,
) -> None:
    """Make the record of a call and hand it to ``logger.handle``.

    *attrs* become the record's attributes (as ``extra=`` would), *route* is
    attached when given.  The caller is the first frame that is not the
    library's from *skip* frames above this one (the caller's own count of its
    library frames: fewer is safe, the walk goes on over the library's);
    *stacklevel* counts from there, as ``Logger.log``'s does from its caller.
    """
    if stack_info:  # rare: logging's own walk prints the stack
        level_up = caller_stacklevel(sys._getframe(0)) + stacklevel - 1
        fn, lno, func, sinfo = logger.findCaller(stack_info, level_up)
    else:
        (fn, lno, func), sinfo = find_caller(sys._getframe(skip), stacklevel), None
    if exc_info:
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        elif not isinstance(exc_info, tuple):
            exc_info = sys.exc_info()
    record = make_record(logger.name, level, fn, lno, msg, args, exc_info, func, sinfo)
    d = record.__dict__
    d.update(attrs)
    if route is not None:
        d[ROUTE_ATTR] = route
    if logger.filters or logger.disabled:
        logger.handle(record)
    else:  # what Logger.handle does then, without the call
        logger.callHandlers(record)
