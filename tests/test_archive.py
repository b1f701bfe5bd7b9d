"""The archive: ended runs copied to S3-compatible storage and read back (``archive``).

S3 is played by moto's S3-compatible server (``tests/_moto.py``), a real HTTP
server on a free local port: this machine has no cloud access, and moto is the
stand-in.  Everything else is real: runs written by the library's handlers into
a temporary directory, boto3 configured the standard way (``AWS_ENDPOINT_URL``
and the ``AWS_*`` variables), the CLI run as a subprocess.
"""

from __future__ import annotations

import json
import logging
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _moto import ByteCounter, MotoS3, free_port

import igny8_logging as igl
from igny8_logging._s3 import mask_secrets
from igny8_logging.archive import MANIFEST, ArchiveError, ArchiveEvent, archive_runs

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "logs/automation"
MB = 1024 * 1024


class OldClock(logging.Filter):
    """Stamps records as if written *days* ago (a run that ended long ago)."""

    def __init__(self, days: float) -> None:
        super().__init__()
        self.days = days

    def filter(self, record: logging.LogRecord) -> bool:
        record.created -= self.days * 86400
        return True


@pytest.fixture
def url(bucket: str) -> str:
    return f"s3://{bucket}/{PREFIX}"


@pytest.fixture
def logger(base_dir: Path, request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    """A logger writing runs below ``base_dir`` through the three file handlers."""
    log = logging.getLogger(f"igny8.test.archive.{request.node.name}")
    log.setLevel(logging.INFO)
    log.propagate = False
    handlers = [
        igl.RunLogHandler(base_dir),
        igl.StageLogHandler(base_dir),
        igl.TraceHandler(base_dir),
    ]
    for handler in handlers:
        log.addHandler(handler)
    yield log
    for handler in handlers:
        log.removeHandler(handler)
        handler.close()


def make_run(
    logger: logging.Logger,
    account: int | str | None,
    site: int | str | None,
    *,
    end: bool = True,
    ended_days_ago: float = 0,
    items: int = 12,
) -> igl.RunLogger:
    run = igl.start_run(logger, account, site, metadata={"source": "test"})
    with run.stage(1, "Keywords", pending=items) as st:
        for item in range(items):
            st.info("keyword %d\n  continued", item)
            run.trace("item_done", stage=1, item_id=item)
        st.processed = items
    with run.stage(2, "Clusters", pending=2) as st:
        st.warning("slow cluster")
        st.processed = 2
    if end:
        old = OldClock(ended_days_ago)
        logger.addFilter(old)
        try:
            run.end("completed")
        finally:
            logger.removeFilter(old)
    return run


def folder(base: Path, run: igl.RunLogger) -> Path:
    account = "_" if run.account_id is None else str(run.account_id)
    site = "_" if run.site_id is None else str(run.site_id)
    return base / account / site / run.run_id


def objects(client: S3Client, bucket: str) -> dict[str, bytes]:
    """Every object of the bucket (its current version) and its bytes."""
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            found[entry["Key"]] = client.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
    return found


def versions(client: S3Client, bucket: str) -> int:
    """How many object versions the (versioned) bucket holds: one per PUT ever made."""
    count = 0
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        count += len(page.get("Versions", []))
    return count


def local_files(base: Path, run: igl.RunLogger) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder(base, run).iterdir() if p.is_file()}


@pytest.fixture
def tree(logger: logging.Logger) -> dict[str, igl.RunLogger]:
    """Three ended runs and one running run, of two tenants."""
    return {
        "a1": make_run(logger, 1, 10),
        "a2": make_run(logger, 1, 10),
        "b1": make_run(logger, "acme", "shop"),
        "running": make_run(logger, 1, 10, end=False),
    }


class TestArchiveRuns:
    """Each ended run of every tenant is copied to {prefix}/{account}/{site}/{run}/{file}."""

    def test_ended_runs_of_every_tenant_land_where_the_contract_says(
        self, base_dir: Path, bucket: str, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        archived = archive_runs(igl.RunLogReader(base_dir), url)
        ended = [tree[name].run_id for name in ("a1", "a2", "b1")]
        assert sorted(archived) == sorted(ended)
        stored = objects(s3.client(), bucket)
        expected: dict[str, bytes] = {}
        for name in ("a1", "a2", "b1"):
            run = tree[name]
            account, site = str(run.account_id), str(run.site_id)
            for file, data in local_files(base_dir, run).items():
                expected[f"{PREFIX}/{account}/{site}/{run.run_id}/{file}"] = data
        files = {key: data for key, data in stored.items() if not key.endswith(MANIFEST)}
        assert files == expected  # byte for byte, nothing else but the manifests
        manifests = sorted(key for key in stored if key.endswith("/" + MANIFEST))
        assert manifests == sorted(
            f"{PREFIX}/{tree[n].account_id}/{tree[n].site_id}/{tree[n].run_id}/{MANIFEST}"
            for n in ("a1", "a2", "b1")
        )
        assert not any(tree["running"].run_id in key for key in stored)
        assert folder(base_dir, tree["a1"]).is_dir()  # without delete, nothing local goes

    def test_manifest_lists_each_file_with_its_size_and_sha256(
        self, base_dir: Path, bucket: str, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        import hashlib

        archive_runs(igl.RunLogReader(base_dir), url, account_id="acme", site_id="shop")
        run = tree["b1"]
        key = f"{PREFIX}/acme/shop/{run.run_id}/{MANIFEST}"
        manifest = json.loads(s3.client().get_object(Bucket=bucket, Key=key)["Body"].read())
        assert manifest["run_id"] == run.run_id
        assert {
            name: (entry["size"], entry["sha256"]) for name, entry in manifest["files"].items()
        } == {
            name: (len(data), hashlib.sha256(data).hexdigest())
            for name, data in local_files(base_dir, run).items()
        }

    def test_one_tenant_when_named(
        self, base_dir: Path, bucket: str, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        archived = archive_runs(igl.RunLogReader(base_dir), url, account_id="acme", site_id="shop")
        assert archived == [tree["b1"].run_id]
        assert all(key.startswith(f"{PREFIX}/acme/shop/") for key in objects(s3.client(), bucket))

    def test_second_archive_uploads_nothing(
        self, base_dir: Path, bucket: str, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        reader = igl.RunLogReader(base_dir)
        first = archive_runs(reader, url)
        puts = versions(s3.client(), bucket)
        events: list[ArchiveEvent] = []
        second = archive_runs(reader, url, progress=events.append)
        assert sorted(second) == sorted(first)
        assert versions(s3.client(), bucket) == puts  # not one PUT more
        assert {e.kind for e in events} == {"planned", "kept"}

    def test_only_runs_that_ended_before_the_limit(
        self, base_dir: Path, bucket: str, url: str, s3: MotoS3, logger: logging.Logger
    ) -> None:
        old = make_run(logger, 1, 10, ended_days_ago=10)
        make_run(logger, 1, 10, ended_days_ago=2)
        assert archive_runs(igl.RunLogReader(base_dir), url, older_than_days=5) == [old.run_id]

    def test_dry_run_uploads_nothing(
        self, base_dir: Path, bucket: str, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        planned = archive_runs(igl.RunLogReader(base_dir), url, dry_run=True)
        assert sorted(planned) == sorted(tree[n].run_id for n in ("a1", "a2", "b1"))
        assert objects(s3.client(), bucket) == {}

    def test_archives_from_the_mirror_through_its_reader(
        self, tmp_path: Path, bucket: str, url: str, s3: MotoS3, request: pytest.FixtureRequest
    ) -> None:
        primary, mirror = tmp_path / "primary", tmp_path / "mirror"
        log = logging.getLogger(f"igny8.test.archive.mirror.{request.node.name}")
        log.setLevel(logging.INFO)
        log.propagate = False
        handlers: list[logging.Handler] = [
            igl.RunLogHandler(primary, mirror),
            igl.TraceHandler(primary, mirror),
        ]
        for handler in handlers:
            log.addHandler(handler)
        try:
            run = make_run(log, 8, 9)
        finally:
            for handler in handlers:
                log.removeHandler(handler)
                handler.close()
        assert archive_runs(igl.RunLogReader(mirror), url, delete=True) == [run.run_id]
        stored = objects(s3.client(), bucket)
        for name, data in local_files(primary, run).items():
            assert stored[f"{PREFIX}/8/9/{run.run_id}/{name}"] == data
        assert not folder(mirror, run).exists()  # the copy read is the one removed
        assert folder(primary, run).is_dir()

    def test_archives_a_run_only_redis_holds(
        self, tmp_path: Path, bucket: str, url: str, s3: MotoS3, server: Any, prefix: str
    ) -> None:
        from _redis_server import Logged

        logged = Logged(tmp_path / "host", server.url, prefix)  # the host's files: to compare
        try:
            run = make_run(logged.logger, 8, 9)
        finally:
            logged.close()
        nowhere = tmp_path / "web"  # the archiving host has no files at all
        reader = igl.RunLogReader(nowhere, redis_url=server.url, prefix=prefix)
        assert archive_runs(reader, url, delete=True) == [run.run_id]
        stored = objects(s3.client(), bucket)
        files = local_files(tmp_path / "host", run)
        assert set(files) == {"automation_run.log", "stage_1.log", "stage_2.log", "run_trace.jsonl"}
        for name, data in files.items():
            assert stored[f"{PREFIX}/8/9/{run.run_id}/{name}"] == data  # Redis's bytes: the files'
        assert f"{PREFIX}/8/9/{run.run_id}/{MANIFEST}" in stored
        puts = versions(s3.client(), bucket)
        assert archive_runs(reader, url) == [run.run_id]  # again: nothing uploaded twice
        assert versions(s3.client(), bucket) == puts
        assert reader.tail(run.run_id, 1, account_id=8, site_id=9)  # Redis's copy is kept
        archived = igl.RunLogReader(nowhere, archive_url=url)
        summary = archived.summary(run.run_id, account_id=8, site_id=9)
        assert summary["status"] == "completed"
        assert summary == reader.summary(run.run_id, account_id=8, site_id=9)

    @pytest.mark.parametrize(
        "bad", ["http://bucket/x", "s3://", "s3://KEY:SECRET@bucket/x", "s3://b/../x", 42]
    )
    def test_bad_url_is_a_value_error_before_anything_is_read(
        self, base_dir: Path, tree: dict[str, igl.RunLogger], bad: Any
    ) -> None:
        with pytest.raises(ValueError) as info:
            archive_runs(igl.RunLogReader(base_dir), bad)
        assert "SECRET" not in str(info.value)

    @pytest.mark.parametrize("days", [-1, "3", True, float("nan")])
    def test_bad_days(self, base_dir: Path, url: str, days: Any) -> None:
        with pytest.raises(ValueError):
            archive_runs(igl.RunLogReader(base_dir), url, older_than_days=days)


class TestDelete:
    """With delete, a run's local folder goes only once all its objects verified."""

    def test_removes_the_local_runs_after_their_objects_verify(
        self, base_dir: Path, bucket: str, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        before = {name: local_files(base_dir, tree[name]) for name in ("a1", "b1")}
        events: list[ArchiveEvent] = []
        archive_runs(igl.RunLogReader(base_dir), url, delete=True, progress=events.append)
        for name in ("a1", "a2", "b1"):
            assert not folder(base_dir, tree[name]).exists()
        assert folder(base_dir, tree["running"]).is_dir()  # a running run is never touched
        assert not (base_dir / "acme").exists()  # an emptied tenant folder goes too
        stored = objects(s3.client(), bucket)
        for name, files in before.items():
            run = tree[name]
            for file, data in files.items():
                assert (
                    stored[f"{PREFIX}/{run.account_id}/{run.site_id}/{run.run_id}/{file}"] == data
                )
        kinds = [(e.kind, e.run_id) for e in events if e.kind in ("archived", "removed")]
        for name in ("a1", "a2", "b1"):  # removed only after it was archived
            run_id = tree[name].run_id
            assert kinds.index(("archived", run_id)) < kinds.index(("removed", run_id))

    def test_a_file_that_grew_after_it_was_read_keeps_the_run(
        self, base_dir: Path, url: str, s3: MotoS3, logger: logging.Logger
    ) -> None:
        run = make_run(logger, 3, 4)
        log = folder(base_dir, run) / "automation_run.log"

        def late_writer(event: ArchiveEvent) -> None:
            if event.kind == "archived":  # uploaded and checked, not yet removed
                with log.open("ab") as stream:
                    stream.write(b"2026-11-29T01:30:00.123Z INFO    [run] a late line\n")

        with pytest.raises(ArchiveError) as info:
            archive_runs(igl.RunLogReader(base_dir), url, delete=True, progress=late_writer)
        assert "automation_run.log changed" in str(info.value)
        assert log.read_bytes().endswith(b"a late line\n")  # the local copy is kept
        # The next archive copies the new line, then removes the run.
        assert archive_runs(igl.RunLogReader(base_dir), url, delete=True) == [run.run_id]
        assert not log.exists()
        reader = igl.RunLogReader(base_dir, archive_url=url)
        assert reader.tail(run.run_id, 1, account_id=3, site_id=4) == [
            "2026-11-29T01:30:00.123Z INFO    [run] a late line"
        ]

    def test_an_object_damaged_in_transit_keeps_the_run(
        self,
        base_dir: Path,
        url: str,
        s3: MotoS3,
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        run = make_run(logger, 5, 6)
        before = local_files(base_dir, run)
        relay = ByteCounter(s3.port, corrupt=(b"keyword 3", b"keyword X"))
        try:
            monkeypatch.setenv("AWS_ENDPOINT_URL", relay.endpoint)
            with pytest.raises(ArchiveError) as info:
                archive_runs(igl.RunLogReader(base_dir), url, delete=True)
        finally:
            relay.close()
        assert "not the bytes sent" in info.value.failures[0].message
        assert local_files(base_dir, run) == before  # nothing local removed
        monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
        reader = igl.RunLogReader(base_dir, archive_url=url)
        assert archive_runs(reader, url, delete=True) == [run.run_id]  # the damage is repaired
        assert not folder(base_dir, run).exists()
        lines = before["automation_run.log"].decode().splitlines()
        assert reader.tail(run.run_id, 10_000, account_id=5, site_id=6) == lines

    def test_a_planted_link_is_removed_not_followed(
        self, base_dir: Path, tmp_path: Path, url: str, s3: MotoS3, logger: logging.Logger
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "keep.txt").write_text("not ours")
        run = make_run(logger, 3, 4)
        (folder(base_dir, run) / ".lock").symlink_to(outside)
        archive_runs(igl.RunLogReader(base_dir), url, delete=True)
        assert not folder(base_dir, run).exists()
        assert (outside / "keep.txt").read_text() == "not ours"


def read_all(reader: igl.RunLogReader, run: igl.RunLogger, limit: int) -> list[igl.TracePage]:
    ids: dict[str, Any] = {"account_id": run.account_id, "site_id": run.site_id}
    pages = [reader.read_trace(run.run_id, limit=limit, **ids)]
    while not pages[-1].complete:
        pages.append(reader.read_trace(run.run_id, cursor=pages[-1].cursor, limit=limit, **ids))
    return pages


class TestReadBack:
    """RunLogReader(archive_url=...) reads archived runs as the files read, local copy first."""

    def views(self, reader: igl.RunLogReader, run: igl.RunLogger) -> dict[str, Any]:
        ids: dict[str, Any] = {"account_id": run.account_id, "site_id": run.site_id}
        return {
            "tail": reader.tail(run.run_id, 7, **ids),
            "tail_all": reader.tail(run.run_id, 10_000, **ids),
            "stage": reader.tail(run.run_id, 5, stage=1, **ids),
            "pages": read_all(reader, run, limit=4),
            "summary": reader.summary(run.run_id, **ids),
            "runs": reader.list_runs(**ids),
        }

    def test_an_empty_base_dir_reads_what_the_files_gave(
        self, base_dir: Path, tmp_path: Path, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        files = igl.RunLogReader(base_dir)
        expected = {name: self.views(files, tree[name]) for name in ("a1", "b1")}
        archive_runs(files, url)
        empty = tmp_path / "empty"
        empty.mkdir()
        archived = igl.RunLogReader(empty, archive_url=url)
        for name in ("a1", "b1"):
            got = self.views(archived, tree[name])
            want = expected[name]
            want["runs"] = [r for r in want["runs"] if r != tree["running"].run_id]
            assert got == want
        assert expected["a1"]["summary"]["status"] == "completed"
        run = tree["a1"]
        followed = archived.follow(run.run_id, account_id=1, site_id=10, lines=3, timeout=10)
        assert list(followed) == expected["a1"]["tail"][-3:]  # an archived run has ended

    def test_a_cursor_from_the_files_goes_on_in_the_archive(
        self, base_dir: Path, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        run = tree["a1"]
        ids: dict[str, Any] = {"account_id": run.account_id, "site_id": run.site_id}
        reader = igl.RunLogReader(base_dir, archive_url=url)
        first = reader.read_trace(run.run_id, limit=3, **ids)
        rest = read_all(igl.RunLogReader(base_dir), run, limit=10_000)
        archive_runs(reader, url, delete=True)
        page = reader.read_trace(run.run_id, cursor=first.cursor, limit=10_000, **ids)
        whole = [e for p in rest for e in p.events]
        assert first.events + page.events == whole
        assert page.complete

    def test_local_copy_wins_and_each_run_is_listed_once(
        self, base_dir: Path, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        archive_runs(igl.RunLogReader(base_dir), url, account_id=1, site_id=10)
        run = tree["a1"]
        with (folder(base_dir, run) / "automation_run.log").open("ab") as stream:
            stream.write(b"2026-11-29T01:30:00.123Z INFO    [run] only local\n")
        reader = igl.RunLogReader(base_dir, archive_url=url)
        assert reader.tail(run.run_id, 1, account_id=1, site_id=10)[0].endswith("only local")
        runs = reader.list_runs(account_id=1, site_id=10)
        assert sorted(runs) == sorted(tree[n].run_id for n in ("a1", "a2", "running"))

    def test_tenancy_and_unknown_runs(
        self, base_dir: Path, tmp_path: Path, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        archive_runs(igl.RunLogReader(base_dir), url, delete=True)
        reader = igl.RunLogReader(tmp_path / "none", archive_url=url)
        run = tree["b1"]
        assert reader.tail(run.run_id, 1, account_id="acme", site_id="shop")
        for ids in (
            {"account_id": "acme", "site_id": "other"},
            {},
            {"account_id": 1, "site_id": 10},
        ):
            with pytest.raises(igl.RunNotFound):
                reader.tail(run.run_id, 1, **ids)
        with pytest.raises(igl.RunNotFound):
            reader.summary("run_20261129_013000_00000000", account_id="acme", site_id="shop")
        assert reader.list_runs(account_id="nobody") == []

    def test_tail_of_a_100_mb_archived_log_transfers_a_few_hundred_kb(
        self,
        base_dir: Path,
        tmp_path: Path,
        url: str,
        s3: MotoS3,
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        run = make_run(logger, 7, 7)
        log = folder(base_dir, run) / "automation_run.log"
        head = log.read_bytes()
        line = b"2026-11-29T01:30:00.123Z INFO    [stage 1] " + b"x" * 80 + b"\n"
        with log.open("wb") as stream:
            stream.write(line * (100 * MB // len(line)))
            stream.write(head)
        assert log.stat().st_size > 100 * MB
        expected = igl.RunLogReader(base_dir).tail(run.run_id, 100, account_id=7, site_id=7)
        archive_runs(igl.RunLogReader(base_dir), url, delete=True)
        counter = ByteCounter(s3.port)
        try:
            monkeypatch.setenv("AWS_ENDPOINT_URL", counter.endpoint)
            reader = igl.RunLogReader(tmp_path / "none", archive_url=url)
            assert reader.tail(run.run_id, 100, account_id=7, site_id=7) == expected
            assert counter.received < 400 * 1024, counter.received
            assert counter.received > 16 * 1024  # it did read the blocks through the relay
        finally:
            counter.close()


class TestFaults:
    """A failing store loses no local run, reports each run once, and a rerun resumes."""

    def test_server_stopped_mid_archive(
        self, base_dir: Path, bucket: str, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        before = {name: local_files(base_dir, run) for name, run in tree.items()}
        uploaded: list[ArchiveEvent] = []

        def stop_after_first_object(event: ArchiveEvent) -> None:
            if event.kind == "uploaded":
                uploaded.append(event)
                if len(uploaded) == 1:
                    s3.stop()

        with pytest.raises(ArchiveError) as info:
            archive_runs(
                igl.RunLogReader(base_dir), url, delete=True, progress=stop_after_first_object
            )
        assert len(uploaded) == 1
        failed = {failure.run_id for failure in info.value.failures}
        assert failed == {tree[n].run_id for n in ("a1", "a2", "b1")}  # one error per run
        assert info.value.archived == []
        assert "3 runs not archived" in str(info.value)
        assert {name: local_files(base_dir, run) for name, run in tree.items()} == before
        s3.start()
        client = s3.client()
        assert versions(client, bucket) == 1  # the object uploaded before the stop
        archived = archive_runs(igl.RunLogReader(base_dir), url, delete=True)
        assert sorted(archived) == sorted(tree[n].run_id for n in ("a1", "a2", "b1"))
        first = uploaded[0]
        key = f"{PREFIX}/{'/'.join(first.tenant)}/{first.run_id}/{first.name}"
        history = client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
        assert len(history) == 1  # resumed: not uploaded again
        for name in ("a1", "a2", "b1"):
            assert not folder(base_dir, tree[name]).exists()

    def test_unreachable_store_names_no_secret(
        self,
        base_dir: Path,
        url: str,
        s3: MotoS3,
        tree: dict[str, igl.RunLogger],
        logger: logging.Logger,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        make_run(logger, 1, 10)  # a fourth: not tried once three in a row failed to connect
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        events: list[ArchiveEvent] = []
        with pytest.raises(ArchiveError) as info:
            archive_runs(igl.RunLogReader(base_dir), url, delete=True, progress=events.append)
        messages = [e.message for e in events if e.kind == "failed"]
        assert len(messages) == 4
        assert all("Could not connect" in m for m in messages[:3]), messages
        assert messages[3].startswith("not tried: the store was unreachable")
        secret = os.environ["AWS_SECRET_ACCESS_KEY"]
        key_id = os.environ["AWS_ACCESS_KEY_ID"]
        for text in [*messages, str(info.value)]:
            assert secret not in text
            assert key_id not in text
        for name in ("a1", "a2", "b1"):
            assert folder(base_dir, tree[name]).is_dir()

    def test_a_missing_bucket_is_one_clear_error_per_run(
        self, base_dir: Path, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        with pytest.raises(ArchiveError) as info:
            archive_runs(igl.RunLogReader(base_dir), "s3://igny8-no-such-bucket/x", delete=True)
        assert len(info.value.failures) == 3
        assert all("NoSuchBucket" in f.message for f in info.value.failures)
        assert folder(base_dir, tree["a1"]).is_dir()

    def test_messages_are_masked(self) -> None:
        text = (
            "GET https://user:hunter2@minio.local/b?X-Amz-Credential=AKIA1/x&"
            "X-Amz-Signature=deadbeef failed for wJalrSECRETKEY"
        )
        masked = mask_secrets(text, ("wJalrSECRETKEY",))
        for secret in ("hunter2", "AKIA1", "deadbeef", "wJalrSECRETKEY"):
            assert secret not in masked
        assert "minio.local/b" in masked


def cli(*args: str | Path, stderr: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "igny8_logging", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr is None else stderr,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )


class TestCommandLine:
    """igny8-logs archive --to s3://bucket/prefix [--older-than DAYS] [--delete] [--dry-run]."""

    def test_archives_prints_each_run_and_deletes(
        self, base_dir: Path, bucket: str, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        result = cli("archive", "--to", url, "--base-dir", base_dir, "--delete")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        run = tree["b1"]
        assert f"removed acme/shop/{run.run_id}" in lines
        assert any(
            line.startswith(f"archived acme/shop/{run.run_id} (4 objects, ") for line in lines
        )
        assert lines[-1] == "archived 3 runs"
        assert "\r" not in result.stderr
        assert result.stderr == ""
        assert not folder(base_dir, run).exists()
        again = cli("archive", "--to", url, "--base-dir", base_dir)
        assert again.stdout.splitlines()[-1] == "archived 0 runs"

    def test_dry_run_and_one_tenant(
        self, base_dir: Path, bucket: str, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        result = cli(
            "--account", "acme", "archive", "--to", url, "--base-dir", base_dir, "--dry-run"
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            f"would archive acme/shop/{tree['b1'].run_id}",
            "would archive 1 run",
        ]
        assert objects(s3.client(), bucket) == {}

    def test_failures_exit_non_zero_with_a_count(
        self,
        base_dir: Path,
        url: str,
        s3: MotoS3,
        tree: dict[str, igl.RunLogger],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        result = cli("archive", "--to", url, "--base-dir", base_dir, "--delete")
        assert result.returncode == 1
        errors = result.stderr.splitlines()
        assert len(errors) == 4, result.stderr  # one per run, then the count
        assert errors[-1].startswith("igny8-logs: error: 3 runs not archived")
        assert "Traceback" not in result.stderr
        assert os.environ["AWS_SECRET_ACCESS_KEY"] not in result.stderr
        assert folder(base_dir, tree["a1"]).is_dir()

    @pytest.mark.parametrize(
        "args",
        [
            ["archive"],
            ["archive", "--to", "ftp://x/y"],
            ["archive", "--to", "s3://bucket/x", "--older-than", "-1"],
        ],
    )
    def test_bad_arguments_are_one_line(self, base_dir: Path, args: list[str]) -> None:
        result = cli(*args, "--base-dir", base_dir)
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("igny8-logs: error: ")

    def test_progress_bar_on_a_terminal(
        self, base_dir: Path, url: str, s3: MotoS3, tree: dict[str, igl.RunLogger]
    ) -> None:
        leader, follower = pty.openpty()
        try:
            result = cli("archive", "--to", url, "--base-dir", base_dir, stderr=follower)
            os.close(follower)
            follower = -1
            shown = b""
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            os.close(leader)
            if follower >= 0:
                os.close(follower)
        assert result.returncode == 0
        assert b"\r[" in shown
        assert b"3/3 runs" in shown
