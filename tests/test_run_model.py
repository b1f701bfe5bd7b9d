"""``contrib.django.RunModelHandler`` keeping a real SQLite row in step, from a prefork worker.

The worker process (``celery worker -P prefork -c 2`` on kombu's filesystem
transport) sets Django up on a SQLite file and configures the handler with
``dictConfig``; this process inserts the app's rows and reads them back with
:mod:`sqlite3`, as another client of the same database would.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _celery_env import Env, prefork_worker, wait_until
from celery import chain

import igny8_logging as igl
from igny8_logging.celery import stage_chord

TABLE = "djangoapp_pipelinerun"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Env, Path]]:
    database = tmp_path_factory.mktemp("django-db") / "app.sqlite3"
    with prefork_worker(
        "filesystem-dictconfig", tmp_path_factory, {"IGNY8_TEST_DJANGO_DB": str(database)}
    ) as env:
        yield env, database


def insert(database: Path, run_id: str) -> None:
    with sqlite3.connect(database, timeout=10) as db:
        db.execute(f"INSERT INTO {TABLE} (run_id, status) VALUES (?, 'queued')", (run_id,))


def row(database: Path, run_id: str) -> dict[str, Any] | None:
    with sqlite3.connect(database, timeout=10) as db:
        db.row_factory = sqlite3.Row
        found = db.execute(f"SELECT * FROM {TABLE} WHERE run_id = ?", (run_id,)).fetchone()
    return None if found is None else dict(found)


def status_is(database: Path, run_id: str, status: str) -> dict[str, Any] | None:
    """The row once its status is *status* (``None`` before)."""
    found = row(database, run_id)
    return found if found is not None and found["status"] == status else None


class TestRunModelHandler:
    """The row follows the run: ``running`` at ``run_start``, each stage's result at its
    ``stage_complete``, the ``run_end`` status; a run without a row is skipped."""

    def test_the_row_follows_the_run(self, worker: tuple[Env, Path]) -> None:
        env, database = worker
        run_id = igl.new_run_id()
        insert(database, run_id)
        env.task("s.start_here").delay(run_id, 20, "shop")
        wait_until(lambda: status_is(database, run_id, "running"), "status running")
        run = igl.RunLogger.attach(env.logger, run_id, 20, "shop")
        t = env.task
        with run.bound():
            chain(
                t("s.keywords").si("db", 2),
                stage_chord(
                    2,
                    [t("s.item").si("db", i, False, 0) for i in range(3)],
                    t("s.clusters_done").s("db"),
                ),
                t("s.ideas").s("db"),
                t("s.finalize").s("db"),
            ).delay()
        done = wait_until(lambda: status_is(database, run_id, "completed"), "status completed")
        assert json.loads(done["stage_1_result"]) == {"tag": "db"}
        assert json.loads(done["stage_2_result"]) == {"clusters": 3}

    def test_a_failed_run_and_a_run_without_a_row(self, worker: tuple[Env, Path]) -> None:
        env, database = worker
        failing, rowless = igl.new_run_id(), igl.new_run_id()
        insert(database, failing)
        for run_id in (rowless, failing):
            run = igl.RunLogger.attach(env.logger, run_id, 21, "shop")
            with run.bound():
                chain(env.task("s.keywords").si("f", 1), env.task("s.failing").s("f")).apply_async(
                    link_error=env.task("s.mark_failed").s()
                )
        failed = wait_until(lambda: status_is(database, failing, "failed"), "status failed")
        assert json.loads(failed["stage_1_result"]) == {"tag": "f"}
        assert failed["stage_2_result"] is None
        assert row(database, rowless) is None  # skipped, not created
