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
import json
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
SEED = "seed-style open/append/close per event (3 files)"
LOGURU_THREE = "loguru, 3 file sinks (2 text + JSON)"
STRUCTLOG_THREE = "structlog + 3 stdlib FileHandlers (3 files)"
#: The issue's calls: an item record through the adapter, and through a plain logger.
IGNY8_ITEM = "igny8 run+stage+trace, item (3 files)"
IGNY8_PLAIN = "igny8 run+stage+trace, plain logger item (3 files)"
IGNY8_MIRROR_ITEM = "igny8 run+stage+trace + mirror, item (6 files)"


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


def _only(contender: str) -> Callable[[Any], bool]:
    """A loguru sink filter: the loguru contenders run side by side in one process."""

    def keep(record: Any) -> bool:
        return bool(record["extra"].get("contender") == contender)

    return keep


def loguru_one(directory: str) -> Contender:
    path = os.path.join(directory, "loguru.log")
    loguru_logger.remove()  # the default stderr sink
    sink = loguru_logger.add(
        path, format=LOGURU_FORMAT, level="INFO", enqueue=False, filter=_only("one")
    )
    bound = loguru_logger.bind(stage=STAGE, contender="one")
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


def seed_style(directory: str) -> Contender:
    """What the seed did: per event, open each file in append mode, write a line, close it."""
    paths = [os.path.join(directory, name) for name in ("run.log", "stage_1.log", "trace.jsonl")]

    def emit() -> None:
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        )
        line = f"{stamp} INFO    [stage {STAGE}] {MESSAGE}\n"
        for path in paths[:2]:
            with open(path, "a", encoding="utf-8") as stream:
                stream.write(line)
        event = {"ts": stamp, "event": "item", "level": "INFO", "stage": STAGE, "message": MESSAGE}
        with open(paths[2], "a", encoding="utf-8") as stream:
            stream.write(json.dumps({**event, **FIELDS}) + "\n")

    return Contender(SEED, "open(path, 'a').write(line) per file", emit, paths, lambda: None)


def loguru_three(directory: str) -> Contender:
    paths = [os.path.join(directory, name) for name in ("run.log", "stage_1.log", "trace.jsonl")]
    only = _only("three")
    sinks = [
        loguru_logger.add(path, format=LOGURU_FORMAT, level="INFO", enqueue=False, filter=only)
        for path in paths[:2]
    ]
    sinks.append(
        loguru_logger.add(paths[2], level="INFO", serialize=True, enqueue=False, filter=only)
    )
    bound = loguru_logger.bind(stage=STAGE, contender="three")
    emit = functools.partial(bound.info, MESSAGE, **FIELDS)

    def close() -> None:
        for sink in sinks:
            loguru_logger.remove(sink)

    return Contender(LOGURU_THREE, "logger.info(msg, **fields)", emit, paths, close)


def structlog_three(directory: str) -> Contender:
    """structlog's stdlib integration: ProcessorFormatter on three stdlib FileHandlers."""
    logger = _logger("structlog_three")
    paths = [os.path.join(directory, name) for name in ("run.log", "stage_1.log", "trace.jsonl")]
    renderers: list[Any] = [
        structlog.dev.ConsoleRenderer(colors=False),
        structlog.dev.ConsoleRenderer(colors=False),
        structlog.processors.JSONRenderer(serializer=lambda obj, **kw: orjson.dumps(obj).decode()),
    ]
    for path, renderer in zip(paths, renderers, strict=True):
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=renderer))
        logger.addHandler(handler)
    log = structlog.wrap_logger(
        logger,
        processors=[
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    emit = functools.partial(log.info, MESSAGE, stage=STAGE, **FIELDS)
    return Contender(STRUCTLOG_THREE, "log.info(msg, **fields)", emit, paths, _closer(logger))


def igny8_item(directory: str, plain: bool, mirror: bool) -> Contender:
    """The issue's call: ``run.for_stage(1).info(msg, i, j, extra={"event": "item"})``
    (or a plain ``logger.info`` carrying the run in ``extra``), fields included."""
    logger = _logger(f"igny8_item_{plain}_{mirror}")
    base = os.path.join(directory, "primary")
    shared = os.path.join(directory, "mirror") if mirror else None
    for handler_class in (igl.RunLogHandler, igl.StageLogHandler, igl.TraceHandler):
        logger.addHandler(handler_class(base, shared))
    run = igl.start_run(logger, account_id=7, site_id=42)
    text = MESSAGE + " %d of %d"
    emit: Callable[[], object]
    if plain:
        ids = {"run_id": run.run_id, "account_id": 7, "site_id": 42, "stage": STAGE}
        extra = {**ids, "event": "item", **FIELDS}
        emit = functools.partial(logger.info, text, 1, 2, extra=extra)
        call, name = (
            'logger.info(msg, i, j, extra={"run_id": ..., "event": "item", ...})',
            IGNY8_PLAIN,
        )
    else:
        stage = run.for_stage(STAGE)
        emit = functools.partial(stage.info, text, 1, 2, extra={"event": "item", **FIELDS})
        call = 'run.for_stage(1).info(msg, i, j, extra={"event": "item", ...})'
        name = IGNY8_MIRROR_ITEM if mirror else IGNY8_ITEM
    roots = [base] if shared is None else [base, shared]
    names = ("automation_run.log", "stage_1.log", "run_trace.jsonl")
    paths = [os.path.join(root, "7", "42", run.run_id, file) for root in roots for file in names]
    return Contender(name, call, emit, paths, _closer(logger))


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
        ("seed", seed_style),
        ("loguru_three", loguru_three),
        ("structlog_three", structlog_three),
        ("igny8_item", functools.partial(igny8_item, plain=False, mirror=False)),
        ("igny8_plain", functools.partial(igny8_item, plain=True, mirror=False)),
        ("igny8_mirror_item", functools.partial(igny8_item, plain=False, mirror=True)),
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
            return sum(1 for line in stream if marker in line)
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
