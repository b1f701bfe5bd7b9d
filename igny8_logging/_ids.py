"""Identifiers and the paths built from them.

Every id that ends up in a path is validated here, once, before any path is
built: run ids, account and site ids, and stage names.  Nothing else in the
package turns user input into a path component.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "DEFAULT_BASE_DIR",
    "MISSING",
    "RunRef",
    "Stage",
    "TenantId",
    "check_run_id",
    "check_stage",
    "check_tenant",
    "default_base_dir",
    "is_run_id",
    "new_run_id",
    "run_started_at",
    "stage_file",
]

DEFAULT_BASE_DIR: Final = "/data/app/logs/automation"
#: The folder name used for a missing account or site.
MISSING: Final = "_"

RUN_LOG: Final = "automation_run.log"
TRACE_FILE: Final = "run_trace.jsonl"

TenantId = int | str
Stage = int | str

_RUN_ID_RE: Final = re.compile(r"run_([0-9]{8})_([0-9]{6})_[a-z0-9]{4,32}", re.ASCII)
_TENANT_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)
_STAGE_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)
#: Integers are held to the same 64 characters as string ids, so a path
#: component never exceeds what a filesystem accepts.
_MAX_INT: Final = 10**64


def default_base_dir() -> str:
    """``$IGNY8_LOG_DIR``, else ``/data/app/logs/automation``."""
    return os.environ.get("IGNY8_LOG_DIR") or DEFAULT_BASE_DIR


def new_run_id(now: float | None = None) -> str:
    """A fresh ``run_YYYYMMDD_HHMMSS_<8 hex>`` id (UTC, secure random suffix)."""
    stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"run_{stamp}_{secrets.token_hex(4)}"


def _describe(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__, an int too long to print
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= 80 else text[:77] + "..."


def _exact(value: object) -> object:
    """*value* as a plain ``int`` or ``str`` when it is an instance of a subclass.

    Validation and the paths built afterwards must see the same characters: a
    subclass may override ``__str__``/``__format__`` (``"../x"``) or comparisons.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, str):
        return str.__str__(value)
    return value


def check_run_id(run_id: object) -> str:
    """Return *run_id* if it is a valid run id, else raise ``ValueError``."""
    run_id = _exact(run_id)
    if isinstance(run_id, str) and _RUN_ID_RE.fullmatch(run_id):
        return run_id
    raise ValueError(f"invalid run id {_describe(run_id)}: expected run_YYYYMMDD_HHMMSS_<suffix>")


def is_run_id(value: object) -> bool:
    """Whether *value* is a valid run id (:func:`check_run_id` without the error)."""
    return isinstance(value, str) and _RUN_ID_RE.fullmatch(value) is not None


def check_tenant(value: object, what: str = "account_id") -> TenantId | None:
    """Validate an account or site id (``None`` allowed); return it as a plain int or str."""
    if value is None:
        return None
    value = _exact(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < _MAX_INT:
            return value
    elif isinstance(value, str) and _TENANT_RE.fullmatch(value) and ".." not in value:
        return value
    raise ValueError(
        f"invalid {what} {_describe(value)}: expected an int >= 0 or a string "
        "of letters, digits, '_', '.', '-' (at most 64, no '..')"
    )


def check_stage(value: object) -> Stage:
    """Validate a stage (an int >= 0 or a short name); return it as a plain int or str."""
    value = _exact(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < _MAX_INT:
            return value
    elif isinstance(value, str) and _STAGE_RE.fullmatch(value):
        return value
    raise ValueError(
        f"invalid stage {_describe(value)}: expected an int >= 0 or a string "
        "of letters, digits, '_', '-' (at most 64)"
    )


#: One name object per stage: ``FileTree.append_at`` knows the file it wrote last by the
#: identity of its name, so a stage's records must pass the same str.
_stage_files: dict[tuple[type, Stage], str] = {}


def stage_file(stage: Stage) -> str:
    """The file name of a (validated) stage's log: ``stage_{stage}.log``."""
    key = (type(stage), stage)
    name = _stage_files.get(key)
    if name is None:
        name = f"stage_{stage}.log"
        if len(_stage_files) < 1024:
            _stage_files[key] = name
    return name


def run_started_at(run_id: str) -> datetime | None:
    """The UTC start time encoded in a run id, or ``None`` if it is not a date."""
    match = _RUN_ID_RE.fullmatch(run_id)
    if match is None:
        return None
    try:
        return datetime.strptime(match[1] + match[2], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class RunRef:
    """A validated run: its id and tenant, and where its folder lies."""

    run_id: str
    account_id: TenantId | None = None
    site_id: TenantId | None = None

    @classmethod
    def checked(cls, run_id: object, account_id: object = None, site_id: object = None) -> RunRef:
        """Build a ref from untrusted values; ``ValueError`` names the bad one."""
        return cls(
            check_run_id(run_id),
            check_tenant(account_id, "account_id"),
            check_tenant(site_id, "site_id"),
        )

    @property
    def tenant_parts(self) -> tuple[str, str]:
        """The account and site folder names (``_`` for a missing one)."""
        return (
            MISSING if self.account_id is None else str(self.account_id),
            MISSING if self.site_id is None else str(self.site_id),
        )

    @property
    def parts(self) -> tuple[str, str, str]:
        """The run folder, relative to a base directory, as path components."""
        return (*self.tenant_parts, self.run_id)
