"""Tests of ``igny8_logging._values``: every value becomes text, never an exception."""

from __future__ import annotations

import logging

from igny8_logging._values import message_of, placeholder, plain, safe_repr, safe_str


class _BadStr:
    def __str__(self) -> str:
        raise RuntimeError("no str")


class _BadBoth:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class TestUnprintableValues:
    """A value that cannot be printed is written as a placeholder naming its type."""

    def test_str_raising_falls_back_to_repr(self) -> None:
        value = _BadStr()
        assert safe_str(value) == repr(value)

    def test_str_and_repr_raising_give_placeholder(self) -> None:
        assert safe_str(_BadBoth()) == "<unprintable _BadBoth>"
        assert safe_repr(_BadBoth()) == "<unprintable _BadBoth>"
        assert placeholder(_BadBoth()) == "<unprintable _BadBoth>"

    def test_huge_int_is_placeholder_not_error(self) -> None:
        huge = 10**5000
        assert safe_str(huge) == "<unprintable int>"
        assert plain(huge) == "<unprintable int>"

    def test_int_past_64_bits_is_written_as_digits(self) -> None:
        assert plain(2**70) == str(2**70)
        assert plain(-(2**63)) == -(2**63)

    def test_surrogate_string_is_kept_as_text(self) -> None:
        assert plain("a\ud800b") == "a\ud800b"
        assert safe_str("a\ud800b") == "a\ud800b"


class TestPlainData:
    """``plain`` gives JSON-safe data: containers copied, non-finite floats as text."""

    def test_containers_and_floats(self) -> None:
        assert plain({1: (1, 2), "s": {3}}) == {"1": [1, 2], "s": [3]}
        assert plain(float("nan")) == "nan"
        assert plain(float("inf")) == "inf"

    def test_recursive_container_stops(self) -> None:
        loop: list[object] = []
        loop.append(loop)
        result = plain(loop)
        depth = 0
        while isinstance(result, list):
            result = result[0]
            depth += 1
        assert result == "<list nested too deep>"
        assert depth == 32


class TestMessageOf:
    """A message whose formatting fails is still written, with its arguments."""

    def test_bad_arguments_keep_message(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("a",), None)
        text = message_of(record)
        assert text == "%d items <arguments not formatted: TypeError: 'a'>"
