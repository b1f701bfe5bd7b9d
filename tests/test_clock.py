"""The stage clock: stage starts kept per run, carried between processes, never deadlocking."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import FrameType

import pytest
from conftest import trace_events

from igny8_logging._clock import RUN_KEY, StageClock, clock

RUN = "run_20261129_013000_abcd1234"
OTHER = "run_20261129_013000_ffff0000"
ROOT = Path(__file__).resolve().parent.parent


class TestLocalStarts:
    """A start seen in this process is measured on the monotonic clock."""

    def test_start_returns_the_epoch_and_stop_measures(self) -> None:
        c = StageClock()
        before = time.time()
        epoch = c.start(RUN, 1)
        assert before <= epoch <= time.time()
        assert c.started(RUN, 1) == epoch
        assert c.started(RUN, "1") == epoch  # 1 and "1" name the same stage
        time.sleep(0.02)
        elapsed = c.stop(RUN, 1)
        assert elapsed is not None
        assert elapsed >= 0.02
        assert elapsed == round(elapsed, 3)
        assert c.started(RUN, 1) is None  # forgotten
        assert c.stop(RUN, 1) is None

    def test_unknown_start_is_none(self) -> None:
        c = StageClock()
        assert c.stop(RUN, 1) is None
        assert c.started(RUN, 1) is None
        assert c.starts(RUN) == {}

    def test_runs_are_apart(self) -> None:
        c = StageClock()
        c.start(RUN, 1)
        assert c.stop(OTHER, 1) is None
        assert c.stop(RUN, 1) is not None

    def test_overlapping_starts_are_ambiguous_until_all_stopped(self) -> None:
        c = StageClock()
        first = c.start(RUN, 2)
        assert c.start(RUN, 2) == first  # the stage's start stays its first one
        assert c.stop(RUN, 2) is None
        assert c.started(RUN, 2) == first  # one is still running
        assert c.stop(RUN, 2) is None
        assert c.started(RUN, 2) is None
        c.start(RUN, 2)  # idle again: measured
        assert c.stop(RUN, 2) is not None

    def test_bounded_least_recently_used(self) -> None:
        c = StageClock(size=3)
        runs = [f"run_20261129_013000_{n:08x}" for n in range(4)]
        for run in runs[:3]:
            c.start(run, 1)
        c.start(runs[0], 2)  # runs[0] is used again: runs[1] is the oldest
        c.start(runs[3], 1)
        assert c.started(runs[1], 1) is None
        assert all(c.started(run, 1) is not None for run in (runs[0], runs[2], runs[3]))


class TestCarriedStarts:
    """A start known from elsewhere (a message header) is measured on the wall clock."""

    def test_seed_then_stop_measures_from_the_epoch(self) -> None:
        c = StageClock()
        c.seed(RUN, 2, time.time() - 5)
        assert c.starts(RUN) == {"2": pytest.approx(time.time() - 5, abs=1)}
        elapsed = c.stop(RUN, 2)
        assert elapsed is not None
        assert 5.0 <= elapsed < 60
        assert c.started(RUN, 2) is None

    def test_seed_never_overwrites_a_local_start(self) -> None:
        c = StageClock()
        epoch = c.start(RUN, 1)
        c.seed(RUN, 1, epoch - 3600)
        assert c.started(RUN, 1) == epoch
        elapsed = c.stop(RUN, 1)
        assert elapsed is not None
        assert elapsed < 3600

    def test_a_local_start_replaces_a_seed(self) -> None:
        c = StageClock()
        c.seed(RUN, 1, time.time() - 3600)
        epoch = c.start(RUN, 1)
        assert c.started(RUN, 1) == epoch
        elapsed = c.stop(RUN, 1)
        assert elapsed is not None
        assert elapsed < 3600

    def test_a_future_start_from_a_skewed_host_measures_zero(self) -> None:
        c = StageClock()
        c.seed(RUN, 1, time.time() + 3600)
        assert c.stop(RUN, 1) == 0.0

    @pytest.mark.parametrize("bad", ["12", None, True, float("nan"), float("inf"), -1.0, 0, [1]])
    def test_bad_header_values_are_ignored(self, bad: object) -> None:
        c = StageClock()
        c.seed(RUN, 1, bad)  # type: ignore[arg-type]
        assert c.started(RUN, 1) is None

    def test_starts_is_what_a_message_carries(self) -> None:
        c = StageClock()
        one = c.start(RUN, 1)
        c.seed(RUN, "clusters", 1_700_000_000.5)
        c.start(RUN, RUN_KEY)  # the run's own start is not a stage
        c.start(OTHER, 9)
        assert c.starts(RUN) == {"1": one, "clusters": 1_700_000_000.5}

    def test_the_process_wide_clock_is_shared_by_the_stage_api(self) -> None:
        import igny8_logging as igl

        run = igl.RunLogger.attach("igny8.test.clock.shared", igl.new_run_id())
        run.stage_start(4)
        assert clock.started(run.run_id, 4) is not None
        assert set(clock.starts(run.run_id)) == {"4"}
        run.stage_complete(4)
        assert clock.started(run.run_id, 4) is None


class _SignallingId(str):
    """A run id whose hashing, done while the clock holds its lock, raises a signal.

    The signal handler runs at the next bytecode boundary: inside the clock's
    critical section, on the same thread.
    """

    __slots__ = ()

    def __hash__(self) -> int:
        os.kill(os.getpid(), signal.SIGUSR1)
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other)


class _BlockingId(str):
    """A run id whose hashing, done while the clock holds its lock, waits for an event."""

    __slots__ = ()
    entered = threading.Event()
    release = threading.Event()

    def __hash__(self) -> int:
        _BlockingId.entered.set()
        _BlockingId.release.wait(60)
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other)


def _wait_child(pid: int, limit: float = 60.0) -> int | None:
    """The child's exit code, or ``None`` (and the child killed) if it hangs."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


class TestReentry:
    """A signal handler may call the clock while the same thread is inside it."""

    def test_signal_inside_the_clock_completes(self) -> None:
        c = StageClock()
        seen: list[tuple[str, float | None]] = []

        def handler(signum: int, frame: FrameType | None) -> None:
            assert frame is not None
            seen.append((frame.f_code.co_name, c.stop(OTHER, 1)))
            c.start(OTHER, 1)

        c.start(OTHER, 1)
        previous = signal.signal(signal.SIGUSR1, handler)
        try:
            c.start(_SignallingId(RUN), 1)
            c.stop(_SignallingId(RUN), 1)
        finally:
            signal.signal(signal.SIGUSR1, previous)
        assert [name for name, _ in seen][:1] == ["__hash__"]  # it ran inside the clock
        assert len(seen) >= 2
        assert all(elapsed is not None for _, elapsed in seen)

    @pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
    def test_fork_while_another_thread_is_inside(self, tmp_path: Path) -> None:
        """A prefork child made while a thread held the clock can still use the stage API."""
        import igny8_logging as igl

        run = igl.RunLogger.attach("igny8.test.clock.fork", igl.new_run_id())
        _BlockingId.entered.clear()
        _BlockingId.release.clear()
        holder = threading.Thread(target=clock.start, args=(_BlockingId(RUN), 1))
        holder.start()
        try:
            assert _BlockingId.entered.wait(10)
            pid = os.fork()
            if pid == 0:  # pragma: no cover - child
                code = 1
                try:
                    run.stage_start(7)
                    code = 0 if clock.stop(run.run_id, 7) is not None else 2
                finally:
                    os._exit(code)
            result = _wait_child(pid)
        finally:
            _BlockingId.release.set()
            holder.join(10)
        clock.stop(RUN, 1)
        assert result == 0

    def test_stage_api_from_a_timer_signal_never_hangs(self, tmp_path: Path) -> None:
        """The stage API, called from a SIGALRM handler that keeps interrupting the
        stage API's own clock calls, completes (run in a child, so a deadlock fails
        the test instead of hanging the suite)."""
        script = textwrap.dedent(
            """
            import logging.config, signal, sys
            import igny8_logging as igl

            logging.config.dictConfig(igl.logging_config(sys.argv[1], logger="sig"))
            quiet = logging.getLogger("quiet")
            quiet.setLevel(logging.CRITICAL)  # the loop spends its time in the clock
            loop = igl.RunLogger.attach(quiet, "run_20261129_013000_abcd1234")
            run = igl.RunLogger.attach("sig", "run_20261129_013000_ffff0000")
            inside = calls = 0

            def handler(signum, frame):
                global inside, calls
                if frame is not None and frame.f_code.co_filename.endswith("_clock.py"):
                    inside += 1
                calls += 1
                run.stage_start(2)
                run.stage_complete(2)

            signal.signal(signal.SIGALRM, handler)
            signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
            for _ in range(3_000_000):
                loop.stage_start(1)
                loop.stage_complete(1)
                if inside >= 5:
                    break
            signal.setitimer(signal.ITIMER_REAL, 0)
            print(inside, calls)
            """
        )
        child = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert child.returncode == 0, child.stderr
        inside, calls = map(int, child.stdout.split())
        assert inside >= 5  # the handler did interrupt the clock
        (trace,) = tmp_path.rglob("run_trace.jsonl")
        completes = [e for e in trace_events(trace) if e["event"] == "stage_complete"]
        assert len(completes) == calls  # every call of the handler was written
