"""One policy for reporting the library's own failures.

Logging must never raise into the caller, so every failure inside the library
(a file that cannot be written, a refused id, a failing Celery hook, a stage-API
call with arguments it could not use) is *counted* and *reported*, never raised:

* counted per key in :attr:`FailureLog.counts` (what users read:
  ``handler.failures``, ``igny8_logging.celery.hook_failures``, ...);
* reported on stderr once per *episode*: the first failure of a key is reported,
  later ones are only counted until :meth:`FailureLog.recovered` says the key
  works again (which is reported too);
* silent when :data:`logging.raiseExceptions` is false, as the standard
  library's ``Handler.handleError`` is.

The one override point is :meth:`FailureLog.emit` (or, on a handler, its
``report`` method, which the handler passes as *emit*).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections import Counter
from collections.abc import Callable

__all__ = ["FailureLog", "write_stderr"]


def write_stderr(line: str) -> None:
    """Write one ``igny8_logging: ...`` line on stderr; never raises."""
    if not logging.raiseExceptions:
        return
    try:
        stream = sys.stderr
        if stream is not None:
            stream.write(f"igny8_logging: {line}\n")
            stream.flush()
    except Exception:
        pass


class FailureLog:
    """Failure counts per key, each episode reported once.

    *owner* names who failed in the report (``"TraceHandler"``, ``"celery hook"``);
    *emit* receives each report line (default: :func:`write_stderr`).
    """

    def __init__(self, owner: str, emit: Callable[[str], None] | None = None) -> None:
        self.owner = owner
        self.counts: Counter[str] = Counter()
        self._failing: set[str] = set()
        self._emit = emit
        # Re-entrant: a report may log, and logging may fail again on this thread.
        self._lock = threading.RLock()
        _instances.add(self)

    def _after_fork_in_child(self) -> None:
        # A thread of the parent may have held the lock; it does not exist here.
        self._lock = threading.RLock()

    def emit(self, line: str) -> None:
        """Deliver one report line (the override point)."""
        (self._emit or write_stderr)(line)

    def failed(self, key: str, message: str) -> bool:
        """Count a failure of *key*; report *message* if it starts an episode.

        Returns whether it was reported.
        """
        with self._lock:
            self.counts[key] += 1
            if key in self._failing:
                return False
            self._failing.add(key)
        self._deliver(
            f"{self.owner}: {message} (further failures are counted, not reported, "
            "until it works again)"
        )
        return True

    def _deliver(self, line: str) -> None:
        # An overridden emit that raises must not turn a swallowed failure into a raised one.
        try:
            self.emit(line)
        except Exception:
            pass

    def recovered(self, key: str, message: str | None = None) -> None:
        """End *key*'s episode, reporting *message* (default ``"<key> works again"``)."""
        if key not in self._failing:  # the common case: no lock on the hot path
            return
        with self._lock:
            if key not in self._failing:
                return
            self._failing.discard(key)
        self._deliver(f"{self.owner}: {message or f'{key} works again'}")

    def failing(self, key: str) -> bool:
        """Whether *key* is in a failure episode (failed, not yet recovered)."""
        return key in self._failing

    def reset(self) -> None:
        """Forget counts and episodes (after a fork, or in tests)."""
        with self._lock:
            self.counts.clear()
            self._failing.clear()


_instances: weakref.WeakSet[FailureLog] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for log in list(_instances):
        log._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
