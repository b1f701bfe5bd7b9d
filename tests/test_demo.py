"""``igny8-logs demo`` run as a subprocess: a real Celery worker, a real run on disk."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyte
import pytest
from test_cli import WITH_CTRL_C

import igny8_logging as igl

ROOT = Path(igl.__file__).parents[1]
#: Bar lines of the live progress: ``  stage 2  Clusters  ████░░░░...   3/4  ...``.
BAR_LINE = re.compile(r"^  stage (\S+)  \S+ +[█░#.]{20} ")


def demo_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no ``$IGNY8_LOG_DIR`` unless given."""
    env = {k: v for k, v in os.environ.items() if k not in ("IGNY8_LOG_DIR", "COLUMNS", "LINES")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def demo(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "igny8_logging", "demo", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env or demo_env(),
        check=False,
    )


def in_terminal(args: list[str], cwd: Path, columns: int, rows: int) -> bytes:
    """Everything *args* wrote to a real pseudo-terminal of *columns* x *rows*."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(
        args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
        env=demo_env(TERM="xterm"), start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    output = bytearray()
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            output += data
        assert proc.wait(timeout=120) == 0, output.decode(errors="replace")
    finally:
        os.close(master)
    return bytes(output)


def hints(out: str) -> list[str]:
    """The commands the demo prints after "Look again with:"."""
    return [line.strip() for line in out.split("Look again with:\n", 1)[1].splitlines() if line]


def only_run(reader: igl.RunLogReader, **tenant: Any) -> str:
    runs = reader.list_runs(**tenant)
    assert len(runs) == 1
    return runs[0]


def assert_completed_pipeline(summary: Mapping[str, Any], items: int) -> None:
    assert summary["status"] == "completed"
    stages = summary["stages"]
    assert sorted(stages) == ["1", "2", "3"]
    assert [stages[k]["name"] for k in "123"] == ["Keywords", "Clusters", "Ideas"]
    assert all(stages[k]["status"] == "completed" for k in "123")
    clusters = -(-items // 3)
    assert [stages[k]["processed"] for k in "123"] == [items, clusters, 2 * clusters]
    assert [stages[k]["credits_used"] for k in "123"] == [items, 2 * clusters, 6 * clusters]


class TestDemo:
    """The demo runs the three-stage pipeline to completion and leaves the run on disk."""

    @pytest.mark.timeout(120)
    def test_completed_run_with_three_stages(self, tmp_path: Path) -> None:
        base = tmp_path / "logs"
        result = demo("--base-dir", base, "--items", "4", "--account", "7", "--site", "shop")
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        reader = igl.RunLogReader(base)
        run_id = only_run(reader, account_id=7, site_id="shop")
        assert_completed_pipeline(reader.summary(run_id, account_id=7, site_id="shop"), 4)

        trace = reader.read_trace(run_id, account_id=7, site_id="shop", limit=10_000)
        assert trace.complete
        kinds = [event["event"] for event in trace.events]
        assert kinds.count("keyword_scored") == 4
        assert kinds.count("idea_created") == 4
        assert kinds.count("stage_retry") == 1  # the one retried item
        retried = next(e for e in trace.events if e["event"] == "stage_retry")
        assert retried["stage"] == 2
        assert "ProviderTimeout" in retried["reason"]
        assert trace.events[-1]["event"] == "run_end"

        folder = base / "7" / "shop" / run_id
        assert sorted(p.name for p in folder.iterdir()) == [
            "automation_run.log",
            "run_trace.jsonl",
            "stage_1.log",
            "stage_2.log",
            "stage_3.log",
        ]
        out = result.stdout
        assert run_id in out
        assert "processed/total" in out  # the stage table
        for row in ("1      Keywords  completed  4/4", "2      Clusters  completed  2/2"):
            assert row in out
        assert (folder / "automation_run.log").read_text().splitlines()[-1] in out  # last lines
        assert str(folder) in out  # where the files are
        assert f"--base-dir {base} --account 7 --site shop show {run_id}" in out

    @pytest.mark.timeout(120)
    def test_defaults_write_to_automation_logs_in_the_working_directory(
        self, tmp_path: Path
    ) -> None:
        result = demo("--items", "2", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        reader = igl.RunLogReader(tmp_path / "automation-logs")
        run_id = only_run(reader)
        assert_completed_pipeline(reader.summary(run_id), 2)

    @pytest.mark.timeout(120)
    def test_base_dir_from_the_environment(self, tmp_path: Path) -> None:
        """No ``--base-dir``: ``$IGNY8_LOG_DIR``, before ``./automation-logs``."""
        logs = tmp_path / "env-logs"
        result = demo("--items", "2", cwd=tmp_path, env=demo_env(IGNY8_LOG_DIR=str(logs)))
        assert result.returncode == 0, result.stderr
        assert_completed_pipeline(
            igl.RunLogReader(logs).summary(only_run(igl.RunLogReader(logs))), 2
        )
        assert not (tmp_path / "automation-logs").exists()
        assert all(str(logs) in hint for hint in hints(result.stdout))

    @pytest.mark.timeout(120)
    def test_ctrl_c_cancels_the_run(self, tmp_path: Path) -> None:
        """Ctrl-C stops the pipeline: the run ends ``cancelled`` (its last event), status 130."""
        proc = subprocess.Popen(
            [sys.executable, "-c", WITH_CTRL_C, "demo", "--base-dir", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(igl.__file__).parents[1])},
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if "stage 1" in line:  # stage 1 is done; stage 2 is running
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130
        assert err == ""
        reader = igl.RunLogReader(tmp_path)
        run_id = only_run(reader)
        summary = reader.summary(run_id)
        assert summary["status"] == "cancelled"
        assert summary["stages"]["1"]["status"] == "completed"
        stages = summary["stages"]
        assert "3" not in stages or stages["3"]["status"] != "completed"
        # A stage of an ended run is never running: the one Ctrl-C stopped failed.
        assert [st["status"] for st in stages.values()].count("running") == 0
        show = subprocess.run(
            [sys.executable, "-m", "igny8_logging", "show", run_id, "--base-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=demo_env(),
        )
        assert show.returncode == 0, show.stderr
        table = show.stdout.split("\n\n", 1)[1]
        assert " running " not in table
        trace = reader.read_trace(run_id, limit=10_000)
        assert trace.events[-1]["event"] == "run_end"  # nothing of the run after its end
        assert run_id in out

    def test_unreachable_broker_is_one_line(self, tmp_path: Path) -> None:
        result = demo("--base-dir", tmp_path, "--broker", "redis://:secret@127.0.0.1:1/0")
        assert result.returncode == 1
        assert result.stderr.startswith("igny8-logs: error: cannot reach the broker")
        assert len(result.stderr.splitlines()) == 1
        assert "secret" not in result.stderr

    @pytest.mark.brokers
    @pytest.mark.timeout(120)
    @pytest.mark.parametrize(
        ("broker", "port"),
        [("redis://127.0.0.1:6379/0", 6379), ("amqp://guest:guest@127.0.0.1:5672//", 5672)],
    )
    def test_on_a_real_broker(self, tmp_path: Path, broker: str, port: int) -> None:
        """Skipped (visibly) without the server, except in CI (``IGNY8_REQUIRE_BROKERS=1``)."""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError as exc:
            if os.environ.get("IGNY8_REQUIRE_BROKERS") == "1":
                pytest.fail(f"no broker on port {port}: {exc}")
            pytest.skip(f"no broker on port {port}: {exc}")
        result = demo("--base-dir", tmp_path, "--items", "3", "--broker", broker)
        assert result.returncode == 0, result.stderr
        reader = igl.RunLogReader(tmp_path)
        assert_completed_pipeline(reader.summary(only_run(reader)), 3)

    @pytest.mark.brokers
    @pytest.mark.timeout(120)
    def test_redis_url_sends_the_run_to_redis(self, tmp_path: Path) -> None:
        """With ``--redis-url`` the run is in Redis too, complete: read back with no files.
        (Redis on 6379, like the broker tests; the 'redis' extra's handler.)"""
        pytest.importorskip("igny8_logging.redis")
        url = "redis://127.0.0.1:6379/0"
        try:
            socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        except OSError as exc:
            if os.environ.get("IGNY8_REQUIRE_BROKERS") == "1":
                pytest.fail(f"no Redis on port 6379: {exc}")
            pytest.skip(f"no Redis on port 6379: {exc}")
        site = f"demo-{os.getpid()}-{tmp_path.name}"[:60]
        try:
            result = demo(
                "--base-dir",
                tmp_path,
                "--items",
                "3",
                "--redis-url",
                url,
                "--account",
                "9",
                "--site",
                site,
            )
            assert result.returncode == 0, result.stderr
            from_redis = igl.RunLogReader(tmp_path / "no-files-here", redis_url=url)
            run_id = only_run(from_redis, account_id=9, site_id=site)
            assert_completed_pipeline(from_redis.summary(run_id, account_id=9, site_id=site), 3)
            assert f"--redis-url {url}" in result.stdout
        finally:  # the streams are this test's own: no keys left behind
            import redis

            client = redis.Redis.from_url(url)
            for key in client.scan_iter(f"igny8:9:{site}:*"):
                client.delete(key)


class TestDemoOutput:
    """What the demo prints: bars that fit the terminal, plain text elsewhere, hints that run."""

    @pytest.mark.timeout(120)
    def test_closing_hints_run_as_printed(self, tmp_path: Path) -> None:
        """Pasted into a shell with no venv on ``PATH``, each printed command works."""
        result = demo("--items", "2", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        run_id = only_run(igl.RunLogReader(tmp_path / "automation-logs"))
        commands = hints(result.stdout)
        assert len(commands) == 3
        shell_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        for command in commands:
            ran = subprocess.run(
                command,
                shell=True,
                cwd=tmp_path,
                env=shell_env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert ran.returncode == 0, (command, ran.stderr)
            assert ran.stdout
        shown = subprocess.run(
            commands[0],
            shell=True,
            cwd=tmp_path,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run_id in shown.stdout

    @pytest.mark.timeout(120)
    def test_plain_output_when_not_a_terminal(self, tmp_path: Path) -> None:
        result = demo("--items", "3", "--base-dir", tmp_path, env=demo_env(COLUMNS="40"))
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout
        assert "\r" not in result.stdout
        bars = [BAR_LINE.match(line) for line in result.stdout.splitlines()]
        assert [m.group(1) for m in bars if m] == ["1", "2", "3"]  # one line per finished stage

    @pytest.mark.timeout(120)
    @pytest.mark.parametrize("columns", [80, 50])
    def test_one_bar_line_per_stage_in_a_narrow_terminal(
        self, tmp_path: Path, columns: int
    ) -> None:
        """Under a real pseudo-terminal, rendered by a terminal emulator (pyte): redraws stay
        on their line, so the final screen holds exactly one bar line per stage."""
        args = [sys.executable, "-m", "igny8_logging", "demo", "--items", "6", "--base-dir",
                str(tmp_path)]  # fmt: skip
        output = in_terminal(args, tmp_path, columns, rows=200)
        assert b"\x1b[K" in output  # it did redraw in place
        screen = pyte.Screen(columns, 200)
        pyte.ByteStream(screen).feed(output)
        bars = [m.group(1) for line in screen.display if (m := BAR_LINE.match(line))]
        assert bars == ["1", "2", "3"], "\n".join(screen.display)
        rows = [line.rstrip() for line in screen.display]
        start = rows.index("Last lines of automation_run.log:") + 1
        tail = rows[start : rows.index("", start)]
        assert len(tail) == 8, "\n".join(screen.display)  # one screen row per log line
        assert all(re.match(r"  \d{4}-\d\d-\d\dT", row) for row in tail), "\n".join(tail)
