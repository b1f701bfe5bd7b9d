"""Runs read from a local tree (``{base_dir}/{account}/{site}/{run_id}/``).

Every folder is opened with ``O_NOFOLLOW`` relative to its parent (see
:mod:`._files`), so a symbolic link below ``base_dir`` is never followed: a linked
run folder is no run, a linked file is no file.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import BinaryIO

from ._blobsource import BlobSource
from ._ids import MISSING, RunRef, check_tenant, default_base_dir, is_run_id
from ._lines import FileBlob
from ._opening import open_file_at, open_tree_dir, subdirs
from ._sources import RunNotFound, is_run_file

__all__ = ["FileSource", "is_tenant_part"]


def is_tenant_part(name: str) -> bool:
    """Whether a folder name can be an account or site folder (``_`` or a valid id)."""
    try:
        return name == MISSING or check_tenant(name) is not None
    except ValueError:
        return False


class FileSource(BlobSource):
    """The runs under *base_dir* (default ``$IGNY8_LOG_DIR``, else the library default)."""

    def __init__(self, base_dir: str | os.PathLike[str] | None = None) -> None:
        self.base_dir = os.fspath(base_dir) if base_dir is not None else default_base_dir()

    def __repr__(self) -> str:
        return f"FileSource({self.base_dir!r})"

    def _run_dir(self, ref: RunRef) -> int:
        try:
            return open_tree_dir(self.base_dir, ref.parts)
        except OSError:
            raise RunNotFound(
                f"no run {ref.run_id} for account {ref.account_id!r}, site {ref.site_id!r}"
            ) from None

    def open_blob(self, ref: RunRef, name: str) -> FileBlob | None:
        dir_fd = self._run_dir(ref)
        try:
            return FileBlob(open_file_at(dir_fd, name))
        except OSError:
            return None  # absent, or not a regular file (a planted link is never followed)
        finally:
            os.close(dir_fd)

    def has_run(self, ref: RunRef) -> bool:
        try:
            os.close(open_tree_dir(self.base_dir, ref.parts))
        except OSError:
            return False
        return True

    def _subdirs(self, parts: tuple[str, ...], valid: Callable[[str], bool]) -> list[str]:
        try:
            fd = open_tree_dir(self.base_dir, parts)
        except OSError:
            return []  # unknown, or removed while walking
        try:
            return subdirs(fd, valid)
        except OSError:
            return []
        finally:
            os.close(fd)

    def list_runs(self, tenant_parts: tuple[str, str]) -> list[str]:
        return self._subdirs(tenant_parts, is_run_id)

    def tenants(self) -> list[tuple[str, str]]:
        return [
            (account, site)
            for account in self._subdirs((), is_tenant_part)
            for site in self._subdirs((account,), is_tenant_part)
        ]

    def file_names(self, ref: RunRef) -> list[str]:
        dir_fd = self._run_dir(ref)
        names = []
        try:
            with os.scandir(dir_fd) as entries:
                for entry in entries:
                    try:
                        if is_run_file(entry.name) and entry.is_file(follow_symlinks=False):
                            names.append(entry.name)
                    except OSError:
                        continue
        finally:
            os.close(dir_fd)
        return sorted(names)

    def open_file(self, ref: RunRef, name: str) -> BinaryIO:
        if not is_run_file(name):
            raise FileNotFoundError(f"not a file of a run: {name!r}")
        dir_fd = self._run_dir(ref)
        try:
            fd = open_file_at(dir_fd, name)
        except OSError:  # absent, a link, not a regular file: no such file of the run
            raise FileNotFoundError(errno.ENOENT, "no such file of the run", name) from None
        finally:
            os.close(dir_fd)
        return os.fdopen(fd, "rb")
