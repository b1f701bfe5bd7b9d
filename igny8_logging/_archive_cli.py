"""``igny8-logs archive``: copy ended runs to S3-compatible storage (see :mod:`.archive`).

``register(subparsers, parents)`` adds the subcommand to the ``igny8-logs``
parser.  It prints one line per run on stdout (``archived``, ``already
archived``, ``removed``, ``would archive``), one line per failed run on stderr,
and a progress bar on stderr when that is a terminal.  It exits 0 when every run
was archived, 1 (after trying every run) with the count of those that were not,
2 for a bad argument.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO, Any, Final

from .archive import ArchiveError, ArchiveEvent, archive_runs

__all__ = ["Progress", "register"]

PROG: Final = "igny8-logs"
_BAR: Final = 24


def _days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of days") from None
    if not days >= 0 or days == float("inf"):
        raise argparse.ArgumentTypeError("must be a number of days >= 0")
    return days


def _archive_url(value: str) -> str:
    from ._s3 import S3Url

    try:
        S3Url.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``archive`` to the ``igny8-logs`` subcommands (*parents*: the common options)."""
    text = "copy ended runs to S3-compatible storage (all accounts/sites unless given)"
    sub = subparsers.add_parser("archive", parents=parents, help=text, description=text)
    sub.set_defaults(handler=run_archive)
    sub.add_argument(
        "--to",
        dest="archive_to",
        type=_archive_url,
        required=True,
        metavar="s3://BUCKET/PREFIX",
        help="where (endpoint and credentials: AWS_ENDPOINT_URL, AWS_PROFILE, ...)",
    )
    sub.add_argument(
        "--older-than",
        dest="archive_older_than",
        type=_days,
        default=0.0,
        metavar="DAYS",
        help="only runs that ended more than DAYS ago (default 0: every ended run)",
    )
    sub.add_argument(
        "--delete",
        dest="archive_delete",
        action="store_true",
        help="remove each run's local folder once its objects are verified",
    )
    sub.add_argument(
        "--dry-run",
        dest="archive_dry_run",
        action="store_true",
        help="print the runs it would archive, upload nothing",
    )


def _size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover - the loop returns


class Progress:
    """Prints the outcome of each run, and a progress bar on a terminal (*bar*)."""

    def __init__(self, out: IO[str], err: IO[str], bar: bool) -> None:
        self.out, self.err, self.bar = out, err, bar
        self.total = self.done = self.failed = self.sent = 0
        self._drawn = False

    def __call__(self, event: ArchiveEvent) -> None:
        where = "/".join((*event.tenant, event.run_id))
        if event.kind == "planned":
            self.total = event.count
        elif event.kind == "bytes":
            self.sent += event.size
        elif event.kind == "archived":
            self.done += 1
            self._line(self.out, f"archived {where} ({event.count} objects, {_size(event.size)})")
        elif event.kind == "kept":
            self.done += 1
            self._line(self.out, f"already archived {where}")
        elif event.kind == "candidate":
            self._line(self.out, f"would archive {where}")
        elif event.kind == "removed":
            self._line(self.out, f"removed {where}")
        elif event.kind == "failed":
            self.done += 1
            self.failed += 1
            self._line(self.err, f"{PROG}: error: {where}: {event.message}")
        self._draw()

    def _line(self, stream: IO[str], text: str) -> None:
        self.clear()
        stream.write(text + "\n")
        stream.flush()

    def _draw(self) -> None:
        if not self.bar or not self.total:
            return
        filled = _BAR * self.done // self.total
        self.err.write(
            f"\r[{'#' * filled}{'.' * (_BAR - filled)}] {self.done}/{self.total} runs"
            f"  {_size(self.sent)} sent"
        )
        self.err.flush()
        self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            self.err.write("\r\x1b[K")
            self._drawn = False


def _reader(args: argparse.Namespace) -> Any:
    """The reader the runs are read through: files, and Redis when configured."""
    from ._reader import RunLogReader

    base_dir = getattr(args, "base_dir", None)
    if base_dir is not None and not os.path.isdir(base_dir):
        raise OSError(f"no such directory: {base_dir}")
    options: dict[str, Any] = {}
    redis_url = getattr(args, "redis_url", None)
    if redis_url:
        options["redis_url"] = redis_url
        if getattr(args, "redis_prefix", None):
            options["prefix"] = args.redis_prefix
    return RunLogReader(base_dir, **options)


def run_archive(args: argparse.Namespace) -> int:
    """The ``archive`` handler: the exit status (0, or 1 when some runs failed)."""
    reader = _reader(args)
    progress = Progress(sys.stdout, sys.stderr, bar=sys.stderr.isatty())
    try:
        runs = archive_runs(
            reader,
            args.archive_to,
            older_than_days=args.archive_older_than,
            # "_" names the folder of runs without that id; none given: every tenant.
            account_id=getattr(args, "account", None),
            site_id=getattr(args, "site", None),
            delete=args.archive_delete,
            dry_run=args.archive_dry_run,
            progress=progress,
        )
    except ImportError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    except ArchiveError as exc:
        progress.clear()
        count = len(exc.failures)
        print(f"archived {len(exc.archived)} run{'s' if len(exc.archived) != 1 else ''}")
        sys.stderr.write(
            f"{PROG}: error: {count} run{'s' if count != 1 else ''} not archived "
            "(their local copies are kept; run it again to retry)\n"
        )
        return 1
    finally:
        progress.clear()
    verb = "would archive" if args.archive_dry_run else "archived"
    print(f"{verb} {len(runs)} run{'s' if len(runs) != 1 else ''}")
    return 0
