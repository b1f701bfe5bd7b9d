"""``igny8-logs``: list, tail, trace, show and prune runs, and run the demo.

Every command takes ``--base-dir`` (default ``$IGNY8_LOG_DIR``, else the
library default; the demo's is ``./automation-logs``), ``--account`` and
``--site`` (default: the ``_`` folders; ``prune`` and ``runs --all``: every
tenant), before or after the subcommand; the reading commands also take
``--redis-url`` / ``--archive-url``.  A failure (an unknown run, a bad argument,
a missing base dir or stage log) exits non-zero with one line on stderr and no
traceback.  Everything is read through :class:`RunLogReader`; ``prune`` walks
the tree with the same link-refusing descriptors and validates every folder
name before touching it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypedDict

from . import _cli_args
from ._display import CommandError, cell, columns, seconds, stage_table
from ._files import open_tree_dir, subdirs
from ._ids import (
    MISSING,
    RunRef,
    check_stage,
    check_tenant,
    default_base_dir,
    is_run_id,
    run_started_at,
)
from ._reader import RunLogReader, RunNotFound
from ._trace_feed import poll_trace, stored_lines

__all__ = ["CommandError", "build_parser", "main"]

PROG: Final = _cli_args.PROG
POLL_SECONDS: Final = 0.2


# -- options shared by every command ----------------------------------------------------


class _Ids(TypedDict):
    account_id: str | None
    site_id: str | None


def _reader(args: argparse.Namespace) -> RunLogReader:
    """The reader every command reads through: ``--base-dir``, ``--redis-url``
    (default ``$IGNY8_REDIS_URL``) and ``--archive-url`` (``$IGNY8_ARCHIVE_URL``)."""
    base_dir = getattr(args, "base_dir", None) or default_base_dir()
    options: dict[str, Any] = {}
    for name, variable in (("redis_url", "IGNY8_REDIS_URL"), ("archive_url", "IGNY8_ARCHIVE_URL")):
        value = getattr(args, name, None) or os.environ.get(variable)
        if value:
            options[name] = value
    try:
        return RunLogReader(base_dir, **options)
    except TypeError:  # a reader without Redis / archive support
        wanted = " and ".join("--" + name.replace("_", "-") for name in options)
        raise CommandError(f"{wanted}: not supported by this version's reader") from None


def _tenant_ids(account: str | None, site: str | None) -> _Ids:
    """Folder names (or ``None``) as the reader's ids: ``_`` is ``None``."""
    return {
        "account_id": None if account in (None, MISSING) else account,
        "site_id": None if site in (None, MISSING) else site,
    }


class _Where:
    """The reader and the account/site folder the command works on."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.base_dir: str = getattr(args, "base_dir", None) or default_base_dir()
        self.account: str | None = getattr(args, "account", None)
        self.site: str | None = getattr(args, "site", None)
        self.reader = _reader(args)
        self.remote = any(
            getattr(args, name, None) or os.environ.get(variable)
            for name, variable in (("redis_url", "IGNY8_REDIS_URL"),
                                   ("archive_url", "IGNY8_ARCHIVE_URL"))
        )  # fmt: skip

    @property
    def ids(self) -> _Ids:
        """``account_id`` / ``site_id`` for the reader (``None`` for the ``_`` folders)."""
        return _tenant_ids(self.account, self.site)

    def no_run(self, run_id: object) -> str:
        """The one-line "no such run" error: what was searched, and where."""
        if not is_run_id(run_id):
            return f"not a run id: {cell(repr(run_id))}"
        where = self.base_dir + (" (and Redis / the archive)" if self.remote else "")
        tenant = f"account {self.account or MISSING}, site {self.site or MISSING}"
        if self.account is None and self.site is None:
            tenant += " (the _ folders: give --account / --site for a tenant's run)"
        return f"no run {run_id} in {where} for {tenant}"

    def require_base_dir(self) -> None:
        """:class:`CommandError` when the base dir is missing (and nothing else is read)."""
        if self.remote:
            return
        try:
            os.close(open_tree_dir(self.base_dir, ()))
        except (FileNotFoundError, NotADirectoryError):
            raise CommandError(f"no such directory: {self.base_dir}") from None


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


# -- commands -----------------------------------------------------------------------


def _tenants(where: _Where) -> list[tuple[str, str]]:
    """Every (account, site) folder below the base dir, narrowed by --account / --site."""
    found = []
    for account in _subfolders(where.base_dir, (), where.account):
        found += [(account, site) for site in _subfolders(where.base_dir, (account,), where.site)]
    return found


def _is_tenant_folder(name: str) -> bool:
    try:
        return name == MISSING or check_tenant(name) is not None
    except ValueError:
        return False


def _subfolders(base_dir: str, parts: tuple[str, ...], wanted: str | None) -> list[str]:
    try:
        fd = open_tree_dir(base_dir, parts)
    except OSError:
        return []  # removed while listing (or a planted link: never followed)
    try:
        return sorted(subdirs(fd, lambda name: _is_tenant_folder(name) and wanted in (None, name)))
    finally:
        os.close(fd)


def _run_row(where: _Where, run_id: str, tenant: tuple[str, str] | None) -> list[str]:
    """One row of ``runs``: the run in *tenant*'s folders (``None``: the command's)."""
    ids: _Ids = where.ids if tenant is None else _tenant_ids(*tenant)
    shown = [] if tenant is None else list(tenant)
    try:
        summary = where.reader.summary(run_id, **ids)
    except RunNotFound:
        return []  # removed while listing
    started = cell(summary["started_at"])
    return [*shown, run_id, cell(summary["status"]), started, seconds(summary["elapsed_s"])]


def _cmd_runs(args: argparse.Namespace) -> int:
    where = _Where(args)
    where.require_base_dir()
    header = ["run_id", "status", "started", "elapsed"]
    if args.all:
        header = ["account", "site", *header]
        found = [
            (run_id, tenant)
            for tenant in _tenants(where)
            for run_id in where.reader.list_runs(**_tenant_ids(*tenant))
        ]
        found.sort(key=lambda item: (run_started_at(item[0]) or datetime.min, item), reverse=True)
        rows = [_run_row(where, run_id, tenant) for run_id, tenant in found]
    else:
        rows = [_run_row(where, run_id, None) for run_id in where.reader.list_runs(**where.ids)]
    rows = [row for row in rows if row]
    if rows:
        for line in columns([header, *rows]):
            _out(line)
    return 0


def _cmd_tail(args: argparse.Namespace) -> int:
    where = _Where(args)
    if args.follow:
        lines = where.reader.follow(args.run_id, lines=args.lines, stage=args.stage, **where.ids)
        return _follow(lines)
    # At least one line is read even for -n 0: an unknown run is still an error.
    found = where.reader.tail(args.run_id, max(args.lines, 1), stage=args.stage, **where.ids)
    if not found and args.stage is not None:
        stages = where.reader.summary(args.run_id, **where.ids)["stages"]
        if str(check_stage(args.stage)) not in stages:
            raise CommandError(
                f"run {args.run_id} has no log for stage {args.stage} (-f waits for it)"
            )
    for line in found[len(found) - args.lines :] if args.lines else []:
        _out(line)
    return 0


def _follow(lines: Iterator[str]) -> int:
    """Print lines as they come, flushed; Ctrl-C ends quietly."""
    try:
        for line in lines:
            _out(line)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_trace(args: argparse.Namespace) -> int:
    where = _Where(args)
    if where.remote:  # events from Redis / the archive, written as compact JSON
        events = poll_trace(where.reader, args.run_id, follow=args.follow, poll=POLL_SECONDS,
                            **where.ids)  # fmt: skip
        lines = (json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events)
        return _follow(lines)
    sys.stdout.flush()
    out = sys.stdout.buffer
    try:
        where.reader.read_trace(args.run_id, limit=1, **where.ids)  # RunNotFound, as all do
        parts = RunRef.checked(args.run_id, **where.ids).parts
        for line in stored_lines(where.base_dir, parts, follow=args.follow, poll=POLL_SECONDS):
            out.write(line + b"\n")
            out.flush()
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    where = _Where(args)
    summary = where.reader.summary(args.run_id, **where.ids)
    elapsed = summary.get("elapsed_s")
    _out(f"run      {summary['run_id']}  ({cell(summary['status'])})")
    _out(f"started  {cell(summary['started_at'])}")
    after = "" if elapsed is None else f"  after {seconds(elapsed)}"
    _out(f"ended    {cell(summary['ended_at'])}{after}")
    _out("")
    for line in stage_table(summary):
        _out(line)
    return 0


# -- prune --------------------------------------------------------------------------


def _is_tenant(name: str) -> bool:
    try:
        return name == MISSING or check_tenant(name) is not None
    except ValueError:
        return False


def _ended_at(reader: RunLogReader, run_id: str, account: str, site: str) -> datetime | None:
    """When the run's ``run_end`` was written (``None``: still running or unreadable)."""
    try:
        ended = reader.summary(
            run_id,
            account_id=None if account == MISSING else account,
            site_id=None if site == MISSING else site,
        )["ended_at"]
        when = datetime.fromisoformat(ended)
    except (RunNotFound, TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _cmd_prune(args: argparse.Namespace) -> int:
    where = _Where(args)
    cutoff = datetime.now(UTC) - timedelta(days=args.older_than)
    verb = "would remove" if args.dry_run else "removed"
    count = 0
    try:
        os.close(open_tree_dir(where.base_dir, ()))
    except FileNotFoundError:
        raise CommandError(f"no such directory: {where.base_dir}") from None

    def tenants(parts: tuple[str, ...], wanted: str | None) -> list[str]:
        fd = open_tree_dir(where.base_dir, parts)
        try:
            return subdirs(fd, lambda name: _is_tenant(name) and wanted in (None, name))
        finally:
            os.close(fd)

    for account in tenants((), where.account):
        for site in tenants((account,), where.site):
            site_fd = open_tree_dir(where.base_dir, (account, site))
            try:
                for run_id in subdirs(site_fd, is_run_id):
                    ended = _ended_at(where.reader, run_id, account, site)
                    if ended is None or ended >= cutoff:
                        continue
                    if not args.dry_run:
                        shutil.rmtree(run_id, dir_fd=site_fd)
                    _out(f"{verb} {account}/{site}/{run_id}")
                    count += 1
            finally:
                os.close(site_fd)
            if not args.dry_run:
                _remove_if_empty(where.base_dir, (account,), site)
        if not args.dry_run:
            _remove_if_empty(where.base_dir, (), account)
    _out(f"{verb} {count} run{'s' if count != 1 else ''}")
    return 0


def _remove_if_empty(base_dir: str, parts: tuple[str, ...], name: str) -> None:
    fd = open_tree_dir(base_dir, parts)
    try:
        os.rmdir(name, dir_fd=fd)
    except OSError:
        pass  # not empty (or gone): kept
    finally:
        os.close(fd)


# -- demo ---------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        from .demo import run_demo
    except ImportError as exc:
        raise CommandError(
            f"the demo needs Celery ({exc.name} is missing): pip install 'igny8-logging[demo]'"
        ) from None
    return run_demo(
        base_dir=getattr(args, "base_dir", None),
        items=args.items,
        broker=args.broker,
        account=getattr(args, "account", None),
        site=getattr(args, "site", None),
        redis_url=getattr(args, "redis_url", None),
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``igny8-logs`` parser; ``--base-dir``/``--account``/``--site`` go anywhere."""
    return _cli_args.build_parser(
        {
            "runs": _cmd_runs,
            "tail": _cmd_tail,
            "trace": _cmd_trace,
            "show": _cmd_show,
            "prune": _cmd_prune,
            "demo": _cmd_demo,
        }
    )


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``igny8-logs``; returns the exit status."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of our output went away (| head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except RunNotFound:
        sys.stderr.write(f"{PROG}: error: {_Where(args).no_run(args.run_id)}\n")
        return 1
    except (CommandError, ValueError, OSError) as exc:
        sys.stderr.write(f"{PROG}: error: {_one_line(exc)}\n")
        return 1
    return status
