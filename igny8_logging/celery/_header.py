"""The ``igny8`` message header: a task's run, its stage and its role in that stage.

The header is a JSON object: ``run_id``, ``account_id``, ``site_id``,
``stage``, ``parent_id`` (the publishing task, if any), ``inherited``, and for
stages that span many tasks ``role`` (``"owner"``: the task starts or closes
the stage; ``"part"``: a part of a fanned-out stage; ``"member"``: a child in
the stage that never starts or completes it), ``starts`` (stage → start time,
seconds since the epoch, of the run's stages started so far), ``closer`` (the
id of the task that will close the stage: the replacement of a replaced stage
task) and ``parts`` (how many parts a ``stage_chord`` closer waits for).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .._context import RunContext, make_context

__all__ = ["HEADER", "Header", "Role", "parse_header"]

#: The message header that carries the run context.
HEADER: Final = "igny8"
#: The most stage starts a header carries (a run has a handful of stages).
_MAX_STARTS: Final = 64

Role = Literal["owner", "part", "member"]
_ROLES: Final = ("owner", "part", "member")


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed ``igny8`` header."""

    context: RunContext
    role: Role | None = None
    parent_id: str | None = None
    starts: Mapping[str, float] = field(default_factory=dict)
    closer: str | None = None
    parts: int | None = None

    @property
    def inherited(self) -> bool:
        """True when the stage is only passed on for routing (a member or a part)."""
        return self.role in ("member", "part")

    def as_dict(self) -> dict[str, Any]:
        value = self.context.as_dict()
        value["parent_id"] = self.parent_id
        value["inherited"] = self.inherited
        value["role"] = self.role
        value["starts"] = dict(self.starts)
        value["closer"] = self.closer
        value["parts"] = self.parts
        return value


def _text(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255:
        raise ValueError(f"invalid {what}")
    return value


def _starts(value: object) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or len(value) > _MAX_STARTS:
        raise ValueError("invalid starts")
    starts: dict[str, float] = {}
    for key, epoch in value.items():
        if (
            not isinstance(key, str)
            or len(key) > 64
            or isinstance(epoch, bool)
            or not isinstance(epoch, int | float)
            or not math.isfinite(epoch)
        ):
            raise ValueError("invalid starts")
        starts[key] = float(epoch)
    return starts


def _parts(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**7:
        raise ValueError("invalid parts")
    return value


def parse_header(value: object) -> Header:
    """The :class:`Header` of an ``igny8`` header value; ``ValueError`` if unusable."""
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping, not {type(value).__name__}")
    context = make_context(
        value.get("run_id"), value.get("account_id"), value.get("site_id"), value.get("stage")
    )
    role = value.get("role")
    if role is None and value.get("inherited") is True:
        role = "member"
    if role is not None and role not in _ROLES:
        raise ValueError("invalid role")
    return Header(
        context,
        role,
        _text(value.get("parent_id"), "parent_id"),
        _starts(value.get("starts")),
        _text(value.get("closer"), "closer"),
        _parts(value.get("parts")),
    )
