"""Real filesystem faults for the tests: read-only and full directories.

The suite runs as root in its container, where ``chmod`` does not stop a write.
A directory is made really read-only or really small by mounting a ``tmpfs``
on it (``mount -t tmpfs -o ro`` / ``-o size=...``, then ``-o remount``).  Where
mounting is not permitted, :class:`Mount` falls back to ``chattr +i`` (root)
or ``chmod 0555`` (non-root) for read-only; a full disk then cannot be made,
and the test that needs one simulates ``ENOSPC`` instead (it says so).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


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
