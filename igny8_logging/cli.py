"""``igny8-logs``: list, tail, trace, show and prune runs, and run the demo.

Every command takes ``--base-dir`` (default ``$IGNY8_LOG_DIR``, else the
library default; the demo's is ``./automation-logs``), ``--account`` and
``--site`` (default: the ``_`` folders; ``prune`` and ``runs --all``: every
tenant), before or after the subcommand; the reading commands also take
``--redis-url`` / ``--archive-url``.  A failure (an unknown run, a bad argument,
a missing base dir or stage log, a Redis or archive that cannot be reached:
``SourceUnavailable``, an ``OSError``) exits non-zero with one line on stderr and
no traceback.  Everything is read through :class:`RunLogReader`; ``prune`` walks
the tree with the same link-refusing descriptors and validates every folder
name before touching it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Final, TypedDict

from . import _cli_args
from ._display import CommandError, cell, columns, seconds, stage_table
from ._ids import (
    MISSING,
    TRACE_FILE,
    RunRef,
    default_base_dir,
    is_run_id,
    run_started_at,
)
from ._opening import open_tree_dir
from ._reader import RunLogReader, RunNotFound
from ._retention import prune
from ._trace_feed import poll_trace, stored_lines

__all__ = ["CommandError", "build_parser", "main"]

PROG: Final = _cli_args.PROG
POLL_SECONDS: Final = 0.2


# -- options shared by every command ----------------------------------------------------


class _Ids(TypedDict):
    account_id: str | None
    site_id: str | None


def _option(args: argparse.Namespace, name: str, variable: str) -> str | None:
    value: str | None = getattr(args, name, None) or os.environ.get(variable) or None
    return value


def _reader(args: argparse.Namespace) -> RunLogReader:
    """The reader every command reads through: ``--base-dir``, ``--redis-url``
    (default ``$IGNY8_REDIS_URL``) and ``--archive-url`` (``$IGNY8_ARCHIVE_URL``)."""
    return RunLogReader(
        getattr(args, "base_dir", None) or default_base_dir(),
        redis_url=_option(args, "redis_url", "IGNY8_REDIS_URL"),
        archive_url=_option(args, "archive_url", "IGNY8_ARCHIVE_URL"),
    )


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
        self.remote = bool(self.reader.redis_url or self.reader.archive_url)

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
    """Every (account, site) with runs, as folder names, narrowed by --account / --site."""
    found = []
    for account_id, site_id in where.reader.tenants():
        account = MISSING if account_id is None else str(account_id)
        site = MISSING if site_id is None else str(site_id)
        if where.account in (None, account) and where.site in (None, site):
            found.append((account, site))
    return found


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
    stage = args.stage
    if (
        not found
        and stage is not None
        and not where.reader.has_log(args.run_id, stage=stage, **where.ids)
    ):
        raise CommandError(f"run {args.run_id} has no log for stage {stage} (-f waits for it)")
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


def _trace_lines(where: _Where, run_id: str, follow: bool) -> Iterator[bytes]:
    """The trace's lines as stored (from the files, or the source that holds the run);
    following a run read from Redis / the archive, its events as compact JSON."""
    where.reader.read_trace(run_id, limit=1, **where.ids)  # RunNotFound, as every command
    if not where.remote:
        parts = RunRef.checked(run_id, **where.ids).parts
        yield from stored_lines(where.base_dir, parts, follow=follow, poll=POLL_SECONDS)
    elif follow:
        for event in poll_trace(where.reader, run_id, poll=POLL_SECONDS, **where.ids):
            yield json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    else:
        try:
            stream = where.reader.open_file(run_id, TRACE_FILE, **where.ids)
        except FileNotFoundError:
            return  # no trace yet
        with stream:
            for line in stream:
                if line.endswith(b"\n"):  # a half-written last line waits
                    yield line[:-1]


def _cmd_trace(args: argparse.Namespace) -> int:
    sys.stdout.flush()
    out = sys.stdout.buffer
    try:
        for line in _trace_lines(_Where(args), args.run_id, args.follow):
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


def _cmd_prune(args: argparse.Namespace) -> int:
    where = _Where(args)
    verb = "would remove" if args.dry_run else "removed"
    try:
        found = prune(
            where.base_dir,
            args.older_than,
            account_id=where.account,
            site_id=where.site,
            dry_run=args.dry_run,
        )
    except FileNotFoundError:
        raise CommandError(f"no such directory: {where.base_dir}") from None
    for run in found:
        _out(f"{verb} {run.path}")
    _out(f"{verb} {len(found)} run{'s' if len(found) != 1 else ''}")
    return 0


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
    except RunNotFound as exc:
        run_id = getattr(args, "run_id", None)
        message = _one_line(exc) if run_id is None else _Where(args).no_run(run_id)
        sys.stderr.write(f"{PROG}: error: {message}\n")
        return 1
    except (CommandError, ValueError, OSError) as exc:
        sys.stderr.write(f"{PROG}: error: {_one_line(exc)}\n")
        return 1
    return status
