"""The ambient run context, carried in a :mod:`contextvars` variable.

``bind_run`` sets it for a block; the handlers read it for records that carry
no ``run_id`` of their own, so that records of *any* logger emitted inside the
block are routed to the run.  Threads do not inherit context variables:
:func:`carry_context` and :class:`RunContextExecutor` carry it across.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, ParamSpec, TypeVar

from ._ids import RunRef, Stage, TenantId, check_stage

__all__ = [
    "RunContext",
    "RunContextExecutor",
    "bind_run",
    "carry_context",
    "current_run",
    "current_run_get",
]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RunContext:
    """The run (and optionally the stage) that records are attributed to."""

    run_id: str
    account_id: TenantId | None = None
    site_id: TenantId | None = None
    stage: Stage | None = None

    @property
    def ref(self) -> RunRef:
        return RunRef(self.run_id, self.account_id, self.site_id)

    def as_dict(self) -> dict[str, Any]:
        """The context as a JSON-safe mapping (what travels in a Celery header)."""
        return {
            "run_id": self.run_id,
            "account_id": self.account_id,
            "site_id": self.site_id,
            "stage": self.stage,
        }


_current: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar(
    "igny8_logging_run", default=None
)


def current_run() -> RunContext | None:
    """The context bound by the innermost :func:`bind_run`, if any."""
    return _current.get()


#: :func:`current_run` without the Python call around it (the routing of every record).
current_run_get: Final = _current.get


def make_context(
    run_id: object, account_id: object = None, site_id: object = None, stage: object = None
) -> RunContext:
    """A validated :class:`RunContext`; ``ValueError`` for a bad id."""
    ref = RunRef.checked(run_id, account_id, site_id)
    return RunContext(
        ref.run_id, ref.account_id, ref.site_id, None if stage is None else check_stage(stage)
    )


@contextmanager
def bind_run(
    run_id: str,
    account_id: TenantId | None = None,
    site_id: TenantId | None = None,
    stage: Stage | None = None,
) -> Iterator[RunContext]:
    """Attribute every record emitted in the block to this run (and stage).

    Raises ``ValueError`` at once for an id that fails validation.  Nests: the
    innermost binding wins, and the outer one is restored on exit.
    """
    token = _current.set(make_context(run_id, account_id, site_id, stage))
    try:
        yield _current.get()  # type: ignore[misc]
    finally:
        _current.reset(token)


def set_context(context: RunContext | None) -> contextvars.Token[RunContext | None]:
    """Bind *context* until :func:`reset_context` (for signal-based integrations)."""
    return _current.set(context)


def reset_context(token: contextvars.Token[RunContext | None]) -> None:
    _current.reset(token)


def carry_context(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap *fn* so it runs in a copy of the caller's current context.

    Use it when handing work to a thread: ``pool.submit(carry_context(work), item)``
    keeps the records ``work`` logs in the run that was bound when it was wrapped.
    """
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        # A Context can be entered by one thread at a time: run each call in a copy.
        return context.copy().run(fn, *args, **kwargs)

    return run_in_context


class RunContextExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in the submitter's context."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
