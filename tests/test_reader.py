"""``RunLogReader``: tail, trace pages, summary, listing and follow (``_reader``)."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_dir, text_lines

import igny8_logging as igl

RUN_ID = "run_20261129_013000_abcd1234"
OTHER = "run_20261129_013001_ffff0000"
BAD_RUN_IDS: list[Any] = [
    "../x",
    "run_../../etc",
    "/etc/passwd",
    "run_20261129_013000_abcd1234\x00",
    "run_20261129_013000_abcd1234\n",
    "x" * 1_000_000,
    "",
    None,
    42,
]
BAD_TENANTS: list[Any] = ["..", "a/b", "%2e%2e", ".", "a\x00", True, -1, "x" * 65]
BAD_LINES: list[Any] = ["5", 0, -1, 10**9, 10_001, True, False, 1.0, None]


def rchar() -> int:
    """Bytes this process has read through read()/pread() so far (``/proc/self/io``)."""
    with open("/proc/self/io") as io:
        for line in io:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar")


@pytest.fixture
def reader(base_dir: Path) -> igl.RunLogReader:
    return igl.RunLogReader(base_dir)


@pytest.fixture
def run(run_logger: logging.Logger) -> igl.RunLogger:
    return igl.start_run(run_logger, 5, "shop", run_id=RUN_ID)


def write_trace(base: Path, lines: list[bytes], run_id: str = RUN_ID) -> Path:
    """A trace file written by hand (for garbage and half-written lines)."""
    folder = base / "_" / "_" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run_trace.jsonl"
    with open(path, "ab") as trace:
        trace.write(b"".join(lines))
    return path


def event_line(n: int, event: str = "item") -> bytes:
    return json.dumps({"event": event, "run_id": RUN_ID, "n": n}).encode() + b"\n"


class TestTail:
    """``tail`` returns the last physical lines, without newlines, read from the end."""

    def test_exact_lines(
        self, run: igl.RunLogger, reader: igl.RunLogReader, base_dir: Path
    ) -> None:
        for n in range(30):
            run.info("line %d", n)
        run.info("multi\nline")
        lines = text_lines(run_dir(base_dir, run) / "automation_run.log")
        got = reader.tail(RUN_ID, 5, account_id=5, site_id="shop")
        assert got == lines[-5:]
        assert got[-1] == "  line"
        assert not any(line.endswith("\n") for line in got)
        assert reader.tail(RUN_ID, 10_000, account_id=5, site_id="shop") == lines
        assert reader.tail(RUN_ID, account_id=5, site_id="shop") == lines[-100:]
        assert reader.tail(RUN_ID, 1, account_id="5", site_id="shop") == lines[-1:]

    def test_stage_log(self, run: igl.RunLogger, reader: igl.RunLogReader) -> None:
        run.for_stage(2).info("in stage two")
        for stage in (2, "2"):
            (line,) = reader.tail(RUN_ID, 5, account_id=5, site_id="shop", stage=stage)
            assert line.endswith("[stage 2] in stage two")
        assert reader.tail(RUN_ID, 5, account_id=5, site_id="shop", stage=3) == []
        with pytest.raises(ValueError):
            reader.tail(RUN_ID, 5, account_id=5, site_id="shop", stage="../x")

    @pytest.mark.parametrize("lines", BAD_LINES)
    def test_lines_must_be_an_int_from_1_to_10000(
        self, run: igl.RunLogger, reader: igl.RunLogReader, lines: Any
    ) -> None:
        with pytest.raises(ValueError, match="lines"):
            reader.tail(RUN_ID, lines, account_id=5, site_id="shop")

    def test_run_without_a_log_yet(self, base_dir: Path, reader: igl.RunLogReader) -> None:
        (base_dir / "_" / "_" / RUN_ID).mkdir(parents=True)
        assert reader.tail(RUN_ID) == []

    def test_last_line_without_newline_and_empty_lines(
        self, base_dir: Path, reader: igl.RunLogReader
    ) -> None:
        folder = base_dir / "_" / "_" / RUN_ID
        folder.mkdir(parents=True)
        (folder / "automation_run.log").write_bytes(b"a\n\nb\nc")
        assert reader.tail(RUN_ID, 3) == ["", "b", "c"]
        assert reader.tail(RUN_ID, 10) == ["a", "", "b", "c"]
        (folder / "automation_run.log").write_bytes(b"")
        assert reader.tail(RUN_ID, 3) == []

    def test_only_lf_ends_a_line(self, base_dir: Path, reader: igl.RunLogReader) -> None:
        """A raw CR (or other break) written by another tool stays inside its line."""
        folder = base_dir / "_" / "_" / RUN_ID
        folder.mkdir(parents=True)
        (folder / "automation_run.log").write_bytes(b"a\rb\nc\x0bd\x85\n")
        assert reader.tail(RUN_ID, 2) == ["a\rb", "c\x0bd\ufffd"]
        assert list(reader.follow(RUN_ID, lines=2, timeout=0)) == ["a\rb", "c\x0bd\ufffd"]

    def test_cost_depends_on_lines_not_size(self, base_dir: Path, reader: igl.RunLogReader) -> None:
        """Bytes read (``/proc/self/io`` rchar) stay small for a 256 MiB log."""
        folder = base_dir / "_" / "_" / RUN_ID
        folder.mkdir(parents=True)
        path = folder / "automation_run.log"
        with open(path, "wb") as log:
            log.write(b"old line\n")
            log.truncate(256 * 1024 * 1024)  # a sparse middle: a huge file, made fast
            log.seek(0, os.SEEK_END)
            log.write(b"\n" + b"".join(b"line %05d %s\n" % (n, b"x" * 80) for n in range(2000)))
        before = rchar()
        got = reader.tail(RUN_ID, 100)
        read = rchar() - before
        assert got == [f"line {n:05d} {'x' * 80}" for n in range(1900, 2000)]
        assert read < 512 * 1024, read

    def test_one_huge_line_is_capped_in_bounded_memory(
        self, base_dir: Path, reader: igl.RunLogReader
    ) -> None:
        """A foreign line with no newline in 200 MiB: its end is shown, marked, and the
        scan stops inside it (bytes read and memory do not grow with the line)."""
        folder = base_dir / "_" / "_" / RUN_ID
        folder.mkdir(parents=True)
        path = folder / "automation_run.log"
        with open(path, "wb") as log:
            log.write(b"first\nstart of a huge line")
            log.truncate(200 * 1024 * 1024)
            log.seek(0, os.SEEK_END)
            log.write(b"end of the huge line\nlast\n")
        before = rchar()
        tracemalloc.start()
        try:
            got = reader.tail(RUN_ID, 3)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        read = rchar() - before
        huge, last = got
        assert last == "last"
        assert huge.startswith("…[start not read]")
        assert huge.endswith("end of the huge line")
        assert len(huge) < 256 * 1024
        assert read < 4 * 1024 * 1024, read
        assert peak < 8 * 1024 * 1024, peak

    def test_long_line_in_the_middle_is_truncated_at_its_end(
        self, base_dir: Path, reader: igl.RunLogReader
    ) -> None:
        """A line over 128 KiB whose start is found keeps its head and a marker."""
        folder = base_dir / "_" / "_" / RUN_ID
        folder.mkdir(parents=True)
        body = b"head " + b"y" * (300 * 1024)
        (folder / "automation_run.log").write_bytes(b"one\n" + body + b"\ntwo\n")
        one, long, two = reader.tail(RUN_ID, 3)
        assert (one, two) == ("one", "two")
        assert long.startswith("head yyy")
        assert long.endswith(f"…[truncated {len(body) - 128 * 1024} bytes]")


class TestReadTrace:
    """Pages with an opaque cursor: no duplicates, no gaps, whole lines only."""

    def test_pages_while_a_writer_appends(
        self, run_logger: logging.Logger, reader: igl.RunLogReader
    ) -> None:
        run = igl.start_run(run_logger, run_id=RUN_ID)
        total = 1500

        def writer() -> None:
            for n in range(total):
                run.trace("item", n=n, pad="p" * (n % 300))
            run.end()

        thread = threading.Thread(target=writer)
        thread.start()
        seen: list[int] = []
        cursor = None
        pages = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            page = reader.read_trace(RUN_ID, cursor=cursor, limit=37)
            assert len(page.events) <= 37
            seen.extend(e["n"] for e in page.events if e["event"] == "item")
            cursor = page.cursor
            pages += 1
            if page.complete:
                break
        thread.join()
        assert seen == list(range(total))
        assert pages >= total // 37
        # The final cursor is at the end: nothing more, still complete.
        last = reader.read_trace(RUN_ID, cursor=cursor)
        assert (last.events, last.complete, last.cursor) == ([], True, cursor)

    def test_half_written_line_is_held_back(self, base_dir: Path, reader: igl.RunLogReader) -> None:
        whole = event_line(1)
        path = write_trace(base_dir, [event_line(0), whole[:10]])
        page = reader.read_trace(RUN_ID)
        assert [e["n"] for e in page.events] == [0]
        again = reader.read_trace(RUN_ID, cursor=page.cursor)
        assert again.events == []
        assert again.cursor == page.cursor
        with open(path, "ab") as trace:
            trace.write(whole[10:])
        done = reader.read_trace(RUN_ID, cursor=page.cursor)
        assert [e["n"] for e in done.events] == [1]
        assert reader.read_trace(RUN_ID, cursor=done.cursor).events == []

    def test_garbage_lines_are_skipped(self, base_dir: Path, reader: igl.RunLogReader) -> None:
        write_trace(
            base_dir,
            [
                event_line(0),
                b"not json\n",
                b"[1, 2]\n",
                b"\xff\xfe\n",
                b"\n",
                b'{"broken": \n',
                event_line(1),
                b"\x00" * 100 + b"\n",
                event_line(2, "run_end"),
            ],
        )
        page = reader.read_trace(RUN_ID)
        assert [e["n"] for e in page.events] == [0, 1, 2]
        assert page.complete
        # Paging one event at a time skips the same lines.
        cursor, found = None, []
        for _ in range(10):
            page = reader.read_trace(RUN_ID, cursor=cursor, limit=1)
            found += [e["n"] for e in page.events]
            cursor = page.cursor
            if page.complete:
                break
        assert found == [0, 1, 2]

    def test_carriage_return_never_splits_a_line(
        self, base_dir: Path, reader: igl.RunLogReader
    ) -> None:
        """Only LF ends a trace line: a foreign line holding CR is one unreadable line."""
        write_trace(
            base_dir,
            [b'{"event": "item", "n": 0}\r{"event": "item", "n": 1}\n', event_line(2)],
        )
        cursor, found = None, []
        for _ in range(5):
            page = reader.read_trace(RUN_ID, cursor=cursor, limit=1)
            found += [e["n"] for e in page.events]
            cursor = page.cursor  # every issued cursor is accepted back
        assert found == [2]

    def test_complete_flag(self, base_dir: Path, reader: igl.RunLogReader) -> None:
        write_trace(base_dir, [event_line(n) for n in range(5)])
        assert not reader.read_trace(RUN_ID).complete  # not ended
        write_trace(base_dir, [event_line(5, "run_end")])
        first = reader.read_trace(RUN_ID, limit=3)
        assert not first.complete  # ended, but this page stops short of the end
        rest = reader.read_trace(RUN_ID, cursor=first.cursor, limit=3)
        assert [e["n"] for e in rest.events] == [3, 4, 5]
        assert rest.complete

    def test_run_without_trace_yet(self, base_dir: Path, reader: igl.RunLogReader) -> None:
        (base_dir / "_" / "_" / RUN_ID).mkdir(parents=True)
        page = reader.read_trace(RUN_ID)
        assert (page.events, page.complete) == ([], False)
        assert reader.read_trace(RUN_ID, cursor=page.cursor).events == []

    def test_cursors_of_other_runs_and_tenants_are_refused(
        self, base_dir: Path, reader: igl.RunLogReader
    ) -> None:
        write_trace(base_dir, [event_line(n) for n in range(3)])
        write_trace(base_dir, [event_line(n) for n in range(3)], run_id=OTHER)
        (base_dir / "1" / "_" / RUN_ID).mkdir(parents=True)
        (base_dir / "1" / "_" / RUN_ID / "run_trace.jsonl").write_bytes(
            b"".join(event_line(n) for n in range(3))
        )
        cursor = reader.read_trace(RUN_ID, limit=1).cursor
        with pytest.raises(ValueError, match="cursor"):
            reader.read_trace(OTHER, cursor=cursor)
        with pytest.raises(ValueError, match="cursor"):
            reader.read_trace(RUN_ID, account_id=1, cursor=cursor)
        assert reader.read_trace(RUN_ID, cursor=cursor).events[0]["n"] == 1

    @pytest.mark.parametrize(
        "cursor",
        [
            "",
            "garbage",
            "!!!!",
            "x" * 10_000,
            base64.urlsafe_b64encode(b"v1:-5:0000").decode(),
            base64.urlsafe_b64encode(b"v2:0:0000").decode(),
            base64.urlsafe_b64encode(b"\xff\xfe").decode(),
            123,
            b"abc",
        ],
    )
    def test_cursors_never_issued_are_refused(
        self, base_dir: Path, reader: igl.RunLogReader, cursor: Any
    ) -> None:
        write_trace(base_dir, [event_line(n) for n in range(3)])
        with pytest.raises(ValueError, match="cursor"):
            reader.read_trace(RUN_ID, cursor=cursor)

    def test_mid_line_and_past_end_offsets_are_refused(
        self, base_dir: Path, reader: igl.RunLogReader
    ) -> None:
        write_trace(base_dir, [event_line(n) for n in range(3)])
        issued = reader.read_trace(RUN_ID, limit=1).cursor
        raw = base64.urlsafe_b64decode(issued + "=" * (-len(issued) % 4)).decode()
        version, offset, key = raw.split(":")

        def forged(at: int) -> str:
            text = f"{version}:{at}:{key}".encode()
            return base64.urlsafe_b64encode(text).decode().rstrip("=")

        assert reader.read_trace(RUN_ID, cursor=forged(int(offset))).events[0]["n"] == 1
        size = (base_dir / "_" / "_" / RUN_ID / "run_trace.jsonl").stat().st_size
        for at in (int(offset) - 1, int(offset) + 3, size + 1, 10**30):
            with pytest.raises(ValueError, match="cursor"):
                reader.read_trace(RUN_ID, cursor=forged(at))

    @pytest.mark.parametrize("limit", [0, -1, 10_001, "5", True])
    def test_limit_is_checked(self, base_dir: Path, reader: igl.RunLogReader, limit: Any) -> None:
        write_trace(base_dir, [event_line(0)])
        with pytest.raises(ValueError, match="limit"):
            reader.read_trace(RUN_ID, limit=limit)


class TestSummary:
    """``summary`` folds the trace into the run's and each stage's status."""

    def test_running_then_completed(self, run: igl.RunLogger, reader: igl.RunLogReader) -> None:
        run.stage_start(1, "Keywords", pending=10)
        run.stage_progress(1, 4, 10)
        summary = reader.summary(RUN_ID, account_id=5, site_id="shop")
        assert summary["run_id"] == RUN_ID
        assert summary["status"] == "running"
        assert summary["started_at"] is not None
        assert summary["ended_at"] is None
        assert summary["stages"] == {
            "1": {
                "status": "running",
                "name": "Keywords",
                "pending": 10,
                "processed": 4,
                "total": 10,
                "credits_used": None,
                "elapsed_s": None,
                "error": None,
                "parts": 0,
                "failed_parts": 0,
            }
        }
        run.stage_complete(1, 10, credits_used=3)
        run.stage_start("ideas")
        run.stage_error("ideas", ValueError("no ideas"))
        run.end()
        summary = reader.summary(RUN_ID, account_id=5, site_id="shop")
        assert summary["status"] == "completed"
        assert summary["ended_at"] >= summary["started_at"]
        one, ideas = summary["stages"]["1"], summary["stages"]["ideas"]
        assert (one["status"], one["processed"], one["credits_used"]) == ("completed", 10, 3)
        assert isinstance(one["elapsed_s"], float)
        assert (ideas["status"], ideas["error"]) == ("failed", "no ideas")

    @pytest.mark.parametrize("status", ["failed", "cancelled"])
    def test_end_statuses(self, run: igl.RunLogger, reader: igl.RunLogReader, status: str) -> None:
        run.end(status)
        assert reader.summary(RUN_ID, account_id=5, site_id="shop")["status"] == status

    def test_run_without_trace(self, base_dir: Path, reader: igl.RunLogReader) -> None:
        (base_dir / "_" / "_" / RUN_ID).mkdir(parents=True)
        summary = reader.summary(RUN_ID)
        assert (summary["status"], summary["stages"]) == ("running", {})


class TestListRuns:
    """``list_runs`` lists one tenant's runs, newest first by the time in the id."""

    def test_newest_first(self, run_logger: logging.Logger, reader: igl.RunLogReader) -> None:
        ids = [
            "run_20261129_013000_aaaa",
            "run_20251231_235959_ffff",
            "run_20261129_013001_0000",
            "run_20261129_013000_bbbb",
        ]
        for run_id in ids:
            igl.start_run(run_logger, 1, 2, run_id=run_id)
        igl.start_run(run_logger, run_id="run_20300101_000000_cccc")
        assert reader.list_runs(account_id=1, site_id=2) == [
            "run_20261129_013001_0000",
            "run_20261129_013000_bbbb",
            "run_20261129_013000_aaaa",
            "run_20251231_235959_ffff",
        ]
        assert reader.list_runs(account_id="1", site_id="2") == reader.list_runs(
            account_id=1, site_id=2
        )
        assert reader.list_runs() == ["run_20300101_000000_cccc"]  # the `_` folders only

    def test_unknown_tenant_and_base(self, tmp_path: Path, reader: igl.RunLogReader) -> None:
        assert reader.list_runs(account_id=99) == []
        assert igl.RunLogReader(tmp_path / "nowhere").list_runs() == []

    def test_ignores_what_is_not_a_run_folder(
        self, base_dir: Path, reader: igl.RunLogReader, tmp_path: Path
    ) -> None:
        tenant = base_dir / "_" / "_"
        (tenant / RUN_ID).mkdir(parents=True)
        (tenant / "notes").mkdir()
        (tenant / "run_20261129_013000_file").write_text("a file")
        (tmp_path / "elsewhere").mkdir()
        (tenant / OTHER).symlink_to(tmp_path / "elsewhere", target_is_directory=True)
        assert reader.list_runs() == [RUN_ID]

    @pytest.mark.parametrize("tenant", BAD_TENANTS)
    def test_bad_tenant(self, reader: igl.RunLogReader, tenant: Any) -> None:
        with pytest.raises(ValueError):
            reader.list_runs(account_id=tenant)


class TestFollow:
    """``follow`` yields lines as they are appended and returns once the run has ended."""

    def test_follows_a_live_run_to_its_end(
        self, run_logger: logging.Logger, reader: igl.RunLogReader, base_dir: Path
    ) -> None:
        run = igl.start_run(run_logger, run_id=RUN_ID)

        def writer() -> None:
            for n in range(40):
                run.info("step %d", n)
                time.sleep(0.002)
            run.end()

        thread = threading.Thread(target=writer)
        thread.start()
        # lines=10000: every line there is, then every line appended; none twice.
        got = list(reader.follow(RUN_ID, lines=10_000, poll_interval=0.01, timeout=60))
        thread.join()
        assert got == text_lines(base_dir / "_" / "_" / RUN_ID / "automation_run.log")
        assert got[-1].endswith("[run] run completed" + got[-1].split("completed")[1])
        assert sum("step" in line for line in got) == 40

    def test_a_finished_run_returns_at_once(
        self, run: igl.RunLogger, reader: igl.RunLogReader
    ) -> None:
        run.info("one")
        run.end()
        assert list(reader.follow(RUN_ID, account_id=5, site_id="shop")) == []
        last = list(reader.follow(RUN_ID, account_id=5, site_id="shop", lines=2))
        assert last[0].endswith("[run] one")
        assert "run completed" in last[1]

    def test_stage_follow(self, run: igl.RunLogger, reader: igl.RunLogReader) -> None:
        run.for_stage(1).info("in stage")
        run.info("not in stage")
        run.end()
        got = list(reader.follow(RUN_ID, account_id=5, site_id="shop", stage=1, lines=100))
        assert len(got) == 1
        assert got[0].endswith("[stage 1] in stage")

    @pytest.mark.parametrize("regrow", [False, True])
    def test_copytruncate_is_followed_from_the_new_start(
        self, run_logger: logging.Logger, reader: igl.RunLogReader, base_dir: Path, regrow: bool
    ) -> None:
        """``os.truncate(file, 0)`` under a follower (logrotate's copytruncate, of the log
        and the trace): the lines written after it are yielded and ``run_end`` is seen,
        also when the file grew past the old position before the follower looked again
        (*regrow*)."""
        run = igl.start_run(run_logger, run_id=RUN_ID)
        for n in range(5):
            run.info("before %d", n)
        follow = reader.follow(RUN_ID, lines=10_000, poll_interval=0.01, timeout=30)
        assert "before 4" in next(line for line in follow if "before 4" in line)
        folder = base_dir / "_" / "_" / RUN_ID
        for name in ("automation_run.log", "run_trace.jsonl"):
            os.truncate(folder / name, 0)
        for n in range(200 if regrow else 2):
            run.info("after %d", n)
        run.end()
        rest = list(follow)
        assert [line for line in rest if "[run] after" in line][-1].endswith(
            f"after {199 if regrow else 1}"
        )
        assert "run completed" in rest[-1]
        assert rest == text_lines(folder / "automation_run.log")  # all of the new file

    def test_timeout_stops_an_endless_run(
        self, run: igl.RunLogger, reader: igl.RunLogReader
    ) -> None:
        started = time.monotonic()
        assert list(reader.follow(RUN_ID, account_id=5, site_id="shop", timeout=0.2)) == []
        assert time.monotonic() - started < 30


def _unknown_runs(base_dir: Path, run_logger: logging.Logger) -> Iterator[tuple[Any, ...]]:
    igl.start_run(run_logger, 5, "shop", run_id=RUN_ID)
    for bad in BAD_RUN_IDS:
        yield (bad, 5, "shop")
    for bad in BAD_TENANTS:
        yield (RUN_ID, bad, "shop")
        yield (RUN_ID, 5, bad)
    yield (OTHER, 5, "shop")  # unknown
    yield (RUN_ID, 6, "shop")  # another account
    yield (RUN_ID, 5, "other")  # another site
    yield (RUN_ID, None, None)  # no tenant given: the `_` folders, never "any"


class TestRunNotFound:
    """Unknown runs, invalid ids and other tenants' runs all raise ``RunNotFound``."""

    def test_every_read(
        self, run_logger: logging.Logger, base_dir: Path, reader: igl.RunLogReader
    ) -> None:
        calls = 0
        for run_id, account, site in _unknown_runs(base_dir, run_logger):
            kwargs = {"account_id": account, "site_id": site}
            for read in (
                lambda: reader.tail(run_id, 5, **kwargs),
                lambda: reader.read_trace(run_id, **kwargs),
                lambda: reader.summary(run_id, **kwargs),
                lambda: reader.follow(run_id, timeout=1, **kwargs),
            ):
                with pytest.raises(igl.RunNotFound):
                    read()
                calls += 1
        assert calls > 100
        assert issubclass(igl.RunNotFound, LookupError)
        assert reader.tail(RUN_ID, 1, account_id=5, site_id="shop")  # the real one reads

    def test_linked_run_folder_is_not_found(
        self, run_logger: logging.Logger, base_dir: Path, tmp_path: Path
    ) -> None:
        igl.start_run(run_logger, 5, "shop", run_id=RUN_ID)
        tenant = base_dir / "6" / "shop"
        tenant.mkdir(parents=True)
        (tenant / RUN_ID).symlink_to(base_dir / "5" / "shop" / RUN_ID, target_is_directory=True)
        reader = igl.RunLogReader(base_dir)
        with pytest.raises(igl.RunNotFound):
            reader.tail(RUN_ID, account_id=6, site_id="shop")
        (base_dir / "7").symlink_to(base_dir / "5", target_is_directory=True)
        with pytest.raises(igl.RunNotFound):
            reader.summary(RUN_ID, account_id=7, site_id="shop")

    def test_linked_log_file_reads_as_no_log(
        self, base_dir: Path, reader: igl.RunLogReader, tmp_path: Path
    ) -> None:
        secret = tmp_path / "secret"
        secret.write_text("password\n")
        folder = base_dir / "_" / "_" / RUN_ID
        folder.mkdir(parents=True)
        (folder / "automation_run.log").symlink_to(secret)
        (folder / "run_trace.jsonl").symlink_to(secret)
        assert reader.tail(RUN_ID) == []
        assert reader.read_trace(RUN_ID).events == []
