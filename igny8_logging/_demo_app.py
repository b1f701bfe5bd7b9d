"""The demo's Celery app: three stage tasks, keywords → clusters → ideas.

Each stage task (``@app.task(stage=N)``) writes per-item trace events and
credits; one cluster fails once with a provider timeout and is retried by
Celery.  The work is simulated: each stage takes about ``STAGE_SECONDS`` in
all, whatever the number of items, and stops at once when the demo stops.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any, Final

from celery import Celery, Task
from kombu import Exchange, Queue

from . import celery as igny8_celery
from ._adapter import RunLogger
from ._context import current_run

__all__ = [
    "LOGGER",
    "STAGE_SECONDS",
    "DemoInterrupted",
    "ProviderTimeout",
    "build_app",
]

LOGGER: Final = "igny8.automation"
#: Seconds each stage's items take in all (simulated work), whatever their number.
STAGE_SECONDS: Final = {1: 1.0, 2: 1.0, 3: 1.2}
RETRY_COUNTDOWN: Final = 0.4
KEYWORDS: Final = (
    "trail running shoes",
    "waterproof hiking boots",
    "best running socks",
    "marathon training plan",
    "ultralight backpack",
    "running shoes for flat feet",
    "hiking boots for women",
    "trail running vest",
    "how to lace running shoes",
    "half marathon pace chart",
    "merino wool base layer",
    "trekking poles review",
    "running shoe drop explained",
    "barefoot running benefits",
    "hiking snacks ideas",
    "cushioned running shoes",
)
#: Ideas written per cluster.
ANGLES: Final = ("The complete guide to {}", "7 mistakes people make with {}")

log = logging.getLogger(LOGGER + ".demo")

Work = Callable[[int, int], None]


class ProviderTimeout(Exception):
    """The (simulated) AI provider did not answer in time."""


class DemoInterrupted(Exception):
    """The demo was stopped (Ctrl-C) while a stage was running."""


def _simulated_work(stopping: threading.Event) -> Work:
    def work(stage: int, count: int) -> None:
        """One item's simulated work; stops the stage at once when the demo stops."""
        if stopping.wait(STAGE_SECONDS[stage] / max(count, 1)):
            raise DemoInterrupted("the demo was interrupted")

    return work


def _run_of_task() -> RunLogger:
    """The run this task belongs to (bound by the Celery integration), for ``trace``."""
    context = current_run()
    if context is None:
        raise RuntimeError("demo task called outside a run")
    return RunLogger(LOGGER, context.run_id, context.account_id, context.site_id)


def _configure(app: Celery, queue: str) -> None:
    app.conf.update(
        broker_transport_options={"polling_interval": 0.05},
        broker_connection_retry_on_startup=True,
        task_default_queue=queue,
        task_default_exchange=queue,
        task_default_routing_key=queue,
        task_queues=[
            Queue(
                queue,
                # Not auto-deleted: that raced with the last publishes; stop() removes it.
                Exchange(queue, "direct", durable=False),
                routing_key=queue,
                durable=False,
                auto_delete=True,
            )
        ],
        task_ignore_result=True,
        worker_prefetch_multiplier=4,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
    )


def _keyword(i: int) -> str:
    phrase = KEYWORDS[i % len(KEYWORDS)]
    return phrase if i < len(KEYWORDS) else f"{phrase} {i // len(KEYWORDS) + 1}"


def _add_keywords(app: Celery, work: Work) -> None:
    @app.task(shared=False, name="igny8_demo.keywords", stage=1, stage_name="Keywords")
    def keywords(count: int, seed: int) -> dict[str, Any]:
        run = _run_of_task()
        rng = random.Random(seed)
        found = []
        log.info("scoring %d seed keywords", count)
        for i in range(count):
            phrase = _keyword(i)
            work(1, count)
            volume = rng.randrange(200, 40_000, 10)
            found.append({"keyword": phrase, "volume": volume})
            run.trace("keyword_scored", stage=1, keyword=phrase, volume=volume, credits=1)
            run.stage_progress(1, i + 1, count)
        return {
            "processed": count,
            "credits_used": count,
            "result": {"keywords": count},
            "keywords": found,
        }


def _add_clusters(app: Celery, work: Work) -> None:
    @app.task(
        shared=False,
        name="igny8_demo.clusters",
        bind=True,
        max_retries=3,
        stage=2,
        stage_name="Clusters",
    )
    def clusters(
        self: Task[Any, Any],
        previous: dict[str, Any],
        resume_at: int = 0,
        done: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        run = _run_of_task()
        words = sorted(previous["keywords"], key=lambda k: -k["volume"])
        groups = [words[i : i + 3] for i in range(0, len(words), 3)]
        flaky = min(1, len(groups) - 1)  # this cluster times out on its first attempt
        done = list(done or [])
        log.info("clustering %d keywords, from cluster %d", len(words), resume_at + 1)
        for i in range(resume_at, len(groups)):
            name = groups[i][0]["keyword"]
            work(2, len(groups))
            if i == flaky and self.request.retries == 0:
                error = ProviderTimeout(f"AI provider timed out clustering {name!r}")
                log.warning("cluster %d/%d %r: %s, retrying", i + 1, len(groups), name, error)
                run.trace("item_failed", stage=2, cluster=name, error=str(error), attempt=1)
                kwargs = {"resume_at": i, "done": done}
                raise self.retry(exc=error, countdown=RETRY_COUNTDOWN, kwargs=kwargs)
            volume = sum(k["volume"] for k in groups[i])
            done.append({"name": name, "keywords": [k["keyword"] for k in groups[i]]})
            attempt = self.request.retries + 1
            run.trace("cluster_formed", stage=2, cluster=name, size=len(groups[i]),
                      volume=volume, credits=2, attempt=attempt)  # fmt: skip
            run.stage_progress(2, i + 1, len(groups))
        return {
            "processed": len(done),
            "credits_used": 2 * len(done),
            "result": {"clusters": len(done)},
            "clusters": done,
        }


def _add_ideas(app: Celery, work: Work) -> None:
    @app.task(shared=False, name="igny8_demo.ideas", stage=3, stage_name="Ideas")
    def ideas(previous: dict[str, Any]) -> dict[str, Any]:
        run = _run_of_task()
        total = len(previous["clusters"]) * len(ANGLES)
        made = 0
        log.info("writing %d ideas for %d clusters", total, len(previous["clusters"]))
        for cluster in previous["clusters"]:
            for angle in ANGLES:
                title = angle.format(cluster["name"])
                work(3, total)
                made += 1
                run.trace("idea_created", stage=3, cluster=cluster["name"], title=title, credits=3)
                run.stage_progress(3, made, total)
        return {"processed": made, "credits_used": 3 * made, "result": {"ideas": made}}


def build_app(broker: str, queue: str, stopping: threading.Event) -> Celery:
    """The demo's Celery app and its three stage tasks, connected to ``igny8.automation``.

    Setting *stopping* makes a running stage fail with :class:`DemoInterrupted`.
    """
    work = _simulated_work(stopping)
    app = Celery("igny8_demo", broker=broker, set_as_current=False)
    _configure(app, queue)
    igny8_celery.connect(app, LOGGER)
    _add_keywords(app, work)
    _add_clusters(app, work)
    _add_ideas(app, work)

    @app.task(shared=False, name="igny8_demo.wake")
    def wake() -> None:
        """Wakes the worker's loop so that it sees the stop request at once."""

    return app
