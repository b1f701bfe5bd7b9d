"""Outcomes before Celery acts on them: ``stage_error`` precedes a ``run_end`` logged by an errback.

Celery calls ``link_error`` errbacks from ``backend.mark_as_failure``, before its
``task_failure`` signal; the errback here is a task of its own, run by the other
pool process of a ``celery worker -P prefork -c 2`` at the same time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from _celery_env import Env, in_process_worker, prefork_worker
from celery import chain

import igny8_logging as igl
from igny8_logging.celery import stage_chord

PREFORK_KINDS = [
    "filesystem-dictconfig",
    pytest.param("redis", marks=pytest.mark.brokers),
    pytest.param("rabbitmq", marks=pytest.mark.brokers),
]
ITEMS = 8
ITEM_SECONDS = 0.1


@pytest.fixture(scope="module", params=PREFORK_KINDS)
def prefork(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    with prefork_worker(request.param, tmp_path_factory) as env:
        yield env


@pytest.fixture(scope="module")
def threads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with in_process_worker(tmp_path_factory.mktemp("stages-threads"), "threads", 4) as env:
        yield env


def ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()


def ended(events: list[dict[str, Any]]) -> bool:
    return any(e["event"] == "run_end" for e in events)


def publish(env: Env, run: igl.RunLogger, tag: str, fail_item: int | None = None) -> None:
    t = env.task
    parts = [t("s.item").si(tag, i, i == fail_item, ITEM_SECONDS) for i in range(ITEMS)]
    with run.bound():
        chain(
            t("s.keywords").si(tag, ITEMS),
            stage_chord(2, parts, t("s.clusters_done").s(tag), name="Clusters"),
            t("s.ideas").s(tag),
            t("s.finalize").s(tag),
        ).apply_async(link_error=t("s.mark_failed").s())


class TestOutcomeBeforeErrbacks:
    """A failing stage's ``stage_error`` is in the trace before the errback's ``run_end``,
    every time, with many failing runs in flight on one prefork worker."""

    def test_stage_error_precedes_run_end_from_an_errback(self, prefork: Env) -> None:
        env = prefork
        runs = [env.start_run(4, f"fail-{n}") for n in range(20)]
        for n, run in enumerate(runs):
            with run.bound():
                chain(
                    env.task("s.keywords").si(f"f{n}", 1), env.task("s.failing").s(f"f{n}")
                ).apply_async(link_error=env.task("s.mark_failed").s())
        for run in runs:
            events = env.events_when(run, ended, "run_end")
            names = [e["event"] for e in events]
            assert names.count("run_end") == 1
            assert names.index("stage_error") < names.index("run_end"), names
            assert names[-1] == "run_end"
            assert events[-1]["status"] == "failed"
