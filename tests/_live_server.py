"""A real HTTP server for the Django test project, and a streaming Server-Sent Events client.

``LiveServer`` runs Django's own live test server (``LiveServerThread``, the one
``LiveServerTestCase`` uses: a threaded WSGI server on a free port) sharing the
in-memory SQLite connection with the test.  ``SSEClient`` reads an event stream
over a socket as it arrives, one event at a time.
"""

from __future__ import annotations

import base64
import http.client
from dataclasses import dataclass, field
from typing import Any, cast

__all__ = ["LiveServer", "SSEClient", "SSEEvent"]


class LiveServer:
    """Django's live server thread on ``127.0.0.1:<free port>``."""

    def __init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connections
        from django.test.testcases import LiveServerThread

        conn = connections["default"]
        conn.inc_thread_sharing()  # the in-memory database is one connection
        self._conn = conn
        # No static files to serve: the "static handler" hands the app through.
        plain = cast("type[WSGIHandler]", lambda app: app)
        self.thread = LiveServerThread("127.0.0.1", plain, connections_override={"default": conn})
        self.thread.daemon = True
        self.thread.start()
        self.thread.is_ready.wait(30)
        if self.thread.error is not None:
            raise self.thread.error
        self.port: int = self.thread.port

    def stop(self) -> None:
        self.thread.terminate()
        self._conn.dec_thread_sharing()


@dataclass
class SSEEvent:
    """One event: its ``id:`` and ``data:`` fields, or a comment."""

    id: str | None = None
    data: str | None = None
    comment: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


class SSEClient:
    """``GET path`` with Basic auth; :meth:`next_event` parses the stream as it comes."""

    def __init__(
        self,
        port: int,
        path: str,
        user: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        token = base64.b64encode(f"{user}:x".encode()).decode()
        sent = {"Authorization": f"Basic {token}", "Accept": "text/event-stream"}
        sent.update(headers or {})
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path, headers=sent)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.content_type = self.response.getheader("Content-Type", "")

    def body(self) -> Any:
        return self.response.read()

    def next_event(self) -> SSEEvent | None:
        """The next event or comment; ``None`` when the server closed the stream."""
        event = SSEEvent()
        seen = False
        while True:
            raw = self.response.readline()
            if not raw:
                return event if seen else None
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if seen:
                    return event
                continue
            seen = True
            if line.startswith(":"):
                event.comment = line[1:].strip()
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            event.fields[name] = value
            if name == "id":
                event.id = value
            elif name == "data":
                event.data = value

    def close(self) -> None:
        self.conn.close()
