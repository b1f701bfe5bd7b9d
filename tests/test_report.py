"""The one failure policy: counted per key, reported once per episode, never raised."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

import pytest

from igny8_logging._report import FailureLog, write_stderr


class TestEpisodes:
    """The first failure of a key is reported; later ones are counted until it recovers."""

    def test_once_per_episode(self) -> None:
        lines: list[str] = []
        log = FailureLog("TraceHandler", emit=lines.append)
        assert log.failed("primary", "cannot write /x: EACCES") is True
        assert log.failed("primary", "cannot write /x: EACCES") is False
        assert log.failed("mirror", "cannot write /m: ENOSPC") is True
        assert log.counts == {"primary": 2, "mirror": 1}
        assert log.failing("primary")
        assert lines == [
            "TraceHandler: cannot write /x: EACCES (further failures are counted, "
            "not reported, until it works again)",
            "TraceHandler: cannot write /m: ENOSPC (further failures are counted, "
            "not reported, until it works again)",
        ]
        log.recovered("primary")
        log.recovered("primary")  # not failing any more: silent
        assert not log.failing("primary")
        assert lines[2:] == ["TraceHandler: primary works again"]
        assert log.failed("primary", "again") is True  # a new episode is reported
        assert log.counts["primary"] == 3

    def test_recovered_without_failure_is_silent(self) -> None:
        lines: list[str] = []
        FailureLog("x", emit=lines.append).recovered("k", "fine")
        assert lines == []

    def test_reset(self) -> None:
        lines: list[str] = []
        log = FailureLog("x", emit=lines.append)
        log.failed("k", "m")
        log.reset()
        assert not log.counts
        assert not log.failing("k")
        assert log.failed("k", "m") is True


class TestDelivery:
    """Reports go to stderr by default, honour ``logging.raiseExceptions``, and never raise."""

    def test_stderr_by_default(self, capfd: pytest.CaptureFixture[str]) -> None:
        FailureLog("RunLogger").failed("trace", "trace failed")
        assert capfd.readouterr().err.startswith("igny8_logging: RunLogger: trace failed (")

    def test_silent_without_raise_exceptions(
        self, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(logging, "raiseExceptions", False)
        log = FailureLog("RunLogger")
        log.failed("trace", "trace failed")
        assert capfd.readouterr().err == ""
        assert log.counts["trace"] == 1  # still counted

    def test_no_stderr_at_all(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys, "stderr", None)  # pythonw, a daemon with fd 2 closed
        write_stderr("nowhere to go")
        FailureLog("x").failed("k", "m")

    def test_a_raising_override_is_swallowed(self) -> None:
        class Loud(FailureLog):
            def emit(self, line: str) -> None:
                raise OSError("the report itself failed")

        log = Loud("x")
        assert log.failed("k", "m") is True
        log.recovered("k")
        assert log.counts["k"] == 1

    def test_a_report_that_fails_again_on_this_thread(self) -> None:
        """The report may log, and that logging may fail again: no deadlock, no recursion."""
        lines: list[str] = []

        class Reentrant(FailureLog):
            def emit(self, line: str) -> None:
                lines.append(line)
                self.failed("k", "failed while reporting")
                self.failed("other", "and another")

        log = Reentrant("x")
        log.failed("k", "first")
        assert log.counts == {"k": 3, "other": 2}
        assert [line.split(" (")[0] for line in lines] == ["x: first", "x: and another"]


class _BlockingKey(str):
    """A key whose hashing, done while the log holds its lock, waits for an event."""

    __slots__ = ()
    entered = threading.Event()
    release = threading.Event()

    def __hash__(self) -> int:
        _BlockingKey.entered.set()
        _BlockingKey.release.wait(60)
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other)


class TestFork:
    """A child forked while a thread was inside the log can still count and report."""

    @pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
    def test_child_is_not_blocked(self) -> None:
        log = FailureLog("x", emit=lambda line: None)
        holder = threading.Thread(target=log.failed, args=(_BlockingKey("k"), "m"))
        holder.start()
        try:
            assert _BlockingKey.entered.wait(10)
            pid = os.fork()
            if pid == 0:  # pragma: no cover - child
                try:
                    log.failed("other", "m")
                finally:
                    os._exit(0)
            deadline = time.monotonic() + 60
            done = 0
            while not done and time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                time.sleep(0.01)
            if not done:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        finally:
            _BlockingKey.release.set()
            holder.join(10)
        assert done
        assert os.waitstatus_to_exitcode(status) == 0
