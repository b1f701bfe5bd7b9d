"""The human-readable text layout shared by ``automation_run.log`` and ``stage_*.log``.

A record becomes::

    2026-11-29T01:30:00.123Z INFO    [stage 1] message
      continuation lines (tracebacks, multi-line messages) indented

Every physical line after the first starts with whitespace, and control
characters are escaped, so text from outside can never forge a record line.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from typing import Any, Final

from . import _accel
from ._events import LIFECYCLE, LOG, RUN_START
from ._routing import Route, field_items, route_of
from ._values import message_of, plain, safe_str

__all__ = [
    "TextFormatter",
    "iso_utc",
    "make_line_safe",
    "record_message",
    "record_ts",
    "truncate_utf8",
]

#: What a continuation line starts with.
INDENT: Final = "  "
#: Events whose fields the text line does not show (the lifecycle's are in its message).
_NO_FIELDS: Final = LIFECYCLE | {LOG}

# Line breaks str.splitlines() honours, and other C0/C1 controls except TAB.
_BREAKS_RE: Final = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_CONTROL_RE: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f]")
#: The C accelerator's text line (:mod:`._accel`), ``None`` without it.
_text_line = _accel.text_line

#: The last millisecond and second formatted, each one tuple so threads never mix two.
_ms_cache: tuple[int, str] = (-1, "")
_second_cache: tuple[int, str] = (-1, "")


def iso_utc(created: float, msecs: float | None = None) -> str:
    """``created`` as ISO-8601 UTC with milliseconds and ``Z``."""
    global _ms_cache, _second_cache
    stamp = int(created * 1000) if msecs is None else int(created) * 1000 + min(int(msecs), 999)
    hit = _ms_cache
    if hit[0] == stamp:
        return hit[1]
    sec, ms = divmod(stamp, 1000)
    cached = _second_cache
    if cached[0] != sec:
        cached = _second_cache = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    text = f"{cached[1]}.{ms:03d}Z"
    _ms_cache = (stamp, text)
    return text


def record_ts(record: logging.LogRecord, route: Route) -> str:
    """The record's :func:`iso_utc` time, made once and shared by all its files."""
    ts = route.ts
    if ts is None:
        # One multiplication, not LogRecord.msecs: the same millisecond for every file.
        ts = route.ts = iso_utc(record.created)
    return ts


def record_message(record: logging.LogRecord, route: Route) -> str:
    """The record's message (a placeholder when its formatting fails), made once."""
    message = route.message
    if message is None:
        message = route.message = message_of(record)
    return message


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match[0]):02x}"


def make_line_safe(text: str) -> str:
    """Indent every line after the first and escape control characters."""
    if text.isprintable():  # no line break, no control character: nothing to do
        return text
    if _CONTROL_RE.search(text):
        text = _BREAKS_RE.sub("\n", text)
        text = _CONTROL_RE.sub(_escape, text)
    elif "\r" in text or not text.isascii():
        text = _BREAKS_RE.sub("\n", text)
    if "\n" in text:
        text = text.replace("\n", "\n" + INDENT)
    return text


def truncate_utf8(text: str, limit: int) -> str:
    """Cut *text* to at most *limit* UTF-8 bytes plus a visible marker."""
    if len(text) <= limit // 4:  # cannot exceed the limit: skip the encode
        return text
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", "ignore")
    cut = len(data) - len(kept.encode("utf-8", "surrogatepass"))
    return f"{kept}…[truncated {cut} bytes]"


def _short(value: Any) -> str:
    """A field value as ``key=value`` text: bare words as they are, else as JSON."""
    kind = type(value)
    if kind is str:
        if value and " " not in value:
            return value  # type: ignore[no-any-return]
        if value.isprintable() and '"' not in value and "\\" not in value:
            return f'"{value}"'  # what json.dumps writes for it, without the call
        return json.dumps(value, ensure_ascii=False)
    if kind is int and -(10**18) < value < 10**18:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    if value is None or kind is bool:
        return "null" if value is None else "true" if value else "false"
    data = plain(value)  # the same conversions as the trace
    if isinstance(data, str):
        return data if data and " " not in data else json.dumps(data, ensure_ascii=False)
    try:
        return json.dumps(data, ensure_ascii=False)
    except Exception:
        return safe_str(data)


def message_with_traceback(
    record: logging.LogRecord, formatter: logging.Formatter, route: Route | None = None
) -> str:
    """The record's message, followed by its traceback and stack when it has them."""
    text = message_of(record) if route is None else record_message(record, route)
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    if record.exc_text:
        text = f"{text}\n{record.exc_text}"
    if record.stack_info:
        text = f"{text}\n{formatter.formatStack(record.stack_info)}"
    return text


def _pairs(items: list[tuple[str, Any]]) -> str:
    """A custom event's fields as ``key=value`` text (values as :func:`_short` shows them)."""
    shown = []
    for key, value in items:
        kind = type(value)
        if kind is str:
            if value and " " not in value:
                shown.append(f"{key}={value}")
                continue
            if value.isprintable() and '"' not in value and "\\" not in value:
                shown.append(f'{key}="{value}"')
                continue
        elif kind is int:
            if -(10**18) < value < 10**18:
                shown.append(f"{key}={value}")
                continue
        elif kind is float and value - value == 0.0:  # finite
            shown.append(f"{key}={value!r}")
            continue
        shown.append(f"{key}={_short(value)}")
    return " ".join(shown)


def _run_header(record: logging.LogRecord, route: Route) -> str:
    """The header lines of ``run_start``: the run, its tenant, start, host, pid, metadata."""
    fields = route.fields
    header = {
        "run_id": route.run_id,
        "account": route.account_id,
        "site": route.site_id,
        "started": iso_utc(record.created, record.msecs),
        "host": fields.get("host"),
        "pid": fields.get("pid"),
        "metadata": fields.get("metadata"),
    }
    return "".join(f"\n{key}: {_short(value)}" for key, value in header.items())


class TextFormatter(logging.Formatter):
    """The default text layout of the run and stage logs.

    ``format_body`` is the hook to override to change what follows the
    ``[where]`` tag; a plain ``logging.Formatter`` set on a handler replaces the
    whole layout instead (continuation lines are still indented).
    """

    def __init__(self, max_record_bytes: int = 64 * 1024) -> None:
        super().__init__()
        self.max_record_bytes = max_record_bytes
        self._heads: dict[tuple[str, object], str] = {}
        kind = type(self)
        #: Whether the layout is the stock one, which the C accelerator may write.
        self._stock = (
            kind.format_record is TextFormatter.format_record
            and kind.format_body is TextFormatter.format_body
        )

    def where(self, stage: object) -> str:
        return "[run]" if stage is None else f"[stage {stage}]"

    def format_body(self, record: logging.LogRecord, route: Route) -> str:
        """The message part: message (+ fields of custom events, header of run_start)."""
        if record.exc_info or record.exc_text or record.stack_info:
            text = message_with_traceback(record, self, route)
        else:
            text = route.message or record_message(record, route)
        limit = self.max_record_bytes
        if len(text) > limit >> 2:  # else it cannot exceed the limit
            text = truncate_utf8(text, limit)
        event = route.event
        if event is None:
            return text
        if event == RUN_START:
            return text + truncate_utf8(_run_header(record, route), limit)
        if not route.fields or event in _NO_FIELDS:
            return text
        pairs = _pairs(field_items(route))
        if len(pairs) > limit >> 2:
            pairs = truncate_utf8(pairs, limit)
        return f"{text} {pairs}"

    def format(self, record: logging.LogRecord) -> str:
        """Plain ``logging.Formatter`` interface: the line without its newline."""
        route = route_of(record)
        if route is None:
            return make_line_safe(message_with_traceback(record, self))
        return self.format_record(record, route)[:-1]

    def format_record(self, record: logging.LogRecord, route: Route) -> str:
        """One record as its full text, ending with a newline."""
        body = self.format_body(record, route)
        if not body.isprintable():  # a line break or a control character
            body = make_line_safe(body)
        head = self._head(record.levelname, route.stage)
        return f"{route.ts or record_ts(record, route)}{head}{body}\n"

    def _head(self, levelname: str, stage: object) -> str:
        """What comes between the time and the body: `` INFO    [stage 1] ``."""
        head = self._heads.get((levelname, stage))
        if head is None:
            head = f" {levelname:<7} {self.where(stage)} "
            if len(self._heads) < 1024:
                self._heads[(levelname, stage)] = head
        return head

    def format_bytes(self, record: logging.LogRecord, route: Route) -> bytes:
        """:meth:`format_record` encoded (UTF-8, ``backslashreplace``): the bytes of the files.

        The stock layout's common case (no traceback, printable text, short
        plain fields) is written by the C accelerator when it is built.
        """
        fast = _text_line
        if (
            fast is not None
            and self._stock
            and not (record.exc_info or record.exc_text or record.stack_info)
        ):
            event = route.event
            if event != RUN_START:
                levelname = record.levelname
                stage = route.stage
                line = fast(
                    route.ts or record_ts(record, route),
                    self._heads.get((levelname, stage)) or self._head(levelname, stage),
                    route.message or record_message(record, route),
                    None
                    if event is None or not route.fields or event in _NO_FIELDS
                    else field_items(route),
                    self.max_record_bytes >> 2,
                )
                if line is not None:
                    return line
        return self.format_record(record, route).encode("utf-8", "backslashreplace")
