"""``igny8-logs demo``: an example three-stage pipeline on a real, embedded Celery worker.

Keywords → clusters → ideas, as stage tasks (``@app.task(stage=N)``) chained
inside one run, each writing per-item trace events and credits; one cluster
fails once with a provider timeout and is retried by Celery.  The worker is a
real ``WorkController`` (solo pool) running in a thread of this process on
kombu's in-memory transport: no server, no files for messages, nothing to race
with.  ``--broker URL`` runs the same worker on a real broker instead.

While the pipeline runs, the demo reads the run's trace with
:class:`RunLogReader` and shows each stage's progress; then it prints the stage
table, the last lines of the run log and where the files are.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final, TextIO

from celery import Celery, Task, chain
from celery.worker import WorkController
from celery.worker import state as worker_state
from kombu import Exchange, Queue
from kombu.utils.url import maybe_sanitize_url

from . import celery as igny8_celery
from ._adapter import RunLogger, start_run
from ._context import current_run
from ._files import open_tree_dir
from ._handlers import RunLogHandler, StageLogHandler, TraceHandler
from ._ids import MISSING, RUN_LOG, TenantId
from ._reader import RunLogReader
from .cli import CommandError, stage_table

__all__ = ["DemoInterrupted", "ProviderTimeout", "build_app", "run_demo"]

LOGGER: Final = "igny8.automation"
EMBEDDED: Final = "memory://localhost/"
#: Seconds each stage's items take in all (simulated work), whatever their number.
STAGE_SECONDS: Final = {1: 1.0, 2: 1.0, 3: 1.2}
RETRY_COUNTDOWN: Final = 0.4
RUN_TIMEOUT: Final = 120.0
START_TIMEOUT: Final = 30.0
POLL: Final = 0.1
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

log = logging.getLogger(LOGGER + ".demo")


class ProviderTimeout(Exception):
    """The (simulated) AI provider did not answer in time."""


class DemoInterrupted(Exception):
    """The demo was stopped (Ctrl-C) while a stage was running."""


def _simulated_work(stopping: threading.Event) -> Callable[[int, int], None]:
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


def build_app(broker: str, queue: str, stopping: threading.Event) -> Celery:
    """The demo's Celery app and its three stage tasks, connected to ``igny8.automation``.

    Setting *stopping* makes a running stage fail with :class:`DemoInterrupted`.
    """
    _work = _simulated_work(stopping)
    app = Celery("igny8_demo", broker=broker, set_as_current=False)
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
    igny8_celery.connect(app, LOGGER)

    @app.task(name="igny8_demo.keywords", stage=1, stage_name="Keywords")
    def keywords(count: int, seed: int) -> dict[str, Any]:
        run = _run_of_task()
        rng = random.Random(seed)
        found = []
        log.info("scoring %d seed keywords", count)
        for i in range(count):
            phrase = KEYWORDS[i % len(KEYWORDS)]
            if i >= len(KEYWORDS):
                phrase += f" {i // len(KEYWORDS) + 1}"
            _work(1, count)
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

    @app.task(name="igny8_demo.clusters", bind=True, max_retries=3, stage=2, stage_name="Clusters")
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
            group = groups[i]
            name = group[0]["keyword"]
            _work(2, len(groups))
            if i == flaky and self.request.retries == 0:
                error = ProviderTimeout(f"AI provider timed out clustering {name!r}")
                log.warning("cluster %d/%d %r: %s, retrying", i + 1, len(groups), name, error)
                run.trace("item_failed", stage=2, cluster=name, error=str(error), attempt=1)
                raise self.retry(
                    exc=error,
                    countdown=RETRY_COUNTDOWN,
                    kwargs={"resume_at": i, "done": done},
                )
            volume = sum(k["volume"] for k in group)
            done.append({"name": name, "keywords": [k["keyword"] for k in group]})
            run.trace(
                "cluster_formed",
                stage=2,
                cluster=name,
                size=len(group),
                volume=volume,
                credits=2,
                attempt=self.request.retries + 1,
            )
            run.stage_progress(2, i + 1, len(groups))
        return {
            "processed": len(done),
            "credits_used": 2 * len(done),
            "result": {"clusters": len(done)},
            "clusters": done,
        }

    @app.task(name="igny8_demo.ideas", stage=3, stage_name="Ideas")
    def ideas(previous: dict[str, Any]) -> dict[str, Any]:
        run = _run_of_task()
        angles = ("The complete guide to {}", "7 mistakes people make with {}")
        total = len(previous["clusters"]) * len(angles)
        made = 0
        log.info("writing %d ideas for %d clusters", total, len(previous["clusters"]))
        for cluster in previous["clusters"]:
            for angle in angles:
                title = angle.format(cluster["name"])
                _work(3, total)
                made += 1
                run.trace("idea_created", stage=3, cluster=cluster["name"], title=title, credits=3)
                run.stage_progress(3, made, total)
        return {"processed": made, "credits_used": 3 * made, "result": {"ideas": made}}

    @app.task(name="igny8_demo.wake")
    def wake() -> None:
        """Wakes the worker's loop so that it sees the stop request at once."""

    return app


class _EmbeddedWorker(WorkController):
    """A real Celery worker consuming in a thread of this process."""

    def __init__(self, app: Celery) -> None:
        self.ready = threading.Event()
        super().__init__(
            app=app,
            hostname=f"igny8-demo-{os.getpid()}@{socket.gethostname()}",
            pool="solo",
            concurrency=1,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )

    def on_consumer_ready(self, consumer: Any) -> None:
        self.ready.set()


class _Worker:
    """Starts the embedded worker in a thread and stops it cleanly."""

    def __init__(self, app: Celery, queue: str, stopping: threading.Event) -> None:
        self.app = app
        self.queue = queue
        self.stopping = stopping
        app.finalize()
        app.set_current()
        app.set_default()  # the worker thread looks tasks up in the default app
        self.controller = _EmbeddedWorker(app)
        self.thread = threading.Thread(
            target=self.controller.start, name="igny8-demo-worker", daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        if not self.controller.ready.wait(START_TIMEOUT):
            raise CommandError(f"the Celery worker did not start within {START_TIMEOUT:.0f}s")

    def stop(self, purge: bool = False) -> None:
        """Stop the worker (after its current task); *purge* deletes the demo's queue."""
        if not self.thread.is_alive():
            return
        self.stopping.set()
        worker_state.should_terminate = 0  # type: ignore[assignment]  # the stub says None
        try:
            # The consumer checks the flag between messages; two wake-ups end its last wait.
            for _ in range(2):
                self.app.tasks["igny8_demo.wake"].apply_async()
        except Exception:
            pass  # the wake-ups only make the stop quicker
        finally:
            self.thread.join(10)
            worker_state.should_terminate = None
        if purge:  # on a real broker: no queue, exchange or wake-up message stays behind
            try:
                with self.app.connection_for_write() as connection:
                    bound = self.app.amqp.queues[self.queue].bind(connection.default_channel)
                    bound.declare()  # a virtual transport deletes only what it knows
                    bound.delete()
                    bound.exchange.delete()
            except Exception:
                pass  # best effort: the names are the demo's own and never reused


def _check_broker(app: Celery, broker: str) -> None:
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:
        shown = maybe_sanitize_url(broker)
        raise CommandError(f"cannot reach the broker {shown}: {exc}") from None


# -- live progress ----------------------------------------------------------------------


class _Progress:
    """Per-stage progress from the trace: a bar redrawn in place on a terminal, else
    one line per finished stage; retries are noted as they happen."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()
        utf = (getattr(out, "encoding", None) or "").lower().replace("-", "").startswith("utf")
        self.full, self.empty = ("█", "░") if utf else ("#", ".")
        self.stages: dict[str, dict[str, Any]] = {}
        self.current: str | None = None

    def _line(self, key: str) -> str:
        st = self.stages[key]
        total = st["total"] or st["pending"]
        done = st["processed"] or 0
        filled = 20 if st["status"] == "completed" else (20 * done // total if total else 0)
        bar = self.full * filled + self.empty * (20 - filled)
        count = f"{done}/{total}" if total else f"{done}"
        if st["status"] == "completed":
            note = f"done in {st['elapsed']:.2f}s, {st['credits']} credits"
        elif st["status"] == "failed":
            note = f"FAILED: {st['error']}"
        else:
            note = st["last"]
        return f"  stage {key}  {st['name']:<9} {bar} {count:>7}  {note}"[:140]

    def _draw(self, key: str, final: bool) -> None:
        if self.live:
            self.out.write("\r\033[K" + self._line(key) + ("\n" if final else ""))
        elif final:
            self.out.write(self._line(key) + "\n")
        self.out.flush()

    def event(self, ev: dict[str, Any]) -> None:
        kind, stage = ev.get("event"), ev.get("stage")
        if stage is None:
            return
        key = str(stage)
        if kind == "stage_start" and key not in self.stages:
            self.stages[key] = {
                "name": ev.get("stage_name") or "",
                "pending": ev.get("pending"),
                "processed": 0,
                "total": None,
                "status": "running",
                "last": "starting",
                "elapsed": 0.0,
                "credits": 0,
                "error": None,
            }
        st = self.stages.get(key)
        if st is None:
            return
        if self.current is not None and self.current != key and self.live:
            self.out.write("\n")  # another stage began while this one was drawn
        self.current = key
        final = False
        if kind == "stage_progress":
            st["processed"], st["total"] = ev.get("processed"), ev.get("total")
        elif kind == "stage_retry":
            if self.live:
                self.out.write("\r\033[K")
            self.out.write(f"  stage {key}  retried: {ev.get('reason')}\n")
        elif kind == "stage_complete":
            st.update(status="completed", elapsed=ev.get("elapsed_s") or 0.0)
            st["credits"] = ev.get("credits_used")
            st["processed"] = ev.get("processed", st["processed"])
            final = True
        elif kind == "stage_error":
            st.update(status="failed", error=ev.get("error"))
            final = True
        elif kind not in ("stage_start", "log"):
            label = ev.get("keyword") or ev.get("cluster") or ev.get("title") or ""
            st["last"] = f"{kind} {label}"
        self._draw(key, final)
        if final:
            self.current = None


# -- the demo -------------------------------------------------------------------------


def _tenant(value: str | None) -> TenantId | None:
    if value is None or value == MISSING:
        return None
    return int(value) if value.isdigit() and len(value) < 19 else value


def _watch(
    reader: RunLogReader, run: RunLogger, progress: _Progress, stages: int
) -> tuple[str, str | None]:
    """Show the trace until the last stage completes or one fails: the run's status."""
    cursor = None
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        page = reader.read_trace(
            run.run_id, account_id=run.account_id, site_id=run.site_id, cursor=cursor
        )
        cursor = page.cursor
        for ev in page.events:
            progress.event(ev)
            if ev.get("event") == "stage_error":
                return "failed", f"stage {ev.get('stage')} failed: {ev.get('error')}"
            if ev.get("event") == "stage_complete" and ev.get("stage") == stages:
                return "completed", None
        if not page.events:
            time.sleep(POLL)
    return "failed", f"the pipeline did not finish within {RUN_TIMEOUT:.0f}s"


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def _files(base_dir: str, parts: tuple[str, ...]) -> list[tuple[str, int]]:
    fd = open_tree_dir(base_dir, parts)
    try:
        with os.scandir(fd) as entries:
            found = [
                (entry.name, entry.stat(follow_symlinks=False).st_size)
                for entry in entries
                if not entry.name.startswith(".")
            ]
    finally:
        os.close(fd)
    return sorted(found)


def _report(
    out: TextIO, reader: RunLogReader, run: RunLogger, base_dir: str, hint: list[str]
) -> None:
    summary = reader.summary(run.run_id, account_id=run.account_id, site_id=run.site_id)
    out.write(f"\nRun {run.run_id} {summary['status']} in {summary['elapsed_s']}s\n\n")
    for line in stage_table(summary):
        out.write(f"  {line}\n")
    folder = os.path.join(base_dir, *run.context.ref.parts)
    out.write(f"\nLast lines of {os.path.join(folder, RUN_LOG)}:\n")
    for line in reader.tail(run.run_id, 8, account_id=run.account_id, site_id=run.site_id):
        out.write(f"  {line}\n")
    out.write(f"\nFiles in {folder}/:\n")
    for name, size in _files(base_dir, run.context.ref.parts):
        out.write(f"  {name:<22} {_size(size):>10}\n")
    prefix = " ".join(["igny8-logs", *hint])
    out.write("\nLook again with:\n")
    out.write(f"  {prefix} show {run.run_id}\n")
    out.write(f"  {prefix} tail {run.run_id} -n 20 --stage 2\n")
    out.write(f"  {prefix} trace {run.run_id}\n")
    out.flush()


def run_demo(
    *,
    base_dir: str = "automation-logs",
    items: int = 12,
    broker: str | None = None,
    account: str | None = None,
    site: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the pipeline once on an embedded (or *broker*'s) worker; the exit status."""
    out = out or sys.stdout
    queue = f"igny8-demo-{secrets.token_hex(4)}"
    stopping = threading.Event()
    app = build_app(broker or EMBEDDED, queue, stopping)
    if broker:
        _check_broker(app, broker)
    logger = logging.getLogger(LOGGER)
    handlers = [RunLogHandler(base_dir), StageLogHandler(base_dir), TraceHandler(base_dir)]
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    worker = _Worker(app, queue, stopping)
    run: RunLogger | None = None
    status, reason = "failed", None
    try:
        worker.start()
        run = start_run(
            logger,
            _tenant(account),
            _tenant(site),
            metadata={"pipeline": "demo: keywords → clusters → ideas", "items": items},
        )
        shown = "memory:// (embedded)" if broker is None else maybe_sanitize_url(broker)
        out.write(
            f"igny8 demo: {items} keywords → clusters → ideas on a real Celery worker\n"
            f"  broker  {shown}, queue {queue}\n"
            "  worker  in this process (solo pool)\n"
            f"  run     {run.run_id}\n\n"
        )
        out.flush()
        reader = RunLogReader(base_dir)
        with run.bound():
            chain(
                app.tasks["igny8_demo.keywords"].s(items, secrets.randbits(32)),
                app.tasks["igny8_demo.clusters"].s(),
                app.tasks["igny8_demo.ideas"].s(),
            ).apply_async()
        status, reason = _watch(reader, run, _Progress(out), len(STAGE_SECONDS))
    except KeyboardInterrupt:
        status, reason = "cancelled", "interrupted"
    except Exception as exc:  # a broker or disk failure: one line, and the run ends failed
        reason = str(exc) if isinstance(exc, CommandError) else f"{type(exc).__name__}: {exc}"
    finally:
        # A run that did not complete may still have a task running: stop the
        # worker first, so that run_end is the run's last record.
        if status != "completed":
            worker.stop(purge=broker is not None)
        if run is not None:
            run.end(status, **({"reason": reason} if reason else {}))
        worker.stop(purge=broker is not None)
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
    if run is not None:
        hint = ["--base-dir", base_dir]
        for option, value in (("--account", account), ("--site", site)):
            if value is not None:
                hint += [option, value]
        _report(out, RunLogReader(base_dir), run, base_dir, hint)
    if status == "cancelled":
        return 130
    if reason:
        raise CommandError(reason)
    return 0
