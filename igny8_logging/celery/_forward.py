"""Hands records of a run from other loggers to the run handlers of one logger."""

from __future__ import annotations

import logging
from typing import Final

from .._context import current_run
from .._handlers import BaseRunHandler

__all__ = ["Forwarder"]

#: Loggers whose records are never copied into a run: Celery's stack's own.
_CELERY_LOGGERS: Final = frozenset({"celery", "kombu", "amqp", "billiard"})
_FORWARDED: Final = "_igny8_forwarded"


class Forwarder(logging.Handler):
    """Hands records of a run from other loggers to the run handlers of one logger.

    Installed on the root logger and on Celery's ``celery.task`` logger (which
    does not propagate), so that records of ``get_task_logger`` loggers and of
    plain module loggers emitted inside a task of a run reach the run's files.
    Records of the target logger's own hierarchy (they get there by
    propagation), of Celery's loggers, and of no run are left alone.  A record
    is handed over at most once and never re-propagated: no loops, no duplicates.
    """

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target
        self._prefix = target.name + "."
        self._sources = (logging.root, logging.getLogger("celery.task"))

    def install(self) -> None:
        """Attach to the root and ``celery.task`` loggers unless already there.

        Called before every task: a logging setup that ran since (Celery's
        root-logger takeover, a ``dictConfig``) may have removed it.
        """
        for logger in self._sources:
            if self not in logger.handlers:
                logger.addHandler(self)

    def uninstall(self) -> None:
        for logger in self._sources:
            logger.removeHandler(self)

    def handle(self, record: logging.LogRecord) -> bool:  # no handler lock needed
        d = record.__dict__
        name = record.name
        if (
            d.get(_FORWARDED)
            or (d.get("run_id") is None and current_run() is None)
            or name == self.target.name
            or name.startswith(self._prefix)
            or name.partition(".")[0] in _CELERY_LOGGERS
            or not self.target.isEnabledFor(record.levelno)
        ):
            return False
        d[_FORWARDED] = True
        for handler in self.target.handlers:
            if isinstance(handler, BaseRunHandler) and record.levelno >= handler.level:
                handler.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)
