"""``igny8-logs``: list, tail, trace, show and prune runs, and run the demo.

Every command takes ``--base-dir`` (default ``$IGNY8_LOG_DIR``, else the
library default), ``--account`` and ``--site`` (default: the ``_`` folders),
before or after the subcommand.  An unknown run or a bad argument exits
non-zero with one line on stderr and no traceback.  Everything is read through
:class:`RunLogReader`; ``prune`` walks the tree with the same link-refusing
descriptors and validates every folder name before touching it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, NoReturn, TypedDict

from ._ids import MISSING, check_stage, check_tenant, default_base_dir
from ._reader import MAX_TAIL_LINES, RunLogReader, RunNotFound
from ._retention import cutoff, prune

__all__ = ["CommandError", "build_parser", "main"]

PROG: Final = "igny8-logs"
POLL_SECONDS: Final = 0.2


class CommandError(Exception):
    """A failure to report as one line on stderr (exit status 1)."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see {PROG} --help)\n")


# -- argument types -----------------------------------------------------------------


def _argument_type(check: Callable[[str], Any], what: str) -> Callable[[str], str]:
    def convert(value: str) -> str:
        try:
            check(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what} {value!r}") from None
        return value

    convert.__name__ = what
    return convert


_tenant = _argument_type(lambda v: v == MISSING or check_tenant(v), "account/site id")
_stage = _argument_type(check_stage, "stage")


def _lines(value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) > MAX_TAIL_LINES:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_TAIL_LINES}")
    return int(value)


def _days(value: str) -> float:
    try:
        days = float(value)
        cutoff(days)  # the library's own rule: a finite number >= 0
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of days >= 0, not {value!r}") from None
    return days


# -- options shared by every command ----------------------------------------------------


class _Ids(TypedDict):
    account_id: str | None
    site_id: str | None


class _Where:
    """The reader and the account/site folder the command works on."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.base_dir: str = getattr(args, "base_dir", None) or default_base_dir()
        self.account: str | None = getattr(args, "account", None)
        self.site: str | None = getattr(args, "site", None)
        self.reader = RunLogReader(self.base_dir)

    @property
    def ids(self) -> _Ids:
        """``account_id`` / ``site_id`` for the reader (``None`` for the ``_`` folders)."""
        return {
            "account_id": None if self.account in (None, MISSING) else self.account,
            "site_id": None if self.site in (None, MISSING) else self.site,
        }


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


# -- commands -----------------------------------------------------------------------


def _cmd_runs(args: argparse.Namespace) -> int:
    where = _Where(args)
    for run_id in where.reader.list_runs(**where.ids):
        try:
            summary = where.reader.summary(run_id, **where.ids)
        except RunNotFound:
            continue  # removed while listing
        elapsed = summary.get("elapsed_s")
        _out(
            f"{run_id}  {summary['status']:<9}  {summary['started_at'] or '-':<24}  "
            + ("-" if elapsed is None else f"{elapsed}s")
        )
    return 0


def _cmd_tail(args: argparse.Namespace) -> int:
    where = _Where(args)
    if args.follow:
        lines = where.reader.follow(args.run_id, lines=args.lines, stage=args.stage, **where.ids)
        return _follow(lines)
    if args.lines == 0:  # nothing to print, but an unknown run is still an error
        where.reader.tail(args.run_id, 1, stage=args.stage, **where.ids)
        return 0
    for line in where.reader.tail(args.run_id, args.lines, stage=args.stage, **where.ids):
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


def _trace_lines(where: _Where, run_id: str, follow: bool) -> Iterator[str]:
    cursor = None
    while True:
        page = where.reader.read_trace(run_id, cursor=cursor, **where.ids)
        for event in page.events:
            yield json.dumps(event, ensure_ascii=False, default=str)
        cursor = page.cursor
        if page.complete or (not follow and not page.events):
            return
        if not page.events:
            time.sleep(POLL_SECONDS)


def _cmd_trace(args: argparse.Namespace) -> int:
    return _follow(_trace_lines(_Where(args), args.run_id, args.follow))


def _stage_order(key: str) -> tuple[int, int, str]:
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def _cell(value: Any) -> str:
    return "-" if value is None else " ".join(str(value).split())


def stage_table(summary: Mapping[str, Any], error_width: int = 60) -> list[str]:
    """The stage table of a run summary: stage, name, status, processed/total, credits..."""
    rows = [["stage", "name", "status", "processed/total", "credits", "elapsed", "error"]]
    for key in sorted(summary["stages"], key=_stage_order):
        stage = summary["stages"][key]
        processed, total = stage["processed"], stage["total"]
        done = f"{_cell(processed)}/{total}" if total is not None else _cell(processed)
        elapsed = stage["elapsed_s"]
        error = _cell(stage["error"])
        if len(error) > error_width:
            error = error[: error_width - 1] + "…"
        rows.append(
            [
                key,
                _cell(stage["name"]),
                stage["status"],
                done,
                _cell(stage["credits_used"]),
                "-" if elapsed is None else f"{elapsed:.3f}s",
                error,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _cmd_show(args: argparse.Namespace) -> int:
    where = _Where(args)
    summary = where.reader.summary(args.run_id, **where.ids)
    elapsed = summary.get("elapsed_s")
    _out(f"run      {summary['run_id']}  ({summary['status']})")
    _out(f"started  {summary['started_at'] or '-'}")
    after = "" if elapsed is None else f"  after {elapsed}s"
    _out(f"ended    {summary['ended_at'] or '-'}{after}")
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
            f"the demo needs Celery ({exc.name} is missing): pip install 'igny8-logging[celery]'"
        ) from None
    return run_demo(
        base_dir=getattr(args, "base_dir", None) or "automation-logs",
        items=args.items,
        broker=args.broker,
        account=getattr(args, "account", None),
        site=getattr(args, "site", None),
    )


def _items(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 1000:
        raise argparse.ArgumentTypeError("must be an integer from 1 to 1000")
    return int(value)


# -- the parser -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``igny8-logs`` parser; ``--base-dir``/``--account``/``--site`` go anywhere."""
    common = _Parser(add_help=False)
    # SUPPRESS: a subcommand that does not repeat an option keeps the top-level value.
    common.add_argument(
        "--base-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="the log tree (default: $IGNY8_LOG_DIR, else /data/app/logs/automation)",
    )
    common.add_argument(
        "--account", type=_tenant, default=argparse.SUPPRESS, help="account id (default: _)"
    )
    common.add_argument(
        "--site", type=_tenant, default=argparse.SUPPRESS, help="site id (default: _)"
    )
    parser = _Parser(
        prog=PROG,
        parents=[common],
        description="Read, follow and prune igny8 automation run logs.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str) -> Any:
        sub = commands.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    command("runs", _cmd_runs, "list the runs of an account/site, newest first, with status")

    tail = command("tail", _cmd_tail, "print the last lines of a run's log")
    tail.add_argument("run_id", metavar="RUN_ID")
    tail.add_argument("-n", "--lines", type=_lines, default=10, help="how many (default 10)")
    tail.add_argument("-f", "--follow", action="store_true", help="then follow until Ctrl-C")
    tail.add_argument("--stage", type=_stage, help="the stage's log instead of the run log")

    trace = command("trace", _cmd_trace, "print a run's trace as JSON lines")
    trace.add_argument("run_id", metavar="RUN_ID")
    trace.add_argument("-f", "--follow", action="store_true", help="follow until run_end")

    show = command("show", _cmd_show, "show a run's status and stage table")
    show.add_argument("run_id", metavar="RUN_ID")

    prune = command(
        "prune",
        _cmd_prune,
        "remove runs that ended more than DAYS ago (all accounts/sites unless given)",
    )
    prune.add_argument("--older-than", type=_days, required=True, metavar="DAYS")
    prune.add_argument("--dry-run", action="store_true", help="print what would go, remove nothing")

    from ._archive_cli import register as register_archive

    register_archive(commands, [common])

    demo = command("demo", _cmd_demo, "run an example 3-stage pipeline on a real Celery worker")
    demo.add_argument("--items", type=_items, default=12, help="keywords to process (default 12)")
    demo.add_argument(
        "--broker", default=None, metavar="URL", help="a broker URL (default: embedded, in memory)"
    )
    return parser


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
    except (CommandError, RunNotFound, ValueError, OSError) as exc:
        sys.stderr.write(f"{PROG}: error: {_one_line(exc)}\n")
        return 1
    return status
