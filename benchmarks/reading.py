"""Reading: ``tail``, ``read_trace`` and ``summary`` on big runs, and naive reads for contrast.

The logs are real lines (no sparse files): a block of realistic lines is built
once in memory and appended until the file reaches its size.  Times are taken
with the files in the page cache (the usual case for a run being watched);
peak memory is measured separately under ``tracemalloc`` for one call each.
"""

from __future__ import annotations

import collections
import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

import igny8_logging as igl
from igny8_logging._blobsource import encode_cursor
from igny8_logging._ids import RunRef

MIB = 1024 * 1024
TAIL_LINES = 100
PAGE = 500


@dataclass
class ReadResult:
    name: str
    ms: float
    peak_bytes: int | None
    check: str


def _text_block(lines: int = 8000) -> bytes:
    rows = []
    for n in range(lines):
        second, ms = divmod(n, 1000)
        rows.append(
            f"2026-11-29T01:{second // 60 % 60:02d}:{second % 60:02d}.{ms:03d}Z INFO    "
            f'[stage 1] keyword scored for clustering item_id={n} keyword="blue running shoes" '
            f"score=0.{n % 97:02d}\n"
        )
    return "".join(rows).encode()


def _event(event: str, n: int, **fields: Any) -> bytes:
    data = {
        "ts": f"2026-11-29T01:30:{n // 1000 % 60:02d}.{n % 1000:03d}Z",
        "event": event,
        "level": "INFO",
        "run_id": "",
        "account_id": None,
        "site_id": None,
        "stage": fields.pop("stage", 1),
        "message": fields.pop("message", event),
        **fields,
    }
    return orjson.dumps(data) + b"\n"


def _fill(path: str, head: bytes, block: bytes, size: int) -> None:
    """Write *head*, then *block* again and again until the file holds *size* bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        os.write(fd, head)
        written = len(head)
        while written + len(block) <= size:
            written += os.write(fd, block)
        rest = block[: block.rfind(b"\n", 0, max(size - written, 1)) + 1]
        os.write(fd, rest)
    finally:
        os.close(fd)


def _run_folder(base: str, run_id: str) -> str:
    folder = os.path.join(base, *RunRef(run_id).parts)
    os.makedirs(folder)
    return folder


def _item_block(run_id: str, items: int, first: int = 0) -> bytes:
    rows = []
    for n in range(first, first + items):
        rows.append(
            _event(
                "item_scored",
                n,
                run_id=run_id,
                message="keyword scored for clustering",
                item_id=n,
                keyword="blue running shoes",
                score=0.87,
            )
        )
        if n % 100 == 99:
            rows.append(_event("stage_progress", n, processed=n + 1, total=None))
    return b"".join(rows).replace(b'"run_id":""', f'"run_id":"{run_id}"'.encode())


def make_trace(base: str, run_id: str, size: int) -> str:
    """A running run's trace of about *size* bytes; returns its path."""
    folder = _run_folder(base, run_id)
    head = _event("run_start", 0, stage=None, metadata={"source": "benchmark"}) + _event(
        "stage_start", 0, stage_name="Keywords", pending=None
    )
    head = head.replace(b'"run_id":""', f'"run_id":"{run_id}"'.encode())
    path = os.path.join(folder, "run_trace.jsonl")
    _fill(path, head, _item_block(run_id, 4000), size)
    return path


def make_events_trace(base: str, run_id: str, events: int, stages: int = 4) -> int:
    """A finished run with *events* trace events over *stages* stages; returns the count."""
    folder = _run_folder(base, run_id)
    block_items = 1000
    block = _item_block(run_id, block_items)
    per_block = block.count(b"\n")
    per_stage = max(1, (events - 2 - 2 * stages) // stages // per_block)
    written = 0
    with open(os.path.join(folder, "run_trace.jsonl"), "wb") as stream:

        def put(data: bytes) -> None:
            nonlocal written
            stream.write(data.replace(b'"run_id":""', f'"run_id":"{run_id}"'.encode()))
            written += data.count(b"\n")

        put(_event("run_start", 0, stage=None, metadata={"source": "benchmark"}))
        for stage in range(1, stages + 1):
            put(_event("stage_start", 0, stage=stage, stage_name=f"stage {stage}", pending=None))
            stage_block = block.replace(b'"stage":1,', f'"stage":{stage},'.encode())
            for _ in range(per_stage):
                put(stage_block)
            put(
                _event(
                    "stage_complete",
                    0,
                    stage=stage,
                    processed=per_stage * block_items,
                    elapsed_s=1.5,
                    credits_used=None,
                    result=None,
                )
            )
        while written < events - 1:
            put(_event("note", 0, stage=None))
        put(_event("run_end", 0, stage=None, status="completed", elapsed_s=60.0))
    return written


def make_log(base: str, run_id: str, size: int) -> str:
    folder = _run_folder(base, run_id)
    path = os.path.join(folder, "automation_run.log")
    head = f"2026-11-29T01:30:00.000Z INFO    [run] run started\n  run_id: {run_id}\n".encode()
    _fill(path, head, _text_block(), size)
    return path


def make_huge_line_log(base: str, run_id: str, size: int) -> str:
    """A foreign log: one line with no newline in *size* bytes (sparse, made fast)."""
    path = os.path.join(_run_folder(base, run_id), "automation_run.log")
    with open(path, "wb") as log:
        log.write(b"start of one huge line")
        log.truncate(size)
        log.seek(0, os.SEEK_END)
        log.write(b"its end\nlast line\n")
    return path


def _huge_check(got: list[str]) -> str:
    if len(got) != 2 or got[1] != "last line" or not got[0].endswith("its end"):
        raise RuntimeError("tail of the huge-line log is wrong")
    return "2 lines (the huge one cut at its start)"


def _naive_readlines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as stream:
        return stream.readlines()[-TAIL_LINES:]


def _naive_deque(path: str) -> list[str]:
    with open(path, encoding="utf-8") as stream:
        return list(collections.deque(stream, maxlen=TAIL_LINES))


def end_cursor(reader: igl.RunLogReader, path: str, run_id: str, events: int) -> str:
    """A cursor *events* lines before the end, built with the reader's private encoder.

    The cursor is opaque and only ``read_trace`` issues it; paging through a
    1 GiB trace to reach its end would take minutes, so the benchmark encodes
    the offset the file source itself would have issued there.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        stream.seek(max(0, size - 4 * MIB))
        tail = stream.read()
    pos = len(tail)
    for _ in range(events + 1):  # the file ends with a newline
        pos = tail.rfind(b"\n", 0, pos)
    offset = size - len(tail) + pos + 1
    return encode_cursor(RunRef.checked(run_id), offset)


def _peak(call: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@dataclass
class _Op:
    name: str
    call: Callable[[], Any]
    #: Checks what one call returned; raises on a wrong answer, else a short note.
    check: Callable[[Any], str]
    slow: bool = False


def _time(ops: list[_Op], rounds: int, calls: int) -> dict[str, float]:
    """Median ms per call over interleaved rounds (*calls* calls per op and round)."""
    samples: dict[str, list[float]] = {op.name: [] for op in ops}
    for round_no in range(rounds):
        shift = round_no % len(ops)
        for op in ops[shift:] + ops[:shift]:
            gc.collect()
            start = time.perf_counter()
            for _ in range(calls):
                op.call()
            samples[op.name].append((time.perf_counter() - start) / calls * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def size_name(size: int) -> str:
    """``1 GiB``, ``4 MiB``, ``256 KiB``."""
    for unit, scale in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.0f} {unit}"
    return f"{size} B"


def tail_name(size: int) -> str:
    return f"tail(100), {size_name(size)} log"


def page_name(where: str, size: int) -> str:
    return f"read_trace 500 events, {where} of {size_name(size)} trace"


def _lines_check(path: str) -> Callable[[Any], str]:
    expected = [line.rstrip("\n") for line in _naive_deque(path)]

    def check(got: list[str]) -> str:
        if [line.rstrip("\n") for line in got] != expected:
            raise RuntimeError(f"the last {TAIL_LINES} lines of {path} differ")
        return f"{len(got)} lines"

    return check


def _page_check(page: igl.TracePage) -> str:
    if len(page.events) != PAGE:
        raise RuntimeError(f"read_trace returned {len(page.events)} events, expected {PAGE}")
    return f"{len(page.events)} events, complete={page.complete}"


def _summary_check(summary: dict[str, Any]) -> str:
    if summary["status"] != "completed" or len(summary["stages"]) != 4:
        raise RuntimeError(f"summary is wrong: {summary}")
    return f"{len(summary['stages'])} stages, {summary['status']}"


def measure(
    directory: str, small: int, big: int, events: int, rounds: int, slow_rounds: int
) -> tuple[list[ReadResult], float]:
    """Build the files below *directory*, check and time every reading call.

    Returns the results and the seconds it took to write the files.
    """
    reader = igl.RunLogReader(directory)
    small_run, big_run = "run_20261129_013000_00000001", "run_20261129_013000_00000002"
    trace_run, summary_run = "run_20261129_013000_00000003", "run_20261129_013000_00000004"
    huge_run = "run_20261129_013000_00000005"
    started = time.perf_counter()
    small_log = make_log(directory, small_run, small)
    big_log = make_log(directory, big_run, big)
    trace = make_trace(directory, trace_run, big)
    written = make_events_trace(directory, summary_run, events)
    make_huge_line_log(directory, huge_run, big)
    built_s = time.perf_counter() - started
    cursor = end_cursor(reader, trace, trace_run, PAGE)
    s_small, s_big = size_name(small), size_name(big)

    ops = [
        _Op(tail_name(small), lambda: reader.tail(small_run, TAIL_LINES), _lines_check(small_log)),
        _Op(tail_name(big), lambda: reader.tail(big_run, TAIL_LINES), _lines_check(big_log)),
        _Op(
            f"tail(100), one {s_big} line without newline (foreign)",
            lambda: reader.tail(huge_run, TAIL_LINES),
            _huge_check,
        ),
        _Op(page_name("start", big), lambda: reader.read_trace(trace_run), _page_check),
        _Op(
            page_name("end", big), lambda: reader.read_trace(trace_run, cursor=cursor), _page_check
        ),
        _Op(
            f"naive readlines()[-100:], {s_small} log",
            lambda: _naive_readlines(small_log),
            _lines_check(small_log),
        ),
        _Op(
            f"naive deque(maxlen=100), {s_small} log",
            lambda: _naive_deque(small_log),
            _lines_check(small_log),
        ),
        _Op(
            f"summary, {written:,} events",
            lambda: reader.summary(summary_run),
            _summary_check,
            slow=True,
        ),
        _Op(
            f"naive readlines()[-100:], {s_big} log",
            lambda: _naive_readlines(big_log),
            _lines_check(big_log),
            slow=True,
        ),
        _Op(
            f"naive deque(maxlen=100), {s_big} log",
            lambda: _naive_deque(big_log),
            _lines_check(big_log),
            slow=True,
        ),
    ]
    notes = {op.name: op.check(op.call()) for op in ops}
    times = _time([op for op in ops if not op.slow], rounds, 20)
    times.update(_time([op for op in ops if op.slow], slow_rounds, 1))
    results = [ReadResult(op.name, times[op.name], _peak(op.call), notes[op.name]) for op in ops]
    return results, built_s
