"""Writing: igny8's run + stage + trace fan-out against what a user would otherwise build.

Every contender logs the same message with the same fields (``stage`` plus
:data:`FIELDS`) to real files in a temporary directory.  Rounds are interleaved
(round-robin, the starting contender rotating), and after the last round every
file is read back and the records counted: a contender that lost a record fails
the benchmark instead of looking fast.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from loguru import logger as loguru_logger
from pythonjsonlogger.json import JsonFormatter

import igny8_logging as igl

MESSAGE = "keyword scored for clustering"
FIELDS: dict[str, Any] = {"item_id": 12345, "keyword": "blue running shoes", "score": 0.87}
STAGE = 1
#: The stdlib text layout closest to igny8's (UTC ISO time, level, stage, message).
TEXT_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)-7s [stage %(stage)s] %(message)s"
LOGURU_FORMAT = "{time:YYYY-MM-DDTHH:mm:ss.SSS!UTC}Z {level: <7} [stage {extra[stage]}] {message}"

#: Names of the reference contenders the ratios are taken against.
STDLIB_ONE = "stdlib FileHandler (1 file)"
STDLIB_THREE = "stdlib 2 text + pjl JSON FileHandlers (3 files)"


@dataclass
class Contender:
    """One way of logging a record: the call measured and the files it must reach."""

    name: str
    call: str
    emit: Callable[[], object]
    paths: list[str]
    close: Callable[[], None]
    emitted: int = 0
    per_record_us: list[float] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)


@dataclass
class WriteResult:
    name: str
    call: str
    files: int
    us_per_record: float
    records_per_s: float
    p50_us: float
    p99_us: float


def _logger(name: str) -> logging.Logger:
    logger = logging.getLogger(f"benchmarks.{name}")
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _closer(logger: logging.Logger) -> Callable[[], None]:
    def close() -> None:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()

    return close


def _text_formatter() -> logging.Formatter:
    formatter = logging.Formatter(TEXT_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    return formatter


def stdlib_one(directory: str) -> Contender:
    logger = _logger("stdlib_one")
    path = os.path.join(directory, "app.log")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_text_formatter())
    logger.addHandler(handler)
    emit = functools.partial(logger.info, MESSAGE, extra={"stage": STAGE, **FIELDS})
    return Contender(STDLIB_ONE, "logger.info(msg, extra=fields)", emit, [path], _closer(logger))


def stdlib_three(directory: str) -> Contender:
    """The hand-built alternative: run log, stage log and a python-json-logger trace."""
    logger = _logger("stdlib_three")
    paths = [os.path.join(directory, name) for name in ("run.log", "stage_1.log", "trace.jsonl")]
    for path in paths[:2]:
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(_text_formatter())
        logger.addHandler(handler)
    handler = logging.FileHandler(paths[2], encoding="utf-8")
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    emit = functools.partial(logger.info, MESSAGE, extra={"stage": STAGE, **FIELDS})
    return Contender(STDLIB_THREE, "logger.info(msg, extra=fields)", emit, paths, _closer(logger))


def loguru_one(directory: str) -> Contender:
    path = os.path.join(directory, "loguru.log")
    loguru_logger.remove()
    sink = loguru_logger.add(path, format=LOGURU_FORMAT, level="INFO", enqueue=False)
    bound = loguru_logger.bind(stage=STAGE)
    emit = functools.partial(bound.info, MESSAGE, **FIELDS)

    def close() -> None:
        loguru_logger.remove(sink)

    return Contender("loguru, 1 file sink", "logger.info(msg, **fields)", emit, [path], close)


def structlog_json(directory: str) -> Contender:
    path = os.path.join(directory, "structlog.jsonl")
    stream = open(path, "wb")  # noqa: SIM115 - closed by the contender's close()
    logger = structlog.wrap_logger(
        structlog.BytesLogger(stream),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
    emit = functools.partial(logger.info, MESSAGE, stage=STAGE, **FIELDS)
    return Contender(
        "structlog, orjson JSON to 1 file", "log.info(msg, **fields)", emit, [path], stream.close
    )


#: The igny8 calls measured, and which files of the run folder each one reaches.
IGNY8_CALLS: dict[str, tuple[str, tuple[str, ...]]] = {
    "trace": (
        "run.trace(event, stage=1, message=msg, **fields)",
        ("automation_run.log", "stage_1.log", "run_trace.jsonl"),
    ),
    "warning": (
        "run.for_stage(1).warning(msg, extra=fields)",
        ("automation_run.log", "stage_1.log", "run_trace.jsonl"),
    ),
    "info": (
        "run.for_stage(1).info(msg, extra=fields)",
        ("automation_run.log", "stage_1.log"),
    ),
}


def igny8(directory: str, call: str, mirror: bool) -> Contender:
    logger = _logger(f"igny8_{call}_{mirror}")
    base = os.path.join(directory, "primary")
    shared = os.path.join(directory, "mirror") if mirror else None
    for handler_class in (igl.RunLogHandler, igl.StageLogHandler, igl.TraceHandler):
        logger.addHandler(handler_class(base, shared))
    run = igl.start_run(logger, account_id=7, site_id=42)
    stage = run.for_stage(STAGE)
    emit: Callable[[], object]
    if call == "trace":
        emit = functools.partial(run.trace, "item_scored", stage=STAGE, message=MESSAGE, **FIELDS)
    elif call == "warning":
        emit = functools.partial(stage.warning, MESSAGE, extra=FIELDS)
    else:
        emit = functools.partial(stage.info, MESSAGE, extra=FIELDS)
    described, names = IGNY8_CALLS[call]
    roots = [base] if shared is None else [base, shared]
    paths = [os.path.join(root, "7", "42", run.run_id, name) for root in roots for name in names]
    files = f"{len(paths)} files"
    label = f"igny8 run+stage+trace{' + mirror' if mirror else ''}, {call} ({files})"
    return Contender(label, described, emit, paths, _closer(logger))


def contenders(directory: str) -> list[Contender]:
    """Every contender, each writing below its own folder of *directory*."""
    made: list[Contender] = []
    builders: list[tuple[str, Callable[[str], Contender]]] = [
        ("stdlib_one", stdlib_one),
        ("stdlib_three", stdlib_three),
        ("loguru", loguru_one),
        ("structlog", structlog_json),
    ]
    for call in ("trace", "warning", "info"):
        builders.append((f"igny8_{call}", functools.partial(igny8, call=call, mirror=False)))
    for call in ("trace", "warning"):
        builders.append((f"igny8_mirror_{call}", functools.partial(igny8, call=call, mirror=True)))
    for name, build in builders:
        folder = os.path.join(directory, name)
        os.makedirs(folder)
        made.append(build(folder))
    return made


def _batch(contender: Contender, count: int, keep: bool) -> None:
    emit = contender.emit
    clock = time.perf_counter_ns
    latencies = [0] * count
    gc.collect()
    start = clock()
    for index in range(count):
        before = clock()
        emit()
        latencies[index] = clock() - before
    total = clock() - start
    contender.emitted += count
    if keep:
        contender.per_record_us.append(total / count / 1000)
        contender.latencies_ns.extend(latencies)


def _count(path: str) -> int:
    marker = MESSAGE.encode()
    try:
        with open(path, "rb") as stream:
            return sum(line.count(marker) for line in stream)
    except FileNotFoundError:
        return 0


def _percentile(sorted_values: list[int], share: float) -> float:
    index = min(len(sorted_values) - 1, round(share * (len(sorted_values) - 1)))
    return sorted_values[index] / 1000


def measure(directory: str, rounds: int, batch: int) -> list[WriteResult]:
    """Run every contender *rounds* times *batch* records, interleaved; verify the files."""
    made = contenders(directory)
    try:
        for contender in made:  # warm-up: open files, fill caches
            _batch(contender, max(10, batch // 10), keep=False)
        for round_no in range(rounds):
            shift = round_no % len(made)
            for contender in made[shift:] + made[:shift]:
                _batch(contender, batch, keep=True)
    finally:
        for contender in made:
            contender.close()
    lost = []
    for contender in made:
        for path in contender.paths:
            found = _count(path)
            if found != contender.emitted:
                lost.append(
                    f"{contender.name}: {path} has {found} records, {contender.emitted} sent"
                )
    if lost:
        raise RuntimeError("records lost:\n  " + "\n  ".join(lost))
    results = []
    for contender in made:
        us = statistics.median(contender.per_record_us)
        latencies = sorted(contender.latencies_ns)
        results.append(
            WriteResult(
                contender.name,
                contender.call,
                len(contender.paths),
                us,
                1e6 / us,
                _percentile(latencies, 0.50),
                _percentile(latencies, 0.99),
            )
        )
    return results
