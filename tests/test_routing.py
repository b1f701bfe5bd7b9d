"""Routing (``_routing``): which run, tenant, stage and event a record belongs to, once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import igny8_logging as igl
from igny8_logging._ids import RunRef
from igny8_logging._routing import (
    COMMON_KEYS,
    FIELDS_ATTR,
    RECORD_ATTRS,
    ROUTE_ATTR,
    field_items,
    make_route,
    route_of,
)

RUN_ID = "run_20261129_013000_abcd1234"


def record(**extra: Any) -> logging.LogRecord:
    """A record as ``Logger.makeRecord`` builds it with ``extra=``."""
    return logging.getLogger("igny8.test.routing").makeRecord(
        "igny8.test.routing", logging.INFO, __file__, 1, "hello %s", ("you",), None, extra=extra
    )


#: Every test runs with the C accelerator and without it (conftest ``speedups``).
pytestmark = pytest.mark.usefixtures("speedups")


class TestBelonging:
    """A record belongs to a run by its own ``run_id`` or the bound context; else to none."""

    def test_no_run(self) -> None:
        assert route_of(record()) is None

    def test_own_ids(self) -> None:
        route = route_of(record(run_id=RUN_ID, account_id=7, site_id="s", stage=2, event="x"))
        assert route is not None
        assert (route.run_id, route.account_id, route.site_id) == (RUN_ID, 7, "s")
        assert (route.stage, route.event, route.parts) == (2, "x", ("7", "s", RUN_ID))

    def test_bound_context_fills_what_the_record_lacks(self) -> None:
        with igl.bind_run(RUN_ID, 1, 2, stage=3):
            route = route_of(record())
            other = route_of(record(stage=4))
            foreign = route_of(record(run_id="run_20261129_013000_ffff0000"))
        assert route is not None
        assert other is not None
        assert foreign is not None
        assert (route.account_id, route.site_id, route.stage) == (1, 2, 3)
        assert other.stage == 4
        # Another run's record takes nothing from this binding.
        assert (foreign.account_id, foreign.site_id, foreign.stage) == (None, None, None)

    @pytest.mark.parametrize(
        "extra",
        [
            {"run_id": "../x"},
            {"run_id": RUN_ID, "account_id": ".."},
            {"run_id": RUN_ID, "stage": "a/b"},
        ],
    )
    def test_invalid_ids_raise(self, extra: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            route_of(record(**extra))


class TestOncePerRecord:
    """The route is kept on the record, so every handler and destination shares it."""

    def test_cached(self) -> None:
        rec = record(run_id=RUN_ID)
        assert route_of(rec) is route_of(rec)
        assert rec.__dict__[ROUTE_ATTR] is route_of(rec)

    def test_precomputed_route_is_used(self) -> None:
        """A caller that validated the ids (the adapter) attaches a route; handlers use it."""
        route = make_route(RunRef(RUN_ID, 1, None), 5, "item", {"n": 1})
        rec = record(run_id=RUN_ID, **{ROUTE_ATTR: route})
        assert route_of(rec) is route
        assert route.parts == ("1", "_", RUN_ID)


class TestFields:
    """Other ``extra`` keys are fields; names clashing with common keys get ``_`` appended."""

    def test_fields_are_the_extra_keys(self) -> None:
        route = route_of(record(run_id=RUN_ID, stage=1, item=9, _private=1))
        assert route is not None
        assert route.fields == {"item": 9}

    def test_fields_attr_carries_record_attribute_names(self) -> None:
        route = route_of(record(run_id=RUN_ID, **{FIELDS_ATTR: {"name": "n", "module": "m"}}))
        assert route is not None
        assert route.fields == {"name": "n", "module": "m"}

    def test_clashing_names(self) -> None:
        fields = {"run_id_": 1, "run_id": 2, "ts": 3, "level": 4, "item": 5}
        route = make_route(RunRef(RUN_ID), None, "x", fields)
        assert field_items(route) == [
            ("run_id_", 1),
            ("run_id__", 2),
            ("ts_", 3),
            ("level_", 4),
            ("item", 5),
        ]
        assert not {key for key, _ in field_items(route)} & set(COMMON_KEYS)

    def test_record_attrs_is_what_extra_refuses(self) -> None:
        for name in ("name", "module", "message", "asctime", "lineno"):
            assert name in RECORD_ATTRS
        with pytest.raises(KeyError):
            record(module="x")
