"""Retention: find the runs that ended long enough ago, and remove them from a tree.

:func:`iter_ended_runs` is the walk (every tenant unless one is named, only runs
whose ``run_end`` is older than the limit, found by a backward scan of the end of
each trace); it reads through a :class:`~._reader.RunLogReader`, so the archive
walks Redis, the files and the mirror the same way.  :func:`prune_runs` removes what
the walk finds from one local tree, refusing links and taking concurrent prunes
and folders vanishing mid-walk in its stride.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

from ._filesource import FileSource
from ._ids import MISSING, TenantId, check_tenant
from ._opening import open_tree_dir
from ._reader import RunLogReader
from ._sources import RunNotFound, tenant_parts

__all__ = ["EndedRun", "cutoff", "iter_ended_runs", "prune", "prune_runs"]

_NO_TIME: Final = datetime.min.replace(tzinfo=UTC)


class EndedRun(NamedTuple):
    """A run the walk found: its id, its tenant (folder names as ids, ``None`` for the
    ``_`` folders) and when its ``run_end`` was written."""

    run_id: str
    account_id: str | None
    site_id: str | None
    ended_at: datetime

    @property
    def path(self) -> str:
        """``account/site/run_id`` relative to the base dir (``_`` for a missing id)."""
        return "/".join((*tenant_parts(self.account_id, self.site_id), self.run_id))


def cutoff(older_than_days: object, now: datetime | None = None) -> datetime:
    """The moment *older_than_days* days before *now* (default: the current time).

    ``ValueError`` unless it is a finite number >= 0 (not a bool); a limit reaching
    before year 1 gives the earliest moment (no run is that old) instead of an
    ``OverflowError``.
    """
    days = older_than_days
    if isinstance(days, bool) or not isinstance(days, int | float):
        raise ValueError(f"older_than_days must be a number of days, not {type(days).__name__}")
    if not (isinstance(days, int) or math.isfinite(days)) or days < 0:
        raise ValueError(f"older_than_days must be a finite number >= 0, not {days!r}")
    start = datetime.now(UTC) if now is None else now
    try:
        return start - timedelta(days=days)
    except OverflowError:
        return _NO_TIME


def _ended_at(event: dict[str, Any] | None) -> datetime | None:
    """When a ``run_end`` event was written (``None``: no event, or no readable time)."""
    if event is None or not isinstance(event.get("ts"), str):
        return None
    try:
        when = datetime.fromisoformat(event["ts"])
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _wanted(value: object, what: str) -> str | None:
    """A tenant filter as a folder name: ``None`` = every one, ``"_"`` = the ``_`` folder."""
    if value is None:
        return None
    if value == MISSING and isinstance(value, str):
        return MISSING
    return str(check_tenant(value, what))


def _tenants(
    reader: RunLogReader, account_id: object, site_id: object
) -> list[tuple[str | None, str | None]]:
    account, site = _wanted(account_id, "account_id"), _wanted(site_id, "site_id")
    chosen = []
    for ids in reader.tenants():
        parts = tenant_parts(*ids)
        if account in (None, parts[0]) and site in (None, parts[1]):
            chosen.append(ids)
    return chosen


def _ended_in(
    reader: RunLogReader, account: str | None, site: str | None, limit: datetime
) -> Iterator[EndedRun]:
    for run_id in reader.list_runs(account_id=account, site_id=site):
        try:
            ended = _ended_at(reader.run_end(run_id, account_id=account, site_id=site))
        except (RunNotFound, OSError):
            continue  # removed while walking (a concurrent prune), or unreadable: kept
        if ended is not None and ended < limit:
            yield EndedRun(run_id, account, site, ended)


def iter_ended_runs(
    reader_or_base: RunLogReader | str | os.PathLike[str],
    older_than_days: float,
    account_id: TenantId | None = None,
    site_id: TenantId | None = None,
    *,
    now: datetime | None = None,
) -> Iterator[EndedRun]:
    """The runs whose ``run_end`` is older than *older_than_days* days, tenant by tenant.

    Every account and site unless *account_id* / *site_id* name one (``"_"`` names
    the folder of a missing id); a run without ``run_end`` is never yielded.  Given a
    path, reads that local tree only.  Bad arguments raise ``ValueError`` at once.
    """
    limit = cutoff(older_than_days, now)
    reader = (
        reader_or_base
        if isinstance(reader_or_base, RunLogReader)
        else RunLogReader(reader_or_base, sources=[FileSource(reader_or_base)])
    )
    tenants = _tenants(reader, account_id, site_id)

    def walk() -> Iterator[EndedRun]:
        for account, site in tenants:
            yield from _ended_in(reader, account, site, limit)

    return walk()


def _ignore_vanished(func: object, path: object, exc: BaseException) -> None:
    if not isinstance(exc, FileNotFoundError):
        raise exc


def _remove_run(base_dir: str, parts: tuple[str, str], run_id: str) -> None:
    try:
        fd = open_tree_dir(base_dir, parts)
    except FileNotFoundError:
        return  # the whole tenant went (a concurrent prune)
    try:
        if sys.version_info >= (3, 12):
            shutil.rmtree(run_id, dir_fd=fd, onexc=_ignore_vanished)
        else:  # pragma: no cover - the 3.11 spelling of the same
            shutil.rmtree(run_id, dir_fd=fd, onerror=lambda f, p, e: _ignore_vanished(f, p, e[1]))
    finally:
        os.close(fd)


def _remove_if_empty(base_dir: str, parts: tuple[str, ...], name: str) -> None:
    try:
        fd = open_tree_dir(base_dir, parts)
    except OSError:
        return
    try:
        os.rmdir(name, dir_fd=fd)
    except OSError:
        pass  # not empty, or gone: kept
    finally:
        os.close(fd)


def prune(
    base_dir: str | os.PathLike[str],
    older_than_days: float,
    *,
    account_id: TenantId | None = None,
    site_id: TenantId | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> list[EndedRun]:
    """:func:`prune_runs`, returning the runs with their tenants and end times."""
    base = os.fspath(base_dir)
    os.close(open_tree_dir(base, ()))  # a missing base dir is an error (FileNotFoundError)
    reader = RunLogReader(base, sources=[FileSource(base)])
    limit = cutoff(older_than_days, now)
    found: list[EndedRun] = []
    for account, site in _tenants(reader, account_id, site_id):
        parts = tenant_parts(account, site)
        for run in _ended_in(reader, account, site, limit):
            if not dry_run:
                _remove_run(base, parts, run.run_id)
            found.append(run)
        if not dry_run:
            _remove_if_empty(base, parts[:1], parts[1])
            _remove_if_empty(base, (), parts[0])
    return found


def prune_runs(
    base_dir: str | os.PathLike[str],
    older_than_days: float,
    *,
    account_id: TenantId | None = None,
    site_id: TenantId | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Remove the runs under *base_dir* whose ``run_end`` is older than *older_than_days*.

    Every account and site unless *account_id* / *site_id* name one (``"_"`` names
    the folder of a missing id); a run without ``run_end`` is kept; tenant folders
    left empty are removed; no link below *base_dir* is followed.  Returns the run
    ids removed (with *dry_run*: removable, nothing removed).  Runs or folders that
    vanish meanwhile (a concurrent prune) are not errors.  ``FileNotFoundError`` if
    *base_dir* does not exist, ``ValueError`` for a bad limit or tenant.
    """
    found = prune(
        base_dir, older_than_days, account_id=account_id, site_id=site_id, dry_run=dry_run
    )
    return [run.run_id for run in found]
