"""The C accelerator's record routing and inotify poll (``_speedups_records.c``).

``route_fast`` gives the route the Python ``route_of`` gives, or ``None`` and
leaves the record to it; for a record naming its run, tenant and stage by plain
ids seen before it does route it.  (``build_record`` is checked against
``logging.LogRecord`` by tests/test_logrecord.py, run with and without it.)
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import configured_speedups
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import igny8_logging as igl
from igny8_logging import _records, _routing, _watch
from igny8_logging._routing import FIELDS_ATTR, ROUTE_ATTR, Route

RUN_ID = "run_20261129_013000_abcd1234"


@pytest.fixture(scope="module")
def module() -> Any:
    return configured_speedups()


def python_route(record: logging.LogRecord, monkeypatch: pytest.MonkeyPatch) -> Route | None:
    with monkeypatch.context() as patch:
        patch.setattr(_routing, "_route_fast", None)
        return _routing.route_of(record)


def same(one: Route, other: Route) -> bool:
    return vars(one) == vars(other)


ids = st.one_of(
    st.none(), st.sampled_from([7, 0, "acme", "a b", "", True, 1.0, -3, 10**30])
)  # fmt: skip
run_ids = st.sampled_from([RUN_ID, "run_20261129_013000_ffff0000", "not a run", "", 5, None])
stage_values = st.one_of(st.none(), st.sampled_from([1, 2, "build", "a b", 0, True, 2.5]))
event_values = st.one_of(st.none(), st.sampled_from(["item", "stage_start", "", 3, b"x"]))
field_names = st.sampled_from(
    ["item_id", "keyword", "_private", "message", "asctime", "a b", "", "é", "score"]
)
field_values = st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats())


@st.composite
def records(draw: st.DrawFn) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "m %s", (1,), None)
    d = record.__dict__
    for key, values in (
        ("run_id", run_ids),
        ("account_id", ids),
        ("site_id", ids),
        ("stage", stage_values),
        ("event", event_values),
    ):
        if draw(st.booleans()) or (key == "run_id" and draw(st.booleans())):
            d[key] = draw(values)
    for name, value in draw(st.dictionaries(field_names, field_values, max_size=4)).items():
        d.setdefault(name, value)
    choice = draw(st.sampled_from(["none", "dict", "empty", "list"]))
    if choice != "none":
        named: Any = {"dict": {"name": "x"}, "empty": {}, "list": [("k", 1)]}[choice]
        d[FIELDS_ATTR] = named
    if draw(st.booleans()):  # a factory that changed the order
        record.__dict__ = dict(reversed(list(d.items())))
    return record


class TestRouteFast:
    """``route_fast``: the Python route or ``None``; the common case routed."""

    @settings(
        max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(record=records(), bound=st.booleans(), warm=st.booleans())
    def test_the_python_route_or_none(
        self, module: Any, monkeypatch: pytest.MonkeyPatch, record: logging.LogRecord,
        bound: bool, warm: bool,
    ) -> None:  # fmt: skip
        context = igl.bind_run(RUN_ID, 7, 42, 3) if bound else None
        if context is not None:
            context.__enter__()
        try:
            if warm:  # the Python route first: the cache then holds valid ids
                try:
                    python_route(copy.copy(record), monkeypatch)
                except (ValueError, TypeError):
                    pass
            theirs_record, ours = copy.copy(record), copy.copy(record)
            ours.__dict__ = dict(record.__dict__)
            theirs_record.__dict__ = dict(record.__dict__)
            try:
                theirs = python_route(theirs_record, monkeypatch)
            except (ValueError, TypeError):
                theirs = None
                refused = True
            else:
                refused = False
            made = module.route_fast(ours.__dict__)
        finally:
            if context is not None:
                context.__exit__(None, None, None)
        if made is None:
            assert ROUTE_ATTR not in ours.__dict__
            return
        assert not refused, "C routed a record the Python code refuses"
        assert theirs is not None
        assert same(made, theirs)
        assert ours.__dict__[ROUTE_ATTR] is made

    def test_a_plain_record_seen_before_is_routed(
        self, module: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        extra = {"run_id": RUN_ID, "account_id": 7, "site_id": "acme", "stage": 1,
                 "event": "item", "item_id": 5, "_private": 1, "keyword": "a b"}  # fmt: skip
        first = logging.makeLogRecord(extra)
        python_route(first, monkeypatch)
        second = logging.makeLogRecord(extra)
        made = module.route_fast(second.__dict__)
        assert made is not None
        assert same(made, python_route(logging.makeLogRecord(extra), monkeypatch))  # type: ignore[arg-type]
        assert made.fields == {"item_id": 5, "keyword": "a b"}
        assert (made.stage, made.event, made.parts) == (1, "item", ("7", "acme", RUN_ID))

    def test_ids_not_seen_yet_and_odd_types_are_left_to_python(self, module: Any) -> None:
        unseen = logging.makeLogRecord(
            {"run_id": "run_20261129_013000_0000beef", "account_id": 1, "site_id": 2, "stage": 9}
        )
        assert module.route_fast(unseen.__dict__) is None
        for odd in ({"stage": True}, {"account_id": 1.0}, {"event": 3}):
            record = logging.makeLogRecord(
                {"run_id": RUN_ID, "account_id": 7, "site_id": 42, "stage": 1, **odd}
            )
            assert module.route_fast(record.__dict__) is None
        missing = logging.makeLogRecord({"run_id": RUN_ID, "account_id": 7, "site_id": 42})
        assert module.route_fast(missing.__dict__) is None  # the bound context may give a stage


given_keys = st.sampled_from(
    ["event", "item_id", "keyword", "_private", "stage", "run_id", "message", "module", "",
     "_igny8_fields", "_igny8_route", "é", "a b"]
)  # fmt: skip
given_values = st.one_of(
    st.integers(), st.text(max_size=4), st.none(), st.sampled_from(["item", 3, b"x"])
)


class TestPlanAttrs:
    """``plan_attrs``: what ``RunPlan.attrs`` gives (attributes and route), or ``None``."""

    @settings(
        max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        given_extra=st.dictionaries(given_keys, given_values, max_size=5),
        bound=st.sampled_from([None, 1, "build"]),
        odd_key=st.booleans(),
    )
    def test_the_python_answer_or_none(
        self, module: Any, monkeypatch: pytest.MonkeyPatch, given_extra: dict[Any, Any],
        bound: Any, odd_key: bool,
    ) -> None:  # fmt: skip
        if odd_key:
            given_extra[5] = "an int key"
        run = igl.RunLogger("igny8.test.plan", RUN_ID, 7, "acme", stage=bound)
        plan = run._plan
        assert plan is not None
        made = module.plan_attrs(given_extra, plan.ids, plan.ref, plan.stage, plan.parts)
        with monkeypatch.context() as patch:
            patch.setattr(_records, "_plan_attrs", None)
            theirs = plan.attrs(given_extra)
        if made is None:
            return
        assert theirs is not None
        assert list(made[0].items()) == list(theirs[0].items())
        assert theirs[1] is not None
        assert same(made[1], theirs[1])

    def test_the_common_call_is_made_in_c(self, module: Any) -> None:
        run = igl.RunLogger("igny8.test.plan", RUN_ID, 7, "acme", stage=1)
        plan = run._plan
        assert plan is not None
        given_extra = {"event": "item", "item_id": 5, "_private": 1, "keyword": "a b"}
        made = module.plan_attrs(given_extra, plan.ids, plan.ref, plan.stage, plan.parts)
        assert made is not None
        attrs, route = made
        assert attrs == {**given_extra, **plan.ids}
        assert (route.event, route.stage, route.fields) == (
            "item",
            1,
            {"item_id": 5, "keyword": "a b"},
        )
        odd_ones: list[dict[Any, Any]] = [{"module": 1}, {5: 1}, {FIELDS_ATTR: {}}, {"event": 3}]
        for odd in odd_ones:
            assert module.plan_attrs(odd, plan.ids, plan.ref, plan.stage, plan.parts) is None


class TestPending:
    """``pending``: the bytes an inotify descriptor holds, -1 for a descriptor it cannot ask."""

    def test_events_are_counted(self, module: Any, tmp_path: Path) -> None:
        assert _watch.WATCHER._fd >= 0
        path = tmp_path / "f.log"
        path.write_text("x")
        fd = os.open(path, os.O_RDONLY)
        owner = object()
        try:
            wd = _watch.WATCHER.watch(fd, _watch.FILE_MASK, owner, lambda who: None)
            assert wd is not None
            _watch.WATCHER.poll()  # nothing left from before
            assert module.pending(_watch.WATCHER._fd) == 0
            path.unlink()
            assert module.pending(_watch.WATCHER._fd) > 0
            _watch.WATCHER.poll()
            assert module.pending(_watch.WATCHER._fd) == 0
            _watch.WATCHER.unwatch(wd, owner)
        finally:
            os.close(fd)

    def test_a_bad_descriptor(self, module: Any) -> None:
        with tempfile.TemporaryFile() as plain_file:  # not an inotify descriptor: no FIONREAD
            assert module.pending(plain_file.fileno()) in (-1, 0)
        assert module.pending(-1) == -1
        assert module.pending(2**40) == -1
