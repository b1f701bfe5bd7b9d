"""Reading a run's trace as it grows: parsed events, or the lines exactly as stored.

:func:`poll_trace` pages through :meth:`RunLogReader.read_trace` (files, Redis
or the archive alike) and, following, waits for more until the run is complete;
the demo watches its run with it.  :func:`stored_lines` yields a local trace's
lines byte for byte as the handlers wrote them (``igny8-logs trace``), so what
is printed is what is stored, not a re-serialization.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

from ._events import RUN_END
from ._ids import TRACE_FILE, TenantId
from ._opening import open_tree_file
from ._reader import RunLogReader

__all__ = ["poll_trace", "stored_lines"]

POLL_SECONDS: Final = 0.1
_CHUNK: Final = 1 << 20
#: A line longer than this is not the handlers' (they cap records): skipped.
_MAX_LINE: Final = 4 * 1024 * 1024
#: How much of the file's start is kept to notice a copytruncate rotation.
_HEAD: Final = 256


def poll_trace(
    reader: RunLogReader,
    run_id: str,
    *,
    account_id: TenantId | None = None,
    site_id: TenantId | None = None,
    follow: bool = True,
    timeout: float | None = None,
    poll: float = POLL_SECONDS,
) -> Iterator[dict[str, Any]]:
    """The run's trace events, in order; with *follow*, new ones as they come until
    the run is complete (or *timeout* seconds passed), else only those there now."""
    cursor = None
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        page = reader.read_trace(run_id, account_id=account_id, site_id=site_id, cursor=cursor)
        yield from page.events
        cursor = page.cursor
        if page.complete or (not follow and not page.events):
            return
        if deadline is not None and time.monotonic() >= deadline:
            return
        if not page.events:
            time.sleep(poll)


def _event(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


class _Lines:
    """Whole lines from a growing file: a half-written last line waits, an over-long
    (foreign) line is skipped.  Remembers how the file began (``head``)."""

    def __init__(self) -> None:
        self.rest = b""
        self.skipping = False
        self.head = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        if len(self.head) < _HEAD:
            self.head += chunk[: _HEAD - len(self.head)]
        *lines, self.rest = (self.rest + chunk).split(b"\n")
        if self.skipping and lines:
            lines, self.skipping = lines[1:], False  # the end of the over-long line
        if len(self.rest) > _MAX_LINE:
            self.rest, self.skipping = b"", True
        return lines


def stored_lines(
    base_dir: str, parts: Sequence[str], *, follow: bool = False, poll: float = POLL_SECONDS
) -> Iterator[bytes]:
    """The lines of the trace at ``base_dir/parts/run_trace.jsonl``, as stored (without
    their newline; lines that are not JSON objects are left out); with *follow*, new
    ones as they come, until ``run_end`` and one more read.  A trace truncated or
    replaced under it is read again from its new start."""
    fd: int | None = None
    pos, lines, ended = 0, _Lines(), False
    try:
        while True:
            if fd is None:
                fd, pos, lines = _open(base_dir, parts), 0, _Lines()
            grew = False
            if fd is not None:
                if _truncated(fd, pos, lines):  # copytruncate: from its new start
                    pos, lines = 0, _Lines()
                while chunk := os.pread(fd, _CHUNK, pos):
                    pos, grew = pos + len(chunk), True
                    for line in lines.feed(chunk):
                        event = _event(line)
                        if event is not None:
                            ended = ended or event.get("event") == RUN_END
                            yield line
            if not follow or (ended and not grew):
                return
            if not grew:
                if fd is not None and _replaced(base_dir, parts, fd):
                    os.close(fd)
                    fd = None
                time.sleep(poll)
    finally:
        if fd is not None:
            os.close(fd)


def _truncated(fd: int, pos: int, lines: _Lines) -> bool:
    """Whether the file was cut under us since *pos*: shorter now, or (cut, then written
    again past *pos* between two reads) no longer beginning as it did, or no line end
    where the last whole line ended."""
    if not pos:
        return False
    if os.fstat(fd).st_size < pos or os.pread(fd, len(lines.head), 0) != lines.head:
        return True
    boundary = pos - len(lines.rest)
    return boundary > 0 and not lines.skipping and os.pread(fd, 1, boundary - 1) != b"\n"


def _open(base_dir: str, parts: Sequence[str]) -> int | None:
    try:
        return open_tree_file(base_dir, parts, TRACE_FILE)
    except OSError:
        return None  # no trace yet (or not a regular file: never followed)


def _replaced(base_dir: str, parts: Sequence[str], fd: int) -> bool:
    """Whether the trace's path now names another file (or none) than *fd*."""
    other = _open(base_dir, parts)
    if other is None:
        return False  # gone: keep reading what we have until one reappears
    try:
        return os.fstat(other).st_ino != os.fstat(fd).st_ino
    finally:
        os.close(other)
