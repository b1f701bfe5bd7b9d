"""Redis Streams: one live, complete copy of each run, from every worker on every host.

:class:`RedisStreamHandler` (extra ``redis``) appends each run record to one Redis
Stream per run file, key ``{prefix}:{account}:{site}:{run_id}:{file name}``, field
``line`` holding the exact bytes the file handlers write to that file (a
multi-line record is one entry).  :class:`RedisSource` reads them back for
:class:`~igny8_logging.RunLogReader` (``RunLogReader(redis_url=...)``).

The handler never blocks the caller: a logging call takes the record's lines as
the file handlers rendered them (the renderings are shared through the record's
route, see ``_render``; made here only when no file handler ran first) and
appends them, RESP-packed, to a bounded in-memory buffer, without the handler
lock; a background thread sends them in batches (see ``_redis_sender``).  While
Redis is unreachable the buffer holds ``buffer`` records, then the oldest are
dropped and counted in :attr:`RedisStreamHandler.dropped`; the outage is reported
once on stderr, and sending resumes by itself.  The files stay the durable copy.
"""

from __future__ import annotations

import logging
import os
import sys
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from . import _accel
from ._handlers import _report_error, handle_unlocked
from ._redis_keys import check_prefix, safe_url
from ._redis_script import bulk
from ._redis_sender import Sender
from ._redis_source import RedisSource
from ._render import formatted_text, text_formatter, trace_bytes
from ._report import FailureLog
from ._routing import ROUTE_ATTR, Route, route_of
from ._trace import JsonBackend
from ._trace_backend import trace_formatter

if TYPE_CHECKING:
    import redis

__all__ = ["RedisSource", "RedisStreamHandler", "safe_url"]

DEFAULT_URL: Final = "redis://localhost:6379/0"
_OUTAGE: Final = "redis"


def _check_positive(value: object, what: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an int >= 1{' or None' if optional else ''}")
    return value


class RedisStreamHandler(logging.Handler):
    """Appends each run record to the run's Redis Streams, off the caller's thread.

    *url* is a redis-py URL (``redis://``, ``rediss://``, ``unix://``); keys start
    with *prefix*; each stream is trimmed to about *maxlen* entries (``XADD MAXLEN
    ~``) and expires *ttl* seconds after its last write (``None``: never); up to
    *buffer* records wait while Redis is unreachable.  ``max_record_bytes`` and
    ``json_backend`` must match the file handlers' (they do by default) for the
    lines to be the files' bytes; a standard formatter set on this handler
    renders the text lines, as it does on ``RunLogHandler``.  ``close()`` (and so
    ``logging.shutdown`` at exit) waits at most *flush_timeout* seconds.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        prefix: str = "igny8",
        maxlen: int | None = 100_000,
        ttl: int | None = 7 * 86400,
        buffer: int = 10_000,
        level: int | str = logging.NOTSET,
        max_record_bytes: int = 64 * 1024,
        json_backend: JsonBackend = "auto",
        batch_size: int = 500,
        flush_timeout: float = 2.0,
        socket_timeout: float = 5.0,
    ) -> None:
        try:
            import redis  # noqa: F401 - the 'redis' extra, checked at configuration time
        except ImportError as exc:
            raise ImportError(
                "RedisStreamHandler needs redis-py: pip install 'igny8-logging[redis]'"
            ) from exc
        super().__init__(level)
        if not isinstance(url, str) or not url:
            raise ValueError("url must be a redis:// URL")
        if not isinstance(max_record_bytes, int) or max_record_bytes < 64:
            raise ValueError("max_record_bytes must be an int >= 64")
        self.url = url
        self.prefix = check_prefix(prefix)
        self.maxlen = _check_positive(maxlen, "maxlen", optional=True)
        self.ttl = _check_positive(ttl, "ttl", optional=True)
        self.buffer = _check_positive(buffer, "buffer") or 1
        self.batch_size = _check_positive(batch_size, "batch_size") or 1
        self.max_record_bytes = max_record_bytes
        self.flush_timeout = float(flush_timeout)
        self.socket_timeout = float(socket_timeout)
        # The file handlers' own renderers: their cached bytes are shared, not redone.
        self._trace_formatter = trace_formatter(json_backend, max_record_bytes)  # checks it
        self._text_formatter = text_formatter(max_record_bytes)
        self.json_backend: JsonBackend = json_backend
        self.refused = 0
        self.outages = FailureLog(type(self).__name__)
        self._closed = False
        self._pid = os.getpid()
        self._sender = self._new_sender()
        _live.add(self)

    # -- counts --------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Records dropped (oldest first) because the buffer was full while Redis was down."""
        return self._sender.dropped

    @property
    def failures(self) -> dict[str, int]:
        """Failed sends (batches): ``{"redis": n}``."""
        return {_OUTAGE: self.outages.counts[_OUTAGE]}

    @property
    def pending(self) -> int:
        """Records not yet sent."""
        return len(self._sender.queue) + self._sender.inflight

    # -- logging.Handler -------------------------------------------------------------

    def handle(self, record: logging.LogRecord) -> logging.LogRecord | bool:  # type: ignore[override]
        """Filter, then emit without the handler lock: :meth:`emit` only reads the
        record's shared renderings and appends to the sender's thread-safe queue.

        With the C accelerator built this is :data:`C_HANDLE`, the same in one call
        for a stock handler and a record the file handlers rendered already."""
        return handle_unlocked(self, record)

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record's lines: its text line (the run log's and the stage log's
        bytes) and its trace line, taken from the renderings the file handlers made
        for it (see ``_render``), rendered here only when no file handler did."""
        try:
            route = record.__dict__.get(ROUTE_ATTR)
            if route is None:
                route = self._route(record)
            if not route or self._closed:
                return
            rendered = route.rendered
            formatter = self.formatter
            text = rendered.get(self._text_formatter) if formatter is None else None
            if text is None:
                text = formatted_text(formatter, record, route, self.max_record_bytes)
            trace = None
            if route.event is not None or record.levelno >= logging.WARNING:  # reaches_trace
                trace = rendered.get(self._trace_formatter)
                if trace is None:
                    trace = trace_bytes(self._trace_formatter, record, route)
            self._sender.put(
                (route.parts, route.stage, bulk(text), None if trace is None else bulk(trace))
            )
        except Exception:
            self.handleError(record)

    def _route(self, record: logging.LogRecord) -> Route | None:
        try:
            return route_of(record)
        except ValueError as exc:
            self.refused += 1
            self.outages.failed("refused", f"record refused, not sent: {exc}")
            return None

    def flush(self) -> None:
        """Wait (at most ``flush_timeout``) until every record emitted so far is sent.

        While Redis is unreachable it costs one immediate retry: the sender keeps
        retrying afterwards, with a backoff.
        """
        self._sender.wait_idle(self.flush_timeout)

    def close(self) -> None:
        """Send what is buffered (waiting at most ``flush_timeout``), then stop."""
        if not self._closed:
            self._closed = True
            self._sender.close(self.flush_timeout)
        super().close()

    # -- the sender ----------------------------------------------------------------

    def _connect(self) -> redis.Redis:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis.from_url(
            self.url,
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=min(self.socket_timeout, 2.0),
            retry=Retry(NoBackoff(), 0),  # the sender retries, with its own backoff
        )

    def _new_sender(self) -> Sender:
        sender = Sender(
            self._connect,
            self.prefix,
            maxlen=self.maxlen,
            ttl=self.ttl,
            buffer=self.buffer,
            batch_size=self.batch_size,
            on_error=self._send_failed,
            on_success=self._send_worked,
            on_start=self._started,
        )
        return sender

    def _started(self) -> None:
        if os.getpid() == self._pid:
            return  # at exit, logging.shutdown closes (and so flushes) this handler
        # A prefork child (multiprocessing, billiard) ends with os._exit, after its
        # own exit functions but without atexit: flush there, or its last records
        # would die with the sender thread.
        ref = weakref.ref(self)
        for name in ("multiprocessing.util", "billiard.util"):
            util = sys.modules.get(name)
            if util is not None:
                try:
                    util.Finalize(None, _flush_at_exit, args=(ref,), exitpriority=0)
                except Exception:
                    pass

    def _send_failed(self, exc: Exception) -> None:
        self.outages.failed(
            _OUTAGE,
            f"cannot send to Redis {safe_url(self.url)}: {type(exc).__name__}: {exc}; "
            f"buffering up to {self.buffer} records, then dropping the oldest",
        )

    def _send_worked(self) -> None:
        if self.outages.failing(_OUTAGE):
            self.outages.recovered(
                _OUTAGE,
                f"Redis {safe_url(self.url)} works again ({self.dropped} records dropped so far)",
            )

    def _after_fork_in_child(self) -> None:
        # The parent sends what it had queued; the child starts empty, with its
        # own thread and connection (made at its first record).
        self.outages = FailureLog(type(self).__name__)
        if not self._closed:
            self._sender = self._new_sender()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {safe_url(self.url)} prefix={self.prefix!r}>"


_live: weakref.WeakSet[RedisStreamHandler] = weakref.WeakSet()


def _flush_at_exit(ref: weakref.ref[RedisStreamHandler]) -> None:
    handler = ref()
    if handler is not None:
        try:
            handler.flush()
        except Exception:
            pass


def _after_fork_in_child() -> None:
    for handler in list(_live):
        try:
            handler._after_fork_in_child()
        except Exception:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _c_handle() -> Callable[[RedisStreamHandler, logging.LogRecord], object] | None:
    """The C accelerator's ``handle`` (``_speedups_redis.c``): :func:`handle_unlocked`
    and :meth:`~RedisStreamHandler.emit` in one call for the common case."""
    spec: dict[str, object] = {
        "RedisStreamHandler": RedisStreamHandler,
        "emit": RedisStreamHandler.emit,
        "handle_unlocked": handle_unlocked,
        "_report_error": _report_error,
        "Route": Route,
        "ROUTE_ATTR": ROUTE_ATTR,
        "deque": deque,
        "WARNING": logging.WARNING,
    }
    made: Callable[[RedisStreamHandler, logging.LogRecord], object] | None = _accel.set_up(
        _accel.configure_redis, spec
    )
    return made


#: The C ``handle`` when the accelerator is built (it replaces :func:`handle_unlocked`
#: on :class:`RedisStreamHandler`), else ``None``.
C_HANDLE: Final = _c_handle()
if C_HANDLE is not None:
    RedisStreamHandler.handle = C_HANDLE  # type: ignore[assignment]
