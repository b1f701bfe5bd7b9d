"""Trace cursors are opaque and bound to their run: another run's cursor is a ``ValueError``."""

from __future__ import annotations

import pytest

from igny8_logging._blobsource import decode_cursor, encode_cursor
from igny8_logging._ids import RunRef

RUN_ID = "run_20261129_013000_abcd1234"


class TestCursor:
    """A cursor round-trips for its own run only."""

    def test_round_trip(self) -> None:
        ref = RunRef.checked(RUN_ID, "7", "3")
        assert decode_cursor(ref, encode_cursor(ref, 12345)) == 12345

    def test_other_run_rejected(self) -> None:
        cursor = encode_cursor(RunRef.checked(RUN_ID, "7", "3"), 10)
        with pytest.raises(ValueError, match="not issued for this run"):
            decode_cursor(RunRef.checked(RUN_ID, "7", "4"), cursor)

    @pytest.mark.parametrize("bad", ["", "!!!", "djE6LTE6eA", "bm90IGEgY3Vyc29y"])
    def test_garbage_rejected(self, bad: str) -> None:
        with pytest.raises(ValueError):
            decode_cursor(RunRef.checked(RUN_ID, "7", "3"), bad)
