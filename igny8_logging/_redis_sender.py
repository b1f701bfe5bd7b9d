"""The background half of :class:`~igny8_logging.redis.RedisStreamHandler`.

A caller's logging call only appends one entry (a run folder's parts and the
record's file lines) to a bounded deque; one daemon thread per process drains
it in batches, each batch one ``EVALSHA`` of :data:`_APPEND` (atomic: a batch is
stored whole or not at all, so a retry after an outage never stores half twice).
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ._ids import RUN_LOG, TRACE_FILE, Stage, stage_file
from ._redis_keys import FIELD, files_key, index_key, stream_key

if TYPE_CHECKING:
    import redis

__all__ = ["Entry", "Sender", "build_args", "pack"]

#: Seconds the sender waits after a wake-up for more records to join the batch.
LINGER: Final = float(os.environ.get("IGNY8_REDIS_LINGER", "0.01"))

#: One record: its run folder's parts, its stage (``None``: none), the bytes of its
#: text line (for the run log and the stage's log) and of its trace line (``None``:
#: it does not reach the trace).
Entry = tuple[tuple[str, ...], Stage | None, bytes, bytes | None]

#: ARGV: maxlen ('' = untrimmed), ttl ('' = no expiry), then three groups, each a
#: count and its items: stream keys; (key index, line) pairs; (files set, name,
#: run index, run id) quadruples.  Server time scores the run index.
_APPEND: Final = """
local maxlen, ttl = ARGV[1], tonumber(ARGV[2])
local i = 3
local keys = {}
for k = 1, tonumber(ARGV[i]) do keys[k] = ARGV[i + k] end
i = i + #keys + 1
for _ = 1, tonumber(ARGV[i]) do
  local key = keys[tonumber(ARGV[i + 1])]
  if maxlen == '' then
    redis.call('XADD', key, '*', KEYS[1], ARGV[i + 2])
  else
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', KEYS[1], ARGV[i + 2])
  end
  i = i + 2
end
i = i + 1
local now = tonumber(redis.call('TIME')[1])
for _ = 1, tonumber(ARGV[i]) do
  redis.call('SADD', ARGV[i + 1], ARGV[i + 2])
  redis.call('ZADD', ARGV[i + 3], now, ARGV[i + 4])
  if ttl then
    redis.call('EXPIRE', ARGV[i + 1], ttl)
    redis.call('EXPIRE', ARGV[i + 3], ttl)
    redis.call('ZREMRANGEBYSCORE', ARGV[i + 3], '-inf', now - ttl)
  end
  i = i + 4
end
if ttl then
  for _, key in ipairs(keys) do redis.call('EXPIRE', key, ttl) end
end
return #keys
"""


def build_args(
    prefix: str, batch: list[Entry], maxlen: int | None, ttl: int | None
) -> tuple[int, list[bytes]]:
    """The script's ARGV for *batch*: its length and its RESP pieces (``$len``, bytes).

    Stream keys are named once (lines refer to them by index); each stream's files
    set and run index are updated once per batch.  A record's text line is packed
    once for the run log and its stage's log.
    """
    keys: list[tuple[tuple[str, ...], str]] = []
    runs: dict[tuple[str, ...], _RunKeys] = {}
    pairs: list[bytes] = []
    append = pairs.append
    for parts, stage, text, trace in batch:
        run = runs.get(parts)
        if run is None:
            run = runs[parts] = _RunKeys(parts, keys)
        data = b"$%d\r\n%b\r\n" % (len(text), text)
        append(run.log)
        append(data)
        if stage is not None:
            append(run.stages.get(stage) or run.stage(stage))
            append(data)
        if trace is not None:
            append(run.trace or run.stage(None))
            append(b"$%d\r\n%b\r\n" % (len(trace), trace))
    names = [_bulk(stream_key(prefix, parts, name).encode()) for parts, name in keys]
    tail: list[bytes] = [_bulk(b"%d" % len(keys))]
    for parts, name in keys:
        run_index = index_key(prefix, (parts[0], parts[1])).encode()
        tail += (_bulk(files_key(prefix, parts).encode()), _bulk(name.encode()))
        tail += (_bulk(run_index), _bulk(parts[2].encode()))
    head = [b"" if maxlen is None else b"%d" % maxlen, b"" if ttl is None else b"%d" % ttl]
    counts = [_bulk(b"%d" % len(names)), *names, _bulk(b"%d" % (len(pairs) // 2))]
    count = len(head) + len(counts) + len(pairs) + len(tail)
    return count, [*map(_bulk, head), *counts, *pairs, *tail]


class _RunKeys:
    """The script's key indexes (RESP-packed) of one run's streams within a batch."""

    __slots__ = ("keys", "log", "names", "parts", "stages", "trace")

    def __init__(self, parts: tuple[str, ...], keys: list[tuple[tuple[str, ...], str]]) -> None:
        self.parts, self.keys = parts, keys
        self.stages: dict[Stage, bytes] = {}
        self.names: dict[str, bytes] = {}
        self.trace: bytes | None = None
        self.log = self._index(RUN_LOG)

    def _index(self, name: str) -> bytes:
        self.keys.append((self.parts, name))
        index = self.names[name] = _bulk(b"%d" % len(self.keys))
        return index

    def stage(self, stage: Stage | None) -> bytes:
        """The index of *stage*'s log (``None``: of the trace), named on first use."""
        name = TRACE_FILE if stage is None else stage_file(stage)
        index = self.names.get(name) or self._index(name)
        if stage is None:
            self.trace = index
        else:
            self.stages[stage] = index
        return index


_CRLF: Final = b"\r\n"


def _bulk(arg: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(arg), arg)


def pack(command: list[bytes], argv: tuple[int, list[bytes]]) -> bytes:
    """One RESP command: *command* (plain) then *argv* (from :func:`build_args`).

    Hand-made: redis-py's packer costs several times more per argument.
    """
    count, pieces = argv
    return b"".join([b"*%d\r\n" % (len(command) + count), *map(_bulk, command), *pieces])


#: The script's name in Redis (EVALSHA names scripts by their SHA-1).
_SHA: Final = hashlib.sha1(_APPEND.encode()).hexdigest().encode()


class Sender:
    """The queue and the thread that empties it into Redis.

    *connect* makes a client; *on_error* / *on_success* are told about each
    failed / successful batch (the handler counts and reports outages).
    """

    def __init__(
        self,
        connect: Callable[[], redis.Redis],
        prefix: str,
        *,
        maxlen: int | None,
        ttl: int | None,
        buffer: int,
        batch_size: int,
        on_error: Callable[[Exception], None],
        on_success: Callable[[], None],
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self.connect, self.prefix = connect, prefix
        self.maxlen, self.ttl, self.buffer, self.batch_size = maxlen, ttl, buffer, batch_size
        self.on_error, self.on_success, self.on_start = on_error, on_success, on_start
        self.queue: collections.deque[Entry] = collections.deque()
        self.wake = threading.Event()  # set when a record lands in an empty queue
        self.stop = threading.Event()  # set by close(): drain, then exit
        self.nudge = threading.Event()  # set by flush(): retry now, not after the backoff
        self.failed_batches = 0
        self.idle = threading.Condition(threading.Lock())
        self.inflight = 0
        self.dropped = 0
        self.failing = False
        self.deadline = float("inf")
        self.linger = LINGER
        #: Held while the buffer is trimmed and when the thread starts (re-entrant:
        #: a logging call from a signal handler inside ``put`` completes).
        self.trim_lock = threading.RLock()
        self.thread: threading.Thread | None = None
        self._client: redis.Redis | None = None
        self._conn: Any = None

    # -- caller side (any thread, no lock but on the rare paths) --------------------

    def put(self, entry: Entry) -> None:
        """Queue *entry*: a deque append (thread-safe), plus a wake-up when the queue
        was empty; the oldest record is dropped when the buffer is full."""
        queue = self.queue
        if len(queue) >= self.buffer:
            self._drop_oldest()
        was_empty = not queue
        queue.append(entry)
        if was_empty:
            self.wake.set()
        if self.thread is None:
            self.start()

    def _drop_oldest(self) -> None:
        with self.trim_lock:
            queue = self.queue
            while len(queue) >= self.buffer:
                try:
                    queue.popleft()
                except IndexError:  # the sender just took them
                    return
                self.dropped += 1

    def start(self) -> None:
        with self.trim_lock:
            if self.thread is not None:
                return  # another caller started it
            thread = threading.Thread(target=self._run, name="igny8-redis-sender", daemon=True)
            self.thread = thread
            thread.start()
        if self.on_start is not None:
            self.on_start()

    # -- sender thread -------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.0
        while True:
            if not self.queue:
                if self.stop.is_set():
                    return
                self.wake.wait(1.0)
                self.wake.clear()
                if self.linger and len(self.queue) < self.batch_size and not self.stop.is_set():
                    # Let a burst gather: fewer, larger batches cost the callers less.
                    time.sleep(self.linger)
                continue
            if time.monotonic() >= self.deadline:
                return
            if self._send_one_batch():
                backoff = 0.0
                continue
            # Down: wait before the next attempt (woken early by flush/close, not by records).
            backoff = min(max(backoff * 2, 0.05), 1.0)
            if self.stop.is_set():
                time.sleep(min(0.05, max(self.deadline - time.monotonic(), 0)))
            else:
                self.nudge.wait(backoff)
                self.nudge.clear()

    def _take(self) -> list[Entry]:
        batch: list[Entry] = []
        popleft = self.queue.popleft
        try:
            for _ in range(min(self.batch_size, len(self.queue))):
                batch.append(popleft())
        except IndexError:
            pass
        return batch

    def _send_one_batch(self) -> bool:
        batch = self._take()
        if not batch:
            return True
        self.inflight = len(batch)
        try:
            self._send(batch)
        except Exception as exc:
            self._drop_connection()
            self._give_back(batch)
            self.failed_batches += 1
            self.failing = True
            self._notify()
            try:
                self.on_error(exc)
            except Exception:
                pass
            return False
        self.failing = False
        self._notify()
        try:
            self.on_success()
        except Exception:
            pass
        return True

    def _send(self, batch: list[Entry]) -> None:
        import redis

        if self._client is None:
            self._client = self.connect()
            self._conn = self._client.connection_pool.get_connection()
        args = build_args(self.prefix, batch, self.maxlen, self.ttl)
        command = pack([b"EVALSHA", _SHA, b"1", FIELD.encode()], args)
        conn = self._conn
        conn.send_packed_command([command], check_health=False)
        try:
            conn.read_response()
        except redis.exceptions.NoScriptError:  # a new or restarted server
            self._client.script_load(_APPEND)
            conn.send_packed_command([command], check_health=False)
            conn.read_response()

    def _drop_connection(self) -> None:
        conn, self._conn, self._client = self._conn, None, None
        if conn is not None:
            try:
                conn.disconnect()
            except Exception:
                pass

    def _give_back(self, batch: list[Entry]) -> None:
        """Put a failed batch back in front, dropping the oldest past the buffer."""
        with self.trim_lock:
            excess = len(batch) + len(self.queue) - self.buffer
            if excess > 0:
                dropped_here = min(excess, len(batch))
                self.dropped += dropped_here
                batch = batch[dropped_here:]
            self.queue.extendleft(reversed(batch))

    def _notify(self) -> None:
        with self.idle:
            self.inflight = 0
            self.idle.notify_all()

    # -- flush / close -------------------------------------------------------------

    def wait_idle(self, timeout: float) -> bool:
        """Wait until everything queued was sent; True if it was.

        While Redis is down this costs one immediate retry, not the whole *timeout*.
        """
        end = time.monotonic() + timeout
        failed = self.failed_batches
        self.nudge.set()
        self.wake.set()
        with self.idle:
            while self.queue or self.inflight:
                left = end - time.monotonic()
                if left <= 0 or self.thread is None or self.failed_batches > failed:
                    return False
                self.idle.wait(min(left, 0.1))
        return True

    def close(self, timeout: float) -> None:
        """Send what is queued within *timeout* seconds, then stop the thread."""
        self.deadline = time.monotonic() + timeout
        self.stop.set()
        self.nudge.set()
        self.wake.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout + 0.5)
        client, self._client = self._client, None
        if client is not None:
            try:
                self._conn.disconnect()
                client.close()
            except Exception:
                pass
