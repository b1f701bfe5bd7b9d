"""The S3 stand-in for the archive tests: moto's S3-compatible server, over real HTTP.

This machine has no cloud access, so ``moto.server.ThreadedMotoServer`` stands in
for S3: a real HTTP server on a free local port, reached by boto3 exactly as AWS
is (``AWS_ENDPOINT_URL`` and the usual ``AWS_*`` variables), nothing mocked in
the process under test.  :class:`ByteCounter` is a plain TCP relay put in front
of it to count the bytes that cross the wire.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import uuid
from typing import TYPE_CHECKING

from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["ByteCounter", "MotoS3", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MotoS3:
    """A moto S3 server on ``127.0.0.1``; :meth:`stop` closes its port (connections are
    refused), :meth:`start` again serves the same buckets on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._server = None
        server.stop()
        # moto's stop() leaves the socket listening: connections would hang, not fail.
        inner = server._server
        if inner is not None:
            inner.server_close()

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """The standard boto3 settings that point a client at this server."""
        return {
            "AWS_ENDPOINT_URL": endpoint or self.endpoint,
            "AWS_ACCESS_KEY_ID": "AKIAIGNY8TESTKEY0001",
            "AWS_SECRET_ACCESS_KEY": "igny8-test-secret-" + "x" * 22,
            "AWS_DEFAULT_REGION": "us-east-1",
            # Fail fast once the server is stopped (the default retries for seconds).
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
        }

    def client(self) -> S3Client:
        import boto3

        env = self.env()
        return boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=self.endpoint)

    def new_bucket(self, *, versioned: bool = True) -> str:
        """A fresh bucket (moto's state is per process); versioned, so every PUT is seen."""
        name = f"igny8-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


class _Relay(socketserver.BaseRequestHandler):
    server: _RelayServer

    def handle(self) -> None:
        counter = self.server.counter
        try:
            upstream = socket.create_connection(("127.0.0.1", counter.target_port))
        except OSError:
            return
        with upstream:
            pump = threading.Thread(
                target=counter.pump, args=(self.request, upstream, "sent"), daemon=True
            )
            pump.start()
            counter.pump(upstream, self.request, "received")
            pump.join(timeout=5)


class _RelayServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, counter: ByteCounter) -> None:
        self.counter = counter
        super().__init__(("127.0.0.1", 0), _Relay)


class ByteCounter:
    """A TCP relay to ``127.0.0.1:target_port`` counting the bytes each way.

    ``received`` is what the client read from the server (responses, headers
    included), ``sent`` what it wrote.  With *corrupt* ``(old, new)`` (same
    length), the bytes *old* in what the client sends arrive as *new*: a network
    or a store that damages data in transit.
    """

    def __init__(self, target_port: int, corrupt: tuple[bytes, bytes] | None = None) -> None:
        self.target_port = target_port
        self.corrupt = corrupt
        self.sent = 0
        self.received = 0
        self._lock = threading.Lock()
        self._server = _RelayServer(self)
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.sent = self.received = 0

    def pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        try:
            while data := source.recv(65536):
                if self.corrupt is not None and direction == "sent":
                    data = data.replace(*self.corrupt)
                with self._lock:  # counted before it is passed on: the client never sees more
                    setattr(self, direction, getattr(self, direction) + len(data))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
