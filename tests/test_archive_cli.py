"""``igny8-logs archive`` checks its arguments before touching anything."""

from __future__ import annotations

import argparse

import pytest

from igny8_logging._archive_cli import _archive_url, _days


class TestArguments:
    """A bad ``--older-than`` or ``--to`` is an argparse error, not a traceback."""

    def test_days(self) -> None:
        assert _days("2.5") == 2.5
        for bad in ("-1", "nan", "inf", "soon"):
            with pytest.raises(argparse.ArgumentTypeError):
                _days(bad)

    def test_url(self) -> None:
        assert _archive_url("s3://igny8-logs/p") == "s3://igny8-logs/p"
        with pytest.raises(argparse.ArgumentTypeError, match="s3://bucket/prefix"):
            _archive_url("https://igny8-logs/p")
