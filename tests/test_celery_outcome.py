"""Outcomes before Celery acts on them: ``stage_error`` precedes a ``run_end`` logged by an errback.

Celery calls ``link_error`` errbacks from ``backend.mark_as_failure``, before its
``task_failure`` signal; the errback here is a task of its own, run by the other
pool process of a ``celery worker -P prefork -c 2`` at the same time.
"""

from __future__ import annotations

from _celery_env import Env
from _celery_stages import (
    ended,
)
from celery import chain


class TestOutcomeBeforeErrbacks:
    """A failing stage's ``stage_error`` is in the trace before the errback's ``run_end``,
    every time, with many failing runs in flight on one prefork worker."""

    def test_stage_error_precedes_run_end_from_an_errback(self, pipeline_prefork: Env) -> None:
        env = pipeline_prefork
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
