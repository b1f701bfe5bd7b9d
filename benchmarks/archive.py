"""Archive: ``archive_runs`` throughput, and what a ``tail(100)`` of an archived log downloads.

The store is moto's S3-compatible server on a free local port (real HTTP; no cloud
on the benchmark machine), so throughput is that of this process, boto3 and moto
sharing the CPUs, not of a network.  Side by side in the same run:

- ``archive_runs`` (reads each file, uploads it in 8 MiB parts with SHA-256
  checksums, checks each object with a ``HEAD``, writes the manifest) against
  boto3's own managed ``upload_file`` of the same bytes (threads, no checks);
- ``tail(100)`` through ``RunLogReader(archive_url=...)`` (ranged ``GET``\\ s of
  64 KiB blocks) against downloading the object whole, the way log viewers that
  do not range-read fetch an archived log.

Bytes are the response bodies boto3 received (``Content-Length`` of each ``GET``),
counted with a botocore event hook on the reader's own client.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import igny8_logging as igl
from benchmarks.report import number, ratio, table
from igny8_logging.archive import ArchiveSource, archive_runs

MIB = 1024 * 1024
TAIL_LINES = 100


@dataclass
class ArchiveResult:
    run_bytes: int  # the run folder's size (all its files)
    archive_s: list[float]
    upload_file_s: list[float]
    tails: list[tuple[int, int, float, float]]  # (log size, tail bytes, tail ms, whole-GET ms)


def available() -> bool:
    """Whether boto3 and moto are installed (the ``s3`` extra and the dev tools)."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _moto() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "AKIABENCHMARK0000001",
        "AWS_SECRET_ACCESS_KEY": "benchmark-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield env["AWS_ENDPOINT_URL"]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


def _make_run(base: str, account: int, size: int) -> igl.RunLogger:
    """A real run (handlers, ended) whose log is grown to *size* bytes of real lines."""
    logger = logging.getLogger(f"igny8.bench.archive.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [igl.RunLogHandler(base), igl.TraceHandler(base)]
    for handler in handlers:
        logger.addHandler(handler)
    run = igl.start_run(logger, account, 1)
    with run.stage(1, "Keywords", pending=10) as st:
        for item in range(10):
            st.info("keyword %d done", item)
        st.processed = 10
    run.end("completed")
    for handler in handlers:
        logger.removeHandler(handler)
        handler.close()
    path = os.path.join(base, str(account), "1", run.run_id, "automation_run.log")
    line = b"2026-11-29T01:30:00.123Z INFO    [stage 1] keyword 'blue shoes' scored 0.87 "
    block = (line + b"x" * (120 - len(line)) + b"\n") * 1000
    with open(path, "ab") as stream:
        while stream.tell() < size:
            stream.write(block)
    return run


def _folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder))


def _bucket(endpoint: str) -> str:
    import boto3

    name = f"igny8-bench-{uuid.uuid4().hex[:10]}"
    boto3.session.Session().client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


def _archive_once(directory: str, endpoint: str, size: int) -> tuple[int, float, float]:
    """One round: archive_runs of a run with a *size* log, then upload_file of the same."""
    import boto3

    base = os.path.join(directory, f"arch-{uuid.uuid4().hex[:8]}")
    run = _make_run(base, 1, size)
    bucket = _bucket(endpoint)
    folder = os.path.join(base, "1", "1", run.run_id)
    total = _folder_bytes(folder)
    started = time.perf_counter()
    archived = archive_runs(igl.RunLogReader(base), f"s3://{bucket}/logs")
    archive_s = time.perf_counter() - started
    if archived != [run.run_id]:
        raise AssertionError(f"archive_runs returned {archived}")
    client = boto3.session.Session().client("s3", endpoint_url=endpoint)
    started = time.perf_counter()
    for name in sorted(os.listdir(folder)):
        client.upload_file(os.path.join(folder, name), bucket, f"plain/{run.run_id}/{name}")
    upload_s = time.perf_counter() - started
    shutil.rmtree(base)
    return total, archive_s, upload_s


def _tail(directory: str, endpoint: str, size: int) -> tuple[int, int, float, float]:
    import boto3

    base = os.path.join(directory, f"tail-{uuid.uuid4().hex[:8]}")
    run = _make_run(base, 2, size)
    ids: dict[str, Any] = {"account_id": 2, "site_id": 1}
    expected = igl.RunLogReader(base).tail(run.run_id, TAIL_LINES, **ids)
    bucket = _bucket(endpoint)
    url = f"s3://{bucket}/logs"
    log_size = os.path.getsize(os.path.join(base, "2", "1", run.run_id, "automation_run.log"))
    archive_runs(igl.RunLogReader(base), url, delete=True)
    empty = os.path.join(directory, f"empty-{uuid.uuid4().hex[:8]}")
    os.mkdir(empty)
    reader = igl.RunLogReader(empty, archive_url=url)
    source = next(s for s in reader.sources if isinstance(s, ArchiveSource))
    received = [0]

    def count(parsed: dict[str, Any], **_: Any) -> None:
        received[0] += int(parsed.get("ContentLength") or 0)

    source.store.client.meta.events.register("after-call.s3.GetObject", count)
    started = time.perf_counter()
    got = reader.tail(run.run_id, TAIL_LINES, **ids)
    tail_ms = (time.perf_counter() - started) * 1000
    if got != expected:
        raise AssertionError("tail(100) of the archived log differs from the file's")
    client = boto3.session.Session().client("s3", endpoint_url=endpoint)
    key = f"logs/2/1/{run.run_id}/automation_run.log"
    started = time.perf_counter()
    whole = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    naive = [line.decode() for line in whole.splitlines()[-TAIL_LINES:]]
    whole_ms = (time.perf_counter() - started) * 1000
    if naive != expected:
        raise AssertionError("the whole-object tail differs")
    shutil.rmtree(empty)
    return log_size, received[0], tail_ms, whole_ms


def measure(directory: str, log_bytes: int, rounds: int, tail_sizes: list[int]) -> ArchiveResult:
    """Archive a run with a *log_bytes* log *rounds* times; tail archived logs of *tail_sizes*."""
    with _moto() as endpoint:
        rows = [_archive_once(directory, endpoint, log_bytes) for _ in range(rounds)]
        tails = [_tail(directory, endpoint, size) for size in tail_sizes]
    return ArchiveResult(rows[0][0], [r[1] for r in rows], [r[2] for r in rows], tails)


def _size(size: int) -> str:
    return f"{size // MIB} MiB" if size >= MIB else f"{size // 1024} KiB"


def section(result: ArchiveResult) -> str:
    mb = result.run_bytes / 1e6
    archive_s = statistics.median(result.archive_s)
    upload_s = statistics.median(result.upload_file_s)
    speed = table(
        ("call", "median s", "MB/s", "vs upload_file"),
        [
            (
                "archive_runs (read, upload with SHA-256, HEAD-verify, manifest)",
                number(archive_s, 3),
                number(mb / archive_s, 1),
                ratio(upload_s / archive_s),
            ),
            (
                "boto3 upload_file of the same files (no checks)",
                number(upload_s, 3),
                number(mb / upload_s, 1),
                ratio(1.0),
            ),
        ],
    )
    tails = table(
        (
            "archived log",
            "tail(100) bytes received",
            "tail(100) ms",
            "whole GET bytes",
            "whole GET ms",
            "bytes saved",
        ),
        [
            (
                _size(size),
                number(received, 0),
                number(tail_ms, 1),
                number(size, 0),
                number(whole_ms, 1),
                ratio(size / max(received, 1)),
            )
            for size, received, tail_ms, whole_ms in result.tails
        ],
    )
    return (
        f"Against moto's S3 server on this machine (real HTTP on 127.0.0.1; "
        f"{len(result.archive_s)} rounds, a run of {_size(result.run_bytes)}):\n\n{speed}\n\n"
        "Bytes a `tail(100)` downloads from the archive (response bodies, manifest included):"
        f"\n\n{tails}"
    )
