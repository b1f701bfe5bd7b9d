"""The ``igny8`` header: what a task carries, and what a worker refuses."""

from __future__ import annotations

import pytest

import igny8_logging as igl
from igny8_logging.celery._header import Header, parse_header


class TestHeader:
    """A header round-trips through JSON-safe values; a bad one is a ``ValueError``."""

    def test_round_trip(self) -> None:
        run_id = igl.new_run_id()
        context = igl.RunContext(run_id, 7, "site", 2)
        header = Header(context, "part", "parent", {"1": 1700000000.5}, "closer-id", 8)
        parsed = parse_header(header.as_dict())
        assert parsed == header
        assert parsed.inherited is True

    def test_a_v1_header_is_still_understood(self) -> None:
        run_id = igl.new_run_id()
        value = {"run_id": run_id, "account_id": 1, "site_id": 2, "stage": 3, "inherited": True}
        assert parse_header(value).role == "member"
        assert parse_header({**value, "inherited": False}).role is None

    @pytest.mark.parametrize(
        "extra",
        [
            {"role": "boss"},
            {"starts": {"1": "yesterday"}},
            {"starts": {"1": float("nan")}},
            {"starts": {str(n): 1.0 for n in range(100)}},
            {"closer": "x" * 1000},
            {"parts": -1},
            {"parts": True},
        ],
    )
    def test_bad_fields_are_refused(self, extra: dict[str, object]) -> None:
        with pytest.raises(ValueError):
            parse_header({"run_id": igl.new_run_id(), **extra})
