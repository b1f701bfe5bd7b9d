"""Fuzzing the reader: random bytes as logs and trace, random JSON events, random cursors."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import igny8_logging as igl
from igny8_logging._events import RunSummary

RUN = "run_20260101_000000_abcd1234"
SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
EVENTS = ["run_start", "run_end", "stage_start", "stage_progress", "stage_complete",
          "stage_error", "stage_revoked", "stage_retry", "log", "item"]  # fmt: skip
RUN_STATUSES = {"running", "completed", "failed", "cancelled"}
STAGE_STATUSES = {"running", "completed", "failed"}

FRAGMENTS = [
    b"\n", b"\r", b"\r\n", b"\x00", b"\xff\xfe", b"\xe2\x80", b"{", b"}", b"[", b'"', b"  ",
    b'{"event": "run_end", "status": "completed"}\n', b'{"event": "stage_start", "stage": 1}',
    b'{"event":"run_end"', b"2026-01-01T00:00:00.000Z INFO    [run] x\n", b"run_end",
    b'"stage_', b"1e999", b"NaN", b"[" * 50, b"\xef\xbb\xbf",
]  # fmt: skip
#: Bytes that look like logs and traces, half-written, broken and mixed with noise.
noisy = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=64), max_size=60).map(b"".join)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)  # fmt: skip
events = st.fixed_dictionaries(
    {"event": st.sampled_from(EVENTS) | json_values},
    optional={
        "stage": json_values,
        "status": st.sampled_from(sorted(RUN_STATUSES)) | json_values,
        "ts": json_values,
        "stage_name": json_values,
        "pending": json_values,
        "processed": json_values,
        "total": json_values,
        "credits_used": json_values,
        "elapsed_s": json_values,
        "error": json_values,
        "reason": json_values,
    },
)
traces = st.lists(events.map(lambda e: json.dumps(e).encode() + b"\n") | noisy, max_size=30).map(
    b"".join
)


def exercise(reader: igl.RunLogReader, lines: int, limit: int) -> RunSummary:
    """Every read over the run; any exception but the documented ones fails the test."""
    tail = reader.tail(RUN, lines=lines)
    assert all(isinstance(line, str) for line in tail)
    assert len(tail) <= lines
    assert len(reader.tail(RUN, lines=lines, stage=1)) <= lines
    cursor, seen = None, 0
    for _ in range(1000):
        page = reader.read_trace(RUN, cursor=cursor, limit=limit)
        assert all(isinstance(event, dict) for event in page.events)
        assert len(page.events) <= limit
        seen += len(page.events)
        if page.cursor == cursor or not page.events:
            break
        cursor = page.cursor
    else:
        raise AssertionError("read_trace never reached the end")
    summary = reader.summary(RUN)
    assert summary["status"] in RUN_STATUSES
    assert all(stage["status"] in STAGE_STATUSES for stage in summary["stages"].values())
    followed = list(reader.follow(RUN, lines=min(lines, 50), timeout=0, poll_interval=0))
    assert all(isinstance(line, str) for line in followed)
    assert reader.list_runs() == [RUN]
    return summary


class TestReaderFuzz:
    """Whatever bytes the files hold, the reader returns data (never a traceback):
    ``tail``, paged ``read_trace``, ``summary``, ``follow`` and ``list_runs``."""

    def folder(self, tmp_path: Path) -> Path:
        folder = tmp_path / "_" / "_" / RUN
        folder.mkdir(parents=True)
        return folder

    def test_random_bytes(self, tmp_path: Path) -> None:
        folder = self.folder(tmp_path)
        reader = igl.RunLogReader(tmp_path)

        @SETTINGS
        @given(
            log=noisy | st.binary(max_size=2048),
            stage_log=st.binary(max_size=512),
            trace=noisy | st.binary(max_size=2048),
            lines=st.integers(1, 40) | st.just(10_000),
            limit=st.integers(1, 7),
        )
        def check(log: bytes, stage_log: bytes, trace: bytes, lines: int, limit: int) -> None:
            (folder / "automation_run.log").write_bytes(log)
            (folder / "stage_1.log").write_bytes(stage_log)
            (folder / "run_trace.jsonl").write_bytes(trace)
            exercise(reader, lines, limit)

        check()

    def test_random_events(self, tmp_path: Path) -> None:
        """JSON objects with lifecycle names and values of any type: ``summary`` folds
        them into the documented statuses."""
        folder = self.folder(tmp_path)
        reader = igl.RunLogReader(tmp_path)

        @SETTINGS
        @given(trace=traces, limit=st.integers(1, 10))
        def check(trace: bytes, limit: int) -> None:
            (folder / "run_trace.jsonl").write_bytes(trace)
            exercise(reader, 5, limit)

        check()

    def test_random_cursors(self, tmp_path: Path) -> None:
        """A cursor the reader never issued is a ``ValueError``, never another error."""
        folder = self.folder(tmp_path)
        (folder / "run_trace.jsonl").write_bytes(b'{"event": "run_start"}\n' * 3)
        reader = igl.RunLogReader(tmp_path)
        issued = {reader.read_trace(RUN, limit=n).cursor for n in (1, 2, 3)}

        mutated = st.sampled_from(sorted(issued)).flatmap(
            lambda c: st.tuples(st.integers(0, len(c) - 1), st.characters()).map(
                lambda m: c[: m[0]] + m[1] + c[m[0] + 1 :]
            )
        )

        @SETTINGS
        @given(cursor=st.text(max_size=200) | mutated | st.binary(max_size=60).map(bytes.hex))
        def check(cursor: str) -> None:
            try:
                reader.read_trace(RUN, cursor=cursor)
            except ValueError:
                return
            assert cursor.rstrip("=") in issued

        check()


class TestHugeTraceLine:
    """A 32 MB trace line written from outside is skipped unread by ``read_trace`` and
    ``summary`` (bounded memory; the events after it still count)."""

    def test_measure(self, tmp_path: Path) -> None:
        folder = tmp_path / "_" / "_" / RUN
        folder.mkdir(parents=True)
        line = json.dumps({"event": "item", "message": "m" * (32 * 1024 * 1024)})
        end = json.dumps({"event": "run_end", "status": "completed"})
        (folder / "run_trace.jsonl").write_text(f"{line}\n{end}\n")
        reader = igl.RunLogReader(tmp_path)
        peaks = {}
        for name, call in (
            ("read_trace", lambda: reader.read_trace(RUN, limit=10)),
            ("summary", lambda: reader.summary(RUN)),
        ):
            tracemalloc.start()
            try:
                result = call()
                peaks[name] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert result
        page = reader.read_trace(RUN, limit=10)
        assert [event["event"] for event in page.events] == ["run_end"]
        assert page.complete
        assert peaks["read_trace"] < 2 * 2**20
        assert peaks["summary"] < 12 * 2**20  # the 4 MiB line limit, not the 32 MB line
        assert reader.summary(RUN)["status"] == "completed"
        print(
            "\n[fuzz] one 32 MB trace line: peak "
            + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in peaks.items())
        )
