"""Redis Streams: the caller's cost of ``RedisStreamHandler`` and the live feed's latency.

(Named ``redis_stream`` rather than ``redis``: run as ``python benchmarks/run.py``,
this folder is first on ``sys.path`` and a ``redis.py`` here would hide redis-py.)

* Caller cost: µs per ``run.trace(...)`` call (run log + stage log + trace line)
  with the three file handlers alone, with them plus ``RedisStreamHandler`` (Redis
  up, and Redis down: a port nobody listens on), and with ``RedisStreamHandler``
  alone; rounds interleaved.  The time is the caller's wall time, so the sender
  thread's share of the GIL is in it.  Afterwards every record is counted in its
  stream (Redis up) or in ``dropped`` + still buffered (Redis down).
* ``python -m benchmarks.redis_stream [ROUNDS BATCH SECONDS]`` runs this section
  alone (default: the full run's sizes).
* Latency: a writer (``RedisStreamHandler``; ``IGNY8_BENCH_FILES=1`` adds the three
  file handlers) logs at a fixed rate (1,000 and 20,000 records/s, sleeping between
  records as a worker idles between items) while a reader in another process follows
  the run with ``RunLogReader(redis_url=...).follow(...)`` (blocking ``XREAD``); each
  line carries its logging call's ``CLOCK_MONOTONIC`` time, the reader its arrival.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import redis

import igny8_logging as igl
from igny8_logging.redis import RedisStreamHandler

FILES = "3 file handlers"
FILES_REDIS = "3 file handlers + RedisStreamHandler"
FILES_REDIS_DOWN = "3 file handlers + RedisStreamHandler, Redis down"
REDIS_ALONE = "RedisStreamHandler alone"
CONTENDERS = (FILES, FILES_REDIS, FILES_REDIS_DOWN, REDIS_ALONE)
PREFIX = "igny8bench"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A private ``redis-server`` (no persistence) for the benchmark."""

    def __init__(self, directory: str) -> None:
        self.port = _free_port()
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        os.makedirs(directory, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", directory]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(500):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.01)
        client.close()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


@dataclass
class CostResult:
    name: str
    us_per_record: float
    cpu_us_per_record: float
    dropped: int
    #: CPU µs per record of the sender thread and of ``redis-server`` (``None``: none).
    sender_cpu_us: float | None = None
    server_cpu_us: float | None = None


def _cpu_ns(path: str) -> int:
    """The CPU time (ns) of a thread or process from its ``schedstat`` (0 if unknown)."""
    try:
        with open(path, encoding="ascii") as stream:
            return int(stream.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _sender_stat(handlers: list[logging.Handler]) -> str | None:
    for handler in handlers:
        if isinstance(handler, RedisStreamHandler):
            thread = handler._sender.thread  # benchmark-only peek at the private sender
            if thread is not None and thread.native_id is not None:
                return f"/proc/self/task/{thread.native_id}/schedstat"
    return None


@dataclass
class LatencyResult:
    rate: int
    records: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def _logger(name: str, handlers: list[logging.Handler]) -> logging.Logger:
    logger = logging.getLogger(f"benchmarks.redis.{name}")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    return logger


def _handlers(name: str, directory: str, url: str, dead_url: str) -> list[logging.Handler]:
    base = os.path.join(directory, name.replace(" ", "_").replace(",", ""))
    files: list[logging.Handler] = [
        igl.RunLogHandler(base),
        igl.StageLogHandler(base),
        igl.TraceHandler(base),
    ]
    buffer = 10_000_000  # every record kept: the count afterwards checks them all
    if name == FILES:
        return files
    if name == FILES_REDIS:
        return [*files, RedisStreamHandler(url, prefix=PREFIX, buffer=buffer)]
    if name == FILES_REDIS_DOWN:
        return [*files, RedisStreamHandler(dead_url, prefix=PREFIX, flush_timeout=0.1)]
    return [RedisStreamHandler(url, prefix=PREFIX, buffer=buffer)]


def measure_cost(directory: str, rounds: int, batch: int) -> list[CostResult]:
    """Median µs per ``run.trace`` call of each contender, interleaved rounds."""
    server = Server(os.path.join(directory, "redis-cost"))
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    try:
        runs: dict[str, tuple[logging.Logger, igl.RunLogger]] = {}
        for name in CONTENDERS:
            logger = _logger(name, _handlers(name, directory, server.url, dead))
            runs[name] = (logger, igl.start_run(logger, 1, 1))
        times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        cpu: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        sender_ns = dict.fromkeys(CONTENDERS, 0)
        server_ns = dict.fromkeys(CONTENDERS, 0)
        server_stat = f"/proc/{server.process.pid}/schedstat"
        for round_no in range(rounds):
            shift = round_no % len(CONTENDERS)
            order = CONTENDERS[shift:] + CONTENDERS[:shift]
            for name in order:
                run = runs[name][1]
                stat = _sender_stat(runs[name][0].handlers)
                sender_at = _cpu_ns(stat) if stat else 0
                server_at = _cpu_ns(server_stat)
                started, cpu_started = time.perf_counter_ns(), time.thread_time_ns()
                for i in range(batch):
                    run.trace("item_scored", stage=1, item_id=i, keyword="blue shoes", score=0.87)
                times[name].append((time.perf_counter_ns() - started) / batch / 1000)
                cpu[name].append((time.thread_time_ns() - cpu_started) / batch / 1000)
                for handler in runs[name][0].handlers:
                    handler.flush()  # the sender catches up between rounds, untimed
                if stat:  # ... but its CPU and the server's are counted
                    sender_ns[name] += _cpu_ns(stat) - sender_at
                    server_ns[name] += _cpu_ns(server_stat) - server_at
        results = []
        for name, made in runs.items():
            result = _check(name, made, times[name], cpu[name], server, rounds * batch)
            if name in (FILES_REDIS, FILES_REDIS_DOWN, REDIS_ALONE):
                result.sender_cpu_us = sender_ns[name] / (rounds * batch) / 1000
            if name in (FILES_REDIS, REDIS_ALONE):
                result.server_cpu_us = server_ns[name] / (rounds * batch) / 1000
            results.append(result)
        return results
    finally:
        server.stop()


def _check(
    name: str,
    made: tuple[logging.Logger, igl.RunLogger],
    times: list[float],
    cpu: list[float],
    server: Server,
    records: int,
) -> CostResult:
    logger, run = made
    streams = [h for h in logger.handlers if isinstance(h, RedisStreamHandler)]
    dropped = sum(h.dropped for h in streams)
    pending = sum(h.pending for h in streams)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    if streams and name != FILES_REDIS_DOWN:
        client = redis.Redis.from_url(server.url)
        key = f"{PREFIX}:1:1:{run.run_id}:run_trace.jsonl"
        info: dict[str, Any] = client.xinfo_stream(key)
        got = info["entries-added"]  # counts what maxlen has trimmed away too
        client.close()
        if got != records + 1:  # + run_start
            raise AssertionError(f"{name}: {got} trace entries in Redis, {records + 1} logged")
    elif streams and dropped + pending != records + 1:
        raise AssertionError(f"{name}: {dropped} dropped + {pending} pending != {records + 1}")
    return CostResult(name, statistics.median(times), statistics.median(cpu), dropped)


READER = """
import json, sys, time
import igny8_logging as igl
url, prefix, run_id = sys.argv[1:4]
reader = igl.RunLogReader("/nonexistent", redis_url=url, prefix=prefix)
lines = reader.follow(run_id, account_id=1, site_id=1, timeout=120)
print("ready", flush=True)
delays = []
for line in lines:
    now = time.monotonic_ns()
    marker = line.rfind(" sent=")
    if marker >= 0:
        delays.append(now - int(line[marker + 6:]))
print(json.dumps(delays), flush=True)
"""


def measure_latency(directory: str, rate: int, seconds: float) -> LatencyResult:
    """Logging call → blocking reader in another process, at *rate* records/s."""
    server = Server(os.path.join(directory, f"redis-latency-{rate}"))
    base = os.path.join(directory, f"latency-{rate}")
    batch = int(os.environ.get("IGNY8_BENCH_BATCH", "500"))
    handler = RedisStreamHandler(server.url, prefix=PREFIX, buffer=10_000_000, batch_size=batch)
    files: list[logging.Handler] = []
    if os.environ.get("IGNY8_BENCH_FILES"):
        files = [igl.RunLogHandler(base), igl.StageLogHandler(base), igl.TraceHandler(base)]
    logger = _logger(f"latency{rate}", [*files, handler])
    try:
        run = igl.start_run(logger, 1, 1)
        handler.flush()
        reader = subprocess.Popen(
            [sys.executable, "-c", READER, server.url, PREFIX, run.run_id],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout is not None
        if reader.stdout.readline().strip() != "ready":
            raise AssertionError("the reader did not start")
        count = int(rate * seconds)
        started = time.perf_counter()
        for i in range(count):
            wait = started + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)  # idle like a worker between items (a spin would hog the GIL)
            run.info("item %d sent=%d", i, time.monotonic_ns())
        run.end()
        out, _ = reader.communicate(timeout=120)
        delays: list[int] = json.loads(out.strip().splitlines()[-1])
        if len(delays) != count:
            raise AssertionError(f"latency at {rate}/s: {len(delays)} of {count} lines arrived")
        ms = sorted(d / 1e6 for d in delays)
        return LatencyResult(rate, count, _pct(ms, 50), _pct(ms, 99), ms[-1])
    finally:
        for h in list(logger.handlers):
            logger.removeHandler(h)
            h.close()
        server.stop()


def _pct(values: list[float], pct: int) -> float:
    return values[min(len(values) - 1, len(values) * pct // 100)]


def measure(
    directory: str, rounds: int, batch: int, seconds: float
) -> tuple[list[CostResult], list[LatencyResult]]:
    costs = measure_cost(directory, rounds, batch)
    latencies = [measure_latency(directory, rate, seconds) for rate in (1_000, 20_000)]
    return costs, latencies


def section(costs: list[CostResult], latencies: list[LatencyResult]) -> tuple[str, str]:
    """The Markdown of the results, and the targets' rows as text."""
    from benchmarks.report import number, ratio, table

    by = {c.name: c for c in costs}
    files, files_cpu = by[FILES].us_per_record, by[FILES].cpu_us_per_record
    alone = (FILES, REDIS_ALONE)
    rows = [
        (
            c.name,
            number(c.us_per_record, 2),
            "-" if c.name in alone else number(c.us_per_record - files, 2),
            "-" if c.name in alone else ratio((c.us_per_record - files) / files),
            number(c.cpu_us_per_record, 2),
            "-" if c.name in alone else number(c.cpu_us_per_record - files_cpu, 2),
            "-" if c.sender_cpu_us is None else number(c.sender_cpu_us, 2),
            "-" if c.server_cpu_us is None else number(c.server_cpu_us, 2),
            number(c.dropped, 0),
        )
        for c in costs
    ]
    headers = ("contender", "wall µs/record", "added µs", "added / files", "caller CPU µs")
    more = ("added CPU µs", "sender thread CPU µs", "redis-server CPU µs", "dropped")
    cost = table((*headers, *more), rows)
    lat_rows = [
        (
            f"{r.rate:,}/s",
            number(r.records, 0),
            number(r.p50_ms, 2),
            number(r.p99_ms, 2),
            number(r.max_ms, 2),
        )
        for r in latencies
    ]
    latency = table(("rate", "records", "p50 ms", "p99 ms", "max ms"), lat_rows)
    return cost, latency


def targets(costs: list[CostResult], latencies: list[LatencyResult]) -> list[tuple[str, str, bool]]:
    """``(target, measured, met)`` rows for the Targets table."""
    from benchmarks.report import ratio

    by = {c.name: c.us_per_record for c in costs}
    added = by[FILES_REDIS] - by[FILES]
    rows = [
        ("RedisStreamHandler: added caller cost ≤ 10 µs/record", f"{added:.2f} µs", added <= 10),
        (
            "RedisStreamHandler: added cost ≤ 0.2× the three file handlers'",
            ratio(added / by[FILES]),
            added <= 0.2 * by[FILES],
        ),
        (
            "RedisStreamHandler: per-call cost with Redis down ≤ 2× with Redis up",
            ratio(by[FILES_REDIS_DOWN] / by[FILES_REDIS]),
            by[FILES_REDIS_DOWN] <= 2 * by[FILES_REDIS],
        ),
    ]
    for r in latencies:
        rows.append(
            (
                f"live feed at {r.rate:,} records/s: p99 ≤ 100 ms",
                f"{r.p99_ms:.1f} ms",
                r.p99_ms <= 100,
            )
        )
    return rows


def markdown(costs: list[CostResult], latencies: list[LatencyResult]) -> list[str]:
    """The ``## Redis Streams`` section of the report (its own targets table first)."""
    from benchmarks.report import table

    cost, latency = section(costs, latencies)
    rows = [
        (what, value, "met" if ok else "NOT met") for what, value, ok in targets(costs, latencies)
    ]
    return [
        "## Redis Streams",
        "",
        table(("target", "measured", ""), rows),
        "",
        "Caller cost of `run.trace(...)` (run log + stage log + trace line), median µs per "
        "record of interleaved rounds: the caller's wall time (which holds the sender "
        "thread's share of the GIL and, on a busy machine, the CPU of the local "
        "`redis-server` on the same cores) and the caller thread's own CPU time; then the "
        "CPU per record of the sender thread and of `redis-server` over all rounds "
        "(flushes included, from `/proc/.../schedstat`). Every record was counted in "
        "Redis afterwards (or, Redis down, in `dropped` + still buffered).",
        "",
        cost,
        "",
        "Latency from the logging call (`RedisStreamHandler`, the writer sleeping between "
        "records) to `RunLogReader(redis_url=...).follow()` in another process (blocking "
        "`XREAD`):",
        "",
        latency,
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.redis_stream [ROUNDS BATCH SECONDS]``: this section alone
    (default: the full run's sizes, 7 × 20,000 records and 5 s per rate)."""
    import tempfile

    args = [float(a) for a in (sys.argv[1:] if argv is None else argv)]
    rounds, batch, seconds = (args + [7, 20_000, 5.0][len(args) :])[:3]
    with tempfile.TemporaryDirectory(prefix="igny8-bench-redis-") as directory:
        costs, latencies = measure(directory, int(rounds), int(batch), seconds)
    print("\n".join(markdown(costs, latencies)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
