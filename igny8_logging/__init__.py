"""Per-run, auditable logs for multi-stage Celery automation pipelines.

Built on the standard library's :mod:`logging`: handlers that route records
tagged with a run (and stage) into ``{base_dir}/{account}/{site}/{run_id}/``,
a ``LoggerAdapter`` with the stage API, and a reader for tails, trace pages
and run summaries.  ``README.md`` describes the contract.
"""

from __future__ import annotations

from ._adapter import RunLogger, start_run
from ._config import logging_config
from ._context import RunContext, RunContextExecutor, bind_run, carry_context, current_run
from ._event_handler import RunEventHandler
from ._format import TextFormatter
from ._handlers import BaseRunHandler, RunLogHandler, StageLogHandler, TraceHandler
from ._ids import default_base_dir, new_run_id
from ._reader import RunLogReader, RunNotFound, SourceUnavailable, TracePage
from ._retention import prune_runs
from ._routing import RunContextFilter

__all__ = [
    "BaseRunHandler",
    "RunContext",
    "RunContextExecutor",
    "RunContextFilter",
    "RunEventHandler",
    "RunLogHandler",
    "RunLogReader",
    "RunLogger",
    "RunNotFound",
    "SourceUnavailable",
    "StageLogHandler",
    "TextFormatter",
    "TraceHandler",
    "TracePage",
    "bind_run",
    "carry_context",
    "current_run",
    "default_base_dir",
    "logging_config",
    "new_run_id",
    "prune_runs",
    "start_run",
]

__version__ = "0.1.0"
