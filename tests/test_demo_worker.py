"""``_demo_worker``: a real Celery worker in a thread, started, used and stopped cleanly."""

from __future__ import annotations

import threading

import pytest
from celery import Celery

from igny8_logging._demo_worker import EMBEDDED, Worker, check_broker
from igny8_logging._display import CommandError


def small_app(queue: str) -> tuple[Celery, list[int]]:
    app = Celery("igny8_demo_worker_test", broker=EMBEDDED, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_enable_remote_control=False,
        broker_transport_options={"polling_interval": 0.05},
    )
    seen: list[int] = []

    @app.task(name="igny8_demo.wake", shared=False)
    def wake() -> None:
        """The stop's wake-up call."""

    @app.task(name="test.record", shared=False)
    def record(value: int) -> None:
        seen.append(value)

    return app, seen


class TestWorker:
    """Tasks published to the embedded broker run on the worker thread; stop ends it."""

    @pytest.mark.timeout(60)
    def test_runs_tasks_and_stops(self) -> None:
        app, seen = small_app("igny8-demo-worker-test")
        stopping = threading.Event()
        worker = Worker(app, "igny8-demo-worker-test", stopping)
        worker.start()
        try:
            app.tasks["test.record"].delay(7)
            for _ in range(200):
                if seen:
                    break
                stopping.wait(0.05)
            assert seen == [7]
        finally:
            worker.stop()
        assert not worker.thread.is_alive()
        assert stopping.is_set()


class TestBroker:
    """An unreachable broker is a one-line error without the URL's password."""

    def test_unreachable(self) -> None:
        app = Celery("igny8_demo_broker_test", broker="redis://:hunter2@127.0.0.1:1/0")
        with pytest.raises(CommandError) as error:
            check_broker(app, "redis://:hunter2@127.0.0.1:1/0")
        assert "cannot reach the broker" in str(error.value)
        assert "hunter2" not in str(error.value)
