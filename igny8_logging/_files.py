"""Writing files below one root directory, safely and without tearing lines.

:class:`FileTree` is the single writing path used for the primary tree and for
the mirror: each record reaches each file in one ``write`` on an ``O_APPEND``
descriptor.  Descriptors stay open in a small LRU cache; every directory below
the root is opened with ``O_NOFOLLOW`` relative to its parent, so a symbolic
link planted below the root is never followed, for writing or for reading.
"""

from __future__ import annotations

import errno
import os
import stat
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["FileTree", "open_file_at", "open_tree_dir", "open_tree_file", "subdirs"]

_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_APPEND_FLAGS: Final = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_READ_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_SETTLE_CHECKS: Final = 10


def _make_dirs(path: str, dir_mode: int) -> None:
    """``mkdir -p -m dir_mode``: *path* and each missing parent get exactly *dir_mode*.

    (``os.makedirs`` applies the umask, and to parents not even *dir_mode*.)
    """
    head = os.path.dirname(path.rstrip(os.sep))
    if head and head != path and not os.path.exists(head):
        _make_dirs(head, dir_mode)
    try:
        os.mkdir(path, dir_mode)
    except FileExistsError:
        return  # made by a concurrent writer
    os.chmod(path, dir_mode)


def _open_root(root: str, create: bool, dir_mode: int) -> int:
    try:
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        if not create:
            raise
        _make_dirs(root, dir_mode)
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_tree_dir(
    root: str, parts: Sequence[str], *, create: bool = False, dir_mode: int = 0o750
) -> int:
    """Open ``root/parts...`` as a directory descriptor without following links.

    The root itself may be a link; no component below it may be.  With
    *create*, missing directories are made with exactly *dir_mode*.  Raises
    ``OSError`` (``FileNotFoundError`` when a part is missing and not created,
    ``ELOOP``/``ENOTDIR`` when a part is a link or not a directory).
    """
    fd = _open_root(root, create, dir_mode)
    try:
        for name in parts:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, dir_mode, dir_fd=fd)
                except FileExistsError:
                    pass  # made by a concurrent writer
                else:
                    os.chmod(name, dir_mode, dir_fd=fd, follow_symlinks=False)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_regular(fd: int) -> None:
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")


def open_file_at(dir_fd: int, name: str) -> int:
    """Open *name* in the directory *dir_fd* for reading, refusing links and non-regular files."""
    fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    _check_regular(fd)
    return fd


def open_tree_file(root: str, parts: Sequence[str], name: str) -> int:
    """Open ``root/parts.../name`` for reading, refusing links and non-regular files."""
    dir_fd = open_tree_dir(root, parts)
    try:
        return open_file_at(dir_fd, name)
    finally:
        os.close(dir_fd)


def _ends_inside_line(dir_fd: int, name: str) -> bool:
    """Whether the file ends inside a line: a record cut short by a writer that was
    killed mid-write or ran out of space.  Another process's write in progress looks
    the same for an instant, so the end must stay torn for a few milliseconds."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        for _ in range(_SETTLE_CHECKS):
            size = os.fstat(fd).st_size
            if not size or os.pread(fd, 1, size - 1) == b"\n":
                return False
            time.sleep(0.001)
        return True
    finally:
        os.close(fd)


def subdirs(dir_fd: int, valid: Callable[[str], bool]) -> list[str]:
    """Sorted names of the real (not linked) subdirectories of *dir_fd* that pass *valid*."""
    names = []
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            try:
                if valid(entry.name) and entry.is_dir(follow_symlinks=False):
                    names.append(entry.name)
            except OSError:
                continue
    return sorted(names)


def _open_append(
    root: str, parts: Sequence[str], name: str, dir_mode: int, file_mode: int
) -> tuple[int, bool]:
    """The append descriptor, and whether the file ends inside a (torn) line."""
    dir_fd = open_tree_dir(root, parts, create=True, dir_mode=dir_mode)
    torn = False
    try:
        try:
            fd = os.open(name, _APPEND_FLAGS | os.O_CREAT | os.O_EXCL, file_mode, dir_fd=dir_fd)
        except FileExistsError:
            fd = os.open(name, _APPEND_FLAGS, dir_fd=dir_fd)
            torn = _ends_inside_line(dir_fd, name)
        else:
            os.fchmod(fd, file_mode)
    finally:
        os.close(dir_fd)
    _check_regular(fd)
    return fd, torn


_live_trees: weakref.WeakSet[FileTree] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for tree in list(_live_trees):
        tree.forget_descriptors()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class FileTree:
    """Appends to files below one root directory (the primary tree or the mirror).

    Not thread-safe on its own: the owning handler serialises calls with its
    lock.  ``failures`` counts failed writes; ``failing`` is true from a failure
    until the next successful write.
    """

    def __init__(
        self,
        root: str,
        *,
        label: str = "primary",
        dir_mode: int = 0o750,
        file_mode: int = 0o640,
        max_open: int = 32,
    ) -> None:
        self.root = root
        self.label = label
        self.dir_mode = dir_mode
        self.file_mode = file_mode
        self.max_open = max(1, max_open)
        self.failures = 0
        self.failing = False
        self._fds: OrderedDict[tuple[str, ...], int] = OrderedDict()
        #: Files found ending inside a line when opened: the next write ends it first.
        self._torn: set[tuple[str, ...]] = set()
        _live_trees.add(self)

    @property
    def open_count(self) -> int:
        return len(self._fds)

    def _descriptor(self, key: tuple[str, ...]) -> int:
        """The open descriptor of ``key`` (``(*parts, name)``), reopened if it was deleted."""
        fd = self._fds.get(key)
        if fd is not None:
            if os.fstat(fd).st_nlink:
                self._fds.move_to_end(key)
                return fd
            # Deleted under us (the file or its whole run folder): recreate it.
            del self._fds[key]
            os.close(fd)
        fd, torn = _open_append(self.root, key[:-1], key[-1], self.dir_mode, self.file_mode)
        if torn:
            self._torn.add(key)
        self._fds[key] = fd
        while len(self._fds) > self.max_open:
            os.close(self._fds.popitem(last=False)[1])
        return fd

    def write(self, parts: tuple[str, ...], name: str, data: bytes, *, sync: bool = False) -> None:
        """Append *data* to ``parts/name`` in one ``write``; raises ``OSError``."""
        key = (*parts, name)
        fd = self._descriptor(key)
        torn = self._torn
        if torn and key in torn:  # end the cut-off line first, so this record starts its own
            data = b"\n" + data
        try:
            written = os.write(fd, data)
            while written < len(data):  # only on a short write (full disk, signal)
                written += os.write(fd, data[written:])
            if sync:
                os.fsync(fd)
        except OSError:
            self._drop(key)
            raise
        if torn:
            torn.discard(key)

    def _drop(self, key: tuple[str, ...]) -> None:
        self._torn.discard(key)  # checked again when the file is reopened
        fd = self._fds.pop(key, None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def forget_descriptors(self) -> None:
        """After a fork: close this process's copies; files reopen on demand."""
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()
        self._torn.clear()

    close = forget_descriptors
