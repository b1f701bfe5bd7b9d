"""What any Python value becomes in the files: text, JSON-safe data, or a placeholder.

Logging must write every record, whatever its values: an int too long for
``str()``, an object whose ``__str__`` / ``__repr__`` raises, a recursive
container, a lone surrogate.  A value that cannot be printed is written as a
placeholder naming its type (``<unprintable int>``), in the text logs and the
trace alike, and the record is never lost from one file and kept in another.

:func:`plain` turns a value into data every JSON encoder accepts and writes the
same way (the slow path for what is not already a plain ``str`` / ``int`` /
``float`` / ``bool`` / ``None``), using python-json-logger's conversions
(ISO-8601 for dates and times, enums by value, dataclasses as objects...),
sets, frozensets and tuples as arrays, and else ``str()``.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final

from pythonjsonlogger import defaults as pjl_defaults

__all__ = ["json_default", "message_of", "placeholder", "plain", "safe_repr", "safe_str"]

_MAX_DEPTH: Final = 32
#: Integers JSON readers hold exactly (outside: written as their digits, a string).
_INT_MIN: Final = -(2**63)
_INT_END: Final = 2**64


def placeholder(value: object) -> str:
    """The text written for a value that cannot be printed."""
    return f"<unprintable {type(value).__name__}>"


def safe_str(value: object) -> str:
    """``str(value)``, else its ``repr()``, else :func:`placeholder`; never raises."""
    if type(value) is str:
        return value
    try:
        text = str(value)
        if isinstance(text, str):
            return text
    except Exception:
        pass
    return safe_repr(value)


def safe_repr(value: object) -> str:
    """``repr(value)``, else :func:`placeholder`; never raises."""
    try:
        text = repr(value)
        if isinstance(text, str):
            return text
    except Exception:
        pass
    return placeholder(value)


def message_of(record: logging.LogRecord) -> str:
    """``record.getMessage()``; when its formatting fails, the message and arguments as text.

    (The standard library prints a traceback and drops the record instead.)
    """
    try:
        message = record.getMessage()
        if isinstance(message, str):
            return message
    except Exception as exc:
        args = record.args
        shown = (
            ", ".join(safe_repr(arg) for arg in args)
            if isinstance(args, tuple)
            else safe_repr(args)
        )
        return f"{safe_str(record.msg)} <arguments not formatted: {type(exc).__name__}: {shown}>"
    return safe_str(message)


def json_default(obj: Any) -> Any:
    """python-json-logger's conversions (ISO-8601 dates...), sequences as lists, else ``str()``."""
    if pjl_defaults.use_datetime_any(obj):
        return pjl_defaults.datetime_any(obj)
    if pjl_defaults.use_exception_default(obj):
        return pjl_defaults.exception_default(obj)
    if pjl_defaults.use_traceback_default(obj):
        return pjl_defaults.traceback_default(obj)
    if pjl_defaults.use_enum_default(obj):
        return pjl_defaults.enum_default(obj)
    if pjl_defaults.use_bytes_default(obj):
        return pjl_defaults.bytes_default(obj)
    if pjl_defaults.use_dataclass_default(obj):
        return pjl_defaults.dataclass_default(obj)
    if pjl_defaults.use_type_default(obj):
        return pjl_defaults.type_default(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return safe_str(obj)


def plain_number(value: Any) -> Any:
    """An ``int`` / ``float`` as JSON holds it exactly, else its text (or a placeholder)."""
    if isinstance(value, int):
        if _INT_MIN <= value < _INT_END:
            return int(value)
        return safe_str(value)  # a reader would get a float; past 4300 digits str() raises
    if math.isfinite(value):
        return float(value)
    return str(float(value))  # "nan", "inf", "-inf"


def plain(value: Any, depth: int = 0) -> Any:
    """A copy of *value* made only of dict / list / str / int / float / bool / None."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)):
        return plain_number(value)
    if depth >= _MAX_DEPTH:
        return f"<{type(value).__name__} nested too deep>"
    try:
        if isinstance(value, dict):
            return {_key(key): plain(item, depth + 1) for key, item in list(value.items())}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [plain(item, depth + 1) for item in list(value)]
        converted = json_default(value)
    except Exception:  # a hostile container, a conversion that raised
        return placeholder(value)
    if isinstance(converted, str):
        return converted
    return plain(converted, depth + 1)


def _key(key: object) -> str:
    return str.__str__(key) if isinstance(key, str) else safe_str(key)
