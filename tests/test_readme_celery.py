"""The README's "Celery" and "Celery pipelines" code blocks, run as written on a real worker.

The blocks named ``# proj/celery.py`` and ``# proj/views.py`` become a package
in a temporary folder; a ``celery worker -P prefork -c 2`` process runs it on
Redis (database 15), and a separate "web" process calls ``start_pipeline``.
The other blocks run in a fresh interpreter each.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _celery_env import require_server, stop, wait_until

import igny8_logging as igl
from igny8_logging._events import RunSummary

README = Path(__file__).resolve().parent.parent / "README.md"
BROKER = "redis://127.0.0.1:6379/15"
PRINT_HANDLERS = (
    "import logging\n"
    "handlers = logging.getLogger('igny8.automation').handlers\n"
    "print(sorted(type(h).__name__ for h in handlers))\n"
)
pytestmark = pytest.mark.brokers


def blocks() -> list[str]:
    """The Python blocks of the two Celery sections, in order."""
    text = README.read_text("utf-8")
    start = text.index("\n## Celery\n")
    end = text.index("\n## ", text.index("\n## Celery pipelines\n") + 5)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def named(name: str) -> str:
    found = [b for b in blocks() if b.startswith(f"# {name}")]
    assert len(found) >= 1, name
    return found[0]


def environ(base: Path, folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])),
        "IGNY8_LOG_DIR": str(base),
        "CELERY_BROKER_URL": BROKER,
        "CELERY_RESULT_BACKEND": BROKER,
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    require_server("redis")
    folder = tmp_path_factory.mktemp("readme")
    base = folder / "logs"
    package = folder / "proj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "celery.py").write_text(named("proj/celery.py"))
    (package / "views.py").write_text(named("proj/views.py"))
    env = environ(base, folder)
    celery = [sys.executable, "-m", "celery", "-A", "proj.celery"]
    subprocess.run([*celery, "purge", "-f"], cwd=folder, env=env, check=True, capture_output=True)
    output = folder / "worker.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [
                *celery,
                "worker",
                "-P",
                "prefork",
                "-c",
                "2",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(output.read_text(errors="replace")[-4000:])
            return b" ready." in output.read_bytes()

        wait_until(ready, "the worker to start", timeout=60)
        yield base, env
    finally:
        stop(process)


def web(env: dict[str, str], words: list[str]) -> str:
    """Call the README's ``start_pipeline`` in a process of its own (the web process)."""
    code = f"from proj.views import start_pipeline; print(start_pipeline(42, 7, {words!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip().splitlines()[-1]


def summary_when_ended(base: Path, run_id: str) -> RunSummary:
    reader = igl.RunLogReader(base)

    def ended() -> RunSummary | None:
        try:
            found = reader.summary(run_id, account_id=42, site_id=7)
        except igl.RunNotFound:
            return None
        return found if found["status"] != "running" else None

    return wait_until(ended, f"{run_id} to end", timeout=60)


class TestReadmePipeline:
    """The README's pipeline, run as written, logs a complete run and a failed one."""

    def test_a_run_that_completes(self, project: tuple[Path, dict[str, str]]) -> None:
        base, env = project
        run_id = web(env, ["seo", "sem", "ppc"])
        summary = summary_when_ended(base, run_id)
        assert summary["status"] == "completed"
        stages = summary["stages"]
        assert [stages[s]["status"] for s in ("1", "2", "3")] == ["completed"] * 3
        assert stages["2"]["name"] == "Clusters"
        assert stages["2"]["processed"] == 3
        assert stages["3"]["processed"] == 2  # clusters "p" and "s"
        folder = base / "42" / "7" / run_id
        stage_2 = (folder / "stage_2.log").read_text("utf-8")
        for word in ("seo", "sem", "ppc"):
            assert f"[stage 2] clustering '{word}'" in stage_2
        assert "clustering" not in (folder / "stage_1.log").read_text("utf-8")
        events = igl.RunLogReader(base).read_trace(run_id, account_id=42, site_id=7).events
        assert events[-1]["event"] == "run_end"

    def test_a_run_that_fails_ends_in_the_errback(
        self, project: tuple[Path, dict[str, str]]
    ) -> None:
        base, env = project
        run_id = web(env, [])
        summary = summary_when_ended(base, run_id)
        assert summary["status"] == "failed"
        assert summary["stages"]["3"]["status"] == "failed"
        assert summary["stages"]["3"]["error"] == "no clusters to write ideas for"
        page = igl.RunLogReader(base).read_trace(run_id, account_id=42, site_id=7)
        names = [e["event"] for e in page.events]
        assert names.index("stage_error") < names.index("run_end") == len(names) - 1


class TestOtherBlocks:
    """The remaining blocks run as written in a fresh interpreter."""

    def test_the_own_logging_setup(self, tmp_path: Path) -> None:
        code = named("proj/celery.py, your own") + (
            "\nsignals.setup_logging.send(sender=None, loglevel='INFO')\n" + PRINT_HANDLERS
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=environ(tmp_path, tmp_path),
            check=True,
            capture_output=True,
            text=True,
        )
        assert done.stdout.strip() == "['RunLogHandler', 'StageLogHandler', 'TraceHandler']"

    def test_the_run_model_settings(self, tmp_path: Path) -> None:
        """The block is a Django settings module: Django applies its LOGGING at setup."""
        (tmp_path / "readme_settings.py").write_text(named("settings.py"))
        code = "import django\ndjango.setup()\n" + PRINT_HANDLERS
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**environ(tmp_path, tmp_path), "DJANGO_SETTINGS_MODULE": "readme_settings"},
            check=True,
            capture_output=True,
            text=True,
        )
        assert done.stdout.strip() == (
            "['RunLogHandler', 'RunModelHandler', 'StageLogHandler', 'TraceHandler']"
        )


def test_import_without_celery_names_the_extra(tmp_path: Path) -> None:
    """``import igny8_logging.celery`` without Celery says which extra to install."""
    (tmp_path / "celery.py").write_text("raise ImportError('No module named celery')\n")
    code = "import igny8_logging.celery"
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "pip install 'igny8-logging[celery]'" in done.stderr
