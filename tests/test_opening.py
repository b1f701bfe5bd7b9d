"""Opening folders and files below a root: no link followed, exact modes, nothing made unasked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from igny8_logging._ids import is_run_id
from igny8_logging._opening import open_file_at, open_tree_dir, open_tree_file, subdirs

RUN = ("42", "7", "run_20261129_013000_3f9a0c1e")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "automation_run.log").write_text("secret\n")
    return folder


class TestOpening:
    """Readers and writers open what is at the path, never what a planted link points at."""

    def test_readers_refuse_links_too(self, tmp_path: Path, outside: Path) -> None:
        root = tmp_path / "base"
        (root / "7").mkdir(parents=True)
        (root / "7" / "site").symlink_to(outside, target_is_directory=True)
        with pytest.raises(OSError):
            os.close(open_tree_dir(str(root), ("7", "site")))
        (root / "8" / "s").mkdir(parents=True)
        (root / "8" / "s" / "f").symlink_to(outside / "automation_run.log")
        with pytest.raises(OSError):
            os.close(open_tree_file(str(root), ("8", "s"), "f"))

    def test_opening_without_create_does_not_create(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            open_tree_dir(str(tmp_path / "base"), RUN)
        assert not (tmp_path / "base").exists()

    def test_created_levels_get_exactly_dir_mode(self, tmp_path: Path) -> None:
        old = os.umask(0o077)
        try:
            os.close(open_tree_dir(str(tmp_path / "base"), RUN, create=True, dir_mode=0o750))
        finally:
            os.umask(old)
        path = tmp_path / "base"
        for part in RUN:
            path = path / part
            assert path.stat().st_mode & 0o777 == 0o750

    def test_open_file_at_refuses_a_link(self, tmp_path: Path, outside: Path) -> None:
        folder = tmp_path / "run"
        folder.mkdir()
        (folder / "automation_run.log").symlink_to(outside / "automation_run.log")
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(OSError):
                os.close(open_file_at(dir_fd, "automation_run.log"))
        finally:
            os.close(dir_fd)


class TestSubdirs:
    """Listing a folder gives its real subfolders whose names pass the check, links left out."""

    def test_only_valid_real_folders(self, tmp_path: Path, outside: Path) -> None:
        (tmp_path / "run_20261129_013000_3f9a0c1e").mkdir()
        (tmp_path / "not-a-run").mkdir()
        (tmp_path / "run_20261129_013001_aaaaaaaa").symlink_to(outside, target_is_directory=True)
        (tmp_path / "run_20261129_013002_bbbbbbbb").write_text("a file")
        dir_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert subdirs(dir_fd, is_run_id) == ["run_20261129_013000_3f9a0c1e"]
        finally:
            os.close(dir_fd)
