"""Faults: failing mirror or primary, files deleted mid-run, killed writers, fork, exit, fsync."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import igny8_logging as igl

from . import _writers as w
from ._fs import Mount, full_disk

RUN_ID = "run_20260101_000000_abcd1234"
FILES = ("automation_run.log", "stage_1.log", "run_trace.jsonl")
HANDLERS = ("RunLogHandler", "StageLogHandler", "TraceHandler")


def log_items(run: igl.RunLogger, numbers: range, size: int = 200) -> None:
    """Records every handler writes (stage 1, a trace event), each with a checksum."""
    for n in numbers:
        text = w.message(0, n, ("x" * size)[: size - n % 7])
        run.trace("item", stage=1, message=text, w=0, n=n)


def holds(root: Path, numbers: range | set[int], run_id: str = RUN_ID) -> None:
    """Every file of the run under *root* holds exactly the records *numbers*, whole."""
    keys = {(0, n) for n in numbers}
    folder = root / "_" / "_" / run_id
    for name in FILES[:2]:
        w.assert_exactly(w.check_text(folder / name).keys, keys, f"{folder.name}/{name}")
    w.assert_exactly(w.check_trace(folder / FILES[2])[0], keys, f"{folder.name}/trace")


def reports(err: str, what: str) -> list[str]:
    return sorted(re.findall(rf"igny8_logging: (\w+): {what}", err))


Setup = tuple[igl.RunLogger, list[igl.BaseRunHandler], Path, Path]
"""What ``setup`` yields: the run, its handlers, the base dir and the shared dir."""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    base, shared = tmp_path / "logs", tmp_path / "shared"
    logger, handlers = w.configure(base, shared)
    yield igl.RunLogger.attach(logger, RUN_ID), handlers, base, shared
    for handler in handlers:
        handler.close()


@pytest.fixture
def mount(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mount]:
    """A tmpfs on ``tmp_path/<param>`` ("shared" or "logs"), unmounted afterwards."""
    point = Mount(tmp_path / request.param)
    yield point
    point.release()


class TestMirrorFailures:
    """A failing mirror raises nothing, leaves the primary complete, is reported once per
    handler and counted in ``handler.failures``; when it comes back, writing resumes there."""

    def test_mirror_root_under_a_regular_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        blocker = tmp_path / "blocker"
        blocker.write_text("not a directory")
        base, shared = tmp_path / "logs", blocker / "shared"  # ENOTDIR
        logger, handlers = w.configure(base, shared)
        run = igl.RunLogger.attach(logger, RUN_ID)
        log_items(run, range(20))
        holds(base, range(20))
        assert [h.failures for h in handlers] == [{"primary": 0, "mirror": 20}] * 3
        err = capsys.readouterr().err
        assert reports(err, "cannot write mirror") == sorted(HANDLERS)
        assert "Not a directory" in err

        blocker.unlink()  # the mirror comes back
        log_items(run, range(20, 25))
        assert reports(capsys.readouterr().err, "mirror .* works again") == sorted(HANDLERS)
        holds(base, range(25))
        holds(tmp_path / "blocker" / "shared", range(20, 25))
        assert [h.failures for h in handlers] == [{"primary": 0, "mirror": 20}] * 3

    @pytest.mark.parametrize("mount", ["shared"], indirect=True)
    def test_read_only_mirror(
        self, setup: Setup, mount: Mount, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Read-only for real: a read-only tmpfs mount (root ignores chmod); see ``_fs``."""
        run, handlers, base, shared = setup
        how = mount.read_only()
        log_items(run, range(10))
        holds(base, range(10))
        assert [h.failures for h in handlers] == [{"primary": 0, "mirror": 10}] * 3
        err = capsys.readouterr().err
        assert reports(err, "cannot write mirror") == sorted(HANDLERS), how
        mount.writable()
        log_items(run, range(10, 15))
        assert reports(capsys.readouterr().err, "mirror .* works again") == sorted(HANDLERS)
        holds(base, range(15))
        holds(shared, range(10, 15))

    def test_mirror_removed_mid_run_is_recreated(
        self, setup: Setup, capsys: pytest.CaptureFixture[str]
    ) -> None:
        run, handlers, base, shared = setup
        log_items(run, range(5))
        shutil.rmtree(shared)
        log_items(run, range(5, 10))
        holds(base, range(10))
        holds(shared, range(5, 10))
        assert [h.failures for h in handlers] == [{"primary": 0, "mirror": 0}] * 3
        assert capsys.readouterr().err == ""

    @pytest.mark.parametrize("mount", ["shared"], indirect=True)
    def test_mirror_on_a_full_disk(
        self,
        setup: Setup,
        mount: Mount,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A real full disk: the mirror is a 64 KiB tmpfs, then grown to 4 MiB (ENOSPC is
        simulated only where mounting is not permitted, see ``_fs.full_disk``)."""
        run, handlers, base, shared = setup
        grow = full_disk(mount, monkeypatch)
        log_items(run, range(60), size=3000)
        holds(base, range(60))
        failures = [h.failures["mirror"] for h in handlers]
        assert all(f > 0 for f in failures)
        assert [h.failures["primary"] for h in handlers] == [0, 0, 0]
        err = capsys.readouterr().err
        assert reports(err, "cannot write mirror") == sorted(HANDLERS)
        assert "No space left on device" in err

        grow()
        log_items(run, range(60, 70), size=3000)
        assert reports(capsys.readouterr().err, "mirror .* works again") == sorted(HANDLERS)
        folder = shared / "_" / "_" / RUN_ID
        for name in FILES:
            # What the full disk took is whole (a record it took only in part is cut
            # off on its own line); everything after it is whole.
            found = whole_lines(folder / name)
            assert set(range(60, 70)) <= found
            assert len(found) >= 60 + 10 - failures[FILES.index(name)]


def whole_lines(path: Path) -> set[int]:
    """Numbers of the records whose line is whole; at most one cut line is allowed."""
    keys = [w.line_key(line, path.suffix == ".jsonl") for line in path.read_bytes().split(b"\n")]
    found = [key[1] for key in keys[:-1] if key is not None]
    assert len(found) == len(set(found))
    assert keys[:-1].count(None) <= 1, f"{path.name}: {keys.count(None)} cut lines"
    return set(found)


class TestPrimaryFailures:
    """A failing primary raises nothing into the caller and the mirror is still written."""

    @pytest.mark.parametrize("mount", ["logs"], indirect=True)
    def test_read_only_primary(
        self, setup: Setup, mount: Mount, capsys: pytest.CaptureFixture[str]
    ) -> None:
        run, handlers, _base, shared = setup
        mount.read_only()
        log_items(run, range(10))
        holds(shared, range(10))
        assert [h.failures for h in handlers] == [{"primary": 10, "mirror": 0}] * 3
        assert reports(capsys.readouterr().err, "cannot write primary") == sorted(HANDLERS)

    @pytest.mark.parametrize("mount", ["logs"], indirect=True)
    def test_full_primary(
        self,
        setup: Setup,
        mount: Mount,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A real full disk: the primary is a 64 KiB tmpfs (simulated only where mounting
        is not permitted, see ``_fs.full_disk``)."""
        run, handlers, _base, shared = setup
        full_disk(mount, monkeypatch)
        log_items(run, range(60), size=3000)
        holds(shared, range(60))
        assert all(h.failures["primary"] > 0 for h in handlers)
        assert reports(capsys.readouterr().err, "cannot write primary") == sorted(HANDLERS)


class TestDeletedMidRun:
    """A log, the trace, the run folder or the tenant folder deleted mid-run is recreated
    by the next record, in the primary and the mirror, with the configured modes."""

    @pytest.mark.parametrize("victim", [*FILES, ".", "../.."])
    def test_recreated_by_the_next_record(self, setup: Setup, victim: str) -> None:
        run, handlers, base, shared = setup
        log_items(run, range(5))
        for root in (base, shared):
            path = (root / "_" / "_" / RUN_ID / victim).resolve()
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        log_items(run, range(5, 10))
        for root in (base, shared):
            folder = root / "_" / "_" / RUN_ID
            for name in FILES:
                gone = victim == name or not victim.endswith(("log", "jsonl"))
                keys = {(0, n) for n in range(5 if gone else 0, 10)}
                w.assert_exactly(w.keys_of(folder / name), keys, f"{victim}: {name}")
                assert (folder / name).stat().st_mode & 0o777 == 0o640
            for path in (folder, folder.parent, folder.parent.parent):
                assert path.stat().st_mode & 0o777 == 0o750
        assert [h.failures for h in handlers] == [{"primary": 0, "mirror": 0}] * 3


WRITER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from reliability import _writers as w
    import igny8_logging as igl
    logger, handlers = w.configure({base!r}, {shared!r}, fsync={fsync!r})
    run = igl.RunLogger.attach(logger, {run_id!r})
    mode, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for n in range(first, first + count):
        run.trace("item", stage=1, message=w.message(0, n, "y" * (n % 50) * 400), w=0, n=n)
        if n == first:
            print("started", flush=True)
    if mode == "os_exit":
        os._exit(0)
    if mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    # mode "exit": a normal exit, the handlers never closed by this script
    """
)


def writer(tmp_path: Path, fsync: str = "never") -> list[str]:
    script = tmp_path / "writer.py"
    tests = str(Path(__file__).resolve().parents[1])
    source = WRITER.format(
        tests=tests,
        base=str(tmp_path / "logs"),
        shared=str(tmp_path / "shared"),
        run_id=RUN_ID,
        fsync=fsync,
    )
    script.write_text(source)
    return [sys.executable, str(script)]


class TestKilledWriter:
    """A writer killed with SIGKILL mid-stream leaves every earlier line whole;
    ``read_trace`` returns only whole events; a later writer appends cleanly."""

    def test_sigkill_mid_stream(self, tmp_path: Path) -> None:
        proc = subprocess.Popen(
            [*writer(tmp_path), "loop", "0", "100000"], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n"
        trace = tmp_path / "logs" / "_" / "_" / RUN_ID / "run_trace.jsonl"
        while trace.stat().st_size < 2_000_000:
            assert proc.poll() is None, "the writer ended before it was killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        self.check_after_kill(tmp_path)

    def test_torn_tail_as_a_kill_leaves_it(self, tmp_path: Path) -> None:
        """A kill cannot be timed to land inside one write(), so the torn tail it can
        leave (the kernel stops a write to a regular file between pages on SIGKILL) is
        planted: a record cut in the middle, in every file."""
        subprocess.run([*writer(tmp_path), "exit", "0", "10"], check=True)
        for root in ("logs", "shared"):
            for name in FILES:
                path = tmp_path / root / "_" / "_" / RUN_ID / name
                data = path.read_bytes()
                last = data.rstrip(b"\n").rfind(b"\n") + 1
                path.write_bytes(data[: last + (len(data) - last) // 2])
        self.check_after_kill(tmp_path)

    def check_after_kill(self, tmp_path: Path) -> None:
        folder = tmp_path / "logs" / "_" / "_" / RUN_ID
        before = {}
        for name in FILES:
            data = (folder / name).read_bytes()
            whole = data[: data.rfind(b"\n") + 1]
            before[name] = len(whole)
            keys: list[tuple[int, int] | None]
            if name.endswith(".log"):
                keys = list(w.check_text_bytes(whole).keys)
            else:
                keys = [w.line_key(line, trace=True) for line in whole.splitlines()]
            assert keys
            assert None not in keys
            assert len(set(keys)) == len(keys)
        killed = len(keys)
        reader = igl.RunLogReader(tmp_path / "logs")
        events = read_all(reader)
        assert [w.parse_message(e["message"]) for e in events] == keys

        # A later writer: its records come out whole, on lines of their own.
        subprocess.run([*writer(tmp_path), "exit", "500000", "20"], check=True)
        for name in FILES:
            data = (folder / name).read_bytes()
            after = data[before[name] :]
            good = [w.line_key(line, name.endswith("l")) for line in after.split(b"\n")[:-1]]
            assert good[-20:] == [(0, n) for n in range(500000, 500020)], name
            assert good.count(None) <= 1
        assert len(read_all(reader)) == killed + 20


def read_all(reader: igl.RunLogReader) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = reader.read_trace(RUN_ID, cursor=cursor, limit=50)
        events += page.events
        if not page.events:
            return events
        cursor = page.cursor


class TestForkAfterUse:
    """A process forked after the handlers were used (prefork): parent and child both keep
    writing whole lines into the same run, concurrently, each record once."""

    def test_parent_and_child_write_whole_lines(self, setup: Setup) -> None:
        run, handlers, base, shared = setup
        log_items(run, range(1000, 1010))  # descriptors are open in the parent
        pid = os.fork()
        if pid == 0:  # the child: two threads, as a prefork worker with threads would
            failed = True
            try:
                threads = [
                    threading.Thread(target=log_items, args=(run, range(k, 1000, 4), 5000))
                    for k in (0, 1)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                failed = any(h.failures != {"primary": 0, "mirror": 0} for h in handlers)
            finally:
                os._exit(1 if failed else 0)
        log_items(run, range(2, 1000, 4), 5000)
        log_items(run, range(3, 1000, 4), 5000)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        for root in (base, shared):
            holds(root, range(1010))


class TestExitWithoutClose:
    """Nothing is buffered: records logged right before the process ends are all on disk,
    whether it exits normally without closing the handlers, calls ``os._exit`` (no atexit,
    no flush) or is killed with SIGKILL right after the last call."""

    @pytest.mark.parametrize("mode", ["exit", "os_exit", "sigkill"])
    def test_nothing_lost(self, tmp_path: Path, mode: str) -> None:
        done = subprocess.run([*writer(tmp_path), mode, "0", "30"], check=False)
        assert done.returncode == (-signal.SIGKILL if mode == "sigkill" else 0)
        holds(tmp_path / "logs", range(30))
        holds(tmp_path / "shared", range(30))


FSYNC_SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    from reliability import _writers as w
    import igny8_logging as igl
    policy, wrap = sys.argv[1], sys.argv[2] == "wrap"
    if wrap:  # only where strace is missing: a labelled wrapper that reports each call
        real_fsync = os.fsync
        def fsync(fd):
            print(f"fsync({{fd}}<{{os.readlink(f'/proc/self/fd/{{fd}}')}}>)", flush=True)
            real_fsync(fd)
        os.fsync = fsync
    def mark(step):
        if wrap:
            print(f'access("/igny8-mark-{{step}}")', flush=True)
        os.access(f"/igny8-mark-{{step}}", os.F_OK)
    logger, handlers = w.configure({base!r}, {shared!r}, fsync=policy)
    run = igl.start_run(logger, run_id={run_id!r})
    mark("start")
    run.info("plain")
    mark("info")
    run.stage_start(1, "Keywords")
    mark("stage_start")
    run.stage_progress(1, 5, 10)
    mark("progress")
    run.trace("item", stage=1, item=3)
    mark("item")
    run.stage_complete(1, 10)
    mark("complete")
    run.stage_error(2, ValueError("boom"))
    mark("error")
    run.end()
    mark("end")
    """
)
STEPS = ("start", "info", "stage_start", "progress", "item", "complete", "error", "end")
#: Writes per step: (files written) x (primary, mirror).
WRITES = {"start": 4, "info": 2, "end": 4}


class TestFsyncPolicy:
    """``fsync="never"`` never syncs; ``"always"`` syncs every write; ``"stage"`` syncs the
    files written by ``stage_complete``, ``stage_error`` and ``end``, and nothing else.

    Observed for real: the writer runs under ``strace -f -y -e trace=fsync``, each step
    followed by a marker syscall (``access("/igny8-mark-STEP")``).  Only where strace is
    not installed does a labelled wrapper of ``os.fsync`` in the child report the calls.
    """

    def observe(self, tmp_path: Path, policy: str) -> dict[str, list[str]]:
        script = tmp_path / f"fsync_{policy}.py"
        script.write_text(
            FSYNC_SCRIPT.format(
                tests=str(Path(__file__).resolve().parents[1]),
                base=str(tmp_path / "logs"),
                shared=str(tmp_path / "shared"),
                run_id=RUN_ID,
            )
        )
        strace = shutil.which("strace")
        if strace:
            out = tmp_path / f"strace_{policy}.txt"
            cmd = [strace, "-f", "-y", "-qq", "-o", str(out), "-e",
                   "trace=fsync,fdatasync,access,faccessat,faccessat2",
                   sys.executable, str(script), policy, "strace"]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True)
            text = out.read_text()
        else:
            cmd = [sys.executable, str(script), policy, "wrap"]
            text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        synced: dict[str, list[str]] = {step: [] for step in STEPS}
        pending: list[str] = []
        for line in text.splitlines():
            if mark := re.search(r'"/igny8-mark-(\w+)"', line):
                synced[mark[1]] = sorted(pending)
                pending = []
            elif sync := re.search(r"\b(?:fsync|fdatasync)\(\d+<([^>]+)>", line):
                pending.append(os.path.relpath(sync[1], tmp_path))
        assert not pending
        return synced

    def test_never(self, tmp_path: Path) -> None:
        assert self.observe(tmp_path, "never") == {step: [] for step in STEPS}

    def test_always(self, tmp_path: Path) -> None:
        synced = self.observe(tmp_path, "always")
        assert {step: len(paths) for step, paths in synced.items()} == {
            step: WRITES.get(step, 6) for step in STEPS
        }

    def test_stage(self, tmp_path: Path) -> None:
        def paths(*names: str) -> list[str]:
            return sorted(f"{root}/_/_/{RUN_ID}/{n}" for root in ("logs", "shared") for n in names)

        assert self.observe(tmp_path, "stage") == {
            "start": [],
            "info": [],
            "stage_start": [],
            "progress": [],
            "item": [],
            "complete": paths("automation_run.log", "stage_1.log", "run_trace.jsonl"),
            "error": paths("automation_run.log", "stage_2.log", "run_trace.jsonl"),
            "end": paths("automation_run.log", "run_trace.jsonl"),
        }
