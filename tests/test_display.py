"""``_display``: table cells, the stage table, bars and widths, for any value a trace holds."""

from __future__ import annotations

from typing import Any

import pytest

from igny8_logging._display import bar, cell, columns, fit, seconds, stage_table, terminal_width


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


def stage(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(
        ("status", "name", "pending", "processed", "total", "credits_used", "elapsed_s", "error")
    )
    return {**base, **values}


class TestCell:
    """A cell is one line of text for any value, ``-`` for nothing, and never raises."""

    @pytest.mark.parametrize(
        ("value", "shown"),
        [
            (None, "-"),
            ("", "-"),
            ("two\nlines\there", "two lines here"),
            (12.5, "12.5"),
            ({"a": [1, "é"]}, '{"a": [1, "é"]}'),
            (["x\ny"], '["x\\ny"]'),
            (Unprintable(), "<Unprintable>"),
        ],
    )
    def test_values(self, value: object, shown: str) -> None:
        assert cell(value) == shown

    def test_seconds(self) -> None:
        assert seconds(1.5) == "1.500s"
        assert seconds(2) == "2.000s"
        assert seconds(True) == "True"  # a bool is not a duration
        assert seconds(None) == "-"
        assert seconds({"s": 1}) == '{"s": 1}'


class TestStageTable:
    """Stages in number order then by name; every odd value shown, long errors cut."""

    def test_order_and_layout(self) -> None:
        summary = {
            "stages": {
                "10": stage(status="completed", name="Ten", processed=3, total=3, elapsed_s=1),
                "2": stage(status="failed", name="Two", error="boom " * 40),
                "extra": stage(status="running", name="Named", processed=1),
            }
        }
        rows = stage_table(summary, error_width=20)
        assert rows[0].split() == [
            "stage",
            "name",
            "status",
            "processed/total",
            "credits",
            "elapsed",
            "error",
        ]
        assert [row.split()[0] for row in rows[1:]] == ["2", "10", "extra"]
        assert rows[1].endswith("…")
        assert len(rows[1].split("  ")[-1]) <= 20
        assert rows[2].split()[:6] == ["10", "Ten", "completed", "3/3", "-", "1.000s"]

    def test_odd_values(self) -> None:
        summary = {
            "stages": {
                "1": stage(
                    status=["x"],
                    name={"n": 1},
                    processed={"p": 1},
                    total=[2],
                    credits_used=Unprintable(),
                    elapsed_s={"s": 1},
                    error=5,
                ),
                "2": "not a mapping",
            }
        }
        rows = stage_table(summary)
        assert '{"s": 1}' in rows[1]
        assert '{"p": 1}/[2]' in rows[1]
        assert "<Unprintable>" in rows[1]
        assert rows[2].split()[0] == "2"

    def test_no_stages(self) -> None:
        assert len(stage_table({"stages": {}})) == 1
        assert len(stage_table({})) == 1


class TestWidths:
    """Text is cut to a width with a visible mark; bars stay within their cells."""

    def test_fit(self) -> None:
        assert fit("abcdef", 6) == "abcdef"
        assert fit("abcdefg", 6) == "abcde…"
        assert fit("abc", 0) == ""

    @pytest.mark.parametrize(
        ("done", "total", "shown"),
        [
            (0, 4, "...."),
            (2, 4, "##.."),
            (4, 4, "####"),
            (9, 4, "####"),
            (-1, 4, "...."),
            (3, None, "...."),
            (3, 0, "...."),
        ],
    )
    def test_bar(self, done: int, total: int | None, shown: str) -> None:
        assert bar(done, total, 4) == shown

    def test_columns(self) -> None:
        assert columns([["a", "bb"], ["ccc", "d"]]) == ["a    bb", "ccc  d"]

    def test_terminal_width_honours_columns(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("COLUMNS", "63")
        assert terminal_width() == 63
