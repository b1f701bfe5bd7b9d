"""Celery: the per-task cost of ``igny8_logging.celery.connect``'s signal hooks.

A worker runs each task through the tracer Celery builds for it
(``celery.app.trace.build_tracer``), which sends ``task_prerun``,
``task_success`` and ``task_postrun``.  The benchmark calls that tracer on a
worker thread, as the ``threads`` pool does, for an empty task, rounds
alternating between the app without hooks (nothing connected) and the same
app after ``connect`` (disconnected again after the round).  The difference
is the hooks' cost per task.  No broker is involved: what is measured is the
work the hooks add to a worker, not the network.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, signals
from celery.app.trace import build_tracer

import igny8_logging as igl
from igny8_logging import celery as igl_celery

from .report import number, table

RUN_ID = "run_20261129_013000_0000cafe"


@dataclass
class CeleryResult:
    #: Median µs per task, by case and by "without"/"with".
    times: dict[str, dict[str, float]] = field(default_factory=dict)
    publish_us: float = 0.0

    @property
    def overhead_us(self) -> float:
        """The hooks' cost on the worker for an empty task of a run (the target's case)."""
        case = self.times["task of a run (header)"]
        return case["with"] - case["without"]


def _on_thread(call: Callable[[], object], count: int) -> float:
    """µs per call of *call*, run *count* times on a fresh thread."""
    spent: list[float] = []

    def work() -> None:
        start = time.perf_counter()
        for _ in range(count):
            call()
        spent.append((time.perf_counter() - start) / count * 1e6)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return spent[0]


def _header(stage: int | None = None) -> dict[str, Any]:
    return {
        "run_id": RUN_ID,
        "account_id": 7,
        "site_id": 42,
        "stage": stage,
        "parent_id": None,
        "inherited": False,
    }


def _cases() -> tuple[Celery, dict[str, Callable[[], object]]]:
    """The app and one tracer call per kind of task."""
    app = Celery("igny8_benchmark", broker="memory://", set_as_current=False)
    app.conf.task_ignore_result = True

    @app.task(name="bench.empty")
    def empty() -> None:
        return None

    @app.task(name="bench.stage", stage=1, stage_name="Keywords")
    def stage_task() -> None:
        return None

    @app.task(name="bench.part", stage=2, stage_part=True)
    def part_task() -> None:
        return None

    def tracer_call(task: Any, request: dict[str, Any]) -> Callable[[], object]:
        trace = build_tracer(task.name, task, app=app, hostname="bench@localhost", eager=False)

        def call() -> object:
            task_id = str(uuid.uuid4())
            return trace(task_id, [], {}, {"id": task_id, **request})

        return call

    cases: dict[str, Callable[[], object]] = {
        "empty task, no run": tracer_call(empty, {}),
        "task of a run (header)": tracer_call(empty, {igl_celery.HEADER: _header()}),
        "stage task (logs stage_start + stage_complete)": tracer_call(
            stage_task, {igl_celery.HEADER: _header()}
        ),
        "stage part (logs stage_part_complete)": tracer_call(
            part_task, {igl_celery.HEADER: _header()}
        ),
    }
    return app, cases


def _check_events(directory: str, expected: int) -> None:
    """Every stage task logged its two events: nothing was lost."""
    trace = os.path.join(directory, "celery", "7", "42", RUN_ID, "run_trace.jsonl")
    with open(trace, "rb") as stream:
        found = {kind: 0 for kind in (b"stage_start", b"stage_complete")}
        for line in stream:
            for kind in found:
                found[kind] += f'"event":"{kind.decode()}"'.encode() in line
    if set(found.values()) != {expected}:
        raise RuntimeError(f"stage task events lost: {found}, expected {expected} each")


def measure(tasks: int, rounds: int, directory: str) -> CeleryResult:
    app, cases = _cases()
    logger = logging.getLogger("benchmarks.celery")
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler_class in (igl.RunLogHandler, igl.StageLogHandler, igl.TraceHandler):
        logger.addHandler(handler_class(os.path.join(directory, "celery")))

    samples: dict[str, dict[str, list[float]]] = {
        name: {"without": [], "with": []} for name in cases
    }
    publish: list[float] = []
    try:
        for round_no in range(rounds):
            for connected in (False, True) if round_no % 2 == 0 else (True, False):
                if connected:
                    igl_celery.connect(app, logger)
                for name, call in cases.items():
                    samples[name]["with" if connected else "without"].append(
                        _on_thread(call, tasks)
                    )
                if connected:
                    with igl.bind_run(RUN_ID, 7, 42):
                        start = time.perf_counter()
                        for _ in range(tasks):
                            signals.before_task_publish.send(
                                sender="bench.empty",
                                body=None,
                                headers={},
                                exchange="",
                                routing_key="celery",
                            )
                        publish.append((time.perf_counter() - start) / tasks * 1e6)
                    igl_celery.disconnect(app)
    finally:
        igl_celery.disconnect(app)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
    _check_events(directory, rounds * tasks)
    return CeleryResult(
        {
            name: {key: statistics.median(values) for key, values in by.items()}
            for name, by in samples.items()
        },
        statistics.median(publish),
    )


def section(result: CeleryResult) -> str:
    rows = [
        (
            name,
            number(by["without"], 1),
            number(by["with"], 1),
            number(by["with"] - by["without"], 1),
        )
        for name, by in result.times.items()
    ]
    text = table(
        ("task run on a worker thread", "µs without hooks", "µs with connect", "hooks' cost µs"),
        rows,
    )
    return (
        f"{text}\n\nPublishing inside a run: the `before_task_publish` hook (header from the "
        f"bound run) costs {result.publish_us:.1f} µs per message. The stage task's cost "
        "includes writing its two events to the run, stage and trace files."
    )
