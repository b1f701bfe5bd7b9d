"""The code stays ``ruff``-clean and ``mypy --strict``-clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


class TestLint:
    """What a contributor's checks would say, run by the same command as the tests."""

    def test_ruff_check_and_format(self) -> None:
        check = _run("ruff", "check", ".")
        assert check.returncode == 0, check.stdout + check.stderr
        fmt = _run("ruff", "format", "--check", ".")
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr

    def test_mypy_strict(self) -> None:
        # pyproject's [tool.mypy] files: the package, the tests and the benchmarks
        result = _run("mypy", "--strict")
        assert result.returncode == 0, result.stdout + result.stderr
