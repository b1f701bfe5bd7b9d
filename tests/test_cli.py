"""``igny8-logs`` run as a subprocess (``python -m igny8_logging``) over real run folders.

Runs are written in the test process through the library's own handlers; the
command line reads them in a child process, as an operator would.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import igny8_logging as igl


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "igny8_logging", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


#: ``python -m igny8_logging`` taking Ctrl-C even where the tests run with SIGINT ignored
#: (a background job inherits that, and so would the child).
WITH_CTRL_C = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('igny8_logging', run_name='__main__', alter_sys=True)"
)


def popen(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WITH_CTRL_C, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("igny8-logs: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


class OldClock(logging.Filter):
    """Stamps records as if written *days* ago (for a run that ended long ago)."""

    def __init__(self, days: float) -> None:
        super().__init__()
        self.days = days

    def filter(self, record: logging.LogRecord) -> bool:
        record.created -= self.days * 86400
        return True


@pytest.fixture
def logger(base_dir: Path, request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A logger writing runs below ``base_dir`` through the three handlers."""
    log = logging.getLogger(f"igny8.test.cli.{request.node.name}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handlers = [
        igl.RunLogHandler(base_dir),
        igl.StageLogHandler(base_dir),
        igl.TraceHandler(base_dir),
    ]
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
    end: str | None = "completed",
    run_id: str | None = None,
    ended_days_ago: float = 0,
) -> igl.RunLogger:
    run = igl.start_run(logger, account, site, run_id=run_id)
    for i in range(30):
        run.info("line %d", i)
    with run.stage(1, "Keywords", pending=4) as st:
        st.info("first line\nsecond physical line")
        run.stage_progress(1, 4, 4)
        st.processed, st.credits_used = 4, 2.5
    if end is not None:
        old = OldClock(ended_days_ago)
        logger.addFilter(old)
        try:
            run.end(end)
        finally:
            logger.removeFilter(old)
    return run


def folder(base: Path, run: igl.RunLogger) -> Path:
    account = "_" if run.account_id is None else str(run.account_id)
    site = "_" if run.site_id is None else str(run.site_id)
    return base / account / site / run.run_id


class TestArguments:
    """Options go before or after the subcommand; bad input is one line on stderr."""

    def test_options_before_and_after_the_subcommand(
        self, base_dir: Path, logger: logging.Logger
    ) -> None:
        run = make_run(logger)
        expected = (folder(base_dir, run) / "automation_run.log").read_text().splitlines()[-3:]
        forms: list[list[str | Path]] = [
            ["--base-dir", base_dir, "--account", "1", "--site", "2", "tail", run.run_id, "-n3"],
            ["tail", run.run_id, "-n3", "--base-dir", base_dir, "--account", "1", "--site", "2"],
            ["--base-dir", base_dir, "--account", "1", "tail", "-n3", "--site", "2", run.run_id],
        ]
        for form in forms:
            result = cli(*form)
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines() == expected

    def test_base_dir_defaults_to_the_environment(
        self, base_dir: Path, logger: logging.Logger
    ) -> None:
        run = make_run(logger, None, None)
        result = cli("tail", run.run_id, "-n", "1", env={"IGNY8_LOG_DIR": str(base_dir)})
        assert result.returncode == 0, result.stderr
        assert "run completed" in result.stdout

    @pytest.mark.parametrize(
        "args",
        [
            [],
            ["tail"],
            ["nosuchcommand"],
            ["tail", "run_20260101_000000_abcd1234", "-n", "x"],
            ["tail", "run_20260101_000000_abcd1234", "-n", "10001"],
            ["tail", "run_20260101_000000_abcd1234", "--stage", "../1"],
            ["--account", "../etc", "runs"],
            ["runs", "--site", "a/b"],
            ["prune"],
            ["prune", "--older-than", "-1"],
            ["prune", "--older-than", "soon"],
            ["demo", "--items", "0"],
        ],
    )
    def test_bad_arguments(self, base_dir: Path, args: list[str]) -> None:
        assert_one_line_error(cli("--base-dir", base_dir, *args), 2)

    @pytest.mark.parametrize("command", ["tail", "trace", "show"])
    def test_unknown_run(self, base_dir: Path, logger: logging.Logger, command: str) -> None:
        run = make_run(logger, 1, 2)
        for args in (
            ["run_20200101_000000_abcd1234"],  # valid id, no such run
            ["../../etc/passwd"],  # not a run id
            [run.run_id, "--site", "3"],  # exists, but for another site
            [run.run_id],  # exists, but not in the "_" folders
        ):
            message = assert_one_line_error(cli(command, "--base-dir", base_dir, *args), 1)
            assert "run" in message

    def test_unknown_run_with_follow(self, base_dir: Path) -> None:
        result = cli("tail", "-f", "run_20200101_000000_abcd1234", "--base-dir", base_dir)
        assert_one_line_error(result, 1)


class TestTail:
    """``tail`` prints exactly the last N physical lines; ``-f`` then follows."""

    def test_exact_last_lines(self, base_dir: Path, logger: logging.Logger) -> None:
        run = make_run(logger)
        log = (folder(base_dir, run) / "automation_run.log").read_text().splitlines()
        where: list[str | Path] = ["--base-dir", base_dir, "--account", "1", "--site", "2"]
        for n in ("1", "7", "38"):
            result = cli("tail", run.run_id, "-n", n, *where)
            assert result.stdout.splitlines() == log[-int(n) :]
        assert cli("tail", run.run_id, *where).stdout.splitlines() == log[-10:]
        assert cli("tail", run.run_id, "-n", "10000", *where).stdout.splitlines() == log
        assert cli("tail", run.run_id, "-n", "0", *where).stdout == ""

    def test_stage_log(self, base_dir: Path, logger: logging.Logger) -> None:
        run = make_run(logger)
        stage_log = (folder(base_dir, run) / "stage_1.log").read_text()
        result = cli("tail", run.run_id, "--stage", "1", "-n", "100", "--base-dir", base_dir,
                     "--account", "1", "--site", "2")  # fmt: skip
        assert result.stdout == stage_log
        assert "  second physical line" in result.stdout.splitlines()[2]

    @pytest.mark.timeout(60)
    def test_follow_prints_appended_lines_once_and_stops_at_run_end(
        self, base_dir: Path, logger: logging.Logger
    ) -> None:
        run = make_run(logger, end=None)
        path = folder(base_dir, run) / "automation_run.log"
        before = path.read_text().splitlines()
        proc = popen("tail", "-f", "-n", "2", run.run_id, "--base-dir", base_dir,
                     "--account", "1", "--site", "2")  # fmt: skip
        assert proc.stdout is not None
        assert [proc.stdout.readline().rstrip("\n") for _ in range(2)] == before[-2:]
        run.info("appended while following")
        assert "appended while following" in proc.stdout.readline()
        run.info("and another")
        run.end("completed")
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        after = path.read_text().splitlines()
        assert out.splitlines() == after[len(before) + 1 :]
        assert "run completed" in out.splitlines()[-1]

    @pytest.mark.timeout(60)
    def test_ctrl_c_ends_follow_quietly(self, base_dir: Path, logger: logging.Logger) -> None:
        run = make_run(logger, end=None)
        proc = popen("tail", "-f", "-n", "1", run.run_id, "--base-dir", base_dir,
                     "--account", "1", "--site", "2")  # fmt: skip
        assert proc.stdout is not None
        assert proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert err == ""


class TestTrace:
    """``trace`` prints every event once as a JSON line; ``-f`` runs until ``run_end``."""

    def test_all_events(self, base_dir: Path, logger: logging.Logger) -> None:
        run = make_run(logger)
        for i in range(600):  # more than one page
            run.trace("item_done", stage=1, item=i)
        result = cli("trace", run.run_id, "--base-dir", base_dir, "--account", "1", "--site", "2")
        assert result.returncode == 0, result.stderr
        trace = (folder(base_dir, run) / "run_trace.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert events == [json.loads(line) for line in trace]
        assert len(events) > 600

    def test_lines_are_printed_as_stored(self, base_dir: Path, logger: logging.Logger) -> None:
        """Byte for byte what the handler wrote: no re-serialization (spaces, escapes)."""
        run = make_run(logger)
        run.trace("item_done", stage=1, item="café ✓", ratio=0.1 + 0.2, when=1e16, nested=[1, {}])
        stored = (folder(base_dir, run) / "run_trace.jsonl").read_bytes()
        result = subprocess.run(
            [sys.executable, "-m", "igny8_logging", "trace", run.run_id, "--base-dir",
             str(base_dir), "--account", "1", "--site", "2"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout == stored

    def test_a_half_written_last_line_is_held_back(
        self, base_dir: Path, logger: logging.Logger
    ) -> None:
        run = make_run(logger)
        path = folder(base_dir, run) / "run_trace.jsonl"
        stored = path.read_bytes()
        with path.open("ab") as trace:
            trace.write(b'{"ts":"2026-01-01T00:00:00.000Z","event":"item_do')
        result = cli("trace", run.run_id, "--base-dir", base_dir, "--account", "1", "--site", "2")
        assert result.returncode == 0, result.stderr
        assert result.stdout.encode() == stored

    @pytest.mark.timeout(60)
    def test_follow_until_run_end(self, base_dir: Path, logger: logging.Logger) -> None:
        run = make_run(logger, end=None)
        proc = popen("trace", "-f", run.run_id, "--base-dir", base_dir, "--account", "1",
                     "--site", "2")  # fmt: skip
        assert proc.stdout is not None
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["event"] != "stage_complete":
            seen.append(json.loads(proc.stdout.readline()))
        run.trace("late_item", stage=1, item="x")
        assert json.loads(proc.stdout.readline())["event"] == "late_item"
        time.sleep(0.5)  # a few polls with nothing new must print nothing
        run.end("failed")
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert [json.loads(line)["event"] for line in out.splitlines()] == ["run_end"]


class TestRunsAndShow:
    """``runs`` lists newest first with status; ``show`` prints the stage table."""

    def test_runs(self, base_dir: Path, logger: logging.Logger) -> None:
        older = make_run(logger, run_id="run_20260101_000000_aaaaaaaa")
        newer = make_run(logger, run_id="run_20260102_000000_bbbbbbbb", end=None)
        make_run(logger, 1, 3)  # another site
        result = cli("runs", "--base-dir", base_dir, "--account", "1", "--site", "2")
        assert result.returncode == 0, result.stderr
        rows = [line.split() for line in result.stdout.splitlines()]
        assert rows[0] == ["run_id", "status", "started", "elapsed"]
        assert [row[:2] for row in rows[1:]] == [
            [newer.run_id, "running"],
            [older.run_id, "completed"],
        ]
        empty = cli("runs", "--base-dir", base_dir, "--account", "7")
        assert (empty.returncode, empty.stdout) == (0, "")

    def test_show(self, base_dir: Path, logger: logging.Logger) -> None:
        run = make_run(logger, end=None)
        try:
            with run.stage(2, "Clusters", pending=3):
                raise ValueError("model\nunavailable")
        except ValueError:
            pass
        run.end("failed")
        result = cli("show", run.run_id, "--base-dir", base_dir, "--account", "1", "--site", "2")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert run.run_id in lines[0]
        assert "failed" in lines[0]
        table = [line.split() for line in lines[lines.index("") + 1 :]]
        assert table[0] == ["stage", "name", "status", "processed/total", "credits", "elapsed",
                            "error"]  # fmt: skip
        assert table[1][:5] == ["1", "Keywords", "completed", "4/4", "2.5"]
        assert table[1][5].endswith("s")
        assert table[2] == ["2", "Clusters", "failed", "-", "-", "-", "model", "unavailable"]

    def test_no_stage_runs_inside_an_ended_run(
        self, base_dir: Path, logger: logging.Logger
    ) -> None:
        """A stage the run's end interrupted (Ctrl-C in the demo) is shown failed."""
        run = make_run(logger, end=None)
        run.stage_start(2, "Clusters", pending=3)
        run.end("cancelled")
        result = cli("show", run.run_id, "--base-dir", base_dir, "--account", "1", "--site", "2")
        assert result.returncode == 0, result.stderr
        table = [line.split() for line in result.stdout.split("\n\n", 1)[1].splitlines()]
        assert table[2][:3] == ["2", "Clusters", "failed"]
        assert table[2][-2:] == ["run", "cancelled"]


class TestPrune:
    """``prune`` removes only runs whose ``run_end`` is older than DAYS, and empty tenants."""

    @pytest.fixture
    def tree(self, base_dir: Path, logger: logging.Logger) -> dict[str, igl.RunLogger]:
        return {
            "old": make_run(logger, 1, 2, ended_days_ago=40),
            "recent": make_run(logger, 1, 2, ended_days_ago=5),
            "running": make_run(logger, 1, 2, run_id="run_20200101_000000_cccccccc", end=None),
            "old_other": make_run(logger, 3, 4, end="failed", ended_days_ago=31),
            "old_no_tenant": make_run(logger, None, None, ended_days_ago=100),
        }

    def test_dry_run_removes_nothing(self, base_dir: Path, tree: dict[str, igl.RunLogger]) -> None:
        result = cli("prune", "--older-than", "30", "--dry-run", "--base-dir", base_dir)
        assert result.returncode == 0, result.stderr
        for name in ("old", "old_other", "old_no_tenant"):
            assert tree[name].run_id in result.stdout
        for name in ("recent", "running"):
            assert tree[name].run_id not in result.stdout
        assert all(folder(base_dir, run).is_dir() for run in tree.values())

    def test_removes_old_finished_runs_and_empty_tenants(
        self, base_dir: Path, tree: dict[str, igl.RunLogger]
    ) -> None:
        result = cli("prune", "--older-than", "30", "--base-dir", base_dir)
        assert result.returncode == 0, result.stderr
        for name in ("old", "old_other", "old_no_tenant"):
            assert not folder(base_dir, tree[name]).exists()
        for name in ("recent", "running"):
            assert (folder(base_dir, tree[name]) / "automation_run.log").is_file()
        assert sorted(p.name for p in base_dir.iterdir()) == ["1"]  # 3/4 and _/_ were emptied

    def test_account_and_site_narrow_it(
        self, base_dir: Path, tree: dict[str, igl.RunLogger]
    ) -> None:
        result = cli("--account", "3", "prune", "--older-than", "1", "--base-dir", base_dir)
        assert result.returncode == 0, result.stderr
        assert not (base_dir / "3").exists()
        for name in ("old", "recent", "running", "old_no_tenant"):
            assert folder(base_dir, tree[name]).is_dir()
        result = cli("prune", "--older-than", "1", "--base-dir", base_dir, "--site", "2")
        assert not folder(base_dir, tree["old"]).exists()
        assert folder(base_dir, tree["old_no_tenant"]).is_dir()
        assert folder(base_dir, tree["running"]).is_dir()

    def test_links_below_the_base_dir_are_not_followed(
        self, base_dir: Path, tmp_path: Path, logger: logging.Logger
    ) -> None:
        """An old run outside the tree, reachable through a planted link, survives."""
        outside = tmp_path / "outside"
        old = make_run(logger, 1, 2, ended_days_ago=40)
        os.rename(base_dir / "1", outside)
        os.symlink(outside, base_dir / "1")  # an account folder that is a link
        (base_dir / "5" / "6").mkdir(parents=True)
        os.symlink(outside / "2" / old.run_id, base_dir / "5" / "6" / old.run_id)
        result = cli("prune", "--older-than", "1", "--base-dir", base_dir)
        assert result.returncode == 0, result.stderr
        assert (outside / "2" / old.run_id / "run_trace.jsonl").is_file()
        assert (base_dir / "1").is_symlink()

    def test_missing_base_dir_is_an_error(self, tmp_path: Path) -> None:
        result = cli("prune", "--older-than", "1", "--base-dir", tmp_path / "nope")
        assert_one_line_error(result, 1)


class TestRunsAll:
    """``runs --all`` lists every account and site, with their ids, newest first, a header."""

    def test_every_tenant_newest_first(self, base_dir: Path, logger: logging.Logger) -> None:
        first = make_run(logger, 1, 2, run_id="run_20260101_000000_aaaaaaaa")
        second = make_run(logger, None, None, run_id="run_20260102_000000_bbbbbbbb", end=None)
        third = make_run(logger, "acme", "shop", run_id="run_20260103_000000_cccccccc")
        (base_dir / "not a tenant!").mkdir()  # a foreign folder is not listed
        result = cli("runs", "--all", "--base-dir", base_dir)
        assert result.returncode == 0, result.stderr
        rows = [line.split() for line in result.stdout.splitlines()]
        assert rows[0] == ["account", "site", "run_id", "status", "started", "elapsed"]
        assert [row[:4] for row in rows[1:]] == [
            ["acme", "shop", third.run_id, "completed"],
            ["_", "_", second.run_id, "running"],
            ["1", "2", first.run_id, "completed"],
        ]

    def test_narrowed_by_account(self, base_dir: Path, logger: logging.Logger) -> None:
        mine = make_run(logger, 1, 2)
        other_site = make_run(logger, 1, 3)
        make_run(logger, 4, 2)
        result = cli("runs", "--all", "--account", "1", "--base-dir", base_dir)
        assert result.returncode == 0, result.stderr
        listed = {tuple(line.split()[:3]) for line in result.stdout.splitlines()[1:]}
        assert listed == {("1", "2", mine.run_id), ("1", "3", other_site.run_id)}


class TestErrors:
    """Where a command cannot do what was asked it says so: one line on stderr, exit 1."""

    def test_runs_on_a_missing_base_dir(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope"
        message = assert_one_line_error(cli("runs", "--base-dir", missing), 1)
        assert str(missing) in message
        assert_one_line_error(cli("runs", "--all", "--base-dir", missing), 1)

    def test_runs_with_the_default_folder_absent(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope"
        message = assert_one_line_error(cli("runs", env={"IGNY8_LOG_DIR": str(missing)}), 1)
        assert str(missing) in message

    def test_tail_of_a_stage_without_a_log(self, base_dir: Path, logger: logging.Logger) -> None:
        run = make_run(logger)
        where: list[str | Path] = ["--base-dir", base_dir, "--account", "1", "--site", "2"]
        for n in ("10", "0"):
            result = cli("tail", run.run_id, "--stage", "9", "-n", n, *where)
            assert "stage 9" in assert_one_line_error(result, 1)

    @pytest.mark.timeout(60)
    def test_tail_f_waits_for_the_stage_log(self, base_dir: Path, logger: logging.Logger) -> None:
        run = make_run(logger, end=None)
        proc = popen("tail", "-f", run.run_id, "--stage", "9", "--base-dir", base_dir,
                     "--account", "1", "--site", "2")  # fmt: skip
        assert proc.stdout is not None
        run.stage_start(9, "Late")
        assert "stage 9 started: Late" in proc.stdout.readline()
        run.end("completed")
        _, err = proc.communicate(timeout=30)
        assert (proc.returncode, err) == (0, "")

    @pytest.mark.parametrize("command", ["tail", "trace", "show"])
    def test_no_run_names_where_it_looked(
        self, base_dir: Path, logger: logging.Logger, command: str
    ) -> None:
        run = make_run(logger, 1, 2)
        message = assert_one_line_error(
            cli(command, run.run_id, "--base-dir", base_dir, "--account", "1", "--site", "3"), 1
        )
        assert f"no run {run.run_id} in {base_dir} for account 1, site 3" in message
        message = assert_one_line_error(cli(command, run.run_id, "--base-dir", base_dir), 1)
        assert "account _, site _" in message
        assert "None" not in message

    def test_demo_without_celery_names_the_extra(self, tmp_path: Path) -> None:
        code = (
            "import sys; sys.modules['celery'] = None; from igny8_logging.cli import main; "
            f"sys.exit(main(['demo', '--base-dir', {str(tmp_path)!r}]))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        message = assert_one_line_error(result, 1)
        assert "pip install 'igny8-logging[demo]'" in message
        assert list(tmp_path.iterdir()) == []

    def test_odd_values_in_the_trace_are_shown(self, base_dir: Path) -> None:
        """Any JSON value where a number or string is expected: shown, never a traceback."""
        run_id = "run_20260101_000000_dddddddd"
        run_dir = base_dir / "_" / "_" / run_id
        run_dir.mkdir(parents=True)
        events = [
            {"event": "run_start", "ts": {"odd": 1}, "stage": None},
            {"event": "stage_start", "stage": 1, "stage_name": ["a", "b"], "pending": "x"},
            {"event": "stage_progress", "stage": 1, "processed": {"n": 1}, "total": [2]},
            {"event": "stage_complete", "stage": 1, "elapsed_s": {"s": 1}, "credits_used": []},
            {"event": "stage_error", "stage": "2", "error": {"why": "x\ny"}},
            {"event": "run_end", "status": "completed", "elapsed_s": [1], "ts": 5},
        ]
        (run_dir / "run_trace.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        for command in ("show", "runs"):
            args = [command, run_id] if command == "show" else [command]
            result = cli(*args, "--base-dir", base_dir)
            assert result.returncode == 0, result.stderr
            assert result.stderr == ""
        shown = cli("show", run_id, "--base-dir", base_dir).stdout
        assert '{"s": 1}' in shown
        assert '{"why": "x\\ny"}' in shown  # one line: the newline escaped


class TestVersion:
    """``--version`` prints the version and exits 0."""

    def test_version(self) -> None:
        result = cli("--version")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"igny8-logs {igl.__version__}"


class TestRedisDown:
    """A ``--redis-url`` whose Redis cannot be reached: one line naming it, no password."""

    def test_each_reading_command_says_so_in_one_line(
        self, tmp_path: Path, own_server: Any
    ) -> None:
        from _redis_server import Logged

        logged = Logged(None, own_server.url, "igny8")  # the CLI's prefix, on our own server
        run = igl.start_run(logged.logger)
        run.info("only in redis")
        run.end()
        logged.close()
        url = own_server.url.replace("redis://", "redis://:s3cret@")
        base = tmp_path / "logs"
        base.mkdir()
        where = ["--base-dir", base, "--redis-url", url]
        result = cli("tail", run.run_id, *where)
        assert result.returncode == 0, result.stderr
        assert "only in redis" in result.stdout
        own_server.stop()
        for command in (["tail", run.run_id], ["trace", run.run_id], ["show", run.run_id]):
            line = assert_one_line_error(cli(*command, *where), 1)
            assert f"cannot read from Redis redis://:***@127.0.0.1:{own_server.port}/0" in line
            assert "s3cret" not in line
