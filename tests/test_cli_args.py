"""``_cli_args``: the parser's help says what each command does, and options go anywhere."""

from __future__ import annotations

import argparse

import pytest

from igny8_logging._cli_args import build_parser


def parser() -> argparse.ArgumentParser:
    def handler(args: argparse.Namespace) -> int:
        return 0

    names = ("runs", "tail", "trace", "show", "prune", "demo")
    return build_parser(dict.fromkeys(names, handler))


def help_text(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    """The command's ``--help``, whitespace collapsed (argparse wraps it to the width)."""
    with pytest.raises(SystemExit) as stop:
        parser().parse_args([*command, "--help"])
    assert stop.value.code == 0
    return " ".join(capsys.readouterr().out.split())


class TestHelp:
    """Each default and scope in the help is the one the command applies."""

    def test_prune_covers_every_tenant(self, capsys: pytest.CaptureFixture[str]) -> None:
        text = help_text(capsys, "prune")
        assert "--account ACCOUNT only this account (default: every account)" in text
        assert "--site SITE only this site (default: every site)" in text
        assert "in every account and site unless --account / --site name one" in text
        assert "default: _" not in text

    def test_demo_writes_to_automation_logs(self, capsys: pytest.CaptureFixture[str]) -> None:
        text = help_text(capsys, "demo")
        assert "--base-dir DIR where the demo writes (default: $IGNY8_LOG_DIR, else" in text
        assert "./automation-logs)" in text
        assert "/data/app/logs/automation" not in text

    @pytest.mark.parametrize("command", ["runs", "tail", "trace", "show"])
    def test_reading_commands(self, capsys: pytest.CaptureFixture[str], command: str) -> None:
        text = help_text(capsys, command)
        assert "(default: $IGNY8_LOG_DIR, else /data/app/logs/automation)" in text
        assert "account id (default: _, runs started without one)" in text
        assert "(default: $IGNY8_REDIS_URL)" in text
        assert "(default: $IGNY8_ARCHIVE_URL)" in text

    def test_runs_all(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert "--all every account and site" in help_text(capsys, "runs")


class TestPlacement:
    """Shared options are read before or after the command, the later one winning."""

    def test_before_and_after(self) -> None:
        args = parser().parse_args(["--base-dir", "a", "--redis-url", "r", "show", "RUN"])
        assert (args.base_dir, args.redis_url, args.run_id) == ("a", "r", "RUN")
        args = parser().parse_args(["show", "RUN", "--base-dir", "b", "--archive-url", "s3://x"])
        assert (args.base_dir, args.archive_url) == ("b", "s3://x")
        args = parser().parse_args(["--base-dir", "a", "tail", "RUN", "--base-dir", "b"])
        assert args.base_dir == "b"

    def test_unset_options_stay_unset(self) -> None:
        args = parser().parse_args(["runs"])
        assert not hasattr(args, "base_dir")
        assert not hasattr(args, "redis_url")
        assert args.all is False
