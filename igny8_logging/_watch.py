"""Noticing, without a system call per file per record, that an open log changed under us.

A writer keeps descriptors open between records.  A file deleted, renamed away
(logrotate's ``mv``) or whose run folder (or any folder above it) was moved or
removed must not keep receiving records through the old descriptor: the next
record goes to a file at the run's own path.

On Linux one inotify instance per process watches every open file (delete /
move / link-count changes: ``IN_ATTRIB``, ``IN_MOVE_SELF``, ``IN_DELETE_SELF``)
and the folders above it (``IN_MOVE_SELF``, ``IN_DELETE_SELF``).  The kernel
queues the event inside ``unlink(2)`` / ``rename(2)``, so one ``poll`` per
record (about half a microsecond, whatever the number of files) tells whether
anything changed; the owners of a changed file are marked *stale* and reopen
it by its path on their next write.  Watches are added through
``/proc/self/fd/N``, so they name exactly the inode that is open (no path race).

Where inotify is missing, exhausted (``max_user_watches``), or blind (network
filesystems, where another host's changes raise no event), each write checks
the descriptor with ``fstat`` and the path with ``stat`` instead (the fallback).
Truncation needs nothing: an ``O_APPEND`` write lands at the new end.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import struct
import sys
import termios
import threading
from collections.abc import Callable, Hashable
from typing import Final

from . import _accel

__all__ = ["WATCHER", "Watcher", "is_local_fs"]

IN_ATTRIB: Final = 0x00000004
IN_DELETE_SELF: Final = 0x00000400
IN_MOVE_SELF: Final = 0x00000800
IN_Q_OVERFLOW: Final = 0x00004000
IN_IGNORED: Final = 0x00008000
FILE_MASK: Final = IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
DIR_MASK: Final = IN_DELETE_SELF | IN_MOVE_SELF
_EVENT: Final = struct.Struct("iIII")
_FIONREAD: Final = termios.FIONREAD
_NOTHING: Final = bytes(4)
#: ``ioctl(fd, FIONREAD)`` in C (:mod:`._accel`): the bytes queued, -1 on error.
_pending: Final = _accel.pending

#: ``statfs.f_type`` of filesystems whose changes made elsewhere raise no inotify event.
_REMOTE_FS: Final = frozenset(
    {
        0x6969,  # nfs
        0xFF534D42,  # cifs
        0xFE534D42,  # smb2
        0x517B,  # smb
        0x65735546,  # fuse
        0x00C36400,  # ceph
        0x01021997,  # 9p / v9fs
        0x47504653,  # gpfs
        0x0BD00BD0,  # lustre
        0x5346414F,  # afs
        0x013111A8,  # ibrix
    }
)

#: An owner is any hashable the caller chooses; it is told which owners went stale.
Owner = Hashable
Notify = Callable[[Owner], None]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


_LIBC: Final = _libc()


def is_local_fs(fd: int) -> bool:
    """Whether inotify sees every change of the filesystem holding *fd* (not NFS, SMB...)."""
    if _LIBC is None:
        return False
    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type comes first
    try:
        if _LIBC.fstatfs(fd, buf) != 0:
            return False
    except (AttributeError, OSError):
        return False
    f_type = struct.unpack_from("l" if ctypes.sizeof(ctypes.c_long) == 8 else "i", buf)[0]
    return (f_type & 0xFFFFFFFF) not in _REMOTE_FS


class Watcher:
    """One inotify instance for the process, shared by every writer.

    ``watch`` ties an owner to an open descriptor's inode; :meth:`poll` delivers
    pending events, calling each changed inode's owners' ``notify``.  All state
    is behind one re-entrant lock, never held while calling back into a writer's
    own lock-taking code (``notify`` must only mark).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._fd = -1
        #: FIONREAD's answer (bytes queued); shared: any thread's answer is current.
        self._queued = bytearray(4)
        self._owners: dict[int, dict[Owner, Notify]] = {}
        self._open()

    def _open(self) -> None:
        self._fd = -1
        if _LIBC is None:
            return
        try:
            fd = int(_LIBC.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
        except (AttributeError, OSError):
            return
        if fd >= 0:
            self._fd = fd

    @property
    def available(self) -> bool:
        return self._fd >= 0

    def watch(self, fd: int, mask: int, owner: Owner, notify: Notify) -> int | None:
        """Watch the inode open as *fd* for *mask*; ``None`` when it cannot be watched."""
        if self._fd < 0 or _LIBC is None:
            return None
        path = f"/proc/self/fd/{fd}".encode()
        with self._lock:
            wd = int(_LIBC.inotify_add_watch(self._fd, path, mask | 0x20000000))  # IN_MASK_ADD
            if wd < 0:
                return None  # ENOSPC (max_user_watches), no /proc...: the caller falls back
            self._owners.setdefault(wd, {})[owner] = notify
        return wd

    def unwatch(self, wd: int, owner: Owner) -> None:
        """Forget *owner* on *wd*; the watch goes when its last owner does."""
        with self._lock:
            owners = self._owners.get(wd)
            if owners is None:
                return
            owners.pop(owner, None)
            if owners:
                return
            del self._owners[wd]
            if self._fd >= 0 and _LIBC is not None:
                _LIBC.inotify_rm_watch(self._fd, wd)

    def poll(self) -> None:
        """Deliver the events queued since the last call (cheap when there are none)."""
        fd = self._fd
        if fd < 0:
            return
        if _pending is not None:  # the C accelerator: the same ioctl, the GIL kept
            if _pending(fd) > 0:
                with self._lock:
                    self._drain()
            return
        queued = self._queued
        try:
            fcntl.ioctl(fd, _FIONREAD, queued)
        except OSError:
            return
        if queued != _NOTHING:
            with self._lock:
                self._drain()

    def _drain(self) -> None:
        stale: dict[Owner, Notify] = {}
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                break
            if not data:
                break
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + length
                if mask & IN_Q_OVERFLOW:  # events were lost: everything is suspect
                    for every in self._owners.values():
                        stale.update(every)
                    continue
                found = self._owners.get(wd)
                if found:
                    stale.update(found)
                if mask & IN_IGNORED:  # the kernel dropped the watch (inode gone)
                    self._owners.pop(wd, None)
        for owner, notify in stale.items():
            notify(owner)

    def after_fork_in_child(self) -> None:
        """The inherited instance is the parent's (a shared queue): start a new one."""
        old = self._fd
        self._lock = threading.RLock()
        self._owners = {}
        if old >= 0:
            try:
                os.close(old)
            except OSError:
                pass
        self._open()


#: The process's watcher.
WATCHER: Final = Watcher()
