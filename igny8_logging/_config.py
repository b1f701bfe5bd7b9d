"""``logging_config``: a ready :func:`logging.config.dictConfig` dictionary."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["logging_config"]


def logging_config(
    base_dir: str | os.PathLike[str] | None = None,
    shared_dir: str | os.PathLike[str] | None = None,
    logger: str = "igny8.automation",
    level: str | int = "INFO",
    redis_url: str | None = None,
) -> dict[str, Any]:
    """A dictConfig dict attaching the run, stage and trace handlers to *logger*.

    Merge its ``handlers`` and ``loggers`` into your own configuration, or pass it
    to ``logging.config.dictConfig`` as it is.  Existing loggers stay enabled.
    *redis_url* adds :class:`igny8_logging.redis.RedisStreamHandler` (key ``"redis"``).
    """
    paths: dict[str, Any] = {
        "base_dir": None if base_dir is None else os.fspath(base_dir),
        "shared_dir": None if shared_dir is None else os.fspath(shared_dir),
    }
    handlers: dict[str, Any] = {
        "igny8_run": {"class": "igny8_logging.RunLogHandler", **paths},
        "igny8_stage": {"class": "igny8_logging.StageLogHandler", **paths},
        "igny8_trace": {"class": "igny8_logging.TraceHandler", **paths},
    }
    if redis_url is not None:
        handlers["redis"] = {"class": "igny8_logging.redis.RedisStreamHandler", "url": redis_url}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": handlers,
        "loggers": {
            logger: {
                "handlers": list(handlers),
                "level": level,
                "propagate": True,
            }
        },
    }
