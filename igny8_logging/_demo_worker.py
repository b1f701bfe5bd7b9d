"""The demo's worker harness: a real Celery ``WorkController`` in a thread of this process.

Solo pool, on kombu's in-memory transport by default (no server, no files for
messages, nothing to race with), or on a real broker; started and stopped
cleanly, and on a real broker the demo's queue is removed afterwards.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any, Final

from celery import Celery
from celery.worker import WorkController
from celery.worker import state as worker_state
from kombu.utils.url import maybe_sanitize_url

from ._display import CommandError

__all__ = ["EMBEDDED", "Worker", "check_broker"]

EMBEDDED: Final = "memory://localhost/"
START_TIMEOUT: Final = 30.0


class _EmbeddedWorker(WorkController):
    """A real Celery worker consuming in a thread of this process."""

    def __init__(self, app: Celery) -> None:
        self.ready = threading.Event()
        super().__init__(
            app=app,
            hostname=f"igny8-demo-{os.getpid()}@{socket.gethostname()}",
            pool="solo",
            concurrency=1,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
        )

    def on_consumer_ready(self, consumer: Any) -> None:
        self.ready.set()


class Worker:
    """Starts the embedded worker in a thread and stops it cleanly."""

    def __init__(self, app: Celery, queue: str, stopping: threading.Event) -> None:
        self.app = app
        self.queue = queue
        self.stopping = stopping
        app.finalize()
        app.set_current()
        app.set_default()  # the worker thread looks tasks up in the default app
        self.controller = _EmbeddedWorker(app)
        self.thread = threading.Thread(
            target=self.controller.start, name="igny8-demo-worker", daemon=True
        )

    def start(self) -> None:
        """Start consuming; :class:`CommandError` when the worker does not get ready."""
        self.thread.start()
        if not self.controller.ready.wait(START_TIMEOUT):
            raise CommandError(f"the Celery worker did not start within {START_TIMEOUT:.0f}s")

    def stop(self, purge: bool = False) -> None:
        """Stop the worker (after its current task); *purge* deletes the demo's queue."""
        if not self.thread.is_alive():
            return
        self.stopping.set()
        worker_state.should_terminate = 0  # type: ignore[assignment]  # the stub says None
        try:
            # The consumer checks the flag between messages; two wake-ups end its last wait.
            for _ in range(2):
                self.app.tasks["igny8_demo.wake"].apply_async()
        except Exception:
            pass  # the wake-ups only make the stop quicker
        finally:
            self.thread.join(10)
            worker_state.should_terminate = None
        if purge:
            self._purge()

    def _purge(self) -> None:
        """On a real broker: no queue, exchange or wake-up message stays behind."""
        try:
            with self.app.connection_for_write() as connection:
                bound = self.app.amqp.queues[self.queue].bind(connection.default_channel)
                bound.declare()  # a virtual transport deletes only what it knows
                bound.delete()
                bound.exchange.delete()
        except Exception:
            pass  # best effort: the names are the demo's own and never reused


def check_broker(app: Celery, broker: str) -> None:
    """:class:`CommandError` (the URL without its password) when *broker* is unreachable."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:
        shown = maybe_sanitize_url(broker)
        raise CommandError(f"cannot reach the broker {shown}: {exc}") from None
