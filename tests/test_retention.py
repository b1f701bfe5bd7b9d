"""Retention: ``prune_runs`` and the walk ``iter_ended_runs`` (``_retention``)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import run_dir

import igny8_logging as igl
from igny8_logging._filesource import FileSource
from igny8_logging._retention import EndedRun, cutoff, iter_ended_runs, prune

OLD = 40  # days ago the old runs ended


class _OldClock(logging.Filter):
    """Stamps records as if written *days* ago (a run that ended long ago)."""

    def __init__(self, days: float) -> None:
        super().__init__()
        self.days = days

    def filter(self, record: logging.LogRecord) -> bool:
        record.created -= self.days * 86400
        return True


@pytest.fixture
def logger(base_dir: Path, request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    log = logging.getLogger(f"igny8.test.retention.{request.node.name}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    handlers = [cls(base_dir) for cls in (igl.RunLogHandler, igl.TraceHandler)]
    for handler in handlers:
        log.addHandler(handler)
    yield log
    for handler in handlers:
        log.removeHandler(handler)
        handler.close()


def make_run(
    logger: logging.Logger,
    account: int | str | None = 1,
    site: int | str | None = 2,
    *,
    ended_days_ago: float | None = OLD,
) -> igl.RunLogger:
    """A small run; ``ended_days_ago=None`` leaves it running."""
    run = igl.start_run(logger, account, site)
    run.stage_start(1, "Keywords")
    run.stage_complete(1, processed=1)
    if ended_days_ago is not None:
        old = _OldClock(ended_days_ago)
        logger.addFilter(old)
        try:
            run.end()
        finally:
            logger.removeFilter(old)
    return run


@pytest.fixture
def tree(base_dir: Path, logger: logging.Logger) -> dict[str, igl.RunLogger]:
    return {
        "old": make_run(logger, 1, 2),
        "recent": make_run(logger, 1, 2, ended_days_ago=5),
        "running": make_run(logger, 1, 2, ended_days_ago=None),
        "old_other": make_run(logger, 3, "shop"),
        "old_no_tenant": make_run(logger, None, None),
    }


def ids(tree: dict[str, igl.RunLogger], *names: str) -> list[str]:
    return sorted(tree[name].run_id for name in names)


class TestPruneRuns:
    """Only runs whose ``run_end`` is older than DAYS go, in every tenant unless one is
    named; emptied tenant folders go too; a dry run removes nothing."""

    def test_removes_old_ended_runs_of_every_tenant(
        self, base_dir: Path, tree: dict[str, igl.RunLogger]
    ) -> None:
        removed = igl.prune_runs(base_dir, 30)
        assert sorted(removed) == ids(tree, "old", "old_other", "old_no_tenant")
        for name in ("old", "old_other", "old_no_tenant"):
            assert not run_dir(base_dir, tree[name]).exists()
        for name in ("recent", "running"):
            assert (run_dir(base_dir, tree[name]) / "run_trace.jsonl").is_file()
        assert sorted(p.name for p in base_dir.iterdir()) == ["1"]  # 3/shop and _/_ emptied

    def test_dry_run_removes_nothing(self, base_dir: Path, tree: dict[str, igl.RunLogger]) -> None:
        found = igl.prune_runs(base_dir, 30, dry_run=True)
        assert sorted(found) == ids(tree, "old", "old_other", "old_no_tenant")
        assert all(run_dir(base_dir, run).is_dir() for run in tree.values())

    def test_a_named_tenant_narrows_it(
        self, base_dir: Path, tree: dict[str, igl.RunLogger]
    ) -> None:
        assert igl.prune_runs(base_dir, 1, account_id=3) == [tree["old_other"].run_id]
        assert igl.prune_runs(base_dir, 1, site_id="_") == [tree["old_no_tenant"].run_id]
        assert sorted(igl.prune_runs(base_dir, 1, account_id=1, site_id=2)) == ids(
            tree, "old", "recent"
        )
        assert run_dir(base_dir, tree["running"]).is_dir()

    def test_huge_limits_keep_everything(
        self, base_dir: Path, tree: dict[str, igl.RunLogger]
    ) -> None:
        """A limit before year 1 (800000 days) is no ``OverflowError``: no run is older."""
        for days in (800_000, 10**12, 1e300):
            assert igl.prune_runs(base_dir, days) == []
        assert all(run_dir(base_dir, run).is_dir() for run in tree.values())

    @pytest.mark.parametrize("days", [-1, float("nan"), float("inf"), "5", True, None])
    def test_bad_limits(self, base_dir: Path, days: Any) -> None:
        base_dir.mkdir()
        with pytest.raises(ValueError):
            igl.prune_runs(base_dir, days)

    def test_bad_tenant_and_missing_base(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            igl.prune_runs(tmp_path, 1, account_id="../x")
        with pytest.raises(FileNotFoundError):
            igl.prune_runs(tmp_path / "nowhere", 1)

    def test_links_are_not_followed(
        self, base_dir: Path, tmp_path: Path, logger: logging.Logger
    ) -> None:
        old = make_run(logger, 1, 2)
        outside = tmp_path / "outside"
        os.rename(base_dir / "1", outside)
        (base_dir / "1").symlink_to(outside, target_is_directory=True)
        (base_dir / "5" / "6").mkdir(parents=True)
        (base_dir / "5" / "6" / old.run_id).symlink_to(outside / "2" / old.run_id)
        assert igl.prune_runs(base_dir, 1) == []
        assert (outside / "2" / old.run_id / "run_trace.jsonl").is_file()

    def test_run_end_is_found_from_the_end_of_a_huge_trace(
        self, base_dir: Path, logger: logging.Logger
    ) -> None:
        """The walk scans back from the trace's end: a 256 MiB trace costs little to read."""
        run = make_run(logger, ended_days_ago=None)
        trace = run_dir(base_dir, run) / "run_trace.jsonl"
        with open(trace, "r+b") as file:
            file.seek(0, os.SEEK_END)
            file.write(b"{}\n")
            file.truncate(256 * 1024 * 1024)  # a sparse middle: a huge trace, made fast
            file.seek(0, os.SEEK_END)
            file.write(b"\n")
        old = _OldClock(OLD)
        logger.addFilter(old)
        run.end()
        logger.removeFilter(old)
        before = _rchar()
        assert igl.prune_runs(base_dir, 30, dry_run=True) == [run.run_id]
        assert _rchar() - before < 4 * 1024 * 1024


def _rchar() -> int:
    with open("/proc/self/io") as io:
        for line in io:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar")


class TestTheWalk:
    """``iter_ended_runs`` yields each ended run with its tenant and end time, through a
    reader (any of its sources) or a base dir; folders vanishing mid-walk are skipped."""

    def test_yields_tenant_and_time(self, base_dir: Path, tree: dict[str, igl.RunLogger]) -> None:
        now = datetime.now(UTC)
        found = {run.run_id: run for run in iter_ended_runs(base_dir, 30, now=now)}
        assert sorted(found) == ids(tree, "old", "old_other", "old_no_tenant")
        other = found[tree["old_other"].run_id]
        assert (other.account_id, other.site_id, other.path) == (
            "3",
            "shop",
            f"3/shop/{other.run_id}",
        )
        assert found[tree["old_no_tenant"].run_id][1:3] == (None, None)
        for run in found.values():
            assert timedelta(days=OLD - 1) < now - run.ended_at < timedelta(days=OLD + 1)

    def test_through_a_reader_of_several_places(
        self, base_dir: Path, tmp_path: Path, tree: dict[str, igl.RunLogger]
    ) -> None:
        """A run only in "another place" (a second tree standing in for Redis or the
        archive) is walked too, once even when both hold it."""
        elsewhere = tmp_path / "elsewhere"
        shutil.copytree(base_dir, elsewhere)
        shutil.rmtree(run_dir(base_dir, tree["old_other"]))
        reader = igl.RunLogReader(sources=[FileSource(base_dir), FileSource(elsewhere)])
        walked = [run.run_id for run in iter_ended_runs(reader, 30)]
        assert sorted(walked) == ids(tree, "old", "old_other", "old_no_tenant")

    def test_a_tenant_vanishing_mid_walk_is_skipped(
        self, base_dir: Path, tree: dict[str, igl.RunLogger]
    ) -> None:
        walk = iter_ended_runs(base_dir, 30)  # tenants listed now, runs as it goes
        shutil.rmtree(base_dir / "3")
        assert sorted(run.run_id for run in walk) == ids(tree, "old", "old_no_tenant")

    def test_prune_returns_the_runs_with_tenants(
        self, base_dir: Path, tree: dict[str, igl.RunLogger]
    ) -> None:
        found = prune(base_dir, 30, account_id="_")
        assert [type(run) for run in found] == [EndedRun]
        assert found[0].path == f"_/_/{tree['old_no_tenant'].run_id}"

    def test_cutoff_clamps(self) -> None:
        now = datetime(2026, 1, 1, tzinfo=UTC)
        assert cutoff(1, now) == datetime(2025, 12, 31, tzinfo=UTC)
        assert cutoff(800_000, now).year == 1


class TestConcurrentPrunes:
    """Four ``prune`` processes at once all exit 0, and every old run is gone."""

    def test_four_at_once(self, base_dir: Path, tmp_path: Path, logger: logging.Logger) -> None:
        old = [make_run(logger, account, site) for account in range(4) for site in range(2)]
        old += [make_run(logger, account, 0) for account in range(4) for _ in range(40)]
        old += [make_run(logger, None, None) for _ in range(20)]
        kept = [make_run(logger, n, 0, ended_days_ago=1) for n in range(4)]
        go = tmp_path / "go"
        # Each process waits for the same signal, so the four walks truly overlap.
        script = (
            "import os, sys, time\n"
            "from igny8_logging.cli import main\n"
            "while not os.path.exists(sys.argv[1]): time.sleep(0.001)\n"
            "sys.exit(main(sys.argv[2:]))\n"
        )
        args = ["prune", "--older-than", "30", "--base-dir", str(base_dir)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(go), *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(4)
        ]
        time.sleep(0.5)  # let them import (not a timed assertion: only a head start)
        go.touch()
        results = [proc.communicate(timeout=120) for proc in procs]
        for proc, (_, err) in zip(procs, results, strict=True):
            assert (proc.returncode, err) == (0, "")
        assert not any(run_dir(base_dir, run).exists() for run in old)
        assert all(run_dir(base_dir, run).is_dir() for run in kept)
