"""``connect`` / ``disconnect`` / ``run_logger`` on a real in-process solo worker."""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterator

import pytest
from _celery_env import (
    Env,
    in_process_worker,
    stage_events,
    wait_until,
)

import igny8_logging as igl
from igny8_logging import celery as igc


@pytest.fixture(scope="class")
def solo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with in_process_worker(tmp_path_factory.mktemp("solo"), "solo", 1) as env:
        yield env


class TestConnect:
    """Connecting is idempotent and checked; disconnecting stops logging; ``run_logger()``
    outside a task is the bound run, else ``None``."""

    def test_connecting_again_logs_every_event_once(self, solo_env: Env) -> None:
        env = solo_env
        igc.connect(env.app, env.logger)
        igc.connect(env.app, logging.getLogger(env.logger))
        with pytest.raises(ValueError):
            igc.connect(env.app, "igny8.another.logger")
        with pytest.raises(ValueError):
            igc.connect(env.app, logging.getLogger())
        run = env.start_run(10, 10)
        with run.bound():
            env.task("t.keywords").delay(0)
        wait_until(
            lambda: "note via task logger: child of keywords" in env.text(run, "stage_1.log"),
            "the child's records",
        )
        assert stage_events(env.events(run), 1) == ["stage_start", "stage_complete"]
        text = env.text(run)
        for line in ("keywords: fetching 0 keywords", "note: child of keywords"):
            assert text.count(line) == 1

    def test_disconnect_stops_logging(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(12, 12)
        igc.disconnect(env.app)
        try:
            with run.bound():
                value = env.task("t.keywords").delay(0).get(timeout=20)
        finally:
            igc.connect(env.app, env.logger)
        assert value["processed"] == 0
        with run.bound():
            env.task("t.note").delay("connected again").get(timeout=20)
        wait_until(lambda: "connected again" in env.text(run), "the reconnected task's record")
        assert [e["event"] for e in env.events(run)] == ["run_start"]
        assert "keywords: fetching" not in env.text(run)

    def test_run_logger_outside_a_task(self, solo_env: Env) -> None:
        env = solo_env
        assert igc.run_logger() is None
        run = env.start_run(13, 13)
        with igl.bind_run(run.run_id, 13, 13, stage=2):
            bound = igc.run_logger()
        assert bound is not None
        assert (bound.run_id, bound.stage_id) == (run.run_id, 2)
