"""Which run, tenant, stage and event a record belongs to.

A record belongs to a run when it carries ``run_id`` (``extra={"run_id": ...}``)
or is emitted inside :func:`~igny8_logging.bind_run`; to a stage when it carries
``stage`` (or the binding has one).  The answer, a :class:`Route`, is computed
once per record and kept on it (attribute :data:`ROUTE_ATTR`), so the run,
stage and trace handlers, and any other destination, share the work, and the
renderings made from it (:mod:`._render`).

A caller that already knows the route (``RunLogger``, whose ids were validated
when it was made) may attach one with :func:`make_route`:
``extra={ROUTE_ATTR: make_route(ref, stage, event, fields)}`` (plus the usual
``run_id``... attributes, for user formatters); the handlers then skip routing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, Final

from . import _accel
from ._context import current_run, current_run_get
from ._ids import RunRef, Stage, check_stage

__all__ = [
    "COMMON_KEYS",
    "FIELDS_ATTR",
    "RECORD_ATTRS",
    "ROUTE_ATTR",
    "ROUTING_KEYS",
    "Route",
    "checked_ref",
    "checked_stage",
    "field_items",
    "make_route",
    "route_of",
]

#: The record attribute for fields whose names clash with ``LogRecord``
#: attributes (``name``, ``module``...), which ``extra=`` refuses.
FIELDS_ATTR: Final = "_igny8_fields"
#: The record attribute holding the record's :class:`Route` (``False``: no run).
ROUTE_ATTR: Final = "_igny8_route"

ROUTING_KEYS: Final = frozenset({"run_id", "account_id", "site_id", "stage", "event"})
_INIT_KEYS: Final = tuple(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
#: Attribute names a ``LogRecord`` has of its own (``extra=`` may not set them):
#: the one copy of that set (the adapter imports it).
RECORD_ATTRS: Final = frozenset(_INIT_KEYS) | {"message", "asctime", "taskName"}
_SKIP: Final = RECORD_ATTRS | ROUTING_KEYS
#: The keys every trace line starts with, in order.
COMMON_KEYS: Final = ("ts", "event", "level", "run_id", "account_id", "site_id", "stage", "message")
_COMMON: Final = frozenset(COMMON_KEYS)


class Route:
    """Where one record goes, and what it says besides its message."""

    #: The record's ISO-8601 time, made once for every file.
    ts: str | None = None
    #: The record's message (``getMessage``, or a placeholder), made once.
    message: str | None = None
    #: ``fields`` under the names both the text logs and the trace show.
    items: list[tuple[str, Any]] | None = None
    #: Whether this record's file-change events were delivered (see ``_watch``).
    polled: bool = False

    def __init__(
        self,
        ref: RunRef,
        stage: Stage | None,
        event: str | None,
        fields: dict[str, Any],
        parts: tuple[str, ...],
    ) -> None:
        self.ref = ref
        self.stage = stage
        self.event = event
        self.fields = fields
        #: The run folder below a tree's root (``ref.parts``, computed once).
        self.parts = parts
        #: Rendered payloads shared between destinations, keyed by renderer.
        self.rendered: dict[object, bytes] = {}

    @property
    def run_id(self) -> str:
        return self.ref.run_id

    @property
    def account_id(self) -> object:
        return self.ref.account_id

    @property
    def site_id(self) -> object:
        return self.ref.site_id


def make_route(
    ref: RunRef,
    stage: Stage | None,
    event: str | None,
    fields: dict[str, Any],
    parts: tuple[str, ...] | None = None,
) -> Route:
    """A route from ids already validated (a ``RunLogger``'s); attach it as :data:`ROUTE_ATTR`."""
    return Route(ref, stage, event, fields, ref.parts if parts is None else parts)


#: The id types whose validation is cached (exact types: ``True`` or ``1.0`` never hit ``1``).
_PLAIN: Final = frozenset({str, int, type(None)})
_MAX_CACHED: Final = 1024
#: Validated refs and their folders by (run id, account, site).
_refs: dict[tuple[object, ...], tuple[RunRef, tuple[str, ...]]] = {}
#: Validated stages by value.
_stages: dict[object, Stage] = {}
#: What a record's (run id, account, site, stage) route to: ref, folder, stage.
_places: dict[tuple[object, ...], tuple[RunRef, tuple[str, ...], Stage | None]] = {}


def checked_ref(run_id: object, account: object, site: object) -> tuple[RunRef, tuple[str, ...]]:
    """``RunRef.checked`` and the run folder's parts, cached for plain str/int/None ids.

    A record of a run seen before skips the validation; only valid ids of the
    exact types str / int / None are cached (no other type compares equal to them).
    """
    cacheable = type(run_id) is str and type(account) in _PLAIN and type(site) in _PLAIN
    if cacheable:
        key = (run_id, account, site)
        hit = _refs.get(key)
        if hit is not None:
            return hit
    ref = RunRef.checked(run_id, account, site)
    made = (ref, ref.parts)
    if cacheable:
        if len(_refs) >= _MAX_CACHED:
            _refs.clear()
        _refs[key] = made
    return made


def checked_stage(stage: object) -> Stage:
    """``check_stage``, cached for plain int / str stages."""
    kind = type(stage)
    if kind is int or kind is str:
        hit = _stages.get(stage)
        if hit is not None:
            return hit
        checked = check_stage(stage)
        if len(_stages) >= _MAX_CACHED:
            _stages.clear()
        _stages[stage] = checked
        return checked
    return check_stage(stage)


def _place(
    run_id: object, account: object, site: object, stage: object
) -> tuple[RunRef, tuple[str, ...], Stage | None]:
    """The validated ref, folder and stage of a record's ids (``ValueError`` when invalid)."""
    plain = (
        type(run_id) is str
        and type(account) in _PLAIN
        and type(site) in _PLAIN
        and type(stage) in _PLAIN
    )
    if plain:
        key = (run_id, account, site, stage)
        hit = _places.get(key)
        if hit is not None:
            return hit
    ref, parts = checked_ref(run_id, account, site)
    place = (ref, parts, None if stage is None else checked_stage(stage))
    if plain:
        if len(_places) >= _MAX_CACHED:
            _places.clear()
        _places[key] = place
    return place


_TAIL: Final = len(_INIT_KEYS)
_LAST: Final = _INIT_KEYS[-1]


def _fields(record_dict: dict[str, Any]) -> dict[str, Any]:
    """The record's ``extra`` keys that are fields (not routing keys, not private)."""
    # extra= keys follow LogRecord.__init__'s own in the dict: look only at those,
    # unless something (a record factory) changed the order.
    keys: Iterator[str] = islice(record_dict, _TAIL - 1, None)
    if next(keys, None) != _LAST:
        keys = iter(record_dict)
    extra: dict[str, Any] = {}
    for key in keys:
        if key not in _SKIP and key[:1] != "_":
            extra[key] = record_dict[key]
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
    cached = d.get(ROUTE_ATTR)
    if cached is not None:
        return cached or None
    if _route_fast is not None:  # the C accelerator: plain ids seen before
        route: Route | None = _route_fast(d)
        if route is not None:
            return route
    context = current_run_get()
    run_id = d.get("run_id")
    if run_id is None:
        if context is None:
            d[ROUTE_ATTR] = False
            return None
        run_id = context.run_id
    elif context is not None and context.run_id != run_id:
        context = None
    account = d.get("account_id")
    site = d.get("site_id")
    stage = d.get("stage")
    if context is not None:
        account = context.account_id if "account_id" not in d else account
        site = context.site_id if "site_id" not in d else site
        stage = context.stage if "stage" not in d else stage
    ref, parts, stage = _place(run_id, account, site, stage)
    event = d.get("event")
    if event is not None and type(event) is not str:
        event = _event_name(event)
    route = Route(ref, stage, event, _fields(d), parts)
    d[ROUTE_ATTR] = route
    return route


def _event_name(event: object) -> str:
    try:
        return str(event)
    except Exception:  # a hostile __str__
        return f"<unprintable {type(event).__name__}>"


def field_items(route: Route) -> list[tuple[str, Any]]:
    """The route's fields under the names every file shows them by.

    A field never replaces a common key of the trace: one whose name is taken
    gets ``_`` appended until it is free, in the trace and the text logs alike.
    """
    items = route.items
    if items is None and _COMMON.isdisjoint(route.fields):  # the usual case: no name taken
        items = route.items = list(route.fields.items())
    if items is None:
        items = []
        taken: set[str] | None = None
        for name, value in route.fields.items():
            key = name
            if key in _COMMON or (taken is not None and key in taken):
                if taken is None:
                    taken = {*_COMMON, *(used for used, _ in items)}
                while key in taken:
                    key += "_"
            if taken is not None:
                taken.add(key)
            items.append((key, value))
        route.items = items
    return items


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


def _c_routing() -> Callable[[dict[str, Any]], Route | None] | None:
    """The C accelerator's :func:`route_of` for plain records (:mod:`._accel`), set up."""
    fast, configure = _accel.route_fast, _accel.configure_routing
    if fast is None or configure is None:
        return None
    try:
        ready = configure(
            ROUTE_ATTR, Route, _places, _TAIL, _LAST, _SKIP, FIELDS_ATTR, RECORD_ATTRS, ROUTING_KEYS
        )
    except Exception:
        return None
    return fast if ready else None


_route_fast: Final = _c_routing()
#: The C accelerator's ``RunPlan.attrs`` (:mod:`._records`); set up with the routing.
plan_attrs_fast: Final = _accel.plan_attrs if _route_fast is not None else None
