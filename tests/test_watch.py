"""Tests of ``igny8_logging._watch``: a changed open file is noticed by one poll."""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterator
from pathlib import Path

import pytest

from igny8_logging._watch import DIR_MASK, FILE_MASK, Watcher, is_local_fs


@pytest.fixture
def watcher() -> Iterator[Watcher]:
    w = Watcher()
    if not w.available:
        pytest.skip("inotify not available")
    yield w
    os.close(w._fd)
    w._fd = -1


def _watch(w: Watcher, path: Path, mask: int, seen: list[Hashable]) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        wd = w.watch(fd, mask, "owner", seen.append)
    finally:
        os.close(fd)
    assert wd is not None
    return wd


#: Every test runs with the C accelerator and without it (conftest ``speedups``).
pytestmark = pytest.mark.usefixtures("speedups")


class TestFileChanges:
    """Deleting, renaming or relinking a watched file marks its owner stale."""

    @pytest.mark.parametrize("change", ["unlink", "rename", "link"])
    def test_change_is_noticed(self, watcher: Watcher, tmp_path: Path, change: str) -> None:
        path = tmp_path / "run.log"
        path.write_bytes(b"x\n")
        seen: list[Hashable] = []
        _watch(watcher, path, FILE_MASK, seen)
        watcher.poll()
        assert seen == []
        if change == "unlink":
            path.unlink()
        elif change == "rename":
            path.rename(tmp_path / "run.log.1")
        else:
            os.link(path, tmp_path / "hard")
        watcher.poll()
        assert seen == ["owner"]

    def test_unwatched_owner_is_not_told(self, watcher: Watcher, tmp_path: Path) -> None:
        path = tmp_path / "run.log"
        path.write_bytes(b"")
        seen: list[Hashable] = []
        wd = _watch(watcher, path, FILE_MASK, seen)
        watcher.unwatch(wd, "owner")
        path.unlink()
        watcher.poll()
        assert seen == []


class TestFolderChanges:
    """Moving or removing the run folder marks the owner stale."""

    @pytest.mark.parametrize("change", ["rename", "rmdir"])
    def test_folder_change(self, watcher: Watcher, tmp_path: Path, change: str) -> None:
        folder = tmp_path / "run"
        folder.mkdir()
        seen: list[Hashable] = []
        _watch(watcher, folder, DIR_MASK, seen)
        if change == "rename":
            folder.rename(tmp_path / "moved")
        else:
            folder.rmdir()
        watcher.poll()
        assert seen == ["owner"]


class TestFallback:
    """Without inotify, watching reports ``None`` so the caller falls back to stat."""

    def test_closed_watcher_cannot_watch(self, tmp_path: Path) -> None:
        w = Watcher()
        if w._fd >= 0:
            os.close(w._fd)
        w._fd = -1
        path = tmp_path / "f"
        path.write_bytes(b"")
        fd = os.open(path, os.O_RDONLY)
        try:
            assert w.watch(fd, FILE_MASK, "o", lambda _o: None) is None
        finally:
            os.close(fd)
        w.poll()

    def test_tmp_path_is_local(self, tmp_path: Path) -> None:
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            assert is_local_fs(fd) is True
        finally:
            os.close(fd)
