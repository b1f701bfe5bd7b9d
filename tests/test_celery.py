"""``igny8_logging.celery`` on real workers, checked by reading the run's files.

In-process workers (``celery.contrib.testing.worker.start_worker``, ``memory://``
broker, solo and threads pools) share one worker per test class; a separate
``celery worker -P prefork -c 2`` process runs on kombu's filesystem transport
(both logging setups), on Redis and on RabbitMQ.  Nothing is mocked.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import celery._state
import _celery_app
import pytest
from celery import Celery, chain
from celery.app.log import Logging
from celery.contrib.testing.worker import start_worker

import igny8_logging as igl
from igny8_logging import celery as igc

TESTS = Path(__file__).resolve().parent
T = TypeVar("T")
#: The first line of a record; every other line starts with whitespace.
RECORD_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ +\[(run|stage [A-Za-z0-9_-]+)\] "
)
HOOK_LOGGER = "igny8_logging.celery"


def wait_until(check: Callable[[], T], what: str, timeout: float = 30.0) -> T:
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

    def summary(self, run: igl.RunLogger) -> dict[str, Any]:
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


# -- the pipeline every worker kind runs ---------------------------------------------------

PIPELINE_LINES = {
    "stage_1.log": [
        "keywords: fetching 3 keywords",  # the stage task, through get_task_logger
        "item 0 fetched",  # group members published by the stage task, plain logger
        "item 1 fetched",
        "item 2 fetched",
        "note: child of keywords",  # a child (.delay) of the stage task
        "note via task logger: child of keywords",
    ],
    "stage_2.log": [
        "clusters: built from {'keywords': 3}",  # the chain link, after its retry
        "scored 0",  # the chord's header
        "scored 1",
        "scored 2",
        "collected [0, 1, 2]",  # the chord's body (callback)
    ],
    "stage_3.log": ["ideas: starting"],
}


def publish_pipeline(env: Env, run: igl.RunLogger) -> None:
    """Keywords -> Clusters (retried once, starts a chord) -> Ideas (fails), in one chain."""
    with run.bound():
        chain(
            env.task("t.keywords").s(3), env.task("t.clusters").s(), env.task("t.ideas").s()
        ).apply_async()


def check_pipeline(env: Env, run: igl.RunLogger) -> None:
    wait_until(
        lambda: all(
            line in env.text(run, name) for name, lines in PIPELINE_LINES.items() for line in lines
        ),
        "the pipeline's records",
    )
    events = env.events_when(
        run, lambda ev: any(e["event"] == "stage_error" for e in ev), "stage_error"
    )
    assert stage_events(events, None) == ["run_start"]
    assert stage_events(events, 1) == ["stage_start", "stage_complete"]
    # Celery fires task_retry after re-publishing the task, so another thread
    # or pool process may run the retry before the first one logs stage_retry;
    # ``retries`` on stage_start tells the attempts apart.
    clusters = stage_events(events, 2)
    assert clusters[0] == "stage_start"
    assert sorted(clusters) == ["stage_complete", "stage_retry", "stage_start", "stage_start"]
    assert clusters.index("stage_complete") > clusters.index("stage_start", 1)
    attempts = [e["retries"] for e in events if e["event"] == "stage_start" and e["stage"] == 2]
    assert attempts == [0, 1]
    assert len({e["task_id"] for e in events if e["stage"] == 2}) == 1  # one task, two tries
    assert stage_events(events, 3) == ["stage_start", "stage_error"]
    assert len(events) == 9  # no "log" events: nothing at WARNING or above but the retry

    start = one(events, "stage_start", 1)
    assert (start["stage_name"], start["task_name"]) == ("Keywords", "t.keywords")
    complete = one(events, "stage_complete", 1)
    assert complete["processed"] == 3
    assert complete["credits_used"] == 1.5
    assert complete["result"] == {"keywords": 3}
    assert isinstance(complete["elapsed_s"], float)
    assert complete["elapsed_s"] >= 0
    assert complete["task_id"] == start["task_id"]
    retry = one(events, "stage_retry", 2)
    assert retry["level"] == "WARNING"
    assert "rate limited" in retry["reason"]
    assert retry["retries"] == 0
    clustered = one(events, "stage_complete", 2)
    assert (clustered["processed"], clustered["result"]) == (3, "clustered")
    error = one(events, "stage_error", 3)
    assert error["error_type"] == "ValueError"
    assert error["error"].startswith("no ideas from")
    assert 'raise ValueError("no ideas from "' in error["traceback"]
    for e in events:
        assert (e["run_id"], e["account_id"], e["site_id"]) == (
            run.run_id,
            run.account_id,
            run.site_id,
        )

    whole = env.text(run)
    assert_well_formed(whole)
    for name, lines in PIPELINE_LINES.items():
        text = env.text(run, name)
        assert_well_formed(text)
        for line in lines:
            assert text.count(f"] {line}\n") == 1, (name, line)
            assert whole.count(f"] {line}\n") == 1, line  # forwarded once, not twice
    assert "Traceback (most recent call last):" in env.text(run, "stage_3.log")
    assert sorted(p.name for p in env.folder(run).iterdir()) == [
        "automation_run.log",
        "run_trace.jsonl",
        "stage_1.log",
        "stage_2.log",
        "stage_3.log",
    ]

    stages = env.summary(run)["stages"]
    assert stages["1"]["status"] == "completed"
    assert (stages["1"]["name"], stages["1"]["processed"]) == ("Keywords", 3)
    assert stages["2"]["status"] == "completed"
    assert stages["3"]["status"] == "failed"
    assert stages["3"]["error"].startswith("no ideas from")


def publish_chatty(env: Env, run: igl.RunLogger, tags: list[str], lines: int, size: int) -> Path:
    barrier = env.tmp / f"barrier-{uuid.uuid4().hex}"
    barrier.mkdir()
    with run.bound():
        for tag in tags:
            env.task("t.chatty").delay(tag, lines, size, str(barrier), len(tags))
    return barrier


def chatty_lines(env: Env, run: igl.RunLogger, expected: int) -> list[str]:
    def lines() -> list[str] | None:
        found = [line for line in env.text(run).splitlines() if " chatty " in line]
        return found if len(found) >= expected else None

    return wait_until(lines, f"{expected} chatty lines")


# -- in-process workers ------------------------------------------------------------------


class _GlobalState:
    """What an in-process worker changes globally, restored after the class."""

    ENV_KEYS = ("CELERY_LOG_LEVEL", "CELERY_LOG_FILE", "_MP_FORK_LOGLEVEL_", "_MP_FORK_LOGFILE_")

    def __init__(self) -> None:
        self.root_level = logging.root.level
        self.root_handlers = list(logging.root.handlers)
        task_logger = logging.getLogger("celery.task")
        self.task_logger = (task_logger.level, task_logger.propagate, list(task_logger.handlers))
        self.warnings_captured = logging._warnings_showwarning is not None
        self.env = {key: os.environ.get(key) for key in (*self.ENV_KEYS, "_MP_FORK_LOGFORMAT_")}
        self.default_app = celery._state.default_app
        self.current_app = getattr(celery._state._tls, "current_app", None)
        self.setup = Logging._setup

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
        celery._state.default_app = self.default_app
        celery._state._tls.current_app = self.current_app
        Logging._setup = self.setup


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


@pytest.fixture(scope="class")
def threads_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with in_process_worker(tmp_path_factory.mktemp("threads"), "threads", 4) as env:
        yield env


@pytest.fixture(scope="class")
def solo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with in_process_worker(tmp_path_factory.mktemp("solo"), "solo", 1) as env:
        yield env


class TestThreadsPool:
    """Under the threads pool, every task of a run logs into that run and no other.

    Stage tasks log their lifecycle in order; children, chain links, group
    members, chord header and body and retries stay in the run and the stage;
    records of ``get_task_logger`` and plain loggers reach the run once.
    """

    def test_pipeline(self, threads_env: Env) -> None:
        run = threads_env.start_run(7, 3)
        publish_pipeline(threads_env, run)
        check_pipeline(threads_env, run)

    def test_two_runs_in_flight_never_mix(self, threads_env: Env) -> None:
        env = threads_env
        first, second = env.start_run(1, "site-a"), env.start_run(2, "site-b")
        barrier = env.tmp / f"barrier-{uuid.uuid4().hex}"
        barrier.mkdir()
        for tag, run in (("first", first), ("second", second)):
            with run.bound():
                for n in range(2):  # four tasks meet at the barrier: all four threads busy
                    env.task("t.chatty").delay(f"{tag}{n}", 60, 100, str(barrier), 4)
        for tag, other, run in (("first", "second", first), ("second", "first", second)):
            lines = chatty_lines(env, run, 120)
            assert len(lines) == 120
            assert all(f" chatty {tag}" in line for line in lines)
            assert {line.split()[4] for line in lines} == {f"{tag}0", f"{tag}1"}
            assert other not in env.text(run)
        assert len(os.listdir(barrier)) == 4  # the four tasks did run at the same time


class TestSoloPool:
    """Under the solo pool (one thread runs every task), a task's run never outlives it.

    Tasks outside any run write nothing; hostile headers are ignored with one
    warning; failing hooks never fail a task; a header can name the stage; a
    revoked stage task logs ``stage_revoked``; connecting twice changes nothing.
    """

    def test_context_never_leaks_into_the_next_task(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(5, 5)
        with run.bound():
            inside = env.task("t.note").delay("inside the run")
            detached = env.task("t.note").apply_async(
                ("outside any run, detached",), headers={"igny8": None}
            )
        outside = env.task("t.note").delay("outside any run")
        stage_outside = env.task("t.keywords").delay(0)  # a stage task outside any run
        assert inside.get(timeout=20) == "inside the run"
        assert outside.get(timeout=20) == "outside any run"
        assert detached.get(timeout=20) == "outside any run, detached"
        before = wait_until(
            lambda: env.files() if env.text(run).count("inside the run") == 2 else None,
            "the run's records",
        )
        assert stage_outside.get(timeout=20)["processed"] == 0
        after_outside = env.task("t.note").delay("after the stage task")
        assert after_outside.get(timeout=20) == "after the stage task"
        assert env.files() == before  # tasks outside any run wrote no file
        assert "outside any run" not in env.text(run)
        assert [e["event"] for e in env.events(run)] == ["run_start"]

    def test_hostile_headers_are_ignored_with_one_warning(
        self,
        solo_env: Env,
        caplog: pytest.LogCaptureFixture,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:
        env = solo_env
        valid = igl.new_run_id()
        hostile: list[object] = [
            "not a mapping",
            12,
            ["run_id", valid],
            "x" * 1_000_000,
            {"run_id": "x" * 1_000_000, "junk": "y" * 1_000},
            {"run_id": "../../../escape"},
            {"run_id": valid + "\n"},
            {"run_id": valid, "account_id": "../../escape"},
            {"run_id": valid, "account_id": True},
            {"run_id": valid, "site_id": "a" * 65},
            {"run_id": valid, "stage": "../x"},
            {"run_id": valid, "stage": -1},
            {"account_id": 1},
        ]
        everything = tmp_path_factory.getbasetemp()
        before = {p for p in everything.rglob("*") if "barrier-" not in str(p)}
        caplog.set_level(logging.WARNING, logger=HOOK_LOGGER)
        results = [
            env.task("t.note").apply_async((f"hostile {n}",), headers={"igny8": header})
            for n, header in enumerate(hostile)
        ]
        for n, result in enumerate(results):
            assert result.get(timeout=20) == f"hostile {n}"  # every task ran
        warnings = [r for r in caplog.records if r.name == HOOK_LOGGER]
        assert len(warnings) == len(hostile)  # one warning per task, no more
        assert all(r.levelno == logging.WARNING for r in warnings)
        assert all(len(r.getMessage()) < 500 for r in warnings)  # no megabyte in the log
        after = {p for p in everything.rglob("*") if "barrier-" not in str(p)}
        assert after == before  # nothing written anywhere

    def test_a_failing_hook_never_fails_the_task(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(6, 6)
        failures = igc.hook_failures["task_prerun"]
        with run.bound():
            result = env.task("t.bad_stage").delay()  # stage="../../escape": invalid
        assert result.get(timeout=20) == "ran"
        wait_until(lambda: "bad stage task ran" in env.text(run), "the task's record")
        assert igc.hook_failures["task_prerun"] == failures + 1
        assert [e["event"] for e in env.events(run)] == ["run_start"]
        assert sorted(p.name for p in env.folder(run).iterdir()) == [
            "automation_run.log",
            "run_trace.jsonl",
        ]

        class Broken(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                raise RuntimeError("a broken filter")

        broken = Broken()
        logging.getLogger(env.logger).addFilter(broken)
        try:
            with run.bound():
                value = env.task("t.keywords").delay(0).get(timeout=20)
        finally:
            logging.getLogger(env.logger).removeFilter(broken)
        assert value["processed"] == 0  # the stage task succeeded although logging failed

    def test_a_header_stage_makes_a_stage_task(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(8, 8)
        with igl.bind_run(run.run_id, 8, 8, stage=7):
            env.task("t.plain_stage_by_header").delay()
        events = env.events_when(run, lambda ev: len(ev) == 3, "stage 7's events")
        assert stage_events(events, 7) == ["stage_start", "stage_complete"]
        assert one(events, "stage_complete", 7)["processed"] == 1
        assert "[stage 7] stage given by the header" in env.text(run, "stage_7.log")

    def test_a_revoked_stage_task_logs_stage_revoked(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(9, 9)
        with run.bound():
            env.task("t.expiring").apply_async(expires=datetime.now(UTC) - timedelta(minutes=1))
        events = env.events_when(run, lambda ev: len(ev) == 2, "stage_revoked")
        revoked = one(events, "stage_revoked", 6)
        assert (revoked["level"], revoked["reason"]) == ("WARNING", "expired")
        assert revoked["task_name"] == "t.expiring"
        stage = env.summary(run)["stages"]["6"]
        assert (stage["status"], stage["error"]) == ("failed", "expired")
        assert "should never run" not in env.text(run)

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

    def test_eager_calls_stay_in_the_callers_run(self, solo_env: Env) -> None:
        env = solo_env
        run = env.start_run(11, 11)
        with igl.bind_run(run.run_id, 11, 11, stage=8) as outer:
            assert env.task("t.plain_stage_by_header").apply().get() == {"processed": 1}
            assert igl.current_run() == outer  # restored after the task
        header = {"run_id": run.run_id, "account_id": 11, "site_id": 11, "stage": 9}
        env.task("t.note").apply(("eager with a header",), headers={"igny8": header})
        assert igl.current_run() is None
        events = env.events(run)
        assert stage_events(events, 8) == ["stage_start", "stage_complete"]
        assert stage_events(events, 9) == ["stage_start", "stage_complete"]
        assert "[stage 8] stage given by the header" in env.text(run, "stage_8.log")
        assert "[stage 9] note: eager with a header" in env.text(run, "stage_9.log")


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


@pytest.fixture(
    scope="class",
    params=[
        "filesystem-celery-logging",
        "filesystem-dictconfig",
        pytest.param("redis", marks=pytest.mark.brokers),
        pytest.param("rabbitmq", marks=pytest.mark.brokers),
    ],
)
def prefork_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    kind: str = request.param
    if kind in SERVERS:
        require_server(kind)
    broker, logging_setup = WORKERS[kind]
    tmp = tmp_path_factory.mktemp(f"prefork-{kind}")
    base, results, folder = tmp / "logs", tmp / "results", tmp / "broker"
    results.mkdir()
    folder.mkdir()
    queue = f"igny8test-{uuid.uuid4().hex}"
    options: dict[str, Any] = {}
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
        "IGNY8_TEST_WORKER": "1",
        "IGNY8_TEST_BASE_DIR": str(base),
        "IGNY8_TEST_LOGGING": logging_setup,
        "IGNY8_TEST_BROKER": broker,
        "IGNY8_TEST_BACKEND": f"file://{results}",
        "IGNY8_TEST_QUEUE": queue,
        "IGNY8_TEST_READY": str(tmp / "ready"),
    }
    if broker.startswith("igny8fs:"):
        environ["IGNY8_TEST_FS_FOLDER"] = str(folder)
        options["broker_transport_options"] = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder / "control"),
            "polling_interval": 0.05,
        }
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
    with output.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "_celery_app",
                "worker",
                "-P",
                "prefork",
                "-c",
                "2",
                "-Q",
                queue,
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=TESTS,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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


class TestPreforkWorker:
    """Under a real ``celery worker -P prefork -c 2`` process, runs log as in-process.

    The same pipeline reaches the run's files from two pool processes, with
    Celery's own logging and with ``setup_logging`` + ``dictConfig``, on the
    filesystem transport, Redis and RabbitMQ; lines written concurrently by
    two processes never tear; events fired in the worker's main process (hard
    time limit, lost pool process, revoke) land in the run, once.
    """

    def test_pipeline(self, prefork_env: Env) -> None:
        run = prefork_env.start_run(7, "site-3")
        publish_pipeline(prefork_env, run)
        check_pipeline(prefork_env, run)

    def test_two_pool_processes_never_tear_lines(self, prefork_env: Env) -> None:
        env = prefork_env
        run = env.start_run(4, 4)
        size = 3000  # each record is larger than a pipe buffer's atomic write
        barrier = publish_chatty(env, run, ["left", "right"], 150, size)
        lines = chatty_lines(env, run, 300)
        assert len(lines) == 300
        pids = set()
        for line in lines:
            assert RECORD_LINE.match(line), line[:100]
            assert line.endswith(" " + "x" * size)
            pids.add(line.split("pid=")[1].split()[0])
        assert len(pids) == 2  # both pool processes wrote at the same time
        assert len(os.listdir(barrier)) == 2
        assert_well_formed(env.text(run))

    def test_events_fired_in_the_main_process(self, prefork_env: Env) -> None:
        env = prefork_env
        run = env.start_run(12, 12)
        with run.bound():
            env.task("t.slow").apply_async((30,), time_limit=1)  # killed: hard time limit
            env.task("t.lost").delay()  # kills its own pool process

        env.events_when(
            run,
            lambda ev: {e["stage"] for e in ev if e["event"] == "stage_error"} == {4, 5},
            "stage_error for stages 4 and 5",
        )
        with run.bound():
            env.task("t.expiring").apply_async(expires=datetime.now(UTC) - timedelta(minutes=1))
        events = env.events_when(run, lambda ev: any(e["stage"] == 6 for e in ev), "stage_revoked")
        assert stage_events(events, 4) == ["stage_start", "stage_error"]  # once, not twice
        assert one(events, "stage_error", 4)["error_type"] == "TimeLimitExceeded"
        assert stage_events(events, 5) == ["stage_start", "stage_error"]
        assert one(events, "stage_error", 5)["error_type"] == "WorkerLostError"
        assert stage_events(events, 6) == ["stage_revoked"]
        assert one(events, "stage_revoked", 6)["reason"] == "expired"
        stages = env.summary(run)["stages"]
        assert [stages[s]["status"] for s in ("4", "5", "6")] == ["failed"] * 3
        assert "woke up" not in env.text(run)
