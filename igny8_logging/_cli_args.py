"""The ``igny8-logs`` argument parser: options, argument types and help texts.

Kept apart from the commands (:mod:`.cli`) so that the help each command prints
is in one place and says what that command does: the demo's default base dir,
``prune``'s "every tenant", the reading commands' Redis and archive options.
The parser is built from a mapping of command names to handlers, so this module
imports nothing of the CLI.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn

from . import __version__
from ._ids import MISSING, check_stage, check_tenant
from ._reader import MAX_TAIL_LINES
from ._retention import cutoff

__all__ = ["PROG", "Handler", "build_parser"]

PROG: Final = "igny8-logs"

Handler = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
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


tenant_arg = _argument_type(lambda v: v == MISSING or check_tenant(v), "account/site id")
stage_arg = _argument_type(check_stage, "stage")


def lines_arg(value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) > MAX_TAIL_LINES:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_TAIL_LINES}")
    return int(value)


def days_arg(value: str) -> float:
    try:
        days = float(value)
        cutoff(days)  # the library's own rule: a finite number >= 0
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of days >= 0, not {value!r}") from None
    return days


def items_arg(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 1000:
        raise argparse.ArgumentTypeError("must be an integer from 1 to 1000")
    return int(value)


# -- the parser -----------------------------------------------------------------------

_BASE_DIR: Final = "the log tree (default: $IGNY8_LOG_DIR, else /data/app/logs/automation)"
_DEMO_DIR: Final = "where the demo writes (default: $IGNY8_LOG_DIR, else ./automation-logs)"
_ONE_TENANT: Final = (
    "account id (default: _, runs started without one)",
    "site id (default: _, runs started without one)",
)
_ALL_TENANTS: Final = (
    "only this account (default: every account)",
    "only this site (default: every site)",
)


def _common(base_help: str, tenant_help: tuple[str, str], reading: bool) -> Parser:
    """The options every command takes, with help saying what *this* command does."""
    common = Parser(add_help=False)
    # SUPPRESS: a subcommand that does not repeat an option keeps the top-level value.
    common.add_argument("--base-dir", default=argparse.SUPPRESS, metavar="DIR", help=base_help)
    for name, text in zip(("--account", "--site"), tenant_help, strict=True):
        common.add_argument(name, type=tenant_arg, default=argparse.SUPPRESS, help=text)
    if reading:
        common.add_argument(
            "--redis-url",
            default=argparse.SUPPRESS,
            metavar="URL",
            help="read runs Redis holds from there (default: $IGNY8_REDIS_URL)",
        )
        common.add_argument(
            "--archive-url",
            default=argparse.SUPPRESS,
            metavar="URL",
            help="read archived runs from there (default: $IGNY8_ARCHIVE_URL)",
        )
    return common


def _add_reading_commands(
    command: Callable[..., argparse.ArgumentParser], handlers: Mapping[str, Handler]
) -> None:
    runs = command(
        "runs", handlers["runs"], "list the runs of an account/site, newest first, with status"
    )
    runs.add_argument(
        "--all",
        action="store_true",
        help="every account and site (narrowed by --account / --site), with ids",
    )

    tail = command("tail", handlers["tail"], "print the last lines of a run's log")
    tail.add_argument("run_id", metavar="RUN_ID")
    tail.add_argument("-n", "--lines", type=lines_arg, default=10, help="how many (default 10)")
    tail.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="then print new lines until the run ends (or Ctrl-C)",
    )
    tail.add_argument(
        "--stage",
        type=stage_arg,
        help="the stage's log instead of the run log (-f waits for it to appear)",
    )

    trace = command("trace", handlers["trace"], "print a run's trace lines as stored (JSON lines)")
    trace.add_argument("run_id", metavar="RUN_ID")
    trace.add_argument("-f", "--follow", action="store_true", help="follow until run_end")

    show = command("show", handlers["show"], "show a run's status and stage table")
    show.add_argument("run_id", metavar="RUN_ID")


def build_parser(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The ``igny8-logs`` parser, each command calling its entry of *handlers*
    (``runs``, ``tail``, ``trace``, ``show``, ``prune``, ``demo``);
    ``--base-dir``/``--account``/``--site`` go before or after the command."""
    top_dir = _BASE_DIR[:-1] + "; demo: else ./automation-logs)"
    parser = Parser(
        prog=PROG,
        parents=[_common(top_dir, _ONE_TENANT, reading=True)],
        description="Read, follow and prune igny8 automation run logs, or run the demo.",
        epilog="prune and runs --all cover every account and site unless --account/--site say.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    reading = _common(_BASE_DIR, _ONE_TENANT, reading=True)

    def command(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        text: str,
        common: Parser = reading,
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    _add_reading_commands(command, handlers)
    _add_prune(command, handlers["prune"])
    _add_demo(command, handlers["demo"])
    from ._archive_cli import register as register_archive  # boto3 is imported only when used

    register_archive(commands, [_common(_BASE_DIR, _ALL_TENANTS, reading=True)])
    return parser


def _add_prune(command: Callable[..., argparse.ArgumentParser], handler: Handler) -> None:
    prune = command(
        "prune",
        handler,
        "remove runs whose run_end is older than DAYS, in every account and site unless"
        " --account / --site name one (a run that has not ended is kept)",
        _common(_BASE_DIR, _ALL_TENANTS, reading=False),
    )
    prune.add_argument(
        "--older-than",
        type=days_arg,
        required=True,
        metavar="DAYS",
        help="remove runs whose run_end is older than this many days (0: every ended run)",
    )
    prune.add_argument("--dry-run", action="store_true", help="print what would go, remove nothing")


def _add_demo(command: Callable[..., argparse.ArgumentParser], handler: Handler) -> None:
    demo = command(
        "demo",
        handler,
        "run an example 3-stage pipeline on a real Celery worker",
        _common(_DEMO_DIR, _ONE_TENANT, reading=False),
    )
    demo.add_argument(
        "--items", type=items_arg, default=12, help="keywords to process (default 12)"
    )
    demo.add_argument(
        "--broker", default=None, metavar="URL", help="a broker URL (default: embedded, in memory)"
    )
    demo.add_argument(
        "--redis-url",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="also send the run to Redis and read its progress back from there",
    )
