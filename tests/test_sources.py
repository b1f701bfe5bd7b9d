"""The places a run is read from: the ``RunSource`` protocol, ``FileSource``, and how
``RunLogReader`` picks among several (``_sources``, ``_filesource``, ``_blobsource``).

"Another place" (Redis, an archive) is played by a second real tree read through a
second ``FileSource``: the dispatch does not depend on what a source is made of.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TypedDict

import pytest
from conftest import run_dir

import igny8_logging as igl
from igny8_logging._filesource import FileSource

OLDER = "run_20261129_013000_aaaa0000"
NEWER = "run_20261130_013000_bbbb0000"
BOTH = "run_20261201_013000_cccc0000"


class _Ids(TypedDict):
    account_id: int
    site_id: str


IDS: _Ids = {"account_id": 7, "site_id": "shop"}


@pytest.fixture
def places(
    tmp_path: Path, run_logger: logging.Logger, base_dir: Path
) -> tuple[Path, Path, igl.RunLogReader]:
    """``base_dir`` (first) holds OLDER and BOTH; ``elsewhere`` holds NEWER and its own BOTH."""
    for run_id in (OLDER, BOTH, NEWER):
        run = igl.start_run(run_logger, 7, "shop", run_id=run_id)
        run.stage_start(1, "Keywords")
        run.info("written here: %s", run_id)
        run.stage_complete(1, processed=2)
        run.end()
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(base_dir, elsewhere)
    shutil.rmtree(base_dir / "7" / "shop" / NEWER)
    shutil.rmtree(elsewhere / "7" / "shop" / OLDER)
    log = elsewhere / "7" / "shop" / BOTH / "automation_run.log"
    log.write_bytes(log.read_bytes() + b"only in the other copy\n")
    reader = igl.RunLogReader(sources=[FileSource(base_dir), FileSource(elsewhere)])
    return base_dir, elsewhere, reader


class TestDispatch:
    """The first source holding a run serves it; listings merge every source."""

    def test_a_run_only_elsewhere_is_read_from_there(
        self, places: tuple[Path, Path, igl.RunLogReader]
    ) -> None:
        _, _, reader = places
        assert any(NEWER in line for line in reader.tail(NEWER, 50, **IDS))
        assert reader.summary(NEWER, **IDS)["status"] == "completed"
        assert reader.read_trace(NEWER, **IDS).complete

    def test_the_first_source_wins(self, places: tuple[Path, Path, igl.RunLogReader]) -> None:
        _, _, reader = places
        assert "only in the other copy" not in reader.tail(BOTH, 1, account_id=7, site_id="shop")

    def test_listings_merge_each_run_once_newest_first(
        self, places: tuple[Path, Path, igl.RunLogReader]
    ) -> None:
        _, _, reader = places
        assert reader.list_runs(account_id=7, site_id="shop") == [BOTH, NEWER, OLDER]
        assert reader.tenants() == [("7", "shop")]

    def test_in_no_source_is_not_found_and_bad_arguments_fail_first(
        self, places: tuple[Path, Path, igl.RunLogReader]
    ) -> None:
        _, _, reader = places
        with pytest.raises(igl.RunNotFound):
            reader.tail("run_20200101_000000_dddd0000", account_id=7, site_id="shop")
        with pytest.raises(igl.RunNotFound):
            reader.tail(OLDER)  # the `_` folders, never "any tenant"
        with pytest.raises(ValueError):
            reader.read_trace(OLDER, account_id=7, site_id="shop", cursor="x" * 300)
        with pytest.raises(ValueError):
            reader.tail(OLDER, 0, account_id=7, site_id="shop")

    def test_a_cursor_carries_over_to_another_copy_of_the_same_bytes(
        self, places: tuple[Path, Path, igl.RunLogReader]
    ) -> None:
        """Byte-offset cursors: a run read from the files, then (its local copy gone)
        from an archived copy, pages on without a gap or a repeat."""
        base_dir, _, reader = places
        whole = reader.read_trace(BOTH, **IDS).events
        first = reader.read_trace(BOTH, limit=2, **IDS)
        shutil.rmtree(base_dir / "7" / "shop" / BOTH)
        rest = reader.read_trace(BOTH, cursor=first.cursor, **IDS)
        assert first.events + rest.events == whole
        assert rest.complete

    def test_sources_must_be_run_sources(self) -> None:
        with pytest.raises(TypeError):
            igl.RunLogReader(sources=[object()])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            igl.RunLogReader(redis_url=6379)  # type: ignore[arg-type]


class TestFilesThroughTheReader:
    """What the archiver reads through the reader: tenants, a run's files, their bytes."""

    def test_run_files_and_open_file(
        self, run_logger: logging.Logger, base_dir: Path, tmp_path: Path
    ) -> None:
        run = igl.start_run(run_logger, 1, 2)
        run.for_stage(3).info("in stage 3")
        run.end()
        folder = run_dir(base_dir, run)
        (folder / ".lock").write_text("")
        (folder / "notes.txt").write_text("foreign")
        (tmp_path / "secret.log").write_text("secret")
        (folder / "stage_9.log").symlink_to(tmp_path / "secret.log")
        reader = igl.RunLogReader(base_dir)
        names = reader.run_files(run.run_id, account_id=1, site_id=2)
        assert names == ["automation_run.log", "run_trace.jsonl", "stage_3.log"]
        for name in names:
            with reader.open_file(run.run_id, name, account_id=1, site_id=2) as stream:
                assert stream.read() == (folder / name).read_bytes()
        for bad in ("notes.txt", ".lock", "../x", "stage_../a.log"):
            with pytest.raises(ValueError):
                reader.open_file(run.run_id, bad, account_id=1, site_id=2)
        with pytest.raises(FileNotFoundError):
            reader.open_file(run.run_id, "stage_9.log", account_id=1, site_id=2)  # a link
        assert reader.has_log(run.run_id, account_id=1, site_id=2, stage=3)
        assert not reader.has_log(run.run_id, account_id=1, site_id=2, stage=9)

    def test_run_end_and_events(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.start_run(run_logger)
        reader = igl.RunLogReader(base_dir)
        assert reader.run_end(run.run_id) is None
        run.end("cancelled")
        end = reader.run_end(run.run_id)
        assert end is not None
        assert end["status"] == "cancelled"
        assert [e["event"] for e in reader.events(run.run_id)] == ["run_start", "run_end"]

    def test_tenants_lists_every_tenant_folder(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        for account, site in ((1, 2), (None, None), ("acme", 3)):
            igl.start_run(run_logger, account, site)
        (base_dir / "bad..name" / "x").mkdir(parents=True)
        assert igl.RunLogReader(base_dir).tenants() == [("1", "2"), (None, None), ("acme", "3")]
