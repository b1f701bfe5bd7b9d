"""The one writing path, ``FileTree``, and the link-refusing openers (``_files``)."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from igny8_logging._files import FileTree
from igny8_logging._opening import open_tree_file
from igny8_logging._watch import WATCHER

RUN = ("7", "site", "run_20261129_013000_abcd1234")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(params=[0o077, 0o000], ids=["umask077", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield int(request.param)
    finally:
        os.umask(old)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[FileTree]:
    tree = FileTree(str(tmp_path / "base"))
    yield tree
    tree.close()


class TestModes:
    """Each directory made gets exactly ``dir_mode``, each file ``file_mode``, any umask."""

    @pytest.mark.parametrize(("dir_mode", "file_mode"), [(0o750, 0o640), (0o2770, 0o660)])
    def test_every_level_created(
        self, tmp_path: Path, umask: int, dir_mode: int, file_mode: int
    ) -> None:
        root = tmp_path / "missing" / "parents" / "base"
        tree = FileTree(str(root), dir_mode=dir_mode, file_mode=file_mode)
        tree.write(RUN, "automation_run.log", b"x\n")
        tree.close()
        created = [tmp_path / "missing", tmp_path / "missing" / "parents", root]
        path = root
        for part in RUN:
            path = path / part
            created.append(path)
        assert {str(p): oct(mode(p)) for p in created} == {str(p): oct(dir_mode) for p in created}
        assert oct(mode(path / "automation_run.log")) == oct(file_mode)

    def test_existing_levels_are_left_alone(self, tmp_path: Path, umask: int) -> None:
        root = tmp_path / "base"
        root.mkdir(mode=0o755)
        os.chmod(root, 0o755)
        tree = FileTree(str(root), dir_mode=0o700, file_mode=0o600)
        tree.write(RUN, "f.log", b"x\n")
        tree.close()
        assert mode(root) == 0o755
        assert mode(root / "7") == 0o700


class TestAppend:
    """One ``write`` per record on an ``O_APPEND`` descriptor, kept open in a bounded LRU."""

    def test_descriptor_is_append_only_and_reused(self, tree: FileTree) -> None:
        tree.write(RUN, "a.log", b"one\n")
        ((key, fd),) = tree._fds.items()
        assert key == (*RUN, "a.log")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        assert flags & os.O_APPEND
        assert flags & os.O_ACCMODE == os.O_WRONLY
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        tree.write(RUN, "a.log", b"two\n")
        assert tree._fds[key] == fd  # not reopened per record
        assert (Path(tree.root, *RUN) / "a.log").read_bytes() == b"one\ntwo\n"

    def test_appends_after_other_writers(self, tree: FileTree) -> None:
        tree.write(RUN, "a.log", b"one\n")
        with open(Path(tree.root, *RUN, "a.log"), "ab") as other:
            other.write(b"other\n")
        tree.write(RUN, "a.log", b"two\n")
        assert Path(tree.root, *RUN, "a.log").read_bytes() == b"one\nother\ntwo\n"

    def test_open_descriptors_are_bounded(self, tmp_path: Path) -> None:
        tree = FileTree(str(tmp_path / "base"), max_open=8)
        before = open_fds()
        for n in range(200):
            tree.write(("_", "_", f"run_20261129_013000_{n:08x}"), "a.log", b"x\n")
            assert tree.open_count <= 8
            assert open_fds() <= before + 8
        assert tree.open_count == 8
        # Least recently used go first: the last eight runs are the open ones.
        assert [key[2][-3:] for key in tree._fds] == [f"{n:03x}" for n in range(192, 200)]
        tree.close()
        assert tree.open_count == 0
        assert open_fds() == before

    def test_close_then_write_reopens(self, tree: FileTree) -> None:
        tree.write(RUN, "a.log", b"1\n")
        tree.close()
        tree.write(RUN, "a.log", b"2\n")
        assert Path(tree.root, *RUN, "a.log").read_bytes() == b"1\n2\n"

    def test_full_file_size_limit_raises_and_drops_the_descriptor(self, tree: FileTree) -> None:
        """``RLIMIT_FSIZE`` stands in for a full disk (EFBIG), in a forked child."""
        tree.write(RUN, "a.log", b"x" * 100 + b"\n")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            import resource
            import signal

            code = 1
            try:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (50, 50))
                try:
                    tree.write(RUN, "a.log", b"y\n")
                except OSError as exc:
                    code = 0 if exc.errno == errno.EFBIG and tree.open_count == 0 else 2
            finally:
                os.write(write, bytes([code]))
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        assert os.read(read, 1) == b"\x00"
        os.close(read)


class TestLastFile:
    """``append_at``: the file appended to last costs one write, and changes are still seen."""

    def test_appends_and_notices_a_deleted_file(self, tree: FileTree) -> None:
        name = "a.log"
        tree.append_at(RUN, name, b"1\n")
        tree.append_at(RUN, name, b"2\n")
        path = Path(tree.root, *RUN, name)
        assert path.read_bytes() == b"1\n2\n"
        path.unlink()
        WATCHER.poll()  # what the handlers do once per record
        tree.append_at(RUN, name, b"3\n")
        assert path.read_bytes() == b"3\n"

    def test_an_evicted_last_file_is_closed(self, tmp_path: Path) -> None:
        tree = FileTree(str(tmp_path / "base"), max_open=1)
        before = open_fds()
        tree.append_at(RUN, "a.log", b"1\n")
        assert open_fds() == before + 1
        tree.append((*RUN, "b.log"), b"1\n")  # evicts a.log, the remembered one
        assert open_fds() == before + 1
        tree.append_at(RUN, "a.log", b"2\n")
        assert Path(tree.root, *RUN, "a.log").read_bytes() == b"1\n2\n"
        tree.close()
        assert open_fds() == before

    def test_bounded_across_many_runs(self, tmp_path: Path) -> None:
        tree = FileTree(str(tmp_path / "base"), max_open=4)
        before = open_fds()
        runs = [("_", "_", f"run_20261129_013000_{n:08x}") for n in range(50)]
        for parts in runs * 2:
            tree.append_at(parts, "a.log", b"x\n")
            assert open_fds() <= before + 4
        assert all(Path(tree.root, *parts, "a.log").read_bytes() == b"x\nx\n" for parts in runs)
        tree.close()
        assert open_fds() == before


class TestRecreate:
    """A file or folder deleted while a run is written is recreated by the next record."""

    def test_deleted_file(self, tree: FileTree) -> None:
        tree.write(RUN, "a.log", b"1\n")
        Path(tree.root, *RUN, "a.log").unlink()
        tree.write(RUN, "a.log", b"2\n")
        assert Path(tree.root, *RUN, "a.log").read_bytes() == b"2\n"

    def test_deleted_run_folder_and_tenant(self, tree: FileTree) -> None:
        import shutil

        tree.write(RUN, "a.log", b"1\n")
        tree.write(RUN, "b.log", b"1\n")
        shutil.rmtree(Path(tree.root, RUN[0]))
        tree.write(RUN, "a.log", b"2\n")
        tree.write(RUN, "b.log", b"2\n")
        assert Path(tree.root, *RUN, "a.log").read_bytes() == b"2\n"
        assert Path(tree.root, *RUN, "b.log").read_bytes() == b"2\n"

    def test_deleted_root(self, tree: FileTree) -> None:
        import shutil

        tree.write(RUN, "a.log", b"1\n")
        shutil.rmtree(tree.root)
        tree.write(RUN, "a.log", b"2\n")
        assert Path(tree.root, *RUN, "a.log").read_bytes() == b"2\n"


class TestLinks:
    """No symbolic link below the root is followed; the root itself may be a link."""

    @pytest.fixture
    def outside(self, tmp_path: Path) -> Path:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "automation_run.log").write_bytes(b"precious\n")
        return outside

    def listing(self, outside: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(outside)): p.read_bytes() if p.is_file() else b""
            for p in sorted(outside.rglob("*"))
        }

    @pytest.mark.parametrize("level", [1, 2, 3])
    def test_link_at_a_folder_level_is_refused(
        self, tree: FileTree, outside: Path, level: int
    ) -> None:
        before = self.listing(outside)
        parent = Path(tree.root, *RUN[: level - 1])
        parent.mkdir(parents=True, exist_ok=True)
        (parent / RUN[level - 1]).symlink_to(outside, target_is_directory=True)
        with pytest.raises(OSError) as info:
            tree.write(RUN, "automation_run.log", b"evil\n")
        assert info.value.errno in (errno.ELOOP, errno.ENOTDIR)
        assert self.listing(outside) == before

    def test_link_at_the_file_is_refused(self, tree: FileTree, outside: Path) -> None:
        folder = Path(tree.root, *RUN)
        folder.mkdir(parents=True)
        (folder / "automation_run.log").symlink_to(outside / "automation_run.log")
        (folder / "dangling.log").symlink_to(outside / "new.log")
        before = self.listing(outside)
        for name in ("automation_run.log", "dangling.log"):
            with pytest.raises(OSError):
                tree.write(RUN, name, b"evil\n")
        assert self.listing(outside) == before

    def test_fifo_and_directory_are_refused(self, tree: FileTree) -> None:
        folder = Path(tree.root, *RUN)
        folder.mkdir(parents=True)
        os.mkfifo(folder / "fifo.log")
        (folder / "dir.log").mkdir()
        for name in ("fifo.log", "dir.log"):
            with pytest.raises(OSError):
                tree.write(RUN, name, b"x\n")
        assert tree.open_count == 0

    def test_root_may_be_a_link(self, tmp_path: Path) -> None:
        real = tmp_path / "real"
        real.mkdir()
        (tmp_path / "link").symlink_to(real, target_is_directory=True)
        tree = FileTree(str(tmp_path / "link"))
        tree.write(RUN, "a.log", b"ok\n")
        tree.close()
        assert (real.joinpath(*RUN) / "a.log").read_bytes() == b"ok\n"
        fd = open_tree_file(str(tmp_path / "link"), RUN, "a.log")
        try:
            assert os.read(fd, 10) == b"ok\n"
        finally:
            os.close(fd)


class TestFork:
    """After a fork the child drops its inherited descriptors and reopens on demand."""

    def test_child_reopens(self, tree: FileTree) -> None:
        tree.write(RUN, "a.log", b"parent 1\n")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            ok = tree.open_count == 0
            try:
                tree.write(RUN, "a.log", b"child\n")
            finally:
                os.write(write, b"1" if ok and tree.open_count == 1 else b"0")
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        assert os.read(read, 1) == b"1"
        os.close(read)
        tree.write(RUN, "a.log", b"parent 2\n")
        assert Path(tree.root, *RUN, "a.log").read_bytes() == b"parent 1\nchild\nparent 2\n"


class TestMovedAway:
    """A file renamed away, a run folder moved elsewhere, a truncated file or a descriptor
    closed behind the writer's back: the next write goes to a file at the key's own path
    (recreated when needed), never to the moved-away copy."""

    def test_file_renamed_away(self, tree: FileTree) -> None:
        path = Path(tree.root, *RUN, "a.log")
        tree.write(RUN, "a.log", b"1\n")
        path.rename(path.with_name("a.log.1"))  # logrotate's mv
        tree.write(RUN, "a.log", b"2\n")
        assert path.read_bytes() == b"2\n"
        assert path.with_name("a.log.1").read_bytes() == b"1\n"

    @pytest.mark.parametrize("level", [1, 2, 3])
    def test_folder_moved_outside_the_root(
        self, tree: FileTree, tmp_path: Path, level: int
    ) -> None:
        tree.write(RUN, "a.log", b"1\n")
        moved = tmp_path / "elsewhere"
        Path(tree.root, *RUN[:level]).rename(moved)
        tree.write(RUN, "a.log", b"2\n")
        assert Path(tree.root, *RUN, "a.log").read_bytes() == b"2\n"
        assert moved.joinpath(*RUN[level:], "a.log").read_bytes() == b"1\n"

    def test_truncated_file(self, tree: FileTree) -> None:
        path = Path(tree.root, *RUN, "a.log")
        tree.write(RUN, "a.log", b"1\n")
        os.truncate(path, 0)  # copytruncate
        tree.write(RUN, "a.log", b"2\n")
        assert path.read_bytes() == b"2\n"

    def test_descriptor_closed_behind_our_back(self, tree: FileTree) -> None:
        tree.write(RUN, "a.log", b"1\n")
        ((_, entry),) = tree._fds.items()
        os.close(entry.fileno())
        tree.write(RUN, "a.log", b"2\n")  # EBADF: reopened, this record kept
        tree.write(RUN, "a.log", b"3\n")
        assert Path(tree.root, *RUN, "a.log").read_bytes() == b"1\n2\n3\n"

    def test_without_inotify_the_fallback_notices(self, tmp_path: Path) -> None:
        """Where inotify is missing or blind (network filesystems), fstat + stat do it."""
        from igny8_logging._watch import Watcher

        blind = Watcher()
        blind.after_fork_in_child()  # a fresh instance, then make it unavailable
        os.close(blind._fd)
        blind._fd = -1
        tree = FileTree(str(tmp_path / "base"), watcher=blind)
        path = Path(tree.root, *RUN, "a.log")
        tree.write(RUN, "a.log", b"1\n")
        path.rename(path.with_name("a.log.1"))
        tree.write(RUN, "a.log", b"2\n")
        Path(tree.root, RUN[0]).rename(tmp_path / "moved")
        tree.write(RUN, "a.log", b"3\n")
        tree.close()
        assert path.read_bytes() == b"3\n"
        assert (tmp_path / "moved").joinpath(*RUN[1:], "a.log").read_bytes() == b"2\n"
