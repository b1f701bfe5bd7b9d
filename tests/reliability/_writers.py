"""Writer processes and file checkers shared by the reliability tests.

A writer logs a deterministic *plan* of records into one run: every message
carries its writer id, its number, its payload length and the sha256 of its
payload, so a checker can prove each record arrived whole, once, in the files
it belongs to, without keeping the records themselves.  The entry points here
are module-level functions so that ``spawn`` children can import them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import igny8_logging as igl

LOGGER = "igny8.reliability"

#: The first physical line of a record in a text log.
RECORD_RE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) +"
    r"\[(?:run|stage [A-Za-z0-9_-]+)\] "
)
_HEAD_RE = re.compile(r"w=(\d+) n=(\d+) len=(\d+) sha=([0-9a-f]{64}) \|")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 é→ü€"


# -- the plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One record of a writer's plan and the files it must reach."""

    writer: int
    n: int
    kind: str  # "info", "warning" (reaches the trace as "log") or "item" (a trace event)
    stage: int | None
    message: str

    @property
    def key(self) -> tuple[int, int]:
        return (self.writer, self.n)

    @property
    def in_trace(self) -> bool:
        return self.kind != "info"


def payload(rng: random.Random, low: int = 10, high: int = 20_000) -> str:
    """Random text of *low*..*high* UTF-8 bytes (log-uniform), sometimes multi-line."""
    target = int(low * (high / low) ** rng.random())
    chars: list[str] = []
    size = 0
    while True:
        char = rng.choice(_ALPHABET)
        step = len(char.encode())
        if size + step > target:
            break
        chars.append(char)
        size += step
    if len(chars) > 40 and rng.random() < 0.2:  # a multi-line message
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(1, len(chars) - 1)] = "\n"
    return "".join(chars)


def message(writer: int, n: int, text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"w={writer} n={n} len={len(text)} sha={digest} |{text}"


def plan(writer: int, count: int, seed: int = 0) -> list[Planned]:
    """The records writer *writer* logs: deterministic for (writer, count, seed)."""
    rng = random.Random(f"{seed}/{writer}")
    out = []
    for n in range(count):
        kind = "item" if n % 10 == 0 else "warning" if n % 10 == 5 else "info"
        stage = None if kind == "warning" else (None, 1, 2)[n % 3]
        out.append(Planned(writer, n, kind, stage, message(writer, n, payload(rng))))
    return out


def expected_keys(plans: list[Planned]) -> dict[str, set[tuple[int, int]]]:
    """Which records each file of the run folder must hold."""
    files: dict[str, set[tuple[int, int]]] = {"automation_run.log": set(), "run_trace.jsonl": set()}
    for p in plans:
        files["automation_run.log"].add(p.key)
        if p.stage is not None:
            files.setdefault(f"stage_{p.stage}.log", set()).add(p.key)
        if p.in_trace:
            files["run_trace.jsonl"].add(p.key)
    return files


def emit(run: igl.RunLogger, p: Planned) -> None:
    if p.kind == "item":
        run.trace("item", stage=p.stage, message=p.message, w=p.writer, n=p.n)
    elif p.kind == "warning":
        run.warning(p.message)
    elif p.stage is None:
        run.info(p.message)
    else:
        run.for_stage(p.stage).info(p.message)


# -- configuring a process ----------------------------------------------------------------


def configure(
    base: str | Path, shared: str | Path | None, **opts: Any
) -> tuple[logging.Logger, list[igl.BaseRunHandler]]:
    """Attach fresh run, stage and trace handlers to :data:`LOGGER` (replacing old ones)."""
    logger = logging.getLogger(LOGGER)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    handlers: list[igl.BaseRunHandler] = [
        igl.RunLogHandler(base, shared, **opts),
        igl.StageLogHandler(base, shared, **opts),
        igl.TraceHandler(base, shared, **opts),
    ]
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, handlers


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _handlers() -> list[igl.BaseRunHandler]:
    return [h for h in logging.getLogger(LOGGER).handlers if isinstance(h, igl.BaseRunHandler)]


def _result(path: str, **data: Any) -> None:
    handlers = _handlers()
    data["failures"] = [h.failures for h in handlers]
    data["refused"] = [h.refused for h in handlers]
    Path(path).write_text(json.dumps(data))


# -- writer process entry points ----------------------------------------------------------


def write_run(
    base: str, shared: str, run_id: str, first_writer: int, threads: int, count: int, out: str
) -> None:
    """Log the plans of writers ``first_writer..+threads`` into one run, one thread each.

    Keeps the handlers it inherited (``fork``) or configures its own (``spawn``).
    """
    if not _handlers():
        configure(base, shared)
    logger = logging.getLogger(LOGGER)
    barrier = threading.Barrier(threads)

    def work(writer: int) -> None:
        run = igl.RunLogger.attach(logger, run_id)
        records = plan(writer, count)
        barrier.wait()
        for p in records:
            emit(run, p)

    workers = [threading.Thread(target=work, args=(first_writer + i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    _result(out)


def write_many(
    base: str,
    shared: str,
    run_ids: list[str],
    tenant: tuple[int | str | None, int | str | None],
    index: int,
    procs: int,
    per_run: int,
    max_open: int,
    out: str,
) -> None:
    """Record ``n`` of every run is written by process ``n % procs``, runs round-robin.

    Counts this process's open descriptors after every record and reports the
    peak above the count it had once configured.
    """
    logger, _ = configure(base, shared, max_open_files=max_open)
    runs = [igl.RunLogger.attach(logger, run_id, *tenant) for run_id in run_ids]
    baseline = peak = open_fds()
    written = 0
    for n in range(index, per_run, procs):
        for writer, run in enumerate(runs):
            text = message(writer, n, f"record {n} of run {run.run_id}")
            if n % 10 == 0:
                run.trace("item", stage=1, message=text, w=writer, n=n)
            else:
                run.for_stage(1 + n % 2).info(text)
            written += 1
            peak = max(peak, open_fds())
    _result(out, baseline=baseline, peak=peak, written=written)


# -- checking files --------------------------------------------------------------------------


@dataclass
class TextCheck:
    """What a text log holds: our records by key, and every other record's first line."""

    keys: list[tuple[int, int]] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    lines: int = 0


def records(data: bytes) -> Iterator[tuple[str, list[str]]]:
    """Split a text log into records (first line, continuation lines).

    Asserts the layout: every physical line is a record line or starts with
    whitespace after a record line, and the file ends with a newline.
    """
    assert not data or data.endswith(b"\n"), "log does not end with a newline"
    text = data.decode("utf-8")
    current: tuple[str, list[str]] | None = None
    for line in text.split("\n")[:-1]:
        if RECORD_RE.match(line):
            if current is not None:
                yield current
            current = (line, [])
        else:
            assert current is not None, f"continuation before any record: {line[:120]!r}"
            assert line[:1].isspace(), f"stray line {line[:120]!r}"
            current[1].append(line)
    if current is not None:
        yield current


def parse_message(text: str) -> tuple[int, int] | None:
    """The (writer, n) key of a planned message whose payload checks out, else ``None``."""
    head = _HEAD_RE.match(text)
    if head is None:
        return None
    length = int(head[3])
    body = text[head.end() : head.end() + length]
    assert len(body) == length, f"payload cut short in {text[:80]!r}"
    assert hashlib.sha256(body.encode()).hexdigest() == head[4], f"checksum mismatch {text[:80]!r}"
    return (int(head[1]), int(head[2]))


def check_text(path: Path) -> TextCheck:
    return check_text_bytes(path.read_bytes())


def check_text_bytes(data: bytes) -> TextCheck:
    result = TextCheck(lines=data.count(b"\n"))
    for first, rest in records(data):
        body = first[RECORD_RE.match(first).end() :]  # type: ignore[union-attr]
        full = "\n".join([body, *(line[2:] for line in rest)])
        key = parse_message(full)
        if key is None:
            result.others.append(first)
        else:
            result.keys.append(key)
    return result


def check_trace(path: Path) -> tuple[list[tuple[int, int]], list[dict[str, Any]]]:
    """Every line must parse as one JSON object; returns our keys and the other events."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    keys: list[tuple[int, int]] = []
    others: list[dict[str, Any]] = []
    for line in data.split(b"\n")[:-1]:
        event = json.loads(line)
        assert isinstance(event, dict)
        key = parse_message(event["message"])
        if key is None:
            others.append(event)
            continue
        if event["event"] == "item":
            assert (event["w"], event["n"]) == key
        else:
            assert event["event"] == "log"
            assert event["level"] == "WARNING"
        keys.append(key)
    return keys, others


def keys_of(path: Path) -> list[tuple[int, int]]:
    """Our records in a text log or a trace, checked whole (see :func:`check_text`)."""
    return check_trace(path)[0] if path.suffix == ".jsonl" else check_text(path).keys


def line_key(line: bytes, trace: bool) -> tuple[int, int] | None:
    """The key of one physical line holding a whole record of ours, else ``None``."""
    try:
        if trace:
            text = json.loads(line)["message"]
        else:
            text = line.decode()
            match = RECORD_RE.match(text)
            if match is None:
                return None
            text = text[match.end() :]
        return parse_message(text)
    except (AssertionError, ValueError, KeyError, TypeError):
        return None


def assert_exactly(found: list[tuple[int, int]], expected: set[tuple[int, int]], what: str) -> None:
    duplicated = len(found) - len(set(found))
    assert duplicated == 0, f"{what}: {duplicated} duplicated records"
    missing = expected - set(found)
    extra = set(found) - expected
    assert not missing, f"{what}: {len(missing)} missing"
    assert not extra, f"{what}: {len(extra)} unexpected"
