"""Shared fixtures: a temporary base dir, a logger wired to the handlers, and clean-up."""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path

import pytest

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
