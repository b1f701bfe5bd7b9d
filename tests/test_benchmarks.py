"""The benchmark keeps working: its quick mode runs, counts every record and prints the table.

No time is asserted: the figures are for people, printed by ``python -m benchmarks``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class TestQuickBenchmark:
    """``python -m benchmarks --quick`` measures every contender and writes the tables."""

    def test_quick_mode_prints_and_writes_the_tables(self, tmp_path: Path) -> None:
        out = tmp_path / "RESULTS.md"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks",
                "--quick",
                "--out",
                str(out),
                "--tmp",
                str(tmp_path),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        text = out.read_text(encoding="utf-8")
        assert text.strip() == done.stdout.strip()
        for heading in ("## Targets", "## Writing", "## Reading", "## Celery"):
            assert heading in text
        for contender in (
            "stdlib FileHandler (1 file)",
            "stdlib 2 text + pjl JSON FileHandlers (3 files)",
            "loguru, 1 file sink",
            "structlog, orjson JSON to 1 file",
            "igny8 run+stage+trace, trace (3 files)",
            "igny8 run+stage+trace + mirror, trace (6 files)",
        ):
            assert f"| {contender} " in text
        assert "tail(100), 4 MiB log" in text
        assert "100 lines" in text
        assert "500 events" in text
        assert "4 stages, completed" in text
        assert not list(tmp_path.glob("igny8-bench-*")), "the benchmark left its files behind"
