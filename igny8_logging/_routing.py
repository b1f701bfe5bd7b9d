"""Which run, tenant, stage and event a record belongs to.

A record belongs to a run when it carries ``run_id`` (``extra={"run_id": ...}``)
or is emitted inside :func:`~igny8_logging.bind_run`; to a stage when it carries
``stage`` (or the binding has one).  The answer is computed once per record and
kept on it, so the run, stage and trace handlers share the work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Final

from ._context import current_run
from ._ids import RunRef, Stage, check_stage

__all__ = ["FIELDS_ATTR", "ROUTING_KEYS", "Route", "route_of"]

#: The record attribute the adapter uses for fields whose names clash with
#: ``LogRecord`` attributes (``name``, ``module``...), which ``extra=`` refuses.
FIELDS_ATTR: Final = "_igny8_fields"
_ROUTE_ATTR: Final = "_igny8_route"

ROUTING_KEYS: Final = frozenset({"run_id", "account_id", "site_id", "stage", "event"})
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_SKIP: Final = _STANDARD | ROUTING_KEYS
_UNSET: Final[Any] = object()


@dataclass(slots=True, eq=False)
class Route:
    """Where one record goes, and what it says besides its message."""

    ref: RunRef
    stage: Stage | None
    event: str | None
    fields: dict[str, Any]
    #: The run folder below a tree's root (``ref.parts``, computed once).
    parts: tuple[str, ...]
    #: Rendered payloads shared between handlers, keyed by renderer.
    rendered: dict[object, bytes] = field(default_factory=dict)
    #: The record's ISO-8601 time, made once for every file (see ``_format.record_ts``).
    ts: str | None = None

    @property
    def run_id(self) -> str:
        return self.ref.run_id

    @property
    def account_id(self) -> object:
        return self.ref.account_id

    @property
    def site_id(self) -> object:
        return self.ref.site_id


_REF_TYPES: Final = (str, int, type(None))
_MAX_REFS: Final = 1024
#: Validated refs and their folders by (run id, account, site and their types).
_refs: dict[tuple[object, ...], tuple[RunRef, tuple[str, ...]]] = {}


def _checked_ref(run_id: object, account: object, site: object) -> tuple[RunRef, tuple[str, ...]]:
    """``RunRef.checked`` and the run folder's parts, cached for plain str/int/None ids.

    A record of a run seen before skips the validation; only valid ids are
    cached, keyed with their types so that ``1`` and ``"1"`` stay apart.
    """
    cacheable = type(run_id) is str and type(account) in _REF_TYPES and type(site) in _REF_TYPES
    if cacheable:
        key = (run_id, account, site, type(account), type(site))
        hit = _refs.get(key)
        if hit is not None:
            return hit
    ref = RunRef.checked(run_id, account, site)
    made = (ref, ref.parts)
    if cacheable:
        if len(_refs) >= _MAX_REFS:
            _refs.clear()
        _refs[key] = made
    return made


def _fields(record_dict: dict[str, Any]) -> dict[str, Any]:
    extra = {key: record_dict[key] for key in record_dict.keys() - _SKIP if key[:1] != "_"}
    named = record_dict.get(FIELDS_ATTR)
    if named:
        extra.update(named)
    return extra


def route_of(record: logging.LogRecord) -> Route | None:
    """The record's route, ``None`` for a record of no run.

    Raises ``ValueError`` when the record names a run, tenant or stage that
    fails validation (such a record is refused, never written).
    """
    d = record.__dict__
    cached = d.get(_ROUTE_ATTR)
    if cached is not None:
        return cached or None
    context = current_run()
    run_id = d.get("run_id")
    if run_id is None:
        if context is None:
            d[_ROUTE_ATTR] = False
            return None
        run_id = context.run_id
    elif context is not None and context.run_id != run_id:
        context = None
    account = d.get("account_id", _UNSET)
    site = d.get("site_id", _UNSET)
    stage = d.get("stage", _UNSET)
    if context is not None:
        account = context.account_id if account is _UNSET else account
        site = context.site_id if site is _UNSET else site
        stage = context.stage if stage is _UNSET else stage
    ref, parts = _checked_ref(
        run_id, None if account is _UNSET else account, None if site is _UNSET else site
    )
    stage = None if stage is _UNSET or stage is None else check_stage(stage)
    event = d.get("event")
    if event is not None and not isinstance(event, str):
        event = str(event)
    route = Route(ref, stage, event, _fields(d), parts)
    d[_ROUTE_ATTR] = route
    return route


class RunContextFilter(logging.Filter):
    """Stamps the bound run context onto records as attributes.

    Add it to a ``QueueHandler`` (or a console handler whose format shows
    ``%(run_id)s``) so the context survives the hop to another thread or
    process, where the context variable is not set.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_run()
        d = record.__dict__
        if context is not None and d.get("run_id") is None:
            d["run_id"] = context.run_id
            d.setdefault("account_id", context.account_id)
            d.setdefault("site_id", context.site_id)
            d.setdefault("stage", context.stage)
        return True
