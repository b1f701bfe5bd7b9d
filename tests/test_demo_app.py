"""``_demo_app``: the demo's three stage tasks and their simulated, stoppable work."""

from __future__ import annotations

import threading

import pytest

from igny8_logging._demo_app import (
    KEYWORDS,
    DemoInterrupted,
    _keyword,
    _simulated_work,
    build_app,
)


class TestApp:
    """The app declares keywords → clusters → ideas as stage tasks 1, 2, 3."""

    def test_stage_tasks(self) -> None:
        app = build_app("memory://localhost/", "igny8-demo-test", threading.Event())
        tasks = {
            name: app.tasks[f"igny8_demo.{name}"] for name in ("keywords", "clusters", "ideas")
        }
        assert [getattr(t, "stage", None) for t in tasks.values()] == [1, 2, 3]
        assert [getattr(t, "stage_name", None) for t in tasks.values()] == [
            "Keywords",
            "Clusters",
            "Ideas",
        ]
        assert app.conf.task_default_queue == "igny8-demo-test"
        assert tasks["clusters"].max_retries == 3

    def test_keywords_stay_distinct_past_the_list(self) -> None:
        names = [_keyword(i) for i in range(3 * len(KEYWORDS))]
        assert len(set(names)) == len(names)


class TestWork:
    """The simulated work stops at once when the demo stops."""

    def test_stop(self) -> None:
        stopping = threading.Event()
        work = _simulated_work(stopping)
        work(1, 1000)  # a thousandth of a second: runs
        stopping.set()
        with pytest.raises(DemoInterrupted):
            work(3, 1)  # would take 1.2 s: interrupted at once
