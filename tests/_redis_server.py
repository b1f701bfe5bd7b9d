"""A private ``redis-server`` for tests: its own free port and folder, never the shared 6379.

``RedisServer(tmp_dir).start()`` runs ``redis-server --port <free> --save "" --appendonly no``
in *tmp_dir*; ``stop()`` kills it (SIGKILL: an outage, not a clean shutdown) and ``start()``
brings it back on the same port, empty, so fault tests can take Redis away mid-run.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import igny8_logging as igl

if TYPE_CHECKING:
    import redis

__all__ = [
    "Logged",
    "RedisServer",
    "client",
    "entries",
    "free_port",
    "require_redis_server",
    "stream_bytes",
]


def require_redis_server() -> None:
    """Skip the test without a ``redis-server`` binary; fail instead in CI
    (``IGNY8_REQUIRE_BROKERS=1``, set by ``.ci/run``)."""
    import pytest

    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("IGNY8_REQUIRE_BROKERS"):
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process owned by a test."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server and wait until it answers ``PING``."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no"]
        log = open(self.folder / "redis.log", "ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: see {self.folder / 'redis.log'}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Kill the server at once (its data is gone: nothing is saved)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)


def client(srv: RedisServer) -> redis.Redis:
    """A client of *srv* (imported here: the conftest loads this without redis-py)."""
    import redis

    return redis.Redis.from_url(srv.url)


def entries(srv: RedisServer, key: str) -> list[bytes]:
    """The ``line`` fields of a stream, oldest first."""
    raw: list[tuple[bytes, dict[bytes, bytes]]] = client(srv).xrange(key)  # type: ignore[assignment]
    return [fields[b"line"] for _, fields in raw]


def stream_bytes(srv: RedisServer, key: str) -> bytes:
    return b"".join(entries(srv, key))


class Logged:
    """A non-propagating logger with the three file handlers and a Redis handler."""

    def __init__(self, base: Path | None, url: str, prefix: str, **opts: Any) -> None:
        self.logger = logging.getLogger(f"igny8.test.redis.{uuid.uuid4().hex}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self.files: list[logging.Handler] = []
        if base is not None:
            self.files = [
                igl.RunLogHandler(base),
                igl.StageLogHandler(base),
                igl.TraceHandler(base),
            ]
        from igny8_logging.redis import RedisStreamHandler

        self.redis = RedisStreamHandler(url, prefix=prefix, **opts)
        for handler in [*self.files, self.redis]:
            self.logger.addHandler(handler)

    def close(self) -> None:
        for handler in [*self.files, self.redis]:
            self.logger.removeHandler(handler)
            handler.close()
