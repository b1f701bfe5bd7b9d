"""``RunLogsMixin`` on a real Django + DRF project (``tests/djangoapp``) with SQLite.

Django is configured and set up by the module-scoped ``app`` fixture only (with
``LOGGING_CONFIG = None``), so other test modules in the same process are not
affected.  Users: alice (account 1, site 10) and bob (account 2, site 20); the
run viewset shows a user only the runs of their own site.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import igny8_logging as igl


@dataclass
class App:
    """What the tests use: the base dir, the users' clients and the rows' pks."""

    base: Path
    alice: Any
    bob: Any
    rows: dict[str, int]
    runs: dict[str, str]


def _write_run(base: Path, name: str, account: Any, site: Any, *, end: bool = True) -> str:
    """A real run written through the library: 150 run lines, a stage, trace events."""
    logger = logging.getLogger(f"igny8.test.django.{name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handlers = [
        igl.RunLogHandler(base),
        igl.StageLogHandler(base),
        igl.TraceHandler(base),
    ]
    for handler in handlers:
        logger.addHandler(handler)
    try:
        run = igl.start_run(logger, account, site, metadata={"name": name})
        for i in range(150):
            run.info("%s line %d", name, i)
        with run.stage(1, "Keywords", pending=3) as st:
            for item in range(3):
                run.trace("item_done", stage=1, item=item)
                st.info("keyword %d", item)
            st.processed = 3
        if end:
            run.end("completed")
        return run.run_id
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
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
    from djangoapp.models import AutomationRun, Job, Member
    from rest_framework.test import APIClient

    call_command("migrate", run_syncdb=True, verbosity=0)
    base = tmp_path_factory.mktemp("django") / "logs"
    runs = {
        "alice": _write_run(base, "alice", 1, 10),
        "alice_running": _write_run(base, "alice_running", 1, 10, end=False),
        "bob": _write_run(base, "bob", 2, 20),
        "job": _write_run(base, "job", "acme", "shop-1"),
        "siteless": _write_run(base, "siteless", None, None),
    }
    users = {}
    for name, account, site in (("alice", 1, 10), ("bob", 2, 20)):
        user = User.objects.create_user(name, password="x")
        Member.objects.create(user=user, account_id=account, site_id=site)
        users[name] = user
    alice = users["alice"]

    def row(run_id: str, account: int = 1, site: int = 10, owner: Any = alice) -> int:
        created = AutomationRun.objects.create(
            run_id=run_id, account_id=account, site_id=site, owner=owner
        )
        return int(created.pk)

    # A link planted below the base dir, pointing at bob's run from alice's site.
    linked = "run_20200101_000000_deadbeef"
    os.symlink(base / "2" / "20" / runs["bob"], base / "1" / "10" / linked)
    rows = {
        "alice": row(runs["alice"]),
        "alice_running": row(runs["alice_running"]),
        "bob": row(runs["bob"], 2, 20, users["bob"]),
        "no_folder": row("run_20200101_000000_00000000"),
        "wrong_tenant": row(runs["bob"]),  # bob's run id stored under alice's site
        "linked": row(linked),
        "traversal": row("../../etc"),
        "traversal_suffix": row(runs["alice"] + "/../../../2/20/" + runs["bob"]),
        "newline": row(runs["alice"] + "\n"),
        "empty": row(""),
        "job": Job.objects.create(key=runs["job"], tenant="acme", site_code="shop-1").pk,
        "job_bad_tenant": Job.objects.create(key=runs["job"], tenant="..", site_code="shop-1").pk,
        "siteless": Job.objects.create(key=runs["siteless"], tenant="x", site_code="y").pk,
    }
    clients = {}
    for name, user in users.items():
        client = APIClient()
        client.force_authenticate(user=user)
        clients[name] = client
    with override_settings(IGNY8_LOG_DIR=str(base)):
        yield App(base, clients["alice"], clients["bob"], rows, runs)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _run_path(app: App, name: str, account: str = "1", site: str = "10") -> Path:
    return app.base / account / site / app.runs[name]


class TestLogs:
    """``GET /runs/{pk}/logs/`` returns the tail of the owner's run log or stage log."""

    def test_default_is_the_last_100_lines(self, app: App) -> None:
        response = app.alice.get(f"/runs/{app.rows['alice']}/logs/")
        assert response.status_code == 200
        body = response.json()
        assert body == {
            "run_id": app.runs["alice"],
            "lines": _lines(_run_path(app, "alice") / "automation_run.log")[-100:],
        }

    def test_lines_gives_exactly_that_many(self, app: App) -> None:
        response = app.alice.get(f"/runs/{app.rows['alice']}/logs/", {"lines": "7"})
        assert response.status_code == 200
        lines = response.json()["lines"]
        assert lines == _lines(_run_path(app, "alice") / "automation_run.log")[-7:]
        assert "run completed" in lines[-1]

    def test_stage_reads_the_stage_log(self, app: App) -> None:
        response = app.alice.get(f"/runs/{app.rows['alice']}/logs/", {"stage": "1"})
        assert response.status_code == 200
        assert response.json()["lines"] == _lines(_run_path(app, "alice") / "stage_1.log")
        assert all("[stage 1]" in line for line in response.json()["lines"])

    def test_a_stage_without_a_log_is_empty(self, app: App) -> None:
        response = app.alice.get(f"/runs/{app.rows['alice']}/logs/", {"stage": "9"})
        assert response.status_code == 200
        assert response.json()["lines"] == []

    def test_other_field_names_and_string_tenants(self, app: App) -> None:
        response = app.alice.get(f"/jobs/{app.rows['job']}/logs/", {"lines": "3"})
        assert response.status_code == 200
        path = app.base / "acme" / "shop-1" / app.runs["job"] / "automation_run.log"
        assert response.json() == {"run_id": app.runs["job"], "lines": _lines(path)[-3:]}

    def test_no_account_or_site_fields_read_the_underscore_folders(self, app: App) -> None:
        response = app.alice.get(f"/siteless/{app.rows['siteless']}/logs/", {"lines": "2"})
        assert response.status_code == 200
        path = app.base / "_" / "_" / app.runs["siteless"] / "automation_run.log"
        assert response.json()["lines"] == _lines(path)[-2:]


class TestNotFound:
    """Every way of not reaching a run's files is the same 404, never a 500."""

    @pytest.mark.parametrize(
        "row",
        [
            "bob",  # another site's run: hidden by the queryset
            "no_folder",
            "wrong_tenant",
            "linked",
            "traversal",
            "traversal_suffix",
            "newline",
            "empty",
        ],
    )
    @pytest.mark.parametrize("endpoint", ["logs", "trace"])
    def test_hidden_or_missing_run(self, app: App, row: str, endpoint: str) -> None:
        response = app.alice.get(f"/runs/{app.rows[row]}/{endpoint}/")
        assert response.status_code == 404

    @pytest.mark.parametrize("endpoint", ["logs", "trace"])
    def test_unknown_pk(self, app: App, endpoint: str) -> None:
        assert app.alice.get(f"/runs/999999/{endpoint}/").status_code == 404

    def test_invalid_stored_tenant(self, app: App) -> None:
        assert app.alice.get(f"/jobs/{app.rows['job_bad_tenant']}/logs/").status_code == 404

    def test_the_owner_of_the_other_site_sees_their_run(self, app: App) -> None:
        response = app.bob.get(f"/runs/{app.rows['bob']}/logs/", {"lines": "1"})
        assert response.status_code == 200
        assert response.json()["run_id"] == app.runs["bob"]
        assert app.bob.get(f"/runs/{app.rows['alice']}/logs/").status_code == 404

    def test_bad_parameters_on_a_hidden_run_are_still_404(self, app: App) -> None:
        response = app.alice.get(f"/runs/{app.rows['bob']}/logs/", {"lines": "x"})
        assert response.status_code == 404

    def test_http_trace_method_is_not_the_trace_action(self, app: App) -> None:
        """A viewset method named ``trace`` would answer HTTP TRACE on every route."""
        response = app.alice.generic("TRACE", f"/runs/{app.rows['alice']}/")
        assert response.status_code == 405


class TestBadParameters:
    """A bad ``lines``, ``stage``, ``limit`` or ``cursor`` is a 400 naming the parameter."""

    @pytest.mark.parametrize("lines", ["0", "-1", "10001", "abc", "1.5", "", " 5", "5 ", "１"])
    def test_lines(self, app: App, lines: str) -> None:
        response = app.alice.get(f"/runs/{app.rows['alice']}/logs/", {"lines": lines})
        assert response.status_code == 400
        assert "lines" in response.json()

    @pytest.mark.parametrize("stage", ["", "../1", "a b", "-1", "x" * 65])
    def test_stage(self, app: App, stage: str) -> None:
        response = app.alice.get(f"/runs/{app.rows['alice']}/logs/", {"stage": stage})
        assert response.status_code == 400
        assert "stage" in response.json()

    @pytest.mark.parametrize("limit", ["0", "10001", "x", ""])
    def test_limit(self, app: App, limit: str) -> None:
        response = app.alice.get(f"/runs/{app.rows['alice']}/trace/", {"limit": limit})
        assert response.status_code == 400
        assert "limit" in response.json()

    @pytest.mark.parametrize("cursor", ["", "garbage", "djE6MTA6YWJj", "x" * 200])
    def test_cursor(self, app: App, cursor: str) -> None:
        response = app.alice.get(f"/runs/{app.rows['alice']}/trace/", {"cursor": cursor})
        assert response.status_code == 400
        assert "cursor" in response.json()

    def test_a_cursor_of_another_run(self, app: App) -> None:
        other = app.alice.get(f"/runs/{app.rows['alice_running']}/trace/", {"limit": "2"})
        cursor = other.json()["cursor"]
        response = app.alice.get(f"/runs/{app.rows['alice']}/trace/", {"cursor": cursor})
        assert response.status_code == 400


class TestSettings:
    """``IGNY8_LOG_DIR`` picks the base dir; ``IGNY8_LOGS_MAX_LINES`` bounds ``lines``."""

    def test_max_lines_setting(self, app: App) -> None:
        from django.test.utils import override_settings

        url = f"/runs/{app.rows['alice']}/logs/"
        with override_settings(IGNY8_LOGS_MAX_LINES=20):
            assert len(app.alice.get(url, {"lines": "20"}).json()["lines"]) == 20
            assert app.alice.get(url, {"lines": "21"}).status_code == 400

    def test_without_the_setting_the_library_default_is_used(
        self, app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        from django.test.utils import override_settings

        url = f"/runs/{app.rows['alice']}/logs/"
        with override_settings():
            from django.conf import settings

            del settings.IGNY8_LOG_DIR
            monkeypatch.setenv("IGNY8_LOG_DIR", str(tmp_path))
            assert app.alice.get(url).status_code == 404  # nothing under tmp_path
            monkeypatch.setenv("IGNY8_LOG_DIR", str(app.base))
            assert app.alice.get(url).status_code == 200

    def test_the_setting_decides_the_base_dir(self, app: App, tmp_path: Path) -> None:
        from django.test.utils import override_settings

        with override_settings(IGNY8_LOG_DIR=str(tmp_path)):
            assert app.alice.get(f"/runs/{app.rows['alice']}/logs/").status_code == 404


class TestTrace:
    """``GET /runs/{pk}/trace/`` pages through the trace with an opaque cursor."""

    def test_pages_cover_the_trace_once_and_end_complete(self, app: App) -> None:
        url = f"/runs/{app.rows['alice']}/trace/"
        events: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "3"}
        pages = 0
        while True:
            response = app.alice.get(url, params)
            assert response.status_code == 200
            body = response.json()
            assert set(body) == {"events", "cursor", "complete"}
            assert len(body["events"]) <= 3
            events += body["events"]
            pages += 1
            params["cursor"] = body["cursor"]
            if body["complete"]:
                break
            assert pages < 20
        path = _run_path(app, "alice") / "run_trace.jsonl"
        assert len(events) == len(_lines(path))
        assert [e["event"] for e in events][:2] == ["run_start", "stage_start"]
        assert events[-1]["event"] == "run_end"
        again = app.alice.get(url, params).json()
        assert again["events"] == []
        assert again["complete"] is True

    def test_default_page_and_a_running_run(self, app: App) -> None:
        body = app.alice.get(f"/runs/{app.rows['alice_running']}/trace/").json()
        assert [e["event"] for e in body["events"]] == [
            "run_start",
            "stage_start",
            "item_done",
            "item_done",
            "item_done",
            "stage_complete",
        ]
        assert body["complete"] is False


class TestStoreDown:
    """``IGNY8_REDIS_URL``'s Redis unreachable: a 503 with a JSON ``detail``, not a 500."""

    def test_logs_and_trace_of_a_run_only_redis_holds(
        self, app: App, own_server: Any, prefix: str
    ) -> None:
        from _redis_server import Logged
        from django.contrib.auth.models import User
        from django.test.utils import override_settings
        from djangoapp.models import AutomationRun

        logged = Logged(None, own_server.url, prefix)
        run = igl.start_run(logged.logger, 1, 10)
        run.info("only in redis")
        logged.close()
        owner = User.objects.get(username="alice")
        pk = AutomationRun.objects.create(
            run_id=run.run_id, account_id=1, site_id=10, owner=owner
        ).pk
        url = own_server.url.replace("redis://", "redis://:s3cret@")
        with override_settings(IGNY8_REDIS_URL=url, IGNY8_REDIS_PREFIX=prefix):
            logs = app.alice.get(f"/runs/{pk}/logs/")
            assert logs.status_code == 200
            assert logs.json()["lines"][-1].endswith("only in redis")
            own_server.stop()
            for path in (f"/runs/{pk}/logs/", f"/runs/{pk}/trace/"):
                response = app.alice.get(path)
                assert response.status_code == 503, path
                assert "Redis cannot be reached" in response.json()["detail"]
                assert response["Retry-After"] == "5"
                assert "s3cret" not in response.content.decode()
            # a run the files hold is still served from them
            files = app.alice.get(f"/runs/{app.rows['alice']}/logs/?lines=1")
            assert files.status_code == 200
