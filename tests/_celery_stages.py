"""The stage-chord pipeline shared by the Celery stage tests (chord, outcome, roles).

``publish`` sends the issue's pipeline, ``chain(keywords[stage 1], stage_chord(2, [item x 8],
clusters_done), ideas[stage 3], finalize)`` with a ``link_error`` errback, inside a run; the
``pipeline_prefork`` and ``pipeline_threads`` fixtures (registered by ``tests/conftest.py``)
give each test module its own workers.
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
def pipeline_prefork(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    with prefork_worker(request.param, tmp_path_factory) as env:
        yield env


@pytest.fixture(scope="module")
def pipeline_threads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
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
