"""Opening folders and files below a root directory, safely.

Every folder below the root is opened with ``O_NOFOLLOW`` relative to its
parent, so a symbolic link planted below the root is never followed, for
writing or for reading (the root itself may be a link).  Hard links planted in
a run folder are left alone on purpose: Linux's ``fs.protected_hardlinks``
stops linking to files one cannot write, and refusing ``st_nlink > 1`` would
break ``cp -al`` backups.  Missing folders are made with exactly ``dir_mode``;
append descriptors are opened with ``O_APPEND`` (one ``write`` per record never
tears or interleaves lines).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["Key", "open_file_at", "open_tree_dir", "open_tree_file", "subdirs"]

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
    root: str,
    parts: Sequence[str],
    *,
    create: bool = False,
    dir_mode: int = 0o750,
    visit: Callable[[int], None] | None = None,
) -> int:
    """Open ``root/parts...`` as a directory descriptor without following links.

    The root itself may be a link; no component below it may be.  With
    *create*, missing directories are made with exactly *dir_mode*.  Raises
    ``OSError`` (``FileNotFoundError`` when a part is missing and not created,
    ``ELOOP``/``ENOTDIR`` when a part is a link or not a directory).  *visit*
    is called with the descriptor of each directory opened, the root first.
    """
    fd = _open_root(root, create, dir_mode)
    try:
        if visit is not None:
            visit(fd)
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
            if visit is not None:
                visit(fd)
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


Key = tuple[str, ...]


def _open_append(
    root: str,
    parts: Sequence[str],
    name: str,
    dir_mode: int,
    file_mode: int,
    visit: Callable[[int], None] | None = None,
) -> tuple[int, bool]:
    """The append descriptor, and whether the file ends inside a (torn) line."""
    dir_fd = open_tree_dir(root, parts, create=True, dir_mode=dir_mode, visit=visit)
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
