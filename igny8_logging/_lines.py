"""Line algorithms over a random-access blob: tails, trace pages, run_end, line streams.

A :class:`Blob` is anything with a size and positioned reads: a local file
(:class:`FileBlob`, ``os.pread``) or an object in a store read with ranged GETs.
Every algorithm here reads only what it needs, in bounded blocks, so the same code
gives a local file and an archived object a tail whose cost depends on the number
of lines asked for, never on the size of the file (nor on one foreign line with no
newline in it), and never holds a whole file in memory.

Only LF ends a line (a CR inside a JSON line is whitespace).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any, Final, Protocol

from ._events import is_run_end

try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - exercised when the 'fast' extra is absent
    _loads = json.loads

__all__ = [
    "Blob",
    "FileBlob",
    "decode",
    "find_run_end",
    "iter_lines",
    "line_start",
    "parse_event",
    "tail_lines",
    "trace_page",
    "whole_end",
]

BLOCK: Final = 64 * 1024
_READ_BLOCK: Final = 256 * 1024
_ITER_BLOCK: Final = 1024 * 1024
LINE_CAP: Final = 128 * 1024  # longest physical line tail() returns in full
#: How far back one line is looked for its start: a longer line (only foreign
#: content: the writer caps records far below this) ends the backward scan.
SCAN_LINE: Final = 1024 * 1024
TAIL_BUDGET: Final = 64 * 1024 * 1024  # bytes tail() reads at most
END_SCAN: Final = 1024 * 1024  # how far back the end of a trace is searched for run_end
#: A trace line longer than this is skipped unread (the handlers write at most
#: about 3 x ``max_record_bytes``).
MAX_EVENT_LINE: Final = 4 * 1024 * 1024


class Blob(Protocol):
    """Random-access bytes: a file or a stored object."""

    def size(self) -> int:
        """The current size in bytes (a growing file may grow between calls)."""
        ...

    def pread(self, offset: int, length: int) -> bytes:
        """Up to *length* bytes at *offset* (fewer at the end; ``b""`` past it)."""
        ...


class FileBlob:
    """A :class:`Blob` over an open file descriptor (owned: :meth:`close` closes it)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def pread(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset)

    def identity(self) -> tuple[int, int]:
        """``(st_dev, st_ino)``: a file replaced under the same name has another."""
        st = os.fstat(self.fd)
        return (st.st_dev, st.st_ino)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> FileBlob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decode(line: bytes) -> str:
    """A line as text (undecodable bytes replaced)."""
    return line.decode("utf-8", "replace")


def parse_event(line: bytes) -> dict[str, Any] | None:
    """The JSON object on a trace line, ``None`` for anything else."""
    try:
        event = _loads(line)
    except (ValueError, TypeError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


# -- tail -------------------------------------------------------------------------------


def line_start(blob: Blob, size: int, count: int) -> tuple[int, bool]:
    """Where the last *count* lines before *size* begin, reading backwards, and whether
    the first of them was cut: a line longer than :data:`SCAN_LINE` (or the whole scan
    reaching :data:`TAIL_BUDGET`) stops the scan inside it, and only its last
    :data:`LINE_CAP` bytes are kept."""
    end = size
    if end and blob.pread(end - 1, 1) == b"\n":
        end -= 1  # the final newline ends the last line; it does not start one
    found = 0
    pos = line_end = end
    floor = max(0, end - TAIL_BUDGET)
    while pos > floor:
        start = max(floor, pos - BLOCK, line_end - SCAN_LINE)
        block = blob.pread(start, pos - start)
        idx = len(block)
        while (idx := block.rfind(b"\n", 0, idx)) >= 0:
            found += 1
            if found == count:
                return start + idx + 1, False
            line_end = start + idx
        pos = start
        if pos > 0 and (pos <= line_end - SCAN_LINE or pos <= floor):
            # Give up on this line's start: keep its last LINE_CAP bytes only.
            return max(pos, line_end - LINE_CAP), True
    return 0, False


def _cap(line: bytes, cap: int, length: int) -> str:
    if length <= cap:
        return decode(line)
    return f"{line[:cap].decode('utf-8', 'ignore')}…[truncated {length - cap} bytes]"


def tail_lines(blob: Blob, count: int) -> list[str]:
    """The last *count* physical lines, each cut to a bounded length (a line whose start
    lay beyond the scan keeps its end, marked ``…[start not read]`` in front)."""
    size = blob.size()
    start, cut_first = line_start(blob, size, count)
    cap = min(LINE_CAP, max(4096, TAIL_BUDGET // count))
    out: list[str] = []
    kept: list[bytes] = []
    length = 0
    pos = start
    while pos < size:
        block = blob.pread(pos, min(_READ_BLOCK, size - pos))
        if not block:
            break  # shrank under us
        pos += len(block)
        i = 0
        while True:
            j = block.find(b"\n", i)
            piece = block[i:] if j < 0 else block[i:j]
            if length <= cap:
                kept.append(piece[: cap + 1 - length])
            length += len(piece)
            if j < 0:
                break
            out.append(_cap(b"".join(kept), cap, length))
            kept, length = [], 0
            i = j + 1
    if length:
        out.append(_cap(b"".join(kept), cap, length))
    if cut_first and out:
        out[0] = "…[start not read]" + out[0]
    return out[-count:]


# -- trace ------------------------------------------------------------------------------


def find_newline(blob: Blob, pos: int, size: int) -> int:
    """The offset of the first LF at or after *pos*, ``-1`` if none before *size*."""
    while pos < size:
        block = blob.pread(pos, min(BLOCK, size - pos))
        if not block:
            break
        idx = block.find(b"\n")
        if idx >= 0:
            return pos + idx
        pos += len(block)
    return -1


def whole_end(blob: Blob, pos: int, size: int) -> int:
    """The offset just past the last LF at or after *pos* (``pos`` if none)."""
    top = size
    while top > pos:
        start = max(pos, top - BLOCK)
        idx = blob.pread(start, top - start).rfind(b"\n")
        if idx >= 0:
            return start + idx + 1
        top = start
    return pos


def is_line_start(blob: Blob, offset: int, size: int) -> bool:
    """Whether *offset* starts a line of the blob (or is its end after a whole line)."""
    return offset == 0 or (offset <= size and blob.pread(offset - 1, 1) == b"\n")


def trace_page(blob: Blob, offset: int, limit: int) -> tuple[list[dict[str, Any]], int, bool, bool]:
    """Up to *limit* events of the whole lines from *offset* (a line start).

    Returns ``(events, next_offset, at_end, ended)``: *at_end* when no whole line
    follows *next_offset*; *ended* when the trace holds a ``run_end`` (looked for at
    its end only when this page holds none).  Unparseable lines are skipped, a line
    over :data:`MAX_EVENT_LINE` unread, a half-written last line held back.
    """
    size = blob.size()
    events: list[dict[str, Any]] = []
    pos = offset
    ended = False
    while len(events) < limit and pos < size:
        chunk = blob.pread(pos, min(BLOCK * 4, size - pos))
        cut = chunk.rfind(b"\n")
        if cut < 0:
            if len(chunk) >= size - pos:
                break  # half-written last line: held back
            nl = find_newline(blob, pos + len(chunk), size)  # one line longer than a block
            if nl < 0:
                break
            if nl - pos > MAX_EVENT_LINE:  # not ours: skipped unread
                pos = nl + 1
                continue
            chunk = blob.pread(pos, nl - pos + 1)
            cut = len(chunk) - 1
        for line in chunk[:cut].split(b"\n"):
            if len(events) >= limit:
                break
            pos += len(line) + 1
            event = parse_event(line)
            if event is not None:
                events.append(event)
                ended = ended or is_run_end(event)
    at_end = whole_end(blob, pos, size) == pos
    if at_end and not ended:
        ended = find_run_end(blob, size) is not None
    return events, pos, at_end, ended


def find_run_end(blob: Blob, size: int | None = None) -> dict[str, Any] | None:
    """The last ``run_end`` event among the trace's final :data:`END_SCAN` bytes,
    read backwards in blocks (``run_end`` is the last lifecycle event of a run, so it
    is near the end; a run whose ``run_end`` lies further back counts as running)."""
    size = blob.size() if size is None else size
    floor = max(0, size - END_SCAN)
    pos = size
    carry = b""
    while pos > floor:
        start = max(floor, pos - BLOCK)
        lines = (blob.pread(start, pos - start) + carry).split(b"\n")
        carry = lines.pop(0) if start > floor else b""  # maybe the end of a longer line
        for line in reversed(lines):
            if b"run_end" in line:
                event = parse_event(line)
                if event is not None and is_run_end(event):
                    return event
        pos = start
    return None


def iter_lines(blob: Blob, start: int = 0, max_line: int = MAX_EVENT_LINE) -> Iterator[bytes]:
    """The whole lines from *start* (without LF), in order, in bounded memory: a line
    longer than *max_line* is skipped, a half-written last line held back."""
    size = blob.size()
    pos = start
    buffer = b""
    skipping = False
    while pos < size:
        chunk = blob.pread(pos, min(_ITER_BLOCK, size - pos))
        if not chunk:
            break
        pos += len(chunk)
        lines = (buffer + chunk).split(b"\n") if buffer else chunk.split(b"\n")
        buffer = lines.pop()
        for line in lines:
            if skipping:
                skipping = False  # the end of an over-long line
            elif len(line) <= max_line:
                yield line
        if skipping or len(buffer) > max_line:
            skipping, buffer = True, b""
