"""``GET /runs/{pk}/trace/stream/``: Server-Sent Events over a real HTTP server.

Django's live server thread (``tests/_live_server.py``) serves the test project
``tests/djangoapp``; a streaming client reads the events as they are written.
Users (Basic auth): ``sse_alice`` (account 1, site 10) and ``sse_bob`` (account
2, site 20); a user sees only the runs of their own site.  The Redis tests use a
``redis-server`` started for them (``tests/_redis_server.py``).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _live_server import LiveServer, SSEClient, SSEEvent
from _redis_server import RedisServer, require_redis_server

import igny8_logging as igl
from igny8_logging.redis import RedisStreamHandler


@dataclass
class Site:
    """The live server, the base dir and a way to add run rows."""

    server: LiveServer
    base: Path

    def row(self, run_id: str, account: int = 1, site: int = 10) -> int:
        from django.contrib.auth.models import User
        from djangoapp.models import AutomationRun

        owner = User.objects.get(username="sse_alice")
        row = AutomationRun.objects.create(
            run_id=run_id, account_id=account, site_id=site, owner=owner
        )
        return int(row.pk)

    def stream(self, pk: int, user: str = "sse_alice", **opts: Any) -> SSEClient:
        query = opts.pop("query", "")
        return SSEClient(self.server.port, f"/runs/{pk}/trace/stream/{query}", user, **opts)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import django
    from django.conf import settings
    from djangoapp import settings as app_settings

    if not settings.configured:
        names = [name for name in dir(app_settings) if name.isupper()]
        settings.configure(**{name: getattr(app_settings, name) for name in names})
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test.utils import override_settings
    from djangoapp.models import Member

    call_command("migrate", run_syncdb=True, verbosity=0)
    for name, account, site_id in (("sse_alice", 1, 10), ("sse_bob", 2, 20)):
        user = User.objects.create_user(name, password="x")
        Member.objects.create(user=user, account_id=account, site_id=site_id)
    base = tmp_path_factory.mktemp("sse") / "logs"
    with override_settings(IGNY8_LOG_DIR=str(base), ALLOWED_HOSTS=["127.0.0.1"]):
        server = LiveServer()
        try:
            yield Site(server, base)
        finally:
            server.stop()


class Writer:
    """A logger writing runs to the files (and, optionally, only to Redis)."""

    def __init__(self, base: Path | None, redis_url: str | None = None, prefix: str = "") -> None:
        self.logger = logging.getLogger(f"igny8.test.sse.{uuid.uuid4().hex}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.handlers: list[logging.Handler] = []
        if base is not None:
            self.handlers += [igl.RunLogHandler(base), igl.TraceHandler(base)]
        if redis_url is not None:
            self.handlers.append(RedisStreamHandler(redis_url, prefix=prefix))
        for handler in self.handlers:
            self.logger.addHandler(handler)

    def flush(self) -> None:
        for handler in self.handlers:
            handler.flush()

    def close(self) -> None:
        for handler in self.handlers:
            self.logger.removeHandler(handler)
            handler.close()


def data(event: SSEEvent | None) -> dict[str, Any]:
    assert event is not None
    assert event.data is not None, event
    parsed: dict[str, Any] = json.loads(event.data)
    return parsed


def next_data_event(client: SSEClient) -> SSEEvent | None:
    """The next event that carries data (keep-alive comments skipped)."""
    while True:
        event = client.next_event()
        if event is None or event.data is not None:
            return event


class TestLiveEvents:
    """Events arrive while the run is written, and the stream closes after ``run_end``."""

    def test_events_arrive_live_then_the_stream_closes(self, site: Site) -> None:
        writer = Writer(site.base)
        run = igl.start_run(writer.logger, 1, 10)
        client = site.stream(site.row(run.run_id))
        try:
            assert client.status == 200
            assert client.content_type.startswith("text/event-stream")
            assert data(next_data_event(client))["event"] == "run_start"
            run.trace("item_done", item=1)  # written after the client connected
            event = next_data_event(client)
            assert data(event)["event"] == "item_done"
            assert event is not None
            assert event.id
            run.end("completed")
            assert data(next_data_event(client))["event"] == "run_end"
            assert client.next_event() is None  # closed after run_end
        finally:
            client.close()
            writer.close()

    def test_keep_alive_comments_while_nothing_happens(
        self, site: Site, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from djangoapp.views import AutomationRunViewSet

        monkeypatch.setattr(AutomationRunViewSet, "sse_keepalive", 0.2)
        writer = Writer(site.base)
        run = igl.start_run(writer.logger, 1, 10)
        client = site.stream(site.row(run.run_id))
        try:
            assert data(client.next_event())["event"] == "run_start"
            event = client.next_event()
            assert event is not None
            assert event.comment == "keep-alive"
            assert event.data is None
        finally:
            client.close()
            run.end()
            writer.close()

    def test_any_accept_header_gets_the_event_stream(self, site: Site) -> None:
        writer = Writer(site.base)
        run = igl.start_run(writer.logger, 1, 10)
        run.end()
        writer.close()
        pk = site.row(run.run_id)
        for accept in ("application/xml", "application/json", "*/*"):
            client = site.stream(pk, headers={"Accept": accept})
            try:
                assert client.status == 200, accept
                assert client.content_type.startswith("text/event-stream")
                events = [data(next_data_event(client))["event"] for _ in range(2)]
                assert events == ["run_start", "run_end"]
            finally:
                client.close()


def write_ended_run(site: Site, items: int) -> str:
    writer = Writer(site.base)
    run = igl.start_run(writer.logger, 1, 10)
    for item in range(items):
        run.trace("item_done", item=item)
    run.end()
    writer.close()
    return run.run_id


def read_all(client: SSEClient) -> list[SSEEvent]:
    events = []
    while (event := next_data_event(client)) is not None:
        events.append(event)
    return events


class TestResume:
    """``Last-Event-ID`` (or ``?cursor=``) resumes just after an event: no duplicate, no gap."""

    def test_resume_from_every_event_id(self, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
        from djangoapp.views import AutomationRunViewSet

        monkeypatch.setattr(AutomationRunViewSet, "trace_page_size", 4)  # ids inside pages
        pk = site.row(write_ended_run(site, 9))
        client = site.stream(pk)
        full = read_all(client)
        client.close()
        items = [data(e).get("item") for e in full]
        assert items == [None, *range(9), None]
        for n, event in enumerate(full[:-1]):
            assert event.id is not None
            resumed = site.stream(pk, headers={"Last-Event-ID": event.id})
            rest = [data(e) for e in read_all(resumed)]
            resumed.close()
            assert rest == [data(e) for e in full[n + 1 :]], n

    def test_last_event_id_wins_over_the_cursor(self, site: Site) -> None:
        pk = site.row(write_ended_run(site, 3))
        client = site.stream(pk)
        full = read_all(client)
        client.close()
        first, second = full[0].id, full[1].id
        assert first is not None
        assert second is not None
        client = site.stream(pk, query=f"?cursor={first}", headers={"Last-Event-ID": second})
        rest = [data(e)["event"] for e in read_all(client)]
        client.close()
        assert rest == ["item_done", "item_done", "run_end"]  # after the second event
        client = site.stream(pk, query=f"?cursor={first}")
        assert len(read_all(client)) == len(full) - 1
        client.close()


class TestRefused:
    """Another site's run is a 404; a bad cursor or ``Last-Event-ID`` is a 400."""

    def test_another_sites_run_is_404(self, site: Site) -> None:
        pk = site.row(write_ended_run(site, 1))
        client = site.stream(pk, user="sse_bob")
        assert client.status == 404
        client.close()

    @pytest.mark.parametrize("bad", ["nonsense", "djE6OTk5OTk6YWJj", "~9", "AAAA~2"])
    def test_bad_cursor_and_bad_last_event_id_are_400(self, site: Site, bad: str) -> None:
        pk = site.row(write_ended_run(site, 1))
        client = site.stream(pk, query=f"?cursor={bad}")
        assert client.status == 400
        assert "cursor" in json.loads(client.body())
        client.close()
        client = site.stream(pk, headers={"Last-Event-ID": bad})
        assert client.status == 400
        assert "Last-Event-ID" in json.loads(client.body())
        client.close()


class TestFromRedis:
    """With ``IGNY8_REDIS_URL`` a run that only Redis holds streams from Redis."""

    def test_a_run_only_in_redis_streams_live(self, site: Site, tmp_path: Path) -> None:
        from django.test.utils import override_settings

        require_redis_server()
        server = RedisServer(tmp_path / "redis").start()
        prefix = f"sse{uuid.uuid4().hex[:6]}"
        writer = Writer(None, server.url, prefix)  # no files at all
        try:
            with override_settings(IGNY8_REDIS_URL=server.url, IGNY8_REDIS_PREFIX=prefix):
                run = igl.start_run(writer.logger, 1, 10)
                run.trace("item_done", item=0)
                writer.flush()
                client = site.stream(site.row(run.run_id))
                assert client.status == 200
                assert data(next_data_event(client))["event"] == "run_start"
                first = next_data_event(client)
                assert data(first)["item"] == 0
                run.trace("item_done", item=1)
                assert data(next_data_event(client))["item"] == 1
                run.end()
                assert data(next_data_event(client))["event"] == "run_end"
                assert client.next_event() is None
                client.close()
                assert first is not None
                assert first.id is not None
                resumed = site.stream(site.row(run.run_id), headers={"Last-Event-ID": first.id})
                assert [data(e)["event"] for e in read_all(resumed)] == ["item_done", "run_end"]
                resumed.close()
                assert not (site.base / "1" / "10" / run.run_id).exists()
        finally:
            writer.close()
            server.stop()


class TestRedisComingAndGoing:
    """The feed keeps each event exactly once when Redis gets the run, and ends cleanly
    (for the browser to reconnect) when Redis goes away."""

    def test_resume_from_the_files_after_redis_got_the_run(
        self, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from django.test.utils import override_settings
        from djangoapp.views import AutomationRunViewSet

        require_redis_server()
        monkeypatch.setattr(AutomationRunViewSet, "trace_page_size", 2)  # ids inside pages
        late = RedisServer(tmp_path / "late")  # down while the feed starts
        prefix = f"sse{uuid.uuid4().hex[:6]}"
        writer = Writer(site.base, late.url, prefix)
        try:
            with override_settings(IGNY8_REDIS_URL=late.url, IGNY8_REDIS_PREFIX=prefix):
                run = igl.start_run(writer.logger, 1, 10)
                for item in range(3):
                    run.trace("item_done", item=item)
                pk = site.row(run.run_id)
                client = site.stream(pk)  # Redis is down: from the files
                seen = [next_data_event(client) for _ in range(3)]  # run_start, items 0, 1
                client.close()
                late.start()
                for item in range(3, 5):
                    run.trace("item_done", item=item)
                run.end()
                writer.flush()  # Redis now holds the whole run
                last = seen[-1]
                assert last is not None
                assert last.id is not None
                resumed = site.stream(pk, headers={"Last-Event-ID": last.id})
                assert resumed.status == 200
                rest = read_all(resumed)
                resumed.close()
        finally:
            writer.close()
            late.stop()
        got = [data(e) for e in [*seen, *rest]]
        path = site.base / "1" / "10" / run.run_id / "run_trace.jsonl"
        assert got == [json.loads(line) for line in path.read_text().splitlines()]
        assert [e.get("item") for e in got] == [None, 0, 1, 2, 3, 4, None]

    def test_redis_down_mid_stream_ends_the_stream_and_a_new_one_is_503(
        self, site: Site, tmp_path: Path
    ) -> None:
        from django.test.utils import override_settings

        require_redis_server()
        server = RedisServer(tmp_path / "redis").start()
        prefix = f"sse{uuid.uuid4().hex[:6]}"
        writer = Writer(None, server.url, prefix)  # the run is in Redis only
        try:
            with override_settings(IGNY8_REDIS_URL=server.url, IGNY8_REDIS_PREFIX=prefix):
                run = igl.start_run(writer.logger, 1, 10)
                writer.flush()
                pk = site.row(run.run_id)
                client = site.stream(pk)
                first = next_data_event(client)
                assert data(first)["event"] == "run_start"
                server.stop()
                last = client.next_event()  # the farewell: a comment and a retry delay
                assert last is not None
                assert last.data is None
                assert last.comment is not None
                assert "unavailable" in last.comment
                assert last.fields.get("retry") == "5000"
                assert client.next_event() is None  # closed cleanly, no broken chunk
                client.close()
                assert first is not None
                again = site.stream(pk, headers={"Last-Event-ID": first.id or ""})
                assert again.status == 503
                body = json.loads(again.body())
                assert "Redis" in body["detail"]
                assert str(server.port) not in body["detail"]  # no address in the answer
                again.close()
        finally:
            writer.close()
            server.stop()
