"""An archive as a run source: only runs with a well-formed manifest are read.

S3 is played by moto's S3-compatible server (``tests/_moto.py``, the ``s3`` fixture):
a real HTTP server on a local port, since this machine has no cloud access.
"""

from __future__ import annotations

import io
import json

import pytest
from _moto import MotoS3, free_port

import igny8_logging as igl
from igny8_logging._archive_source import MANIFEST, ArchiveSource, Manifest, run_prefix
from igny8_logging._checksums import digest_stream
from igny8_logging._ids import RunRef

RUN_ID = "run_20261129_013000_abcd1234"
LOG = b"".join(b"line %d\n" % n for n in range(100))


def archived(bucket: str, ref: RunRef) -> ArchiveSource:
    """A source over *bucket* holding one run: its log and manifest, written by hand."""
    source = ArchiveSource(f"s3://{bucket}/arch")
    prefix = run_prefix(source.store, ref)
    source.store.put_bytes(prefix + "automation_run.log", LOG, "text/plain")
    manifest = Manifest(RUN_ID, {"automation_run.log": digest_stream(io.BytesIO(LOG))}, None, None)
    body = json.dumps(manifest.as_dict(*ref.tenant_parts)).encode()
    source.store.put_bytes(prefix + MANIFEST, body, "application/json")
    return source


class TestManifest:
    """The manifest round-trips; one of another run or damaged is ``None``."""

    def test_parse(self) -> None:
        manifest = Manifest(
            RUN_ID, {"automation_run.log": digest_stream(io.BytesIO(LOG))}, None, None
        )
        data = manifest.as_dict("1", "2")
        assert Manifest.parse(data, RUN_ID) == manifest
        assert Manifest.parse(data, "run_20261129_013000_other000") is None
        assert (
            Manifest.parse({**data, "files": {"../x": data["files"]["automation_run.log"]}}, RUN_ID)
            is None
        )


class TestReads:
    """A manifested run is listed and tailed from the store; others are not there."""

    def test_tail_and_listing(self, s3: MotoS3, bucket: str) -> None:
        ref = RunRef.checked(RUN_ID, "7", "3")
        source = archived(bucket, ref)
        assert source.has_run(ref)
        assert source.list_runs(ref.tenant_parts) == [RUN_ID]
        assert source.tail(ref, "automation_run.log", 2) == ["line 98", "line 99"]
        assert not source.has_run(RunRef.checked(RUN_ID, "7", "4"))


class TestUnreachable:
    """A store that cannot be reached is a ``SourceUnavailable`` for reads, and is left out
    of the reader's listings."""

    def test_reads_raise_and_listings_leave_it_out(
        self, s3: MotoS3, bucket: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ref = RunRef.checked(RUN_ID, "7", "3")
        archived(bucket, ref)
        url = f"s3://{bucket}/arch"
        reader = igl.RunLogReader("/nonexistent", archive_url=url)
        assert reader.tail(RUN_ID, 1, account_id=7, site_id=3) == ["line 99"]
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        reader = igl.RunLogReader("/nonexistent", archive_url=url)  # a new client, nobody there
        with pytest.raises(igl.SourceUnavailable) as info:
            reader.tail(RUN_ID, 1, account_id=7, site_id=3)
        assert info.value.source == "the archive"
        assert str(info.value).startswith(f"cannot read from the archive {url}/")
        assert reader.list_runs(account_id=7, site_id=3) == []
