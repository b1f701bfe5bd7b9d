"""Celery: the per-task cost of ``igny8_logging.celery.connect``'s signal hooks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CeleryResult:
    overhead_us: float


def measure(tasks: int, rounds: int) -> CeleryResult | None:
    try:
        import igny8_logging.celery  # noqa: F401
    except ImportError:
        return None
    return None


def section(result: CeleryResult | None) -> str:
    if result is None:
        return "Not measured: `igny8_logging.celery` is not available."
    return ""
