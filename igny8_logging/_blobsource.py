"""A :class:`~._sources.RunSource` over blobs: the shared half of files and the archive.

:class:`BlobSource` implements ``tail``, ``has_file``, ``read_trace``, ``events``,
``follow`` (and the extra ``lifecycle_events`` / ``run_end``) with the algorithms of
:mod:`._lines`; a subclass says how to open one file of a run as a :class:`~._lines.Blob`
(:meth:`BlobSource.open_blob`) and how to list what it holds.  Trace cursors are
byte offsets bound to the run and tenant, the same for every blob source, so a
cursor issued while a run was read from the files stays valid once the run is read
from its archived copy (the bytes are the same).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Final

from ._events import is_run_end
from ._ids import TRACE_FILE, RunRef
from ._lines import (
    BLOCK,
    LINE_CAP,
    Blob,
    decode,
    find_run_end,
    is_line_start,
    iter_lines,
    line_start,
    parse_event,
    tail_lines,
    trace_page,
)
from ._sources import RunNotFound, TracePage

__all__ = ["BlobSource", "decode_cursor", "encode_cursor"]

_ANCHOR: Final = 32  # bytes before a follower's position that must not change under it


def _cursor_key(ref: RunRef) -> str:
    tenant = "/".join(ref.tenant_parts)
    return hashlib.sha256(f"{tenant}/{ref.run_id}".encode()).hexdigest()[:16]


def encode_cursor(ref: RunRef, offset: int) -> str:
    """The opaque cursor of the trace offset *offset* of the run *ref*."""
    raw = f"v1:{offset}:{_cursor_key(ref)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(ref: RunRef, cursor: str) -> int:
    """The offset in a cursor of this run; ``ValueError`` for any other string."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        version, offset_text, key = raw.split(":")
        offset = int(offset_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None
    if version != "v1" or key != _cursor_key(ref) or not offset_text.isdigit():
        raise ValueError("invalid cursor: not issued for this run")
    return offset


def _close(blob: Blob) -> None:
    close = getattr(blob, "close", None)
    if close is not None:
        close()


def _identity(blob: Blob) -> object:
    identity = getattr(blob, "identity", None)
    return None if identity is None else identity()


class BlobSource(ABC):
    """The reads of a run source, over the blobs :meth:`open_blob` gives."""

    #: The trace cursors this source reads (see ``_sources.cursor_kind``): byte offsets.
    cursor_kinds: tuple[str, ...] = ("v1",)

    @abstractmethod
    def open_blob(self, ref: RunRef, name: str) -> Blob | None:
        """The file *name* of the run (closed by the caller through its ``close()``,
        if it has one); ``None`` when the run has no such file; :class:`RunNotFound`
        when the source holds no such run."""

    @abstractmethod
    def has_run(self, ref: RunRef) -> bool: ...

    @abstractmethod
    def list_runs(self, tenant_parts: tuple[str, str]) -> list[str]: ...

    @abstractmethod
    def tenants(self) -> list[tuple[str, str]]: ...

    @abstractmethod
    def file_names(self, ref: RunRef) -> list[str]: ...

    @abstractmethod
    def open_file(self, ref: RunRef, name: str) -> BinaryIO: ...

    # -- reads -----------------------------------------------------------------------

    def tail(self, ref: RunRef, name: str, lines: int) -> list[str]:
        blob = self.open_blob(ref, name)
        if blob is None:
            return []
        try:
            return tail_lines(blob, lines)
        finally:
            _close(blob)

    def has_file(self, ref: RunRef, name: str) -> bool:
        blob = self.open_blob(ref, name)
        if blob is None:
            return False
        _close(blob)
        return True

    def read_trace(self, ref: RunRef, cursor: str | None, limit: int) -> TracePage:
        offset = 0 if cursor is None else decode_cursor(ref, cursor)
        blob = self.open_blob(ref, TRACE_FILE)
        if blob is None:
            if offset:
                raise ValueError("invalid cursor: beyond the end of the trace")
            return TracePage([], encode_cursor(ref, 0), False)
        try:
            if not is_line_start(blob, offset, blob.size()):
                raise ValueError("invalid cursor: not issued for this run")
            events, pos, at_end, ended = trace_page(blob, offset, limit)
            return TracePage(events, encode_cursor(ref, pos), at_end and ended)
        finally:
            _close(blob)

    def events(self, ref: RunRef) -> Iterator[dict[str, Any]]:
        return self._events(ref, lambda line: True)

    def lifecycle_events(self, ref: RunRef) -> Iterator[dict[str, Any]]:
        """The run and stage events of the trace (what the summary folds): lines that
        cannot be one are skipped unparsed."""
        return self._events(ref, lambda line: b'"stage_' in line or b'"run_' in line)

    def _events(self, ref: RunRef, wanted: Callable[[bytes], bool]) -> Iterator[dict[str, Any]]:
        blob = self.open_blob(ref, TRACE_FILE)
        if blob is None:
            return
        try:
            for line in iter_lines(blob):
                if wanted(line) and (event := parse_event(line)) is not None:
                    yield event
        finally:
            _close(blob)

    def run_end(self, ref: RunRef) -> dict[str, Any] | None:
        """The run's ``run_end`` event (found from the trace's end), ``None`` while it runs."""
        blob = self.open_blob(ref, TRACE_FILE)
        if blob is None:
            return None
        try:
            return find_run_end(blob)
        finally:
            _close(blob)

    # -- follow ----------------------------------------------------------------------

    def follow(
        self, ref: RunRef, name: str, lines: int, poll_interval: float, timeout: float | None
    ) -> Iterator[str]:
        log = _Tracker(self, ref, name)
        trace = _Tracker(self, ref, TRACE_FILE)
        log.open(keep_lines=lines)
        deadline = None if timeout is None else time.monotonic() + timeout
        ended = False
        try:
            while True:
                for line in log.read_new():
                    yield decode(line)
                if ended:
                    return  # one full read after run_end was seen: every handler had written
                ended = any(
                    b"run_end" in line and is_run_end(parse_event(line) or {})
                    for line in trace.read_new()
                )
                if deadline is not None and time.monotonic() >= deadline:
                    return
                if not ended:
                    time.sleep(poll_interval)
        finally:
            log.close()
            trace.close()


class _Tracker:
    """A file being followed: its blob, position and unfinished line.

    The file may be deleted and recreated (another identity: followed from the new
    file's start) or truncated in place (copytruncate: its size falls below the
    position, or the bytes just before the position change): followed from its new
    start either way.
    """

    def __init__(self, source: BlobSource, ref: RunRef, name: str) -> None:
        self.source, self.ref, self.name = source, ref, name
        self.blob: Blob | None = None
        self.identity: object = None
        self.pos = 0
        self.buffer = b""
        self.anchor = b""

    def _fresh(self) -> Blob | None:
        try:
            return self.source.open_blob(self.ref, self.name)
        except RunNotFound:
            return None

    def open(self, keep_lines: int | None = None) -> None:
        """Open the file; *keep_lines* (first open only): start that many lines before
        its end (0: at its end)."""
        blob = self._fresh()
        if blob is None:
            return
        self._switch(blob)
        if keep_lines is not None:
            size = blob.size()
            self._seek(line_start(blob, size, keep_lines)[0] if keep_lines else size)

    def _switch(self, blob: Blob) -> None:
        self.close()
        self.blob, self.identity = blob, _identity(blob)
        self.pos, self.buffer, self.anchor = 0, b"", b""

    def _seek(self, pos: int) -> None:
        assert self.blob is not None
        self.pos = pos
        start = max(0, pos - _ANCHOR)
        self.anchor = self.blob.pread(start, pos - start) if pos else b""

    def _rewound(self, blob: Blob) -> bool:
        if blob.size() < self.pos:
            return True
        anchor = self.anchor
        return bool(anchor) and blob.pread(self.pos - len(anchor), len(anchor)) != anchor

    def read_new(self) -> Iterator[bytes]:
        """Whole lines appended since the last call (a partial last line waits)."""
        if self.blob is None:
            self.open()
        while (blob := self.blob) is not None:
            if self._rewound(blob):  # truncated in place: its new content starts at 0
                self.pos, self.buffer, self.anchor = 0, b"", b""
            chunk = blob.pread(self.pos, BLOCK * 4)
            if chunk:
                self.pos += len(chunk)
                self.anchor = (self.anchor + chunk)[-_ANCHOR:]
                data = self.buffer + chunk
                cut = data.rfind(b"\n")
                self.buffer = data[cut + 1 :][-LINE_CAP * 8 :]
                if cut >= 0:
                    yield from data[:cut].split(b"\n")
                continue
            if not self._replaced():
                return

    def _replaced(self) -> bool:
        """At the end: whether the file was replaced (then the new one is taken)."""
        fresh = self._fresh()
        if fresh is None:
            return False
        if self.identity is None or _identity(fresh) == self.identity:
            _close(fresh)
            return False
        self._switch(fresh)
        return True

    def close(self) -> None:
        if self.blob is not None:
            _close(self.blob)
            self.blob = None
