"""Celery integration: per-run logs from signal hooks, one call to wire them.

``connect(app)`` wires Celery's signals so that:

* a task published while a run is bound (``with run.bound():``, ``bind_run``,
  or from inside a task of a run) carries the run in the message header
  ``igny8`` (see :mod:`._header`): children, chain links, group members, chord
  callbacks and retries stay in the run;
* a worker binds that run for the task's duration (and unbinds it after), so
  plain ``logger.info(...)`` calls inside the task reach the run's files, the
  stage log too inside a stage task.  Records of loggers outside *logger*'s
  hierarchy (``get_task_logger`` loggers, plain module loggers) are handed to
  *logger*'s run handlers; records of Celery's stack itself are not;
* a stage task, ``@app.task(stage=1, stage_name="Keywords")``, logs
  ``stage_start``, then ``stage_complete`` (``processed``, ``credits_used`` and
  ``result`` from a returned mapping), ``stage_error``, ``stage_retry`` or
  ``stage_revoked``; a part, ``@app.task(stage=2, stage_part=True)``, logs
  ``stage_part_complete`` or ``stage_part_error``; :func:`stage_chord` fans one
  stage out over many parts and closes it with one task;
* only what a task's body publishes inherits its stage; ``self.replace(...)``
  hands the stage to the replacement;
* a stage's outcome is logged before Celery publishes the next chain link or
  calls errbacks, and ``stage_retry`` before the next attempt is published (see
  :mod:`._outcome`), so ``run_end`` is the run's last lifecycle event.

Celery fires some events in the worker's main process, not where the task
ran: a revoke, a hard time limit, a lost pool process.  Their run comes from
the request (or from what the main process received), and each is logged once.

No hook ever raises into Celery or fails a task: a failing hook is reported
once on stderr per episode and counted in :data:`hook_failures`.
"""

from __future__ import annotations

try:
    import celery as _celery  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "igny8_logging.celery needs Celery: pip install 'igny8-logging[celery]'"
    ) from exc

from collections import Counter

from ._chord import stage_chord
from ._connect import connect, disconnect, run_logger
from ._header import HEADER
from ._state import failures

__all__ = ["HEADER", "connect", "disconnect", "hook_failures", "run_logger", "stage_chord"]

#: Hook failures per hook name (each episode reported once on stderr).
hook_failures: Counter[str] = failures.counts
