"""Real filesystem faults for the tests: read-only and full directories.

The suite runs as root in its container, where ``chmod`` does not stop a write.
A directory is made really read-only or really small by mounting a ``tmpfs``
on it (``mount -t tmpfs -o ro`` / ``-o size=...``, then ``-o remount``).  Where
mounting is not permitted, :class:`Mount` falls back to ``chattr +i`` (root)
or ``chmod 0555`` (non-root) for read-only; a full disk then cannot be made,
and the test that needs one simulates ``ENOSPC`` instead (it says so).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from igny8_logging import _files


def _run(*args: str) -> bool:
    try:
        done = subprocess.run(args, capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class Mount:
    """A tmpfs mounted on *path* (created) for the duration of a test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounted = False
        self.immutable = False
        path.mkdir(parents=True, exist_ok=True)

    def mount(self, *options: str) -> bool:
        opts = ",".join(options) or "defaults"
        self.mounted = _run("mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(self.path))
        return self.mounted

    def remount(self, *options: str) -> None:
        assert _run("mount", "-o", ",".join(("remount", *options)), str(self.path))

    def read_only(self) -> str:
        """Make the directory read-only for real; returns how it was done."""
        if self.mounted:
            self.remount("ro")
            return "tmpfs remounted ro"
        if self.mount("ro"):
            return "read-only tmpfs mount"
        if os.geteuid() == 0 and shutil.which("chattr") and _run("chattr", "+i", str(self.path)):
            self.immutable = True
            return "chattr +i"
        assert os.geteuid() != 0, "root, and neither mount nor chattr +i is permitted here"
        self.path.chmod(0o555)
        return "chmod 0555 (not root)"

    def writable(self) -> None:
        """Undo :meth:`read_only` (an ro tmpfs comes back empty and writable)."""
        if self.mounted:
            self.remount("rw")
        elif self.immutable:
            assert _run("chattr", "-i", str(self.path))
            self.immutable = False
        else:
            self.path.chmod(0o755)

    def release(self) -> None:
        if self.mounted:
            _run("umount", "-l", str(self.path))
            self.mounted = False
        elif self.immutable:
            _run("chattr", "-i", str(self.path))
        else:
            self.path.chmod(0o755)


class _SimulatedFullDisk:
    """Stands in for ``os`` inside ``igny8_logging._files`` (only where mounting is not
    permitted): writes to files under *root* share *capacity* bytes; past it a write
    takes what fits and the next one fails with ``ENOSPC``, as on a full disk."""

    def __init__(self, root: Path, capacity: int) -> None:
        self.root = f"{root}/"
        self.left = capacity

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def write(self, fd: int, data: bytes) -> int:
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(self.root):
            return os.write(fd, data)
        if self.left <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = os.write(fd, data[: self.left])
        self.left -= written
        return written


def full_disk(mount: Mount, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make *mount* a 64 KiB disk; returns the function that grows it to 4 MiB.

    A real tmpfs when mounting is permitted, else :class:`_SimulatedFullDisk`.
    """
    if mount.mount("size=64k"):
        return lambda: mount.remount("size=4m")
    disk = _SimulatedFullDisk(mount.path, 64 * 1024)
    monkeypatch.setattr(_files, "os", disk)

    def grow() -> None:
        disk.left = 4 * 1024 * 1024

    return grow
