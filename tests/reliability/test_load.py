"""Load: many concurrent writers into one run, and many runs at once."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

import igny8_logging as igl

from . import _writers as w

Method = Literal["fork", "spawn"]
PROCS = 4
THREADS = 4
PER_WRITER = 250


def _start(
    method: Method, target: Callable[..., object], arglists: list[tuple[object, ...]]
) -> None:
    # one call per literal: typeshed types get_context(str) as BaseContext (no .Process)
    ctx = (
        multiprocessing.get_context("fork")
        if method == "fork"
        else multiprocessing.get_context("spawn")
    )
    procs = [ctx.Process(target=target, args=args) for args in arglists]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0, f"writer exited with {proc.exitcode}"


class TestSixteenWritersOneRun:
    """16 writers (4 processes x 4 threads) into one run lose, tear, duplicate nothing.

    Records are 10 B to 20 KB, some multi-line, each carrying the sha256 of its
    payload.  Afterwards every file of the run, primary and mirror, holds
    exactly the records it should, each whole and once.
    """

    @pytest.mark.parametrize("method", ["fork", "spawn"])
    def test_every_file_holds_exactly_the_expected_records(
        self, tmp_path: Path, method: Method
    ) -> None:
        base, shared, out = tmp_path / "logs", tmp_path / "shared", tmp_path / "out"
        out.mkdir()
        logger, handlers = w.configure(base, shared)
        run = igl.start_run(logger)  # the parent used the handlers before forking
        began = time.perf_counter()
        _start(
            method,
            w.write_run,
            [
                (
                    str(base),
                    str(shared),
                    run.run_id,
                    p * THREADS,
                    THREADS,
                    PER_WRITER,
                    str(out / f"{p}.json"),
                )
                for p in range(PROCS)
            ],
        )
        run.end()
        elapsed = time.perf_counter() - began
        for result in out.iterdir():
            data = json.loads(result.read_text())
            assert all(f == {"primary": 0, "mirror": 0} for f in data["failures"])
        assert all(h.failures == {"primary": 0, "mirror": 0} for h in handlers)

        plans = [p for writer in range(PROCS * THREADS) for p in w.plan(writer, PER_WRITER)]
        expected = w.expected_keys(plans)
        lines = 0
        for root in (base, shared):
            folder = root / "_" / "_" / run.run_id
            assert sorted(p.name for p in folder.iterdir()) == sorted(expected)
            for name, keys in expected.items():
                if name.endswith(".log"):
                    text = w.check_text(folder / name)
                    w.assert_exactly(text.keys, keys, f"{root.name}/{name}")
                    lifecycle = 2 if name == "automation_run.log" else 0
                    assert len(text.others) == lifecycle, text.others[:3]
                    lines += text.lines
                else:
                    found, others = w.check_trace(folder / name)
                    w.assert_exactly(found, keys, f"{root.name}/{name}")
                    assert [e["event"] for e in others] == ["run_start", "run_end"]
                    lines += len(found) + len(others)
        for name in expected:  # several writers: the same lines, maybe in another order
            primary = (base / "_" / "_" / run.run_id / name).read_bytes().split(b"\n")
            mirror = (shared / "_" / "_" / run.run_id / name).read_bytes().split(b"\n")
            assert sorted(primary) == sorted(mirror), name
        size = sum(len(p.message.encode()) for p in plans)
        print(
            f"\n[load/{method}] {len(plans)} records ({size / 1e6:.1f} MB of messages) by "
            f"{PROCS * THREADS} writers in {elapsed:.2f}s; {lines} physical lines verified"
        )


class TestManyRunsAtOnce:
    """200 runs x 50 records from 4 processes: descriptors stay bounded, every run is whole."""

    RUNS = 200
    PER_RUN = 50
    MAX_OPEN = 8

    def test_descriptors_bounded_and_every_run_complete(self, tmp_path: Path) -> None:
        base, shared, out = tmp_path / "logs", tmp_path / "shared", tmp_path / "out"
        out.mkdir()
        logger, _ = w.configure(base, shared)
        runs = [igl.start_run(logger, 7, "site-a") for _ in range(self.RUNS)]
        run_ids = [run.run_id for run in runs]
        began = time.perf_counter()
        _start(
            "fork",
            w.write_many,
            [
                (
                    str(base),
                    str(shared),
                    run_ids,
                    (7, "site-a"),
                    p,
                    PROCS,
                    self.PER_RUN,
                    self.MAX_OPEN,
                    str(out / f"{p}.json"),
                )
                for p in range(PROCS)
            ],
        )
        elapsed = time.perf_counter() - began
        for run in runs:
            run.end()

        # 3 handlers x 2 trees, each keeping at most max_open_files descriptors.
        bound = 3 * 2 * self.MAX_OPEN
        results = [json.loads(p.read_text()) for p in out.iterdir()]
        for data in results:
            assert data["peak"] - data["baseline"] <= bound, data
            assert all(f == {"primary": 0, "mirror": 0} for f in data["failures"])
        assert sum(d["written"] for d in results) == self.RUNS * self.PER_RUN

        reader = igl.RunLogReader(base)
        assert sorted(reader.list_runs(account_id=7, site_id="site-a")) == sorted(run_ids)
        for writer, run_id in enumerate(run_ids):
            expected = {(writer, n) for n in range(self.PER_RUN)}
            for root in (base, shared):
                folder = root / "7" / "site-a" / run_id
                text = w.check_text(folder / "automation_run.log")
                w.assert_exactly(text.keys, expected, f"{run_id} run log")
                assert len(text.others) == 2
                for stage in (1, 2):
                    text = w.check_text(folder / f"stage_{stage}.log")
                    keys = {
                        k
                        for k in expected
                        if (1 if k[1] % 10 == 0 else 1 + k[1] % 2) == stage  # items: stage 1
                    }
                    w.assert_exactly(text.keys, keys, f"{run_id} stage {stage}")
                found, _ = w.check_trace(folder / "run_trace.jsonl")
                w.assert_exactly(found, {k for k in expected if k[1] % 10 == 0}, "trace")
            summary = reader.summary(run_id, account_id=7, site_id="site-a")
            assert summary["status"] == "completed"
        peaks = [d["peak"] - d["baseline"] for d in results]
        print(
            f"\n[load/many-runs] {self.RUNS} runs x {self.PER_RUN} records by {PROCS} processes "
            f"in {elapsed:.2f}s; open descriptors above baseline peaked at {max(peaks)} "
            f"(bound {bound} = 3 handlers x 2 trees x max_open_files={self.MAX_OPEN})"
        )
