"""Shared fixtures: a temporary base dir, a logger wired to the handlers, and clean-up."""

from __future__ import annotations

import json
import logging
import logging.config
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _redis_server import RedisServer, require_redis_server

import igny8_logging as igl


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


def text_lines(path: Path) -> list[str]:
    """The physical lines of a text file (no newlines)."""
    return path.read_text(encoding="utf-8").splitlines()


def trace_events(path: Path) -> list[dict[str, Any]]:
    """Every line of a trace file, parsed (each must be valid JSON)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


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
