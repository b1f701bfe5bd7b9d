"""The Celery app of the Celery tests: one pipeline, for in-process and prefork workers.

``make_app`` builds an app with the pipeline's tasks and connects it with
``igny8_logging.celery.connect``.  The test process uses it as a producer (and
for in-process workers); a ``celery -A _celery_app worker`` subprocess builds
the module-level ``app`` from ``IGNY8_TEST_*`` environment variables, with one
of the two logging setups the README documents (``IGNY8_TEST_LOGGING``):

* ``celery``: Celery's own logging left on (it takes over the root logger);
  the run handlers are configured once at import, on ``igny8.automation``.
* ``dictconfig``: a ``setup_logging`` receiver calls
  ``dictConfig(logging_config(...))`` and Celery leaves logging alone.

The message files of kombu's ``filesystem://`` transport are written in place
under their final name, so a worker listing the folder can pick up a file
that is still being written and fail to decode it.  ``AtomicFilesystemTransport``
(alias ``igny8fs://``) writes each message under a name no queue matches and
renames it into place, which is atomic on one filesystem.
"""

from __future__ import annotations

import logging
import logging.config
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from celery import Celery, chord, group, signals
from celery.utils.log import get_task_logger
from kombu import Exchange, Queue
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps

import igny8_logging as igl
from igny8_logging.celery import connect, run_logger

#: A ``get_task_logger`` logger (parent ``celery.task``, which does not propagate).
task_log = get_task_logger("igny8test.tasks")
#: A plain module logger (propagates to the root logger).
plain_log = logging.getLogger("igny8test.plain")


class AtomicFilesystemChannel(filesystem.Channel):
    """kombu's filesystem channel, writing each message file atomically."""

    # kombu's own annotations of _put disagree between its base classes.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        folder = self.data_folder_out
        temporary = os.path.join(folder, f".{name}.part")  # matches no queue: never read
        with open(temporary, "wb") as f:
            f.write(dumps(payload).encode("utf-8"))
        os.rename(temporary, os.path.join(folder, name))


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = AtomicFilesystemChannel


TRANSPORT_ALIASES.setdefault("igny8fs", f"{__name__}:AtomicFilesystemTransport")


def make_app(
    name: str,
    *,
    broker: str,
    backend: str,
    queue: str,
    logger: str = "igny8.automation",
    **conf: Any,
) -> Celery:
    """An app with the pipeline's tasks, connected to *logger*."""
    app = Celery(name, broker=broker, backend=backend, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        task_queues=[
            # x-expires: RabbitMQ drops the per-run queue once it is unused.
            Queue(queue, Exchange(queue), routing_key=queue, queue_arguments={"x-expires": 600_000})
        ],
        task_default_exchange=queue,
        task_default_routing_key=queue,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        result_expires=None,
        **conf,
    )

    _v1_tasks(app)
    _v1_worker_tasks(app)
    _stage_tasks(app)
    _scoping_tasks(app)
    connect(app, logger)
    return app


def _v1_tasks(app: Celery) -> None:
    """The v1 pipeline's tasks (one task per stage) and the main-process events' tasks."""

    @app.task(shared=False, name="t.keywords", stage=1, stage_name="Keywords")
    def keywords(n: int) -> dict[str, Any]:
        task_log.info("keywords: fetching %d keywords", n)
        group(item.s(i) for i in range(n)).apply_async()
        note.delay("child of keywords")
        return {"processed": n, "credits_used": 1.5, "result": {"keywords": n}}

    @app.task(shared=False, name="t.item")
    def item(i: int) -> int:
        plain_log.info("item %d fetched", i)
        return i

    @app.task(shared=False, name="t.note")
    def note(text: str) -> str:
        plain_log.info("note: %s", text)
        task_log.info("note via task logger: %s", text)
        return text

    @app.task(
        shared=False, name="t.clusters", bind=True, stage=2, stage_name="Clusters", max_retries=3
    )
    def clusters(self: Any, previous: Any) -> dict[str, Any]:
        if self.request.retries == 0:
            raise self.retry(countdown=0, exc=RuntimeError("rate limited"))
        chord(group(score.s(i) for i in range(3)), collect.s()).apply_async()
        task_log.info("clusters: built from %s", previous["result"])
        return {"processed": 3, "result": "clustered"}

    @app.task(shared=False, name="t.score")
    def score(i: int) -> int:
        plain_log.info("scored %d", i)
        return i

    @app.task(shared=False, name="t.collect")
    def collect(values: list[int]) -> int:
        plain_log.info("collected %s", sorted(values))
        return len(values)

    @app.task(shared=False, name="t.ideas", stage=3, stage_name="Ideas")
    def ideas(previous: Any) -> None:
        task_log.info("ideas: starting")
        raise ValueError("no ideas from " + str(previous))


def _v1_worker_tasks(app: Celery) -> None:
    """Tasks for concurrency and for the events Celery fires in the worker's main process."""

    @app.task(shared=False, name="t.chatty")
    def chatty(tag: str, lines: int, size: int, barrier: str | None = None, meet: int = 0) -> int:
        """Log *lines* records of *size* padding bytes, after *meet* peers reached *barrier*.

        The barrier (a folder every peer adds a file to) makes the peers log at
        the same time, in different threads or pool processes.
        """
        if barrier is not None:
            Path(barrier, f"{tag}-{os.getpid()}").touch()
            deadline = time.monotonic() + 20
            while len(os.listdir(barrier)) < meet and time.monotonic() < deadline:
                time.sleep(0.005)
        pad = "x" * size
        for i in range(lines):
            plain_log.info("chatty %s pid=%d n=%d %s", tag, os.getpid(), i, pad)
        return lines

    @app.task(shared=False, name="t.slow", stage=4, stage_name="Slow")
    def slow(seconds: float) -> str:
        task_log.info("slow: sleeping %s s", seconds)
        time.sleep(seconds)
        return "woke up"

    @app.task(shared=False, name="t.lost", stage=5, stage_name="Lost")
    def lost() -> None:
        task_log.info("lost: killing my own process")
        os.kill(os.getpid(), signal.SIGKILL)

    @app.task(shared=False, name="t.expiring", stage=6, stage_name="Expiring")
    def expiring() -> str:
        return "should never run"

    @app.task(shared=False, name="t.bad_stage", stage="../../escape", stage_name="Bad")
    def bad_stage() -> str:
        plain_log.info("bad stage task ran")
        return "ran"

    @app.task(shared=False, name="t.plain_stage_by_header")
    def plain_stage_by_header() -> dict[str, Any]:
        plain_log.info("stage given by the header")
        return {"processed": 1}


def _stage_tasks(app: Celery) -> None:
    """The tasks of pipelines whose stages span many tasks (``stage_chord``, parts, replace)."""

    @app.task(shared=False, name="s.keywords", stage=1, stage_name="Keywords")
    def keywords(tag: str, n: int) -> dict[str, Any]:
        plain_log.info("keywords for %s", tag)
        return {"processed": n, "result": {"tag": tag}}

    @app.task(shared=False, name="s.item")
    def cluster_item(tag: str, i: int, fail: bool = False, seconds: float = 0.1) -> dict[str, Any]:
        plain_log.info("item %d of %s", i, tag)
        time.sleep(seconds)
        if fail:
            raise ValueError(f"item {i} of {tag} failed")
        return {"processed": 1, "result": i}

    @app.task(shared=False, name="s.clusters_done")
    def clusters_done(results: list[Any], tag: str) -> dict[str, Any]:
        plain_log.info("clusters done for %s: %d parts", tag, len(results))
        return {"result": {"clusters": len(results)}}

    @app.task(shared=False, name="s.ideas", bind=True, stage=3, stage_name="Ideas", max_retries=2)
    def ideas(self: Any, previous: Any, tag: str) -> dict[str, Any]:
        if self.request.retries == 0:
            raise self.retry(countdown=0, exc=RuntimeError("rate limited"))
        run = run_logger()
        assert run is not None
        run.stage_progress(3, 1, 1)
        plain_log.info("ideas for %s", tag)
        return {"processed": 1}

    @app.task(shared=False, name="s.failing", stage=3, stage_name="Failing")
    def failing(previous: Any, tag: str) -> None:
        plain_log.info("failing for %s", tag)
        raise ValueError(f"stage 3 of {tag} failed")

    @app.task(shared=False, name="s.finalize")
    def finalize(previous: Any, tag: str) -> None:
        plain_log.info("finalize %s", tag)
        run = run_logger()
        assert run is not None
        run.end("completed")

    @app.task(shared=False, name="s.mark_failed")
    def mark_failed(task_id: str) -> None:
        """An errback (``link_error``), published as a task of its own."""
        run = run_logger()
        assert run is not None
        run.end("failed", failed_task=task_id)


def _scoping_tasks(app: Celery) -> None:
    """Tasks for replace, children, declared parts, a web-started stage and run_logger()."""

    @app.task(shared=False, name="s.replacer", bind=True, stage=4, stage_name="Replaced")
    def replacer(self: Any, how: str) -> Any:
        plain_log.info("replacer hands over")
        if how == "task":
            return self.replace(replacement.s())
        parts = group(app.tasks["s.item"].si("r", i, seconds=0) for i in range(3))
        return self.replace(chord(parts, replacement_closer.s()))

    @app.task(shared=False, name="s.replacement")
    def replacement() -> dict[str, Any]:
        plain_log.info("replacement runs")
        return {"processed": 5}

    @app.task(shared=False, name="s.replacement_closer")
    def replacement_closer(results: list[Any]) -> dict[str, Any]:
        plain_log.info("replacement closer")
        return {"processed": len(results)}

    @app.task(shared=False, name="s.parent", stage=5, stage_name="Parent")
    def parent() -> dict[str, Any]:
        app.tasks["t.note"].delay("child of parent")
        return {"processed": 1}

    @app.task(shared=False, name="s.declared_part", stage=7, stage_part=True)
    def declared_part(i: int) -> dict[str, Any]:
        plain_log.info("declared part %d", i)
        return {"processed": 2}

    @app.task(shared=False, name="s.web_started", stage=6, stage_name="Web")
    def web_started() -> dict[str, Any]:
        plain_log.info("web-started stage closed")
        return {"processed": 1}

    @app.task(shared=False, name="s.start_here")
    def start_here(run_id: str, account: int, site: str) -> None:
        igl.start_run("igny8.automation", account, site, run_id=run_id)

    @app.task(shared=False, name="s.probe")
    def probe() -> list[Any] | None:
        run = run_logger()
        if run is None:
            return None
        run.trace("probe", answer=42)
        return [run.run_id, run.stage_id]


def _django(database: str) -> None:
    """Set Django up on the SQLite file *database*, with the test app's tables."""
    import django
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from djangoapp import settings as app_settings

    names = [name for name in dir(app_settings) if name.isupper()]
    conf = {name: getattr(app_settings, name) for name in names}
    conf["DATABASES"] = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": database}}
    settings.configure(**conf)
    django.setup()
    call_command("migrate", run_syncdb=True, verbosity=0)
    connections.close_all()  # no connection crosses the fork into the pool processes


def _run_config(base_dir: str) -> dict[str, Any]:
    """``logging_config``, plus a ``RunModelHandler`` when the worker has a database."""
    config = igl.logging_config(base_dir)
    if os.environ.get("IGNY8_TEST_DJANGO_DB"):
        config["handlers"]["model"] = {
            "class": "igny8_logging.contrib.django.RunModelHandler",
            "model": "djangoapp.PipelineRun",
        }
        config["loggers"]["igny8.automation"]["handlers"].append("model")
    return config


def _worker_app() -> Celery:
    env = os.environ
    base_dir = env["IGNY8_TEST_BASE_DIR"]
    mode = env["IGNY8_TEST_LOGGING"]
    options: dict[str, Any] = {}
    if env.get("IGNY8_TEST_DJANGO_DB"):
        _django(env["IGNY8_TEST_DJANGO_DB"])
    if env.get("IGNY8_TEST_FS_FOLDER"):
        folder = env["IGNY8_TEST_FS_FOLDER"]
        options["broker_transport_options"] = {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": os.path.join(folder, "control"),
            "polling_interval": 0.05,
        }
    # A killed pool process is reported lost after this many seconds (default 10).
    options["worker_lost_wait"] = 0.5
    worker_app = make_app(
        "igny8test",
        broker=env["IGNY8_TEST_BROKER"],
        backend=env["IGNY8_TEST_BACKEND"],
        queue=env["IGNY8_TEST_QUEUE"],
        **options,
    )
    if mode == "celery":
        # Setup (a): Celery's logging stays on and takes over the root logger;
        # the run handlers live on "igny8.automation", which it leaves alone.
        logging.config.dictConfig(_run_config(base_dir))
    elif mode == "dictconfig":
        # Setup (b): one setup_logging receiver; Celery then configures nothing,
        # so the receiver also sets the level that lets the tasks' INFO records
        # exist at all, and a console handler for the worker's own output.
        @signals.setup_logging.connect(weak=False)
        def configure_logging(loglevel: int | None = None, **_: Any) -> None:
            config = _run_config(base_dir)
            config["handlers"]["console"] = {"class": "logging.StreamHandler"}
            config["root"] = {"level": loglevel or "INFO", "handlers": ["console"]}
            logging.config.dictConfig(config)

    else:
        raise ValueError(f"IGNY8_TEST_LOGGING must be 'celery' or 'dictconfig', not {mode!r}")

    @signals.worker_ready.connect(weak=False)
    def announce_ready(**_: Any) -> None:
        Path(env["IGNY8_TEST_READY"]).touch()

    return worker_app


if os.environ.get("IGNY8_TEST_WORKER"):
    app = _worker_app()
