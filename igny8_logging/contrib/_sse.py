"""A run's trace as Server-Sent Events (the ``trace/stream/`` action's body).

One event per trace event: ``data:`` its JSON, ``id:`` the position just after
it, so a client that reconnects with ``Last-Event-ID`` gets the next event and
no duplicate.  The reader's cursors mark page ends, so an event inside a page
has the id ``{page cursor}~{n}`` ("n events after that cursor"), which resumes
by re-reading those *n* events and going on from the cursor after them.

When the trace's source cannot be read any more (Redis went down mid-stream), the
stream ends cleanly with a comment and a ``retry:`` hint instead of breaking off:
the browser reconnects with ``Last-Event-ID`` and resumes where it was.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Final

from .._reader import SourceUnavailable, TracePage

__all__ = ["EventFeed", "parse_event_id"]

#: The last chunk of a stream whose source failed: a comment, and the reconnection
#: delay (ms) for ``EventSource``.
UNAVAILABLE: Final = b": source unavailable, reconnect later\nretry: 5000\n\n"

_STEP_RE: Final = re.compile(r"(?P<cursor>[A-Za-z0-9_=-]*)~(?P<n>[1-9][0-9]{0,4})", re.ASCII)

#: ``read(cursor, limit)``: the reader's ``read_trace`` for one run.
ReadPage = Callable[[str | None, int], TracePage]


def parse_event_id(value: str) -> tuple[str | None, int]:
    """``(reader cursor or None, events to skip after it)`` for a cursor or event id."""
    match = _STEP_RE.fullmatch(value)
    if match is None:
        return value, 0
    return match["cursor"] or None, int(match["n"])


class EventFeed:
    """The SSE byte chunks of one run's trace, from a start position to ``run_end``.

    :meth:`start` validates the position (``ValueError`` for a bad one: a 400),
    then iterating yields the events, a keep-alive comment every
    *keepalive* seconds while nothing happens, and stops once the run is complete.
    """

    def __init__(
        self,
        read: ReadPage,
        *,
        page_size: int = 100,
        keepalive: float = 15.0,
        poll_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read, self.page_size = read, page_size
        self.keepalive, self.poll_interval, self.clock = keepalive, poll_interval, clock
        self.cursor: str | None = None
        self.first: TracePage | None = None

    def start(self, position: str | None) -> None:
        """Position the feed after *position* (a cursor or an event id; ``None``: the start)."""
        if position is None:
            self.first = self.read(None, self.page_size)
            return
        cursor, skip = parse_event_id(position)
        if skip:
            page = self.read(cursor, skip)
            if len(page.events) != skip:
                raise ValueError("invalid event id: not issued for this run")
            cursor = page.cursor
        self.cursor = cursor
        self.first = self.read(cursor, self.page_size)

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._events()
        except SourceUnavailable:
            yield UNAVAILABLE

    def _events(self) -> Iterator[bytes]:
        page = self.first if self.first is not None else self.read(self.cursor, self.page_size)
        quiet_since = self.clock()
        while True:
            if page.events:
                yield self._frames(page)
                quiet_since = self.clock()
            self.cursor = page.cursor
            if page.complete:
                return
            if not page.events:
                if self.clock() - quiet_since >= self.keepalive:
                    yield b": keep-alive\n\n"
                    quiet_since = self.clock()
                time.sleep(min(self.poll_interval, self.keepalive))
            page = self.read(self.cursor, self.page_size)

    def _frames(self, page: TracePage) -> bytes:
        base = self.cursor or ""
        last = len(page.events)
        out: list[str] = []
        for n, event in enumerate(page.events, 1):
            event_id = page.cursor if n == last else f"{base}~{n}"
            data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
            out.append(f"id: {event_id}\ndata: {data}\n\n")
        return "".join(out).encode("utf-8", "backslashreplace")
