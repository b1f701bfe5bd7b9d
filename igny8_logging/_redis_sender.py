"""The background half of :class:`~igny8_logging.redis.RedisStreamHandler`.

A caller's logging call only appends one entry (a run folder's parts, its stage
and the record's line bytes) to a bounded deque; one daemon thread per process
drains it in batches, each batch one ``EVALSHA`` (see :mod:`._redis_script`:
atomic, so a retry after an outage never stores half a batch twice).  Before each
send the thread waits :data:`LINGER` seconds unless a whole batch is queued: a
send per round trip would make many tiny batches, and each costs the callers.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ._redis_script import SCRIPT, Entry, pack_batch

if TYPE_CHECKING:
    import redis

__all__ = ["LINGER", "Entry", "Sender"]

#: Seconds the sender waits before each send for more records to join the batch.
LINGER: Final = float(os.environ.get("IGNY8_REDIS_LINGER", "0.01"))


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
                continue
            if time.monotonic() >= self.deadline:
                return
            if self.linger and len(self.queue) < self.batch_size and not self.stop.is_set():
                # Let a batch gather before each send, not only after a quiet spell:
                # sending whatever came during the last round trip would make many
                # tiny batches, and each costs the callers' GIL and the server's CPU.
                time.sleep(self.linger)
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
        command = pack_batch(self.prefix, batch, self.maxlen, self.ttl)
        conn = self._conn
        conn.send_packed_command([command], check_health=False)
        try:
            conn.read_response()
        except redis.exceptions.NoScriptError:  # a new or restarted server
            self._client.script_load(SCRIPT)
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
