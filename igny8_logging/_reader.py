"""Reading runs back: tails, trace pages, summaries, listings and live follow.

Every id from outside is validated before a path is built, and every folder
is opened with ``O_NOFOLLOW`` below ``base_dir`` (see :mod:`._files`), so a
reader can be put behind an HTTP endpoint: an unknown run, an invalid id and
a run of another account or site all look the same (:class:`RunNotFound`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from ._files import open_file_at, open_tree_dir, open_tree_file, subdirs
from ._ids import (
    MISSING,
    RUN_LOG,
    TRACE_FILE,
    RunRef,
    TenantId,
    _describe,
    check_stage,
    check_tenant,
    default_base_dir,
    is_run_id,
    stage_file,
)

try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - exercised when the 'fast' extra is absent
    _loads = json.loads

__all__ = ["RunLogReader", "RunNotFound", "TracePage"]

MAX_TAIL_LINES: Final = 10_000
MAX_PAGE: Final = 10_000
_BLOCK: Final = 64 * 1024
_LINE_CAP: Final = 128 * 1024  # longest physical line tail() returns in full
_TAIL_BUDGET: Final = 64 * 1024 * 1024  # bytes tail() holds at most
_END_SCAN: Final = 1024 * 1024  # how far back read_trace looks for run_end
#: A trace line longer than this is skipped unread by ``read_trace`` and
#: ``summary`` (the handlers write at most about 3 x ``max_record_bytes``).
_MAX_EVENT_LINE: Final = 4 * 1024 * 1024


class RunNotFound(LookupError):
    """No such run for this account/site (or its id is not a valid run id)."""


@dataclass(slots=True)
class TracePage:
    """A page of trace events; pass ``cursor`` back for the next one."""

    events: list[dict[str, Any]]
    cursor: str
    complete: bool


@dataclass(slots=True)
class _Follow:
    """A file being followed: its descriptor, position and unfinished line."""

    path_parts: tuple[str, ...]
    name: str
    fd: int | None = None
    pos: int = 0
    buffer: bytes = b""
    inode: int | None = None


def _check_count(value: object, what: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(f"{what} must be an int from 1 to {high}, not {_describe(value)}")
    return value


def _decode(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def _parse_event(line: bytes) -> dict[str, Any] | None:
    try:
        event = _loads(line)
    except (ValueError, TypeError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


class RunLogReader:
    """Reads the runs under *base_dir* (default ``$IGNY8_LOG_DIR``, else the library default)."""

    def __init__(self, base_dir: str | os.PathLike[str] | None = None) -> None:
        self.base_dir = os.fspath(base_dir) if base_dir is not None else default_base_dir()

    # -- locating ------------------------------------------------------------------

    def _ref(self, run_id: object, account_id: object, site_id: object) -> RunRef:
        try:
            return RunRef.checked(run_id, account_id, site_id)
        except ValueError as exc:
            raise RunNotFound(str(exc)) from None

    def _run_dir(self, ref: RunRef) -> int:
        try:
            return open_tree_dir(self.base_dir, ref.parts)
        except OSError:
            raise RunNotFound(
                f"no run {ref.run_id} for account {ref.account_id!r}, site {ref.site_id!r}"
            ) from None

    def _open(self, ref: RunRef, name: str) -> int | None:
        """The file's read descriptor, ``None`` if the run exists without it (or it is
        not a regular file: a planted link is never followed)."""
        dir_fd = self._run_dir(ref)
        try:
            return open_file_at(dir_fd, name)
        except OSError:
            return None
        finally:
            os.close(dir_fd)

    # -- tail -----------------------------------------------------------------------

    def tail(
        self,
        run_id: str,
        lines: int = 100,
        *,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
        stage: object = None,
    ) -> list[str]:
        """The last *lines* physical lines of the run log (or the stage's log)."""
        _check_count(lines, "lines", MAX_TAIL_LINES)
        name = RUN_LOG if stage is None else stage_file(check_stage(stage))
        fd = self._open(self._ref(run_id, account_id, site_id), name)
        if fd is None:
            return []
        try:
            size = os.fstat(fd).st_size
            start = _line_starts(fd, size, lines)
            return _read_lines(fd, start, size, lines)
        finally:
            os.close(fd)

    # -- trace ----------------------------------------------------------------------

    def _cursor_key(self, ref: RunRef) -> str:
        tenant = "/".join(ref.tenant_parts)
        return hashlib.sha256(f"{tenant}/{ref.run_id}".encode()).hexdigest()[:16]

    def _encode_cursor(self, ref: RunRef, offset: int) -> str:
        raw = f"v1:{offset}:{self._cursor_key(ref)}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode_cursor(self, ref: RunRef, cursor: object) -> int:
        if not isinstance(cursor, str) or not 0 < len(cursor) <= 128:
            raise ValueError("invalid cursor")
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
            version, offset_text, key = raw.split(":")
            offset = int(offset_text)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValueError("invalid cursor") from None
        if (
            version != "v1"
            or key != self._cursor_key(ref)
            or offset < 0
            or not offset_text.isdigit()
        ):
            raise ValueError("invalid cursor: not issued for this run")
        return offset

    def read_trace(
        self,
        run_id: str,
        *,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
        cursor: str | None = None,
        limit: int = 500,
    ) -> TracePage:
        """Up to *limit* whole trace events after *cursor* (from the start when ``None``)."""
        _check_count(limit, "limit", MAX_PAGE)
        ref = self._ref(run_id, account_id, site_id)
        offset = 0 if cursor is None else self._decode_cursor(ref, cursor)
        fd = self._open(ref, TRACE_FILE)
        if fd is None:
            if offset:
                raise ValueError("invalid cursor: beyond the end of the trace")
            return TracePage([], self._encode_cursor(ref, 0), False)
        try:
            size = os.fstat(fd).st_size
            if offset > size or (offset and os.pread(fd, 1, offset - 1) != b"\n"):
                raise ValueError("invalid cursor: not issued for this run")
            events: list[dict[str, Any]] = []
            pos = offset
            ended = False
            while len(events) < limit and pos < size:
                chunk = os.pread(fd, min(_BLOCK * 4, size - pos), pos)
                cut = chunk.rfind(b"\n")
                if cut < 0:
                    if len(chunk) < size - pos:  # one line longer than a block
                        cut = _find_newline(fd, pos + len(chunk), size)
                        if cut < 0:
                            break
                        if cut - pos > _MAX_EVENT_LINE:  # not ours: skipped unread
                            pos = cut + 1
                            continue
                        chunk = os.pread(fd, cut - pos + 1, pos)
                        cut = len(chunk) - 1
                    else:
                        break  # half-written last line: held back
                for line in chunk[:cut].split(b"\n"):  # only LF ends a line: CR is JSON space
                    if len(events) >= limit:
                        break
                    pos += len(line) + 1
                    event = _parse_event(line)
                    if event is not None:
                        events.append(event)
                        ended = ended or event.get("event") == "run_end"
            at_end = _whole_end(fd, pos, size) == pos
            if at_end and not ended:
                ended = _has_run_end(fd, size)
            return TracePage(events, self._encode_cursor(ref, pos), at_end and ended)
        finally:
            os.close(fd)

    def _iter_events(
        self, ref: RunRef, wanted: Callable[[bytes], bool]
    ) -> Iterator[dict[str, Any]]:
        fd = self._open(ref, TRACE_FILE)
        if fd is None:
            return
        with os.fdopen(fd, "rb", buffering=1024 * 1024) as stream:
            readline = stream.readline
            while line := readline(_MAX_EVENT_LINE + 1):
                if not line.endswith(b"\n"):
                    # A line over the limit is not ours: skip it unread (a shorter
                    # one is the half-written end of the trace).
                    while line and not line.endswith(b"\n"):
                        line = readline(_BLOCK)
                    continue
                if wanted(line):
                    event = _parse_event(line)
                    if event is not None:
                        yield event

    # -- summary -------------------------------------------------------------------

    def summary(
        self,
        run_id: str,
        *,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
    ) -> dict[str, Any]:
        """The run's status and per-stage state, folded from its trace."""
        ref = self._ref(run_id, account_id, site_id)
        result: dict[str, Any] = {
            "run_id": ref.run_id,
            "account_id": ref.account_id,
            "site_id": ref.site_id,
            "status": "running",
            "started_at": None,
            "ended_at": None,
            "elapsed_s": None,
            "stages": {},
        }
        stages: dict[str, dict[str, Any]] = result["stages"]

        def lifecycle(line: bytes) -> bool:
            return b'"stage_' in line or b'"run_' in line

        for event in self._iter_events(ref, lifecycle):
            _fold(result, stages, event)
        return result

    # -- listing ----------------------------------------------------------------------

    def list_runs(
        self, *, account_id: TenantId | None = None, site_id: TenantId | None = None
    ) -> list[str]:
        """The run ids of one account/site, newest first (``[]`` for an unknown tenant)."""
        parts = (
            MISSING if account_id is None else str(check_tenant(account_id, "account_id")),
            MISSING if site_id is None else str(check_tenant(site_id, "site_id")),
        )
        try:
            fd = open_tree_dir(self.base_dir, parts)
        except OSError:
            return []
        try:
            runs = subdirs(fd, is_run_id)
        finally:
            os.close(fd)
        return sorted(runs, key=lambda run: (run[4:19], run), reverse=True)

    # -- follow ----------------------------------------------------------------------

    def follow(
        self,
        run_id: str,
        *,
        account_id: TenantId | None = None,
        site_id: TenantId | None = None,
        stage: object = None,
        lines: int = 0,
        poll_interval: float = 0.2,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Yield lines as they are appended; return once the run ended and all were yielded.

        Starts at the end of the log as it is now; *lines* > 0 first yields that
        many existing lines (like ``tail -n N -f``).  *timeout* (seconds) stops
        following a run that does not end.  Bad arguments and an unknown run raise
        here, at the call, not at the first ``next()``.
        """
        if lines:
            _check_count(lines, "lines", MAX_TAIL_LINES)
        name = RUN_LOG if stage is None else stage_file(check_stage(stage))
        ref = self._ref(run_id, account_id, site_id)
        os.close(self._run_dir(ref))
        return self._follow(ref, name, lines, poll_interval, timeout)

    def _follow(
        self, ref: RunRef, name: str, lines: int, poll_interval: float, timeout: float | None
    ) -> Iterator[str]:
        log = _Follow(ref.parts, name)
        trace = _Follow(ref.parts, TRACE_FILE)
        self._reopen(log, keep_lines=lines)
        deadline = None if timeout is None else time.monotonic() + timeout
        ended = False
        try:
            while True:
                for line in self._read_new(log):
                    yield _decode(line)
                if ended:
                    return  # one full read after run_end was seen: every handler had written
                ended = self._trace_ended(trace)
                if deadline is not None and time.monotonic() >= deadline:
                    return
                if not ended:
                    time.sleep(poll_interval)
        finally:
            for state in (log, trace):
                if state.fd is not None:
                    os.close(state.fd)

    def _reopen(self, state: _Follow, keep_lines: int | None = None) -> None:
        """Open the followed file; *keep_lines* (first open only) starts near its end."""
        try:
            fd = open_tree_file(self.base_dir, state.path_parts, state.name)
        except OSError:
            return
        st = os.fstat(fd)
        if state.fd is not None:
            os.close(state.fd)
        state.fd, state.inode, state.buffer, state.pos = fd, st.st_ino, b"", 0
        if keep_lines is not None:
            state.pos = _line_starts(fd, st.st_size, keep_lines) if keep_lines else st.st_size

    def _read_new(self, state: _Follow) -> Iterator[bytes]:
        """Whole lines appended since the last call (a partial last line waits)."""
        if state.fd is None:
            self._reopen(state)
        while state.fd is not None:
            chunk = os.pread(state.fd, _BLOCK * 4, state.pos)
            if chunk:
                state.pos += len(chunk)
                data = state.buffer + chunk
                cut = data.rfind(b"\n")
                state.buffer = data[cut + 1 :][-_LINE_CAP * 8 :]
                if cut >= 0:
                    yield from data[:cut].split(b"\n")
                continue
            # At the end: if the file was deleted and recreated, go on in the new one.
            try:
                fd = open_tree_file(self.base_dir, state.path_parts, state.name)
            except OSError:
                return
            same = os.fstat(fd).st_ino == state.inode
            os.close(fd)
            if same:
                return
            self._reopen(state)

    def _trace_ended(self, trace: _Follow) -> bool:
        ended = False
        for line in self._read_new(trace):
            if b"run_end" in line:
                event = _parse_event(line)
                ended = ended or (event is not None and event.get("event") == "run_end")
        return ended


# -- helpers over descriptors --------------------------------------------------------


def _line_starts(fd: int, size: int, count: int) -> int:
    """Offset where the last *count* lines of the file begin (reads backwards)."""
    end = size
    if end and os.pread(fd, 1, end - 1) == b"\n":
        end -= 1  # the final newline ends the last line; it does not start one
    found = 0
    pos = end
    while pos > 0:
        start = max(0, pos - _BLOCK)
        block = os.pread(fd, pos - start, start)
        idx = len(block)
        while True:
            idx = block.rfind(b"\n", 0, idx)
            if idx < 0:
                break
            found += 1
            if found == count:
                return start + idx + 1
        pos = start
    return 0


def _read_lines(fd: int, start: int, size: int, count: int) -> list[str]:
    """The lines in ``[start, size)``, each cut to a bounded length."""
    cap = min(_LINE_CAP, max(4096, _TAIL_BUDGET // count))
    if size - start <= cap * 4:
        lines = os.pread(fd, size - start, start).split(b"\n")
        if lines[-1] == b"":
            lines.pop()  # the newline that ends the last line
        return [_cap(line, cap) for line in lines[-count:]]
    out: list[str] = []
    pos = start
    while pos < size:
        head = os.pread(fd, cap + 1, pos)
        cut = head.find(b"\n")
        if cut >= 0:
            out.append(_decode(head[:cut]))
            pos += cut + 1
            continue
        end = _find_newline(fd, pos + len(head), size)
        stop = size if end < 0 else end
        out.append(_cap(head, cap, stop - pos))
        pos = stop + 1
    return out[-count:]


def _cap(line: bytes, cap: int, length: int | None = None) -> str:
    length = len(line) if length is None else length
    if length <= cap:
        return _decode(line)
    return f"{line[:cap].decode('utf-8', 'ignore')}…[truncated {length - cap} bytes]"


def _find_newline(fd: int, pos: int, size: int) -> int:
    while pos < size:
        block = os.pread(fd, min(_BLOCK, size - pos), pos)
        idx = block.find(b"\n")
        if idx >= 0:
            return pos + idx
        pos += len(block)
    return -1


def _whole_end(fd: int, pos: int, size: int) -> int:
    """The offset just past the last newline at or after *pos* (``pos`` if none)."""
    tail_start = max(pos, size - _BLOCK)
    while tail_start >= pos:
        block = os.pread(fd, size - tail_start, tail_start)
        idx = block.rfind(b"\n")
        if idx >= 0:
            return tail_start + idx + 1
        if tail_start == pos:
            break
        size, tail_start = tail_start, max(pos, tail_start - _BLOCK)
    return pos


def _has_run_end(fd: int, size: int) -> bool:
    start = max(0, size - _END_SCAN)
    data = os.pread(fd, size - start, start)
    for line in reversed(data.splitlines()):
        if b"run_end" in line:
            event = _parse_event(line)
            if event is not None and event.get("event") == "run_end":
                return True
    return False


def _fold(result: dict[str, Any], stages: dict[str, dict[str, Any]], event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "run_start":
        result["started_at"] = event.get("ts")
        return
    if kind == "run_end":
        status = event.get("status")
        result["status"] = status if status in ("completed", "failed", "cancelled") else "failed"
        result["ended_at"] = event.get("ts")
        result["elapsed_s"] = event.get("elapsed_s")
        return
    if not isinstance(kind, str) or not kind.startswith("stage_") or event.get("stage") is None:
        return
    key = str(event["stage"])
    stage = stages.get(key)
    if stage is None:
        stage = stages[key] = {
            "status": "running",
            "name": None,
            "pending": None,
            "processed": None,
            "total": None,
            "credits_used": None,
            "elapsed_s": None,
            "error": None,
        }
    if kind == "stage_start":
        stage.update(status="running", error=None)
        for name, source in (("name", "stage_name"), ("pending", "pending")):
            if event.get(source) is not None:
                stage[name] = event[source]
    elif kind == "stage_progress":
        for name in ("processed", "total"):
            if event.get(name) is not None:
                stage[name] = event[name]
    elif kind == "stage_complete":
        stage["status"] = "completed"
        for name in ("processed", "credits_used", "elapsed_s"):
            if event.get(name) is not None:
                stage[name] = event[name]
    elif kind == "stage_error":
        stage["status"] = "failed"
        stage["error"] = event.get("error")
    elif kind == "stage_revoked":
        stage["status"] = "failed"
        stage["error"] = event.get("reason") or "revoked"
