"""Writing files below one root directory, without tearing lines.

:class:`FileTree` is the single writing path used for the primary tree and for
the mirror: each record reaches each file in one ``write`` on an ``O_APPEND``
descriptor.  Descriptors stay open in a small LRU cache.  Folders and files are
opened by :mod:`._opening` (``O_NOFOLLOW`` relative to the parent, so a
symbolic link planted below the root is never followed).

A file deleted, renamed away or truncated, or a folder above it moved or
removed, is noticed by the next record (see :mod:`._watch`): it goes to a file
at the run's own path, recreated when needed, never to the moved-away copy.
"""

from __future__ import annotations

import errno
import os
import threading
import weakref
from collections import OrderedDict

from ._opening import Key, _open_append
from ._watch import DIR_MASK, FILE_MASK, WATCHER, Watcher, is_local_fs

__all__ = ["FileTree"]

_live_trees: weakref.WeakSet[FileTree] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    WATCHER.after_fork_in_child()
    for tree in list(_live_trees):
        tree.forget_descriptors()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_ino == b.st_ino and a.st_dev == b.st_dev


class _Descriptor:
    """An open append descriptor, closed when the last reference goes.

    The cache drops its reference on eviction; a thread still writing through
    the descriptor holds its own, so the number is never closed (and reused
    by another open) under a write in progress, with no lock on the hot path.
    """

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def disown(self) -> None:
        """Forget the number without closing it (closed behind our back, or after a fork)."""
        self.fd = -1

    def __del__(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


class FileTree:
    """Appends to files below one root directory (the primary tree or the mirror).

    Thread-safe.  The hot path (an open, watched, unchanged file) takes no lock:
    one dictionary lookup and one ``os.write``.  Opening, evicting and dropping
    descriptors take a re-entrant lock (a logging call made from a signal
    handler inside the library completes).  Failures raise ``OSError``;
    counting and reporting them is the caller's business.
    """

    def __init__(
        self,
        root: str,
        *,
        label: str = "primary",
        dir_mode: int = 0o750,
        file_mode: int = 0o640,
        max_open: int = 32,
        watcher: Watcher = WATCHER,
    ) -> None:
        self.root = root
        self.label = label
        self.dir_mode = dir_mode
        self.file_mode = file_mode
        self.max_open = max(1, max_open)
        self._watcher = watcher
        self._lock = threading.RLock()
        self._fds: OrderedDict[Key, _Descriptor] = OrderedDict()
        #: inotify watches held per key (file first, then its folders).
        self._wds: dict[Key, list[int]] = {}
        #: Keys inotify cannot vouch for: checked with fstat + stat on every write.
        self._unwatched: set[Key] = set()
        #: Keys whose file changed (marked by the watcher): reopened by the next write.
        self._stale: set[Key] = set()
        #: Files found ending inside a line when opened: the next write ends it first.
        self._torn: set[Key] = set()
        #: The last file appended to by :meth:`append_at`: (parts, name, descriptor, key).
        self._last: tuple[tuple[str, ...], str, _Descriptor, Key] | None = None
        stale = self._stale

        def notify(owner: object) -> None:
            stale.add(owner[1])  # type: ignore[index]

        self._notify = notify
        _live_trees.add(self)

    @property
    def open_count(self) -> int:
        return len(self._fds)

    def path(self, key: Key) -> str:
        return os.path.join(self.root, *key)

    def write(
        self,
        parts: tuple[str, ...],
        name: str,
        data: bytes,
        *,
        sync: bool = False,
        polled: bool = False,
    ) -> None:
        """Append *data* to ``parts/name`` in one ``write``; raises ``OSError``.

        *polled*: the caller already delivered this record's change events
        (``Watcher.poll``), once for all its files.
        """
        if not polled:
            self._watcher.poll()
        self.append((*parts, name), data, sync)

    def append_at(self, parts: tuple[str, ...], name: str, data: bytes, sync: bool = False) -> None:
        """:meth:`append` for ``parts/name``; the same file as the last append costs one write.

        The last file appended to is remembered by the identity of its *parts*
        and *name* (the handlers pass the same objects for every record of a
        run), so no key is built, hashed or looked up for it.
        """
        last = self._last
        if (
            last is not None
            and last[0] is parts
            and last[1] is name
            and not (self._stale or self._unwatched or self._torn or sync)
        ):
            fd = last[2].fd
            try:
                written = os.write(fd, data)
            except OSError:
                pass  # nothing was written: the slow path tells the cases apart
            else:
                if written == len(data):
                    return
                self._finish_short(last[3], fd, data, written)
                return
        key = (*parts, name)
        self.append(key, data, sync)
        entry = self._fds.get(key)
        if entry is not None:
            self._last = (parts, name, entry, key)

    def _finish_short(self, key: Key, fd: int, data: bytes, written: int) -> None:
        try:  # a short write (full disk, signal): the rest, as before
            while written < len(data):
                written += os.write(fd, data[written:])
        except OSError:
            with self._lock:
                self._drop(key)
            raise

    def append(self, key: Key, data: bytes, sync: bool = False) -> None:
        """:meth:`write` for a ``(*parts, name)`` key, events already polled."""
        entry = self._fds.get(key)
        if entry is not None and not (self._stale or self._unwatched or self._torn or sync):
            try:
                self._fds.move_to_end(key)
            except KeyError:  # evicted meanwhile by another thread: ours still holds it
                pass
            try:
                written = os.write(entry.fd, data)
            except OSError:
                pass  # nothing was written: the slow path tells the cases apart
            else:
                if written == len(data):
                    return
                self._finish_short(key, entry.fd, data, written)
                return
        with self._lock:
            self._append_slow(key, data, sync)

    def _append_slow(self, key: Key, data: bytes, sync: bool) -> None:
        entry = self._current(key)
        try:
            self._write(key, entry, data, sync)
        except OSError as exc:
            if exc.errno != errno.EBADF:
                self._drop(key)
                raise
            # Closed behind our back: not ours to close; reopen at the path, once.
            self._drop(key, close=False)
            entry = self._current(key)
            try:
                self._write(key, entry, data, sync)
            except OSError:
                self._drop(key)
                raise

    def _write(self, key: Key, entry: _Descriptor, data: bytes, sync: bool) -> None:
        torn = self._torn
        if torn and key in torn:  # end the cut-off line first, so this record starts its own
            data = b"\n" + data
        fd = entry.fd
        written = os.write(fd, data)
        while written < len(data):  # only on a short write (full disk, signal)
            written += os.write(fd, data[written:])
        if sync:
            os.fsync(fd)
        if torn:
            torn.discard(key)

    def _current(self, key: Key) -> _Descriptor:
        """The open descriptor of ``key``, reopened when its file changed (caller locks)."""
        entry = self._fds.get(key)
        if entry is not None:
            stale = self._stale
            if not (stale and key in stale):
                unwatched = self._unwatched
                if not (unwatched and key in unwatched and self._changed(key, entry.fd)):
                    self._fds.move_to_end(key)
                    return entry
            self._drop(key)
        return self._open(key)

    def _changed(self, key: Key, fd: int) -> bool:
        """The fallback check: deleted, or no longer the file at the run's path."""
        try:
            st = os.fstat(fd)
            if not st.st_nlink:
                return True
            return not _same_file(st, os.stat(self.path(key)))
        except OSError:
            return True

    def _open(self, key: Key) -> _Descriptor:
        for _ in range(3):
            self._stale.discard(key)
            entry = self._open_once(key)
            # A change between opening and watching raised no event: look once, now.
            if not self._changed(key, entry.fd):
                return entry
            self._drop(key)
        entry = self._open_once(key)
        self._unwatched.add(key)
        return entry

    def _open_once(self, key: Key) -> _Descriptor:
        owner = (id(self), key)
        wds: list[int] = []
        watch = self._watcher.watch
        notify = self._notify

        def visit(dir_fd: int) -> None:
            wd = watch(dir_fd, DIR_MASK, owner, notify)
            if wd is not None:
                wds.append(wd)

        try:
            fd, torn = _open_append(
                self.root, key[:-1], key[-1], self.dir_mode, self.file_mode, visit
            )
        except BaseException:
            for wd in wds:
                self._watcher.unwatch(wd, owner)
            raise
        entry = _Descriptor(fd)
        file_wd = watch(fd, FILE_MASK, owner, notify) if is_local_fs(fd) else None
        self._wds[key] = wds if file_wd is None else [file_wd, *wds]
        if file_wd is None or len(wds) != len(key):  # root + each folder below it
            self._unwatched.add(key)
        if torn:
            self._torn.add(key)
        self._fds[key] = entry
        while len(self._fds) > self.max_open:
            self._drop(next(iter(self._fds)))
        return entry

    def _drop(self, key: Key, *, close: bool = True) -> None:
        last = self._last
        if last is not None and last[3] == key:
            self._last = None
        self._torn.discard(key)  # checked again when the file is reopened
        self._unwatched.discard(key)
        owner = (id(self), key)
        for wd in self._wds.pop(key, ()):
            self._watcher.unwatch(wd, owner)
        entry = self._fds.pop(key, None)
        if entry is not None and not close:
            entry.disown()
        # Else closed when the last reference goes (now, unless a write holds it).

    def close(self) -> None:
        """Close every descriptor and drop its watches; a later write reopens."""
        with self._lock:
            for key in list(self._fds):
                self._drop(key)
            self._stale.clear()

    def forget_descriptors(self) -> None:
        """After a fork, in the child: close the inherited copies, start afresh.

        The parent's watches belong to the parent's inotify instance (the child
        has its own), and a lock another thread held at the fork is replaced.
        """
        self._lock = threading.RLock()
        self._last = None
        for entry in self._fds.values():
            fd = entry.fd
            entry.disown()
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fds.clear()
        self._wds.clear()
        self._unwatched.clear()
        self._stale.clear()
        self._torn.clear()
