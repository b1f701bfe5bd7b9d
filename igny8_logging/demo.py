"""``igny8-logs demo``: an example three-stage pipeline on a real, embedded Celery worker.

Keywords → clusters → ideas (:mod:`._demo_app`), as stage tasks chained inside
one run, on a real ``WorkController`` running in a thread of this process
(:mod:`._demo_worker`) over kombu's in-memory transport, or on ``--broker URL``.
While the pipeline runs, the demo reads the run's trace back with
:class:`RunLogReader` and shows each stage's progress (:mod:`._progress`);
then it prints the stage table, the last lines of the run log, where the files
are, and commands that look at the run again, runnable as printed.

The run is written below ``base_dir``: the one given, else ``$IGNY8_LOG_DIR``,
else ``./automation-logs``.  With ``redis_url`` the run is also sent to Redis
(:class:`igny8_logging.redis.RedisStreamHandler`) and read back from there.
"""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import sys
import threading
import time
from typing import Final, TextIO

from celery import chain
from kombu.utils.url import maybe_sanitize_url

from ._adapter import RunLogger, start_run
from ._demo_app import LOGGER, STAGE_SECONDS, DemoInterrupted, ProviderTimeout, build_app
from ._demo_worker import EMBEDDED, Worker, check_broker
from ._display import CommandError, fit, stage_table, terminal_width
from ._events import STAGE_COMPLETE, STAGE_ERROR
from ._handlers import RunLogHandler, StageLogHandler, TraceHandler
from ._ids import MISSING, RUN_LOG, TenantId
from ._opening import open_tree_dir
from ._progress import Progress
from ._reader import RunLogReader
from ._trace_feed import poll_trace

__all__ = ["DEFAULT_DIR", "DemoInterrupted", "ProviderTimeout", "build_app", "run_demo"]

#: Where the demo writes when neither ``base_dir`` nor ``$IGNY8_LOG_DIR`` says.
DEFAULT_DIR: Final = "automation-logs"
RUN_TIMEOUT: Final = 120.0
REDIS_TIMEOUT: Final = 10.0


def demo_base_dir(base_dir: str | None = None) -> str:
    """*base_dir*, else ``$IGNY8_LOG_DIR``, else ``./automation-logs``."""
    return base_dir or os.environ.get("IGNY8_LOG_DIR") or DEFAULT_DIR


def command_prefix() -> list[str]:
    """How to run ``igny8-logs`` with the interpreter running now, as typed in a shell:
    the script installed next to it (an un-activated venv's ``bin/igny8-logs``), else
    ``python -m igny8_logging`` with this very interpreter."""
    script = os.path.join(os.path.dirname(sys.executable), "igny8-logs")
    if os.path.isfile(script) and os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "igny8_logging"]


def _tenant(value: str | None) -> TenantId | None:
    if value is None or value == MISSING:
        return None
    return int(value) if value.isdigit() and len(value) < 19 else value


def _handlers(base_dir: str, redis_url: str | None) -> list[logging.Handler]:
    handlers: list[logging.Handler] = [
        RunLogHandler(base_dir),
        StageLogHandler(base_dir),
        TraceHandler(base_dir),
    ]
    if redis_url:
        try:
            from .redis import RedisStreamHandler  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise CommandError(
                f"--redis-url needs Redis support ({exc.name} is missing):"
                " pip install 'igny8-logging[redis]'"
            ) from None
        handlers.append(RedisStreamHandler(redis_url))
    return handlers


def _reader(base_dir: str, redis_url: str | None) -> RunLogReader:
    """The reader the demo shows its run through: the files, or Redis first when given."""
    return RunLogReader(base_dir, redis_url=redis_url)


def _wait_for_redis(reader: RunLogReader, run: RunLogger) -> None:
    """Until Redis (the reader's first source) holds the run: its trace is then read
    from there throughout, never a page from the files and the next from Redis."""
    deadline = time.monotonic() + REDIS_TIMEOUT
    while not reader.sources[0].has_run(run.context.ref):
        if time.monotonic() >= deadline:
            raise CommandError(f"the run did not reach Redis within {REDIS_TIMEOUT:.0f}s")
        time.sleep(0.05)


def _watch(reader: RunLogReader, run: RunLogger, progress: Progress) -> tuple[str, str | None]:
    """Show the trace until the last stage completes or one fails: the run's status."""
    last = max(STAGE_SECONDS)
    events = poll_trace(
        reader, run.run_id, account_id=run.account_id, site_id=run.site_id, timeout=RUN_TIMEOUT
    )
    for ev in events:
        progress.event(ev)
        if ev.get("event") == STAGE_ERROR:
            return "failed", f"stage {ev.get('stage')} failed: {ev.get('error')}"
        if ev.get("event") == STAGE_COMPLETE and ev.get("stage") == last:
            return "completed", None
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


def _report(out: TextIO, reader: RunLogReader, run: RunLogger, base_dir: str, hint: str) -> None:
    ids = {"account_id": run.account_id, "site_id": run.site_id}
    summary = reader.summary(run.run_id, **ids)
    out.write(f"\nRun {run.run_id} {summary['status']} in {summary['elapsed_s']}s\n\n")
    for line in stage_table(summary):
        out.write(f"  {line}\n")
    folder = os.path.join(base_dir, *run.context.ref.parts)
    out.write(f"\nLast lines of {RUN_LOG}:\n")
    width = terminal_width() - 2 if out.isatty() else None  # a terminal: no wrapped lines
    for line in reader.tail(run.run_id, 8, **ids):
        out.write(f"  {line if width is None else fit(line, width)}\n")
    out.write(f"\nFiles in {folder}/:\n")
    for name, size in _files(base_dir, run.context.ref.parts):
        out.write(f"  {name:<22} {_size(size):>10}\n")
    out.write("\nLook again with:\n")
    out.write(f"  {hint} show {run.run_id}\n")
    out.write(f"  {hint} tail {run.run_id} -n 20 --stage 2\n")
    out.write(f"  {hint} trace {run.run_id}\n")
    out.flush()


def _hint(base_dir: str, account: str | None, site: str | None, redis_url: str | None) -> str:
    words = [*command_prefix(), "--base-dir", base_dir]
    for option, value in (("--account", account), ("--site", site), ("--redis-url", redis_url)):
        if value is not None:
            words += [option, value]
    return shlex.join(words)


class _Pipeline:
    """The demo's app, worker and logger handlers, set up and torn down together."""

    def __init__(self, base_dir: str, broker: str | None, redis_url: str | None) -> None:
        self.broker = broker
        self.queue = f"igny8-demo-{secrets.token_hex(4)}"
        self.stopping = threading.Event()
        self.app = build_app(broker or EMBEDDED, self.queue, self.stopping)
        if broker:
            check_broker(self.app, broker)
        self.handlers = _handlers(base_dir, redis_url)
        self.logger = logging.getLogger(LOGGER)
        for handler in self.handlers:
            self.logger.addHandler(handler)
        self.logger.setLevel(logging.INFO)
        self.worker = Worker(self.app, self.queue, self.stopping)

    def publish(self, run: RunLogger, items: int) -> None:
        """The three stages, chained inside *run*."""
        tasks = self.app.tasks
        with run.bound():
            chain(
                tasks["igny8_demo.keywords"].s(items, secrets.randbits(32)),
                tasks["igny8_demo.clusters"].s(),
                tasks["igny8_demo.ideas"].s(),
            ).apply_async()

    def banner(self, out: TextIO, run: RunLogger, items: int) -> None:
        shown = "memory:// (embedded)" if self.broker is None else maybe_sanitize_url(self.broker)
        out.write(
            f"igny8 demo: {items} keywords → clusters → ideas on a real Celery worker\n"
            f"  broker  {shown}, queue {self.queue}\n"
            "  worker  in this process (solo pool)\n"
            f"  run     {run.run_id}\n\n"
        )
        out.flush()

    def close(self, run: RunLogger | None, status: str, reason: str | None) -> None:
        """End *run* as its last record (the worker stopped first), then let go of all."""
        if status != "completed":  # a task may still be running
            self.worker.stop(purge=self.broker is not None)
        if run is not None:
            run.end(status, **({"reason": reason} if reason else {}))
        self.worker.stop(purge=self.broker is not None)
        for handler in self.handlers:
            self.logger.removeHandler(handler)
            handler.close()


def run_demo(
    *,
    base_dir: str | None = None,
    items: int = 12,
    broker: str | None = None,
    account: str | None = None,
    site: str | None = None,
    redis_url: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the pipeline once on an embedded (or *broker*'s) worker; the exit status."""
    out = out or sys.stdout
    base = demo_base_dir(base_dir)
    pipeline = _Pipeline(base, broker, redis_url)
    run: RunLogger | None = None
    status, reason = "failed", None
    try:
        pipeline.worker.start()
        metadata = {"pipeline": "demo: keywords → clusters → ideas", "items": items}
        run = start_run(pipeline.logger, _tenant(account), _tenant(site), metadata=metadata)
        pipeline.banner(out, run, items)
        reader = _reader(base, redis_url)
        if redis_url:
            _wait_for_redis(reader, run)
        pipeline.publish(run, items)
        status, reason = _watch(reader, run, Progress(out))
    except KeyboardInterrupt:
        status, reason = "cancelled", "interrupted"
    except Exception as exc:  # a broker or disk failure: one line, and the run ends failed
        reason = str(exc) if isinstance(exc, CommandError) else f"{type(exc).__name__}: {exc}"
    finally:
        pipeline.close(run, status, reason)
    if run is not None:
        hint = _hint(base, account, site, redis_url)
        _report(out, _reader(base, redis_url), run, base, hint)
    if status == "cancelled":
        return 130
    if reason:
        raise CommandError(reason)
    return 0
