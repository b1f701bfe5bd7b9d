"""``Forwarder``: records of a run from other loggers reach the run handlers of one logger."""

from __future__ import annotations

import logging
from pathlib import Path

import igny8_logging as igl
from igny8_logging.celery._forward import Forwarder


class TestForwarder:
    """Inside a bound run, a module logger's record reaches the run once; Celery's own
    loggers and records of no run are left alone."""

    def test_forwards_run_records_once(self, tmp_path: Path) -> None:
        target = logging.getLogger("igny8.test.forward")
        target.propagate = False
        target.setLevel(logging.INFO)
        handler = igl.RunLogHandler(tmp_path)
        target.addHandler(handler)
        forwarder = Forwarder(target)
        plain = logging.getLogger("igny8test.forward.plain")
        plain.setLevel(logging.INFO)
        forwarder.install()
        try:
            run = igl.start_run(target, 1, 1)
            with run.bound():
                plain.info("from a module logger")
                logging.getLogger("celery.worker").warning("celery's own record")
            plain.info("outside any run")
        finally:
            forwarder.uninstall()
            target.removeHandler(handler)
            handler.close()
        text = (tmp_path / "1" / "1" / run.run_id / "automation_run.log").read_text("utf-8")
        assert text.count("from a module logger") == 1
        assert "celery's own record" not in text
        assert "outside any run" not in text
