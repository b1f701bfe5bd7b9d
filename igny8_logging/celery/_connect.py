"""``connect`` / ``disconnect`` an app, and ``run_logger()`` inside a task."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals

from .._adapter import RunLogger
from .._context import current_run
from ._forward import Forwarder
from ._hooks import RECEIVERS
from ._outcome import install, wrap_tasks
from ._state import (
    Connection,
    connection_of_app,
    connections,
    forwarders,
    lock,
    only_connection,
    running,
)

__all__ = ["connect", "disconnect", "run_logger"]


def _finalized(sender: Any = None, **_: Any) -> None:
    if connection_of_app(sender) is not None:
        wrap_tasks(sender)


def _worker_started(sender: Any = None, **_: Any) -> None:
    for app in list(connections.keys()):
        wrap_tasks(app)


def connect(app: Celery, logger: logging.Logger | str = "igny8.automation") -> None:
    """Wire *app*'s task signals to per-run logging on *logger* (idempotent).

    Call it where the app is defined, so web and worker processes alike do it.
    The run handlers belong on *logger* (``logging_config`` puts them there).
    Connecting the same app again does nothing; with another logger it is a
    ``ValueError``, as is the root logger.
    """
    target = logging.getLogger(logger) if isinstance(logger, str) else logger
    if target is logging.root:
        raise ValueError("connect() needs a named logger, not the root logger")
    with lock:
        known = connections.get(app)
        if known is not None:
            if known.logger is not target:
                raise ValueError(f"{app!r} is already connected to logger {known.logger.name!r}")
            return
        forwarder = forwarders.get(target.name)
        if forwarder is None:
            forwarder = forwarders[target.name] = Forwarder(target)
        connections[app] = Connection(target, forwarder)
        install()
        for signal, receiver in RECEIVERS:
            signal.connect(receiver, weak=False, dispatch_uid=f"igny8_logging.{receiver.__name__}")
        signals.worker_init.connect(_worker_started, weak=False, dispatch_uid="igny8_logging.wi")
        signals.worker_process_init.connect(
            _worker_started, weak=False, dispatch_uid="igny8_logging.wpi"
        )
    if getattr(app, "finalized", False):
        wrap_tasks(app)
    else:
        app.on_after_finalize.connect(_finalized, weak=False)


def disconnect(app: Celery) -> None:
    """Undo :func:`connect` for *app* (tests, reconfiguration); unknown apps are ignored."""
    with lock:
        known = connections.pop(app, None)
        if known is None:
            return
        if not any(c.forwarder is known.forwarder for c in connections.values()):
            known.forwarder.uninstall()
            forwarders.pop(known.logger.name, None)
        if not connections:
            for signal, receiver in RECEIVERS:
                signal.disconnect(receiver, dispatch_uid=f"igny8_logging.{receiver.__name__}")


def run_logger() -> RunLogger | None:
    """The ``RunLogger`` of the task running here, bound to its stage; ``None`` outside a run.

    Inside a task of a run (any pool), it is the task's run and stage, so the
    body writes ``run_logger().stage_progress(...)`` or ``.trace(...)``.
    Outside a task, inside ``bind_run(...)`` / ``run.bound()``, it is the bound
    run when one logger is connected.
    """
    state = running.get()
    if state is not None:
        return state.run
    context = current_run()
    connection = only_connection()
    if context is None or connection is None:
        return None
    return RunLogger(
        connection.logger,
        context.run_id,
        context.account_id,
        context.site_id,
        stage=context.stage,
    )
