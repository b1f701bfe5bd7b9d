"""Which Celery apps are connected, and to which logger."""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass

from celery import Celery

from ._forward import Forwarder

__all__ = ["Connection", "connection_of", "connection_of_app", "connections", "lock"]


@dataclass(slots=True, eq=False)
class Connection:
    logger: logging.Logger
    forwarder: Forwarder


lock = threading.Lock()
connections: weakref.WeakKeyDictionary[Celery, Connection] = weakref.WeakKeyDictionary()
forwarders: dict[str, Forwarder] = {}


def connection_of_app(app: object) -> Connection | None:
    return connections.get(app) if isinstance(app, Celery) else None


def connection_of(task: object) -> Connection | None:
    """The connection of *task*'s app, ``None`` when it is not connected."""
    return connection_of_app(getattr(task, "app", None))


def only_connection() -> Connection | None:
    """The connection, when exactly one logger is connected (else ``None``)."""
    found = {id(c.logger): c for c in list(connections.values())}
    return next(iter(found.values())) if len(found) == 1 else None
