"""Shared fixtures: a temporary base dir, a logger wired to the handlers, and clean-up."""

from __future__ import annotations

import gc
import json
import logging
import logging.config
import os
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _redis_server import RedisServer, require_redis_server

import igny8_logging as igl

#: The Celery stage tests' worker fixtures (``pipeline_prefork``, ``pipeline_threads``).
pytest_plugins = ["_celery_stages"]

if TYPE_CHECKING:
    from _moto import MotoS3


@pytest.fixture
def base_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    return path


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    return tmp_path / "shared"


@pytest.fixture
def run_logger(
    base_dir: Path, shared_dir: Path, request: pytest.FixtureRequest
) -> Iterator[logging.Logger]:
    """A uniquely named logger configured through ``dictConfig(logging_config(...))``."""
    name = f"igny8.test.{request.node.name}"
    logging.config.dictConfig(igl.logging_config(base_dir, shared_dir, logger=name, level="DEBUG"))
    logger = logging.getLogger(name)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def run_dir(base: Path, run: igl.RunLogger) -> Path:
    account = "_" if run.account_id is None else str(run.account_id)
    site = "_" if run.site_id is None else str(run.site_id)
    return base / account / site / run.run_id


# -- core suite helpers (tests/test_<core module>.py) ---------------------------------


@pytest.fixture
def make_logger(request: pytest.FixtureRequest) -> Iterator[Callable[..., logging.Logger]]:
    """Factory: a fresh, non-propagating logger configured through ``dictConfig``.

    ``make_logger(handlers, formatters=None)`` takes dictConfig ``handlers`` (and
    ``formatters``) sections; ``make_logger(logging_config(...))`` takes a whole
    config made by ``logging_config`` (its logger is renamed).  Handlers are
    closed after the test.
    """
    made: list[logging.Logger] = []

    def make(config: dict[str, Any], formatters: dict[str, Any] | None = None) -> logging.Logger:
        name = f"igny8.test.{request.node.name}.{len(made)}"
        if "version" in config:
            full = dict(config)
            ((_, logger_cfg),) = full["loggers"].items()
            full["loggers"] = {name: {**logger_cfg, "level": "DEBUG", "propagate": False}}
        else:
            full = {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": formatters or {},
                "handlers": config,
                "loggers": {name: {"handlers": list(config), "level": "DEBUG", "propagate": False}},
            }
        logging.config.dictConfig(full)
        logger = logging.getLogger(name)
        made.append(logger)
        return logger

    yield make
    for logger in made:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()


# -- the C accelerator (igny8_logging._speedups) on and off ---------------------------


def configured_speedups() -> Any:
    """:func:`speedups_module` as the package set it up (its record and routing parts need
    the package's caches): a skip when ``IGNY8_NO_SPEEDUPS`` switched it off."""
    from igny8_logging import _accel

    if _accel.DISABLED:
        pytest.skip("IGNY8_NO_SPEEDUPS is set: the package did not set the extension up")
    return speedups_module()


def speedups_module() -> Any:
    """The built extension, else a skip (a failure when ``IGNY8_REQUIRE_SPEEDUPS`` is set)."""
    try:
        from igny8_logging import _speedups
    except ImportError as exc:
        if os.environ.get("IGNY8_REQUIRE_SPEEDUPS"):
            pytest.fail(f"IGNY8_REQUIRE_SPEEDUPS is set but the C extension did not load: {exc}")
        pytest.skip(f"the C extension is not built: {exc}")
    return _speedups


@pytest.fixture(params=["c", "python"])
def speedups(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with the C accelerator (lines, records, routing, poll, the handlers'
    ``handle``, ``RunLogger``'s logging methods), then with Python alone.

    Both variants must pass the same assertions: the extension does what the
    Python code does, or hands the work back to it.
    """
    from igny8_logging import (
        _adapter,
        _format,
        _handlers,
        _logrecord,
        _records,
        _routing,
        _trace,
        _watch,
    )

    if request.param == "c":
        module = configured_speedups()
        assert _logrecord.C_BUILD is module.build_record, "the C record failed its check"
        assert _routing._route_fast is module.route_fast
        assert _handlers.C_HANDLE is not None, "the C handle was not set up"
        c_parts = (module.text_line, module.trace_line, module.build_record, module.route_fast,
                   module.pending, module.plan_attrs, _handlers.C_HANDLE)  # fmt: skip
    else:
        c_parts = (None,) * 6 + (_handlers.handle_unlocked,)
    methods = _adapter.C_METHODS if request.param == "c" else _adapter.PY_METHODS
    assert methods is not None, "the C logging methods were not set up"
    for name, method in methods.items():
        monkeypatch.setattr(_adapter.RunLogger, name, method)
    for (where, name), value in zip(
        (
            (_format, "_text_line"),
            (_trace, "_trace_line"),
            (_logrecord, "C_BUILD"),
            (_routing, "_route_fast"),
            (_watch, "_pending"),
            (_records, "_plan_attrs"),
            (_handlers.BaseRunHandler, "handle"),
        ),
        c_parts,
        strict=True,
    ):
        monkeypatch.setattr(where, name, value)
    return str(request.param)


def traced_growth(batch: Callable[[int], None]) -> int:
    """Bytes tracemalloc sees kept after ``batch(5000)``, once ``batch(500)`` filled the caches."""
    batch(500)
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        batch(5000)
        gc.collect()
        return int(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()


class Records(logging.Handler):
    """Keeps the records it is given (what a formatter or error tracker would see)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def text_lines(path: Path) -> list[str]:
    """The physical lines of a text file (no newlines)."""
    return path.read_text(encoding="utf-8").splitlines()


def trace_events(path: Path) -> list[dict[str, Any]]:
    """Every line of a trace file, parsed (each must be valid JSON)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- S3 (moto's server) ------------------------------------------------------------


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    """moto's S3 server (the S3 stand-in: no cloud here), one per test module."""
    from _moto import MotoS3

    server = MotoS3()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3(moto: MotoS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoS3]:
    """The moto server, running, with the standard boto3 variables pointing at it."""
    moto.start() if moto._server is None else None
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    yield moto
    if moto._server is None:
        moto.start()


@pytest.fixture
def bucket(s3: MotoS3) -> str:
    return s3.new_bucket()


# -- a private redis-server (tests/_redis_server.py), never the shared 6379 --


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_redis_server()
    srv = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield srv
    srv.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server this test may kill and restart."""
    require_redis_server()
    srv = RedisServer(tmp_path / "redis").start()
    yield srv
    srv.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own."""
    return f"t{uuid.uuid4().hex[:8]}"
