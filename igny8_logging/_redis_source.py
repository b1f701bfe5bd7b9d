"""``RedisSource``: runs read back from the streams :class:`RedisStreamHandler` writes.

A :class:`~._sources.RunSource` for :class:`~igny8_logging.RunLogReader`
(``RunLogReader(redis_url=...)``): complete across hosts, since every worker
appends to the same streams.  Trace cursors are built from the stream id of the
last event returned (an exclusive ``XRANGE`` start: never a re-send, never a
skip); ``follow`` blocks in ``XREAD`` (no polling); ``tail`` reads backwards
with ``XREVRANGE`` and counts physical lines; ``list_runs`` reads the tenant's
sorted set.  Keys are built from the validated run and tenant, so a run of
another account or site is simply not held here.  Redis unreachable (or failing)
is a :class:`~._sources.SourceUnavailable` naming the URL without its password,
from ``has_run`` as from a read in the middle of a ``follow``; only the listings
leave Redis out instead (the files are listed still).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from ._ids import RUN_LOG, TRACE_FILE, RunRef
from ._redis_keys import FIELD, check_prefix, files_key, index_key, safe_url, stream_key
from ._sources import SourceUnavailable, TracePage, is_run_file

if TYPE_CHECKING:
    import redis
    from redis.typing import KeyT, StreamIdT

__all__ = ["RedisSource"]

_ID_RE: Final = re.compile(r"[0-9]{1,20}-[0-9]{1,20}", re.ASCII)
_CHUNK: Final = 1000
#: How far back ``read_trace`` looks for ``run_end`` (it is the last lifecycle event;
#: only records from other hosts that were still on their way can follow it).
_END_SCAN: Final = 50
_MAX_ENDED: Final = 4096
_FIELD_B: Final = FIELD.encode()

Entries = list[tuple[bytes, dict[bytes, bytes]]]


def _parse_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, seq = text.split("-")
    return int(ms), int(seq)


def _event(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def _is_end(line: bytes) -> bool:
    if b"run_end" not in line:
        return False
    event = _event(line)
    return event is not None and event.get("event") == "run_end"


class RedisSource:
    """Reads runs from the Redis at *url*, keys under *prefix* (as the handler wrote)."""

    #: Longest single ``XREAD BLOCK`` of ``follow`` (it loops until the run ends).
    block_seconds: float = 5.0
    #: The trace cursors this source reads (see ``_sources.cursor_kind``): stream ids.
    cursor_kinds: tuple[str, ...] = ("r1",)

    def __init__(self, url: str, prefix: str = "igny8", *, socket_timeout: float = 10.0) -> None:
        self.url = url
        self.prefix = check_prefix(prefix)
        self.socket_timeout = socket_timeout
        self._client: redis.Redis | None = None
        #: Trace streams known to hold ``run_end`` (it is never taken back).
        self._ended: set[str] = set()

    def __repr__(self) -> str:
        return f"RedisSource({safe_url(self.url)!r}, prefix={self.prefix!r})"

    def _redis(self, *, timeout: float | None = None) -> redis.Redis:
        import redis

        if timeout is not None:  # a blocking reader gets a connection of its own
            return redis.Redis.from_url(self.url, socket_timeout=timeout)
        if self._client is None:
            self._client = redis.Redis.from_url(self.url, socket_timeout=self.socket_timeout)
        return self._client

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn a failing Redis (down, refusing us, timing out) into ``SourceUnavailable``."""
        import redis

        try:
            yield
        except redis.RedisError as exc:
            cause = f"{type(exc).__name__}: {exc}"
            raise SourceUnavailable("Redis", safe_url(self.url), cause) from exc

    def _key(self, ref: RunRef, name: str) -> str:
        return stream_key(self.prefix, ref.parts, name)

    def _range(self, key: str, start: str, end: str, count: int, *, rev: bool = False) -> Entries:
        client = self._redis()
        if rev:
            raw: Any = client.xrevrange(key, start, end, count=count)
        else:
            raw = client.xrange(key, start, end, count=count)
        return [(bytes(entry_id), fields) for entry_id, fields in raw]

    # -- presence ----------------------------------------------------------------------

    def has_run(self, ref: RunRef) -> bool:
        """Whether Redis holds the run; ``SourceUnavailable`` when Redis cannot be
        reached (the reader then serves the files, if they hold the run)."""
        keys = [self._key(ref, RUN_LOG), self._key(ref, TRACE_FILE)]
        with self._reaching():
            return bool(self._redis().exists(*keys))

    def has_file(self, ref: RunRef, name: str) -> bool:
        with self._reaching():
            return bool(self._redis().exists(self._key(ref, name)))

    def file_names(self, ref: RunRef) -> list[str]:
        with self._reaching():
            raw: Any = self._redis().smembers(files_key(self.prefix, ref.parts))
        names = sorted(n.decode() for n in raw if is_run_file(n.decode("utf-8", "replace")))
        return [name for name in names if self.has_file(ref, name)]

    # -- tail and follow -------------------------------------------------------------

    def _last_lines(self, key: str, lines: int, end: str = "+") -> list[bytes]:
        """The last *lines* physical lines of the stream up to *end*, oldest first."""
        found: list[bytes] = []
        while len(found) < lines:
            wanted = min(lines - len(found), _CHUNK)  # each entry holds one line or more
            chunk = self._range(key, end, "-", wanted, rev=True)
            for _, fields in chunk:
                found.extend(reversed(fields.get(_FIELD_B, b"").rstrip(b"\n").split(b"\n")))
            if len(chunk) < wanted:
                break
            end = "(" + chunk[-1][0].decode()
        found.reverse()
        return found[-lines:]

    def tail(self, ref: RunRef, name: str, lines: int) -> list[str]:
        with self._reaching():
            found = self._last_lines(self._key(ref, name), lines)
        return [line.decode("utf-8", "replace") for line in found]

    def follow(
        self, ref: RunRef, name: str, lines: int, poll_interval: float, timeout: float | None
    ) -> Iterator[str]:
        """Blocking ``XREAD`` on the file's and the trace's streams (*poll_interval*
        is not used: Redis wakes the reader)."""
        log_key, trace_key = self._key(ref, name), self._key(ref, TRACE_FILE)
        with self._reaching():
            last = self._range(log_key, "+", "-", 1, rev=True)
            start = last[0][0].decode() if last else "0-0"
            history = self._last_lines(log_key, lines, start) if lines and last else []
            trace_last = self._range(trace_key, "+", "-", 1, rev=True)
            trace_start = trace_last[0][0].decode() if trace_last else "0-0"
            ended = any(_is_end(f.get(_FIELD_B, b"")) for _, f in self._trace_tail(trace_key))
        return self._follow(log_key, trace_key, history, start, trace_start, ended, timeout)

    def _trace_tail(self, key: str) -> Entries:
        return self._range(key, "+", "-", _END_SCAN, rev=True)

    def _follow(
        self,
        log_key: str,
        trace_key: str,
        history: list[bytes],
        start: str,
        trace_start: str,
        ended: bool,
        timeout: float | None,
    ) -> Iterator[str]:
        for line in history:
            yield line.decode("utf-8", "replace")
        client = self._redis(timeout=self.block_seconds + 10)
        deadline = None if timeout is None else time.monotonic() + timeout
        ids: dict[KeyT, StreamIdT] = {log_key: start, trace_key: trace_start}
        try:
            with self._reaching():
                while True:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return
                    block = self.block_seconds if left is None else min(left, self.block_seconds)
                    # After run_end: one more read that does not wait, then stop.
                    wait = None if ended else max(int(block * 1000), 1)
                    raw: Any = client.xread(ids, count=_CHUNK, block=wait)
                    got_log = False
                    for key_raw, items in raw or ():
                        key = key_raw.decode()
                        for entry_id, fields in items:
                            ids[key] = entry_id.decode()
                            line = fields.get(_FIELD_B, b"")
                            if key == log_key:
                                got_log = True
                                for part in line.rstrip(b"\n").split(b"\n"):
                                    yield part.decode("utf-8", "replace")
                            elif not ended and _is_end(line):
                                ended = True
                    if ended and not got_log and wait is None:
                        return
        finally:
            client.close()

    # -- trace ----------------------------------------------------------------------

    def _cursor_key(self, ref: RunRef) -> str:
        scope = f"{self.prefix}/{'/'.join(ref.parts)}"
        return hashlib.sha256(scope.encode()).hexdigest()[:16]

    def _encode_cursor(self, ref: RunRef, entry_id: str) -> str:
        raw = f"r1:{entry_id}:{self._cursor_key(ref)}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode_cursor(self, ref: RunRef, cursor: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
            version, entry_id, key = raw.split(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValueError("invalid cursor") from None
        if version != "r1" or key != self._cursor_key(ref) or not _ID_RE.fullmatch(entry_id):
            raise ValueError("invalid cursor: not issued for this run")
        return entry_id

    def read_trace(self, ref: RunRef, cursor: str | None, limit: int) -> TracePage:
        after = "0-0" if cursor is None else self._decode_cursor(ref, cursor)
        with self._reaching():
            return self._read_trace(ref, after, limit)

    def _read_trace(self, ref: RunRef, after: str, limit: int) -> TracePage:
        key = self._key(ref, TRACE_FILE)
        last = self._range(key, "+", "-", 1, rev=True)
        last_id = last[0][0].decode() if last else "0-0"
        if _parse_id(after) > _parse_id(last_id):
            raise ValueError("invalid cursor: beyond the end of the trace")
        chunk = self._range(key, f"({after}", "+", limit) if last else []
        events: list[dict[str, Any]] = []
        ended = False
        for entry_id, fields in chunk:
            after = entry_id.decode()
            event = _event(fields.get(_FIELD_B, b""))
            if event is not None:
                events.append(event)
                ended = ended or event.get("event") == "run_end"
        at_end = after == last_id or _parse_id(after) >= _parse_id(last_id)
        if at_end and not ended:
            ended = key in self._ended or any(
                _is_end(f.get(_FIELD_B, b"")) for _, f in self._trace_tail(key)
            )
        if ended:
            if len(self._ended) >= _MAX_ENDED:
                self._ended.clear()
            self._ended.add(key)
        return TracePage(events, self._encode_cursor(ref, after), at_end and ended)

    def _entries(self, key: str) -> Iterator[bytes]:
        after = "-"
        while True:
            with self._reaching():
                chunk = self._range(key, after, "+", _CHUNK)
            for _, fields in chunk:
                yield fields.get(_FIELD_B, b"")
            if len(chunk) < _CHUNK:
                return
            after = "(" + chunk[-1][0].decode()

    def events(self, ref: RunRef) -> Iterator[dict[str, Any]]:
        for line in self._entries(self._key(ref, TRACE_FILE)):
            event = _event(line)
            if event is not None:
                yield event

    # -- listing -------------------------------------------------------------------

    def list_runs(self, tenant_parts: tuple[str, str]) -> list[str]:
        """The tenant's runs whose streams still exist (any order); ``SourceUnavailable``
        when Redis cannot be reached (the reader lists the other sources, and says so)."""
        with self._reaching():
            return self._list_runs(tenant_parts)

    def _list_runs(self, tenant_parts: tuple[str, str]) -> list[str]:
        client = self._redis()
        raw: Any = client.zrange(index_key(self.prefix, tenant_parts), 0, -1)
        runs = [member.decode() for member in raw]
        pipe = client.pipeline(transaction=False)
        for run_id in runs:
            parts = (*tenant_parts, run_id)
            pipe.exists(stream_key(self.prefix, parts, RUN_LOG), files_key(self.prefix, parts))
        alive: list[Any] = pipe.execute() if runs else []
        return [run_id for run_id, count in zip(runs, alive, strict=True) if count]

    def tenants(self) -> list[tuple[str, str]]:
        with self._reaching():
            return self._tenants()

    def _tenants(self) -> list[tuple[str, str]]:
        pattern = re.sub(r"([\\*?\[\]])", r"\\\1", self.prefix) + ":*:*:.runs"
        found: set[tuple[str, str]] = set()
        for raw in self._redis().scan_iter(match=pattern, count=1000):
            middle = raw.decode("utf-8", "replace")[len(self.prefix) + 1 : -len(":.runs")]
            account, sep, site = middle.partition(":")
            if sep and ":" not in site:
                found.add((account, site))
        return sorted(found)

    def open_file(self, ref: RunRef, name: str) -> BinaryIO:
        key = self._key(ref, name)
        if not self.has_file(ref, name):
            raise FileNotFoundError(key)
        return io.BufferedReader(_StreamReader(self._entries(key)))


class _StreamReader(io.RawIOBase):
    """A stream's lines as a read-only binary file, fetched in chunks as it is read."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._lines)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
