"""One command that measures igny8_logging side by side with the alternatives.

    python -m benchmarks            # full run (about 3-5 minutes; writes ~2.3 GiB, then removes it)
    python -m benchmarks --quick    # small sizes, a few seconds (what CI runs)
    python benchmarks/run.py ...    # the same

Prints Markdown tables of medians and ratios and, in a full run, writes the same
text to ``benchmarks/RESULTS.md`` (``--out`` picks another file).  It asserts no
times: it fails only when a contender lost records or a reader returned a wrong
answer.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import archive, celery_hooks, reading, redis_stream, writing
from benchmarks.report import environment, number, ratio, table

MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True)
class Sizes:
    rounds: int
    batch: int
    small: int
    big: int
    events: int
    read_rounds: int
    slow_rounds: int
    tasks: int


FULL = Sizes(
    rounds=7,
    batch=20_000,
    small=MIB,
    big=GIB,
    events=1_000_000,
    read_rounds=7,
    slow_rounds=3,
    tasks=3000,
)
QUICK = Sizes(
    rounds=2,
    batch=300,
    small=256 * 1024,
    big=4 * MIB,
    events=20_000,
    read_rounds=2,
    slow_rounds=1,
    tasks=100,
)

#: The archive: (run size, rounds, sizes of the logs whose tail(100) is read back).
ARCHIVE_FULL = (100 * MIB, 3, [MIB, 100 * MIB])
ARCHIVE_QUICK = (4 * MIB, 1, [MIB, 4 * MIB])


#: The peers every contender's throughput is divided by, one column each.
PEERS: tuple[tuple[str, str], ...] = (
    ("vs 1 stdlib handler", writing.STDLIB_ONE),
    ("vs stdlib 3 handlers", writing.STDLIB_THREE),
    ("vs seed-style", writing.SEED),
    ("vs loguru 3 sinks", writing.LOGURU_THREE),
    ("vs structlog 3 handlers", writing.STRUCTLOG_THREE),
)


def _writing_section(results: list[writing.WriteResult]) -> tuple[str, dict[str, float]]:
    by_name = {r.name: r for r in results}
    rows = [
        (
            r.name,
            r.files,
            number(r.us_per_record, 2),
            number(r.records_per_s, 0),
            number(r.p50_us, 2),
            number(r.p99_us, 2),
            *(ratio(by_name[peer].us_per_record / r.us_per_record) for _, peer in PEERS),
        )
        for r in results
    ]
    text = table(
        (
            "contender",
            "files",
            "µs/record",
            "records/s",
            "p50 µs",
            "p99 µs",
            *(h for h, _ in PEERS),
        ),
        rows,
    )
    calls = "\n".join(f"- {r.name}: `{r.call}`" for r in results)
    ratios = {
        f"{r.name} / {peer}": by_name[peer].us_per_record / r.us_per_record
        for r in results
        for _, peer in PEERS
    }
    ratios.update({f"{r.name} us": r.us_per_record for r in results})
    return f"{text}\n\nThe call measured for each contender:\n\n{calls}", ratios


def _reading_section(results: list[reading.ReadResult]) -> str:
    rows = [
        (
            r.name,
            number(r.ms, 3),
            "-" if r.peak_bytes is None else number(r.peak_bytes / MIB, 2),
            r.check,
        )
        for r in results
    ]
    return table(("call", "ms/call", "peak MiB", "returned"), rows)


def _targets(
    sizes: Sizes,
    ratios: dict[str, float],
    reads: list[reading.ReadResult],
    celery: celery_hooks.CeleryResult,
) -> str:
    by_name = {r.name: r for r in reads}
    small_tail = by_name[reading.tail_name(sizes.small)]
    big_tail = by_name[reading.tail_name(sizes.big)]
    end_page = by_name[reading.page_name("end", sizes.big)]
    big = reading.size_name(sizes.big)
    rows: list[tuple[str, str, str]] = []

    def check(what: str, value: str, ok: bool) -> None:
        rows.append((what, value, "met" if ok else "NOT met"))

    item, mirror, plain = writing.IGNY8_ITEM, writing.IGNY8_MIRROR_ITEM, writing.IGNY8_PLAIN
    for peer, bar in (
        (writing.STDLIB_THREE, 1.5),
        (writing.SEED, 1.5),
        (writing.LOGURU_THREE, 1.5),
        (writing.STDLIB_ONE, 0.6),
    ):
        value = ratios[f"{item} / {peer}"]
        check(f"item, 3 files ≥ {bar}× {peer}", ratio(value), value >= bar)
    value = ratios[f"{item} / {writing.STDLIB_ONE}"]
    check(f"item, 3 files ≥ 1.0× {writing.STDLIB_ONE} (the aim)", ratio(value), value >= 1.0)
    value = ratios[f"{mirror} / {writing.STDLIB_ONE}"]
    check(f"item + mirror, 6 files ≥ 0.5× {writing.STDLIB_ONE}", ratio(value), value >= 0.5)
    for peer, bar in ((writing.STDLIB_THREE, 1.5), (writing.SEED, 1.5), (writing.STDLIB_ONE, 0.6)):
        value = ratios[f"{plain} / {peer}"]
        check(f"plain logger.info item, 3 files ≥ {bar}× {peer}", ratio(value), value >= bar)
    value = ratios[f"{item} us"] / ratios[f"{plain} us"]
    rows.append(("plain logger.info item vs the adapter's item (no target: see README)",
                 ratio(value), "information"))  # fmt: skip
    check(f"tail(100) on {big} ≤ 2 ms", f"{big_tail.ms:.3f} ms", big_tail.ms <= 2.0)
    check(
        f"tail(100) on {big} ≤ 3× the {reading.size_name(sizes.small)} time",
        ratio(big_tail.ms / small_tail.ms),
        big_tail.ms <= 3 * small_tail.ms,
    )
    peak = max(r.peak_bytes or 0 for r in (small_tail, big_tail))
    check("tail(100) peak memory growth < 20 MB", f"{peak / 1e6:.2f} MB", peak < 20e6)
    check(
        f"read_trace page at the end of {big} ≤ 10 ms", f"{end_page.ms:.3f} ms", end_page.ms <= 10.0
    )
    check(
        "Celery hooks ≤ 100 µs per task (task of a run)",
        f"{celery.overhead_us:.1f} µs",
        celery.overhead_us <= 100.0,
    )
    return table(("target", "measured", ""), rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument(
        "--out", help="also write the results here (default in a full run: benchmarks/RESULTS.md)"
    )
    parser.add_argument(
        "--tmp",
        default=tempfile.gettempdir(),
        help="where the files are written (default: the temp dir)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    out = args.out or (
        None if args.quick else os.path.join(os.path.dirname(__file__), "RESULTS.md")
    )
    needed = 2 * sizes.big + sizes.events * 300 + 100 * MIB
    free = shutil.disk_usage(args.tmp).free
    if free < 2 * needed:
        print(
            f"not enough space in {args.tmp}: {free / GIB:.1f} GiB free, "
            f"{2 * needed / GIB:.1f} GiB wanted",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="igny8-bench-", dir=args.tmp) as directory:
        env = environment(directory)
        print(
            f"writing: {sizes.rounds} rounds × {sizes.batch:,} records per contender ...",
            file=sys.stderr,
            flush=True,
        )
        writes = writing.measure(os.path.join(directory, "write"), sizes.rounds, sizes.batch)
        print("reading: building the files ...", file=sys.stderr, flush=True)
        reads, built_s = reading.measure(
            os.path.join(directory, "read"),
            sizes.small,
            sizes.big,
            sizes.events,
            sizes.read_rounds,
            sizes.slow_rounds,
        )
        print("celery ...", file=sys.stderr, flush=True)
        celery = celery_hooks.measure(sizes.tasks, sizes.rounds, directory)
        print("redis ...", file=sys.stderr, flush=True)
        seconds = 0.5 if args.quick else 5.0
        redis_costs, redis_latency = redis_stream.measure(
            directory, sizes.rounds, sizes.batch, seconds
        )
        archived = None
        if archive.available():
            print("archive ...", file=sys.stderr, flush=True)
            run_bytes, rounds, tails = ARCHIVE_QUICK if args.quick else ARCHIVE_FULL
            archived = archive.measure(os.path.join(directory, "archive"), run_bytes, rounds, tails)
    write_text, ratios = _writing_section(writes)
    mode = "quick (small sizes: not the targets' sizes)" if args.quick else "full"
    lines = [
        "# igny8_logging benchmarks",
        "",
        f"Generated by `python -m benchmarks{' --quick' if args.quick else ''}` "
        f"({mode}) in {time.perf_counter() - started:.0f} s, one process, interleaved rounds.",
        "",
        *(f"- {key}: {value}" for key, value in env),
        "",
        "## Targets",
        "",
        _targets(sizes, ratios, reads, celery),
        "",
        f"## Writing ({sizes.rounds} interleaved rounds × {sizes.batch:,} records; "
        "median µs per record, p50/p99 of single calls)",
        "",
        "Same message, same fields (`stage` + item_id, keyword, score) for every contender; "
        "every record was counted in every file afterwards. The ratios compare throughput "
        "(higher is better). Each call is timed with `perf_counter_ns`, the same for all.",
        "",
        write_text,
        "",
        f"## Reading (files in the page cache; median of {sizes.read_rounds} rounds, "
        f"{sizes.slow_rounds} for the slow calls; peak = tracemalloc growth during one call)",
        "",
        _reading_section(reads),
        "",
        f"The files are real lines (no sparse files), written in {built_s:.1f} s and removed "
        "afterwards. The cursor of the page at the end of the trace is built with the "
        "reader's own private encoder (`RunLogReader._encode_cursor`): the cursor is opaque, "
        "and paging a 1 GiB trace from its start would take minutes. The trace is of a running "
        "run, so that page also looks for `run_end` at the end of the file.",
        "",
        "## Celery",
        "",
        celery_hooks.section(celery),
        "",
        *redis_stream.markdown(redis_costs, redis_latency),
        "",
        "## Archive",
        "",
        archive.section(archived) if archived else "Skipped: boto3 and moto are not installed.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if out:
        with open(out, "w", encoding="utf-8") as stream:
            stream.write(text)
        print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
