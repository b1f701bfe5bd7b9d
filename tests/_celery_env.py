"""The Celery tests' harness: apps, in-process and prefork workers, reading a run back.

In-process workers (``celery.contrib.testing.worker.start_worker``, ``memory://``
broker, solo and threads pools); a separate ``celery worker -P prefork -c 2``
process on kombu's filesystem transport (both logging setups), on Redis and on
RabbitMQ.  Nothing is mocked.
"""

from __future__ import annotations

import logging
import logging.config
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import _celery_app
import celery._state
import pytest
from celery import Celery
from celery.app.log import Logging
from celery.contrib.testing.worker import start_worker

import igny8_logging as igl
from igny8_logging import celery as igc
from igny8_logging._events import RunSummary

TESTS = Path(__file__).resolve().parent
T = TypeVar("T")
#: The first line of a record; every other line starts with whitespace.
RECORD_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ +\[(run|stage [A-Za-z0-9_-]+)\] "
)
HOOK_LOGGER = "igny8_logging.celery"
#: Private globals an in-process worker changes (saved and restored around it).
_CELERY_STATE: Any = celery._state
_LOGGING: Any = logging
_CELERY_LOGGING: Any = Logging


def wait_until(check: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll *check* until it returns something truthy.

    Workers store a task's result before its ``task_success`` hook runs and
    log asynchronously to the publisher, so tests poll the files.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}; last seen: {value!r}")
        time.sleep(0.02)


@dataclass
class Env:
    """A connected app, its worker's log tree and the test process's logger on it."""

    app: Celery
    base: Path
    logger: str
    tmp: Path

    def task(self, name: str) -> Any:
        return self.app.tasks[name]

    def start_run(self, account: int | str | None, site: int | str | None) -> igl.RunLogger:
        return igl.start_run(self.logger, account, site)

    def folder(self, run: igl.RunLogger) -> Path:
        return self.base.joinpath(*run.context.ref.parts)

    def text(self, run: igl.RunLogger, name: str = "automation_run.log") -> str:
        try:
            return (self.folder(run) / name).read_text("utf-8")
        except FileNotFoundError:
            return ""

    def events(self, run: igl.RunLogger) -> list[dict[str, Any]]:
        reader = igl.RunLogReader(self.base)
        try:
            page = reader.read_trace(
                run.run_id, account_id=run.account_id, site_id=run.site_id, limit=10_000
            )
        except igl.RunNotFound:
            return []
        return page.events

    def events_when(
        self, run: igl.RunLogger, check: Callable[[list[dict[str, Any]]], bool], what: str
    ) -> list[dict[str, Any]]:
        """The run's events, once *check* accepts them."""

        def ready() -> list[dict[str, Any]] | None:
            events = self.events(run)
            return events if check(events) else None

        return wait_until(ready, what)

    def summary(self, run: igl.RunLogger) -> RunSummary:
        reader = igl.RunLogReader(self.base)
        return reader.summary(run.run_id, account_id=run.account_id, site_id=run.site_id)

    def files(self) -> dict[Path, int]:
        return {p: p.stat().st_size for p in self.base.rglob("*") if p.is_file()}


def stage_events(events: list[dict[str, Any]], stage: object) -> list[str]:
    return [e["event"] for e in events if e["stage"] == stage and e["event"] != "log"]


def one(events: list[dict[str, Any]], event: str, stage: object) -> dict[str, Any]:
    found = [e for e in events if e["event"] == event and e["stage"] == stage]
    assert len(found) == 1, (event, stage, found)
    return found[0]


def assert_well_formed(text: str) -> None:
    """Every line starts a record or continues one (indented); nothing is torn."""
    for line in text.splitlines():
        assert RECORD_LINE.match(line) or line[:1] == " ", line[:200]


def configure(logger: str, base: Path) -> None:
    logging.config.dictConfig(igl.logging_config(base, logger=logger))


def unconfigure(logger: str) -> None:
    log = logging.getLogger(logger)
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


# -- in-process workers ------------------------------------------------------------------


class _GlobalState:
    """What an in-process worker changes globally, restored after the class."""

    ENV_KEYS = ("CELERY_LOG_LEVEL", "CELERY_LOG_FILE", "_MP_FORK_LOGLEVEL_", "_MP_FORK_LOGFILE_")

    def __init__(self) -> None:
        self.root_level = logging.root.level
        self.root_handlers = list(logging.root.handlers)
        task_logger = logging.getLogger("celery.task")
        self.task_logger = (task_logger.level, task_logger.propagate, list(task_logger.handlers))
        self.warnings_captured = _LOGGING._warnings_showwarning is not None
        self.env = {key: os.environ.get(key) for key in (*self.ENV_KEYS, "_MP_FORK_LOGFORMAT_")}
        self.default_app = _CELERY_STATE.default_app
        self.current_app = getattr(_CELERY_STATE._tls, "current_app", None)
        self.setup = _CELERY_LOGGING._setup

    def restore(self) -> None:
        logging.root.setLevel(self.root_level)
        logging.root.handlers[:] = self.root_handlers
        task_logger = logging.getLogger("celery.task")
        task_logger.level, task_logger.propagate, task_logger.handlers[:] = self.task_logger
        logging.captureWarnings(self.warnings_captured)
        for key, value in self.env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _CELERY_STATE.default_app = self.default_app
        _CELERY_STATE._tls.current_app = self.current_app
        _CELERY_LOGGING._setup = self.setup


@contextmanager
def in_process_worker(tmp: Path, pool: str, concurrency: int) -> Iterator[Env]:
    logger = f"igny8.test.celery.{pool}"
    base = tmp / "logs"
    configure(logger, base)
    saved = _GlobalState()
    app = _celery_app.make_app(
        f"igny8test-{pool}",
        broker="memory://",
        backend="cache+memory://",
        queue=f"igny8test-{uuid.uuid4().hex}",
        logger=logger,
        broker_transport_options={"polling_interval": 0.01},
        worker_hijack_root_logger=False,  # keep pytest's handlers on the root logger
    )
    igc.connect(app, logger)  # connected twice: every event must still be logged once
    try:
        with start_worker(
            app,
            pool=pool,
            concurrency=concurrency,
            perform_ping_check=False,
            loglevel="INFO",
            shutdown_timeout=30,
        ):
            yield Env(app, base, logger, tmp)
    finally:
        igc.disconnect(app)
        saved.restore()
        unconfigure(logger)


# -- a prefork worker in its own process ---------------------------------------------------

#: kind: (broker URL, logging setup of the worker)
WORKERS: dict[str, tuple[str, str]] = {
    "filesystem-celery-logging": ("igny8fs://localhost", "celery"),
    "filesystem-dictconfig": ("igny8fs://localhost", "dictconfig"),
    "redis": ("redis://127.0.0.1:6379/13", "celery"),
    "rabbitmq": ("amqp://guest:guest@127.0.0.1:5672//", "dictconfig"),
}
SERVERS = {"redis": 6379, "rabbitmq": 5672}


def require_server(kind: str) -> None:
    """Skip (visibly) when the broker is not running; fail instead in CI."""
    try:
        with socket.create_connection(("127.0.0.1", SERVERS[kind]), timeout=1):
            return
    except OSError as exc:
        reason = f"{kind} is not reachable on 127.0.0.1:{SERVERS[kind]}: {exc}"
    if os.environ.get("IGNY8_REQUIRE_BROKERS") == "1":
        pytest.fail(reason + " (IGNY8_REQUIRE_BROKERS=1)")
    pytest.skip(reason)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Warm shutdown, then kill the worker's process group if it lingers."""
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: only its processes
        except ProcessLookupError:
            pass
        process.wait()


def worker_environ(
    base: Path, logging_setup: str, broker: str, results: Path, queue: str, ready: Path
) -> dict[str, str]:
    """The environment ``_celery_app`` builds its worker app from."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
        "IGNY8_TEST_WORKER": "1",
        "IGNY8_TEST_BASE_DIR": str(base),
        "IGNY8_TEST_LOGGING": logging_setup,
        "IGNY8_TEST_BROKER": broker,
        "IGNY8_TEST_BACKEND": f"file://{results}",
        "IGNY8_TEST_QUEUE": queue,
        "IGNY8_TEST_READY": str(ready),
    }


def spawn_worker(queue: str, environ: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    """``celery -A _celery_app worker -P prefork -c 2`` on *queue*, in its own session."""
    command = [sys.executable, "-m", "celery", "-A", "_celery_app", "worker", "-P", "prefork"]
    command += ["-c", "2", "-Q", queue, "-l", "INFO", "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat"]
    with output.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=TESTS,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def fs_options(folder: Path) -> dict[str, Any]:
    """kombu's filesystem transport options for a broker folder."""
    return {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),
        "polling_interval": 0.05,
    }


@contextmanager
def prefork_worker(
    kind: str, tmp_path_factory: pytest.TempPathFactory, extra_env: dict[str, str] | None = None
) -> Iterator[Env]:
    """A ``celery worker -P prefork -c 2`` process of ``_celery_app`` on *kind*'s broker."""
    if kind in SERVERS:
        require_server(kind)
    broker, logging_setup = WORKERS[kind]
    tmp = tmp_path_factory.mktemp(f"prefork-{kind}")
    base, results, folder = tmp / "logs", tmp / "results", tmp / "broker"
    results.mkdir()
    folder.mkdir()
    queue = f"igny8test-{uuid.uuid4().hex}"
    options: dict[str, Any] = {}
    environ = worker_environ(base, logging_setup, broker, results, queue, tmp / "ready")
    environ.update(extra_env or {})
    if broker.startswith("igny8fs:"):
        environ["IGNY8_TEST_FS_FOLDER"] = str(folder)
        options["broker_transport_options"] = fs_options(folder)
    logger = f"igny8.test.celery.prefork.{kind}"
    configure(logger, base)
    app = _celery_app.make_app(
        f"igny8producer-{kind}",
        broker=broker,
        backend=f"file://{results}",
        queue=queue,
        logger=logger,
        **options,
    )
    output = tmp / "worker.out"
    process = spawn_worker(queue, environ, output)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"the worker exited with {process.returncode}:\n"
                    + output.read_text(errors="replace")[-4000:]
                )
            return (tmp / "ready").exists()

        wait_until(ready, "the worker to start", timeout=60)
        yield Env(app, base, logger, tmp)
    finally:
        stop(process)
        if kind in SERVERS:
            try:  # remove the per-run queue (declared first so kombu knows its bindings)
                with app.connection_for_write() as connection:
                    bound = app.amqp.queues[queue](connection.default_channel)
                    bound.declare()
                    bound.delete()
            except Exception:
                pass  # best effort: on RabbitMQ the queue expires anyway
        igc.disconnect(app)
        app.close()
        unconfigure(logger)
