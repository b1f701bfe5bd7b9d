"""The README's Python code blocks run as written (each in a fresh interpreter, in order).

Every ```` ```python ```` block of ``README.md`` is executed in a subprocess, in a temporary
working directory with ``$IGNY8_LOG_DIR`` pointing into it, the blocks of one README run
sharing that directory in document order (the reading examples read the run the logging
example wrote).  Blocks of the Celery sections are run on a real worker by
``tests/test_readme_celery.py`` (helper "celery"'s) and are skipped here by design; a block in
any other section that this module does not run makes it fail, so no new example goes
untested.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from _moto import MotoS3
from _redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: Sections whose blocks tests/test_readme_celery.py runs on a real Celery worker.
CELERY_SECTIONS = re.compile(r"Celery\b")
#: What a section's blocks presume from the reader's own project, run before them.
PRELUDES = {
    # The DRF example names the app's model and serializer: the test app's stand in.
    "Django REST framework": textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from django.conf import settings
        from djangoapp import settings as app_settings
        settings.configure(**{{n: getattr(app_settings, n) for n in dir(app_settings)
                               if n.isupper()}})
        import django
        django.setup()
        from djangoapp.models import AutomationRun
        from djangoapp.views import AutomationRunSerializer
        """
    ),
}
#: Sections whose blocks talk to a server the test starts: its settings, in the environment.
REDIS_SECTION = "Beyond one machine: Redis Streams and the live feed"
ARCHIVE_SECTION = "Archive to S3-compatible storage (extra `s3`)"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>\S*)\s*$")


@dataclass(frozen=True)
class Block:
    section: str  # the ``## `` heading the block is under
    line: int  # 1-based line of its opening fence
    code: str


def python_blocks(text: str) -> list[Block]:
    """The README's ```` ```python ```` blocks, with their section (indented ones too)."""
    blocks: list[Block] = []
    section, lines = "", text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("## "):
            section = lines[i][3:].strip()
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        start, indent = i, fence.group("indent")
        i += 1
        body = []
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        if fence.group("lang") == "python":
            blocks.append(Block(section, start + 1, "\n".join(body) + "\n"))
        i += 1
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))
RUN_HERE = [b for b in BLOCKS if not CELERY_SECTIONS.match(b.section)]


def run_block(
    block: Block, cwd: Path, log_dir: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    code = PRELUDES.get(block.section, "") + block.code
    env = {**os.environ, "IGNY8_LOG_DIR": str(log_dir), "PYTHONPATH": str(ROOT)}
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestReadme:
    """Each example does what the README says when pasted into a fresh interpreter."""

    def test_blocks_are_found_and_every_one_is_accounted_for(self) -> None:
        sections = {b.section for b in BLOCKS}
        assert {"Configure (dictConfig)", "Log a run", "Read a run"} <= sections
        unknown = {b.section for b in RUN_HERE} - {
            "Configure (dictConfig)",
            "Log a run",
            "Read a run",
            "Django REST framework",
            REDIS_SECTION,
            ARCHIVE_SECTION,
        }
        assert not unknown, f"new README sections with Python blocks, not run here: {unknown}"

    @pytest.mark.timeout(600)
    def test_every_block_runs_as_written(self, tmp_path: Path) -> None:
        """Against a Redis server and an S3 stand-in (moto's server) of the test's own."""
        log_dir = tmp_path / "logs"
        redis = RedisServer(tmp_path / "redis").start()
        s3 = MotoS3()
        s3.start()
        try:
            s3.client().create_bucket(Bucket="acme-logs")
            servers = {"IGNY8_REDIS_URL": redis.url, **s3.env()}
            self.run_blocks(tmp_path, log_dir, servers)
        finally:
            s3.stop()
            redis.stop()

    def run_blocks(self, tmp_path: Path, log_dir: Path, servers: dict[str, str]) -> None:
        for block in RUN_HERE:
            result = run_block(block, tmp_path, log_dir, servers)
            assert result.returncode == 0, (
                f"README.md line {block.line} ({block.section}):\n{result.stderr}"
            )
            if block.section == "Log a run":
                self.check_logged_run(log_dir)
            if block.section == "Read a run":
                assert result.stdout.splitlines()[-1] == "not yours"
                assert "run completed" in result.stdout  # follow(lines=5) gave the last lines
            if block.section == REDIS_SECTION:
                assert "logged on this host, read from any host" in result.stdout
            if block.section == ARCHIVE_SECTION:
                self.check_archived(result.stdout, log_dir)
        assert not (tmp_path / "automation-logs").exists()

    @staticmethod
    def check_archived(stdout: str, log_dir: Path) -> None:
        """The ended runs went to the store, left the disk, and read back from the store."""
        archived = stdout.splitlines()[0]
        assert archived.startswith("archived ['run_")
        assert not (log_dir / "42" / "7").exists()  # delete=True removed the local runs
        assert "run completed" in stdout  # their last lines, read back from the archive

    @staticmethod
    def check_logged_run(log_dir: Path) -> None:
        """The logging example wrote its run, the child logger's records included."""
        (run_dir,) = (log_dir / "42" / "7").iterdir()
        stage_log = (run_dir / "stage_1.log").read_text()
        assert "fetched best shoes" in stage_log  # igny8.automation.seo reached the files
        events = [json.loads(line) for line in (run_dir / "run_trace.jsonl").open()]
        assert [e["event"] for e in events].count("keyword_done") == 3
        assert events[-1]["event"] == "run_end"
