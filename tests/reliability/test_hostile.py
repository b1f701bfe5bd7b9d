"""Hostile input: adversarial ids, planted links, other tenants, forged lines, oversize records."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import igny8_logging as igl

from . import _writers as w

VALID = "run_20260101_000000_abcd1234"
RECORD = "2026-01-01T00:00:00.000Z INFO    [run] forged record"


class EvilStr(str):
    """Passes validation by its characters, then claims to be something else."""

    def __str__(self) -> str:
        return "../../../escaped"

    __format__ = lambda self, spec: "../../../escaped"  # noqa: E731


class EvilInt(int):
    def __str__(self) -> str:
        return "../../../escaped"

    __repr__ = __str__
    __format__ = lambda self, spec: "../../../escaped"  # noqa: E731


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr refused")

    __str__ = __repr__


def _adversarial() -> list[Any]:
    traversal = [
        "", ".", "..", "...", "/", "//", "a/b", "a/../b", "../x", "../../etc", "..\\x", "a\\b",
        "%2e%2e", "%2e%2e%2f", "..%2f", "%2f", "..;", "~", "~root", "$HOME", "*", "?", "[a]",
        " ", "-", "-rf", "_", ".hidden", "a..b", "CON", "/etc/passwd", "/tmp", "C:\\x",
        "\\\\srv\\share", "file:///etc", "x" * 65, "x" * 256, "x" * 5000, "x" * 100_000,
        "é", "ǅ", "\u202e", "\ufeff", "\u200b", "𝟙", "١", "١٢٣", "Ⅻ", "ａ", "a\u0301",
    ]  # fmt: skip
    controls = [chr(c) for c in range(32)] + ["\x7f", "\x85", "\u2028", "\u2029"]
    lookalike = [VALID + s for s in ("\n", "\r", "\x00", " ", "/", "/..", "/../x", "\t")]
    lookalike += [s + VALID for s in (" ", "\n", "../", "./", "/", "_/")]
    lookalike += [
        VALID.upper(),
        VALID.replace("_", "-"),
        "run_20260101_000000_abc",
        "run_20260101_000000_" + "a" * 33,
        "run_２０２６０１０１_000000_abcd1234",
        "run_٢٠٢٦٠١٠١_000000_abcd1234",
        "run_20260101_000000_abcd/../x",
        "run_20260101_000000_abcd%2f..%2fx",
        "run_2026010_000000_abcd1234",
        "run_20260101_000000_abcd123é",
        "run_20260101_000000_abcd1234\x0b",
        EvilStr(VALID),
    ]
    composite = [f"a{v}b" for v in traversal[:30] + controls]
    others: list[Any] = [
        -1, -(2**70), 10**64, 10**100, 10**5000, True, False, 1.5, float("nan"),
        float("inf"), b"abc", b"..", bytearray(b"a"), [], ["a"], {}, {"a": 1}, ("a",),
        object(), Path("a"), Path(".."), EvilStr("acct"), EvilInt(3), RaisingRepr(),
    ]  # fmt: skip
    return traversal + controls + lookalike + composite + others


ADVERSARIAL = _adversarial()


def text(value: object) -> str:
    return value if isinstance(value, str) else type(value).__name__


def snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int] | None]:
    """Every path under *root* outside *skip*: files with their size and mtime."""
    seen: dict[str, tuple[int, int] | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) not in skip]
        for name in dirnames:
            seen[os.path.relpath(os.path.join(dirpath, name), root)] = None
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            seen[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return seen


def layout_ok(tree: Path) -> list[str]:
    """Paths under a base dir that are not ``account/site/run_id/known file``."""
    bad = []
    for path in tree.rglob("*"):
        parts = path.relative_to(tree).parts
        ok = (
            all(p == "_" or re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", p) for p in parts[:2])
            and (len(parts) < 3 or re.fullmatch(r"run_\d{8}_\d{6}_[a-z0-9]{4,32}", parts[2]))
            and (
                len(parts) < 4
                or re.fullmatch(r"automation_run\.log|run_trace\.jsonl|stage_[A-Za-z0-9_-]+\.log",
                                  parts[3])
            )
            and len(parts) <= 4
        )  # fmt: skip
        if not ok:
            bad.append(str(path.relative_to(tree)))
    return bad


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """``base`` and ``shared`` deep inside a sentinel dir holding a file of its own; the
    sentinel (everything outside the two trees) must be the same afterwards."""
    root = tmp_path / "sentinel"
    deep = root.joinpath(*"abcdefgh")
    base, shared = deep / "logs", deep / "shared"
    base.mkdir(parents=True)
    (root / "secret.txt").write_text("secret")
    before = snapshot(root, (base, shared))
    yield root, base, shared
    assert snapshot(root, (base, shared)) == before
    for tree in (base, shared):
        assert layout_ok(tree) == []


def _logger(base: Path, shared: Path | None) -> tuple[logging.Logger, list[igl.BaseRunHandler]]:
    return w.configure(base, shared)


class TestAdversarialIds:
    """200+ adversarial values as run id, account, site and stage: logging calls raise
    nothing and write nothing; ``start_run``/``attach``/``bind_run`` raise only
    ``ValueError``; the reader raises only ``RunNotFound``/``ValueError``; no file is
    created outside the configured trees, and none inside but the documented layout."""

    def test_there_are_more_than_200(self) -> None:
        assert len(ADVERSARIAL) > 200

    def test_write_time(
        self, sentinel: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
    ) -> None:
        _, base, shared = sentinel
        logger, handlers = _logger(base, shared)
        run = igl.start_run(logger, run_id=VALID)
        unexpected: list[tuple[str, str, BaseException]] = []

        def expect_value_error(what: str, value: Any, call: Callable[[], Any]) -> None:
            try:
                call()
            except ValueError:
                pass
            except BaseException as exc:
                unexpected.append((what, type(value).__name__, exc))

        for value in ADVERSARIAL:
            # plain logging calls: never raise
            logger.info("m", extra={"run_id": value})
            for key in ("account_id", "site_id", "stage"):
                logger.warning("m", extra={"run_id": VALID, key: value})
                run.info("m", extra={key: value})
            run.stage_start(value, name=value)
            run.stage_progress(value, 1, 2)
            run.stage_complete(value, 1)
            run.stage_error(value, ValueError("x"))
            run.trace(value, stage=value, message=value, field=value)
            with run.stage(value) as st:
                st.info("inside")
            # the programming-error API: ValueError or success
            expect_value_error("for_stage", value, lambda: run.for_stage(value).info("m"))
            expect_value_error("start_run", value, lambda: igl.start_run(logger, value))
            expect_value_error("start_run site", value, lambda: igl.start_run(logger, 1, value))
            expect_value_error("start_run id", value, lambda: igl.start_run(logger, run_id=value))
            expect_value_error(
                "attach", value, lambda: igl.RunLogger.attach(logger, value).info("m")
            )
            for kwargs in ({"account_id": value}, {"site_id": value}, {"stage": value}):
                expect_value_error(
                    f"attach {list(kwargs)}", value,
                    lambda: igl.RunLogger.attach(logger, VALID, kwargs.get("account_id"),
                                                   kwargs.get("site_id")).info("m"),
                )  # fmt: skip

                def bound(k: dict[str, Any] = kwargs) -> None:
                    with igl.bind_run(VALID, **k):
                        logging.getLogger(w.LOGGER).info("bound")

                expect_value_error(f"bind_run {list(kwargs)}", value, bound)

            def bound_run(v: Any = value) -> None:
                with igl.bind_run(v):
                    logging.getLogger(w.LOGGER).info("bound")

            expect_value_error("bind_run", value, bound_run)
        assert unexpected == []
        assert all(h.refused > 0 for h in handlers)
        assert [h.failures for h in handlers] == [{"primary": 0, "mirror": 0}] * 3
        err = capsys.readouterr().err
        refusals = [line for line in err.splitlines() if "record refused" in line]
        assert len(refusals) == 3  # once per handler
        print(f"\n[hostile] {len(ADVERSARIAL)} values; refused {[h.refused for h in handlers]}")

    def test_read_time(self, sentinel: tuple[Path, Path, Path]) -> None:
        _, base, shared = sentinel
        logger, _ = _logger(base, shared)
        run = igl.start_run(logger, run_id=VALID)
        run.for_stage(1).info("hello")
        run.end()
        reader = igl.RunLogReader(base)
        cursor = reader.read_trace(VALID).cursor
        unexpected: list[tuple[str, str, BaseException]] = []
        calls: dict[str, Callable[[Any], Any]] = {
            "tail id": reader.tail,
            "tail account": lambda v: reader.tail(VALID, account_id=v),
            "tail site": lambda v: reader.tail(VALID, site_id=v),
            "tail stage": lambda v: reader.tail(VALID, stage=v),
            "tail lines": lambda v: reader.tail(VALID, lines=v),
            "trace id": reader.read_trace,
            "trace account": lambda v: reader.read_trace(VALID, account_id=v),
            "trace site": lambda v: reader.read_trace(VALID, site_id=v),
            "trace cursor": lambda v: reader.read_trace(VALID, cursor=v),
            "trace cursor+": lambda v: reader.read_trace(VALID, cursor=cursor + text(v)),
            "trace limit": lambda v: reader.read_trace(VALID, limit=v),
            "summary id": reader.summary,
            "summary account": lambda v: reader.summary(VALID, account_id=v),
            "summary site": lambda v: reader.summary(VALID, site_id=v),
            "list account": lambda v: reader.list_runs(account_id=v),
            "list site": lambda v: reader.list_runs(site_id=v),
            "follow id": lambda v: list(reader.follow(v, timeout=0)),
            "follow stage": lambda v: list(reader.follow(VALID, stage=v, timeout=0)),
            "follow lines": lambda v: list(reader.follow(VALID, lines=v, timeout=0)),
            "reader base": lambda v: igl.RunLogReader(base / text(v)).tail(VALID),
        }
        count = 0
        for (what, call), value in itertools.product(calls.items(), ADVERSARIAL):
            count += 1
            try:
                call(value)
            except (igl.RunNotFound, ValueError):
                pass
            except BaseException as exc:
                unexpected.append((what, type(value).__name__, exc))
        assert unexpected == []
        print(f"\n[hostile] {count} reader calls with adversarial arguments")


class TestSymlinks:
    """Links planted below the trees (tenant folder, run folder, log file) pointing outside
    are never followed, for writing or reading; ``base_dir`` itself may be a link."""

    @pytest.mark.parametrize("where", ["account", "site", "run", "file", "trace"])
    def test_not_followed(self, tmp_path: Path, where: str) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        secret = outside / "automation_run.log"
        secret.write_text("2026-01-01T00:00:00.000Z INFO    [run] secret\n")
        (outside / "run_trace.jsonl").write_text('{"event": "run_end", "message": "secret"}\n')
        base, shared = tmp_path / "logs", tmp_path / "shared"
        link = {"account": "7", "site": "7/x", "run": f"7/x/{VALID}"}.get(where)
        name = {"file": "automation_run.log", "trace": "run_trace.jsonl"}.get(where)
        for root in (base, shared):
            if link is not None:
                (root / link).parent.mkdir(parents=True)
                (root / link).symlink_to(outside)
            else:
                assert name is not None
                (root / "7" / "x" / VALID).mkdir(parents=True)
                (root / "7" / "x" / VALID / name).symlink_to(outside / name)
        before = snapshot(outside, ())
        logger, handlers = _logger(base, shared)
        run = igl.start_run(logger, 7, "x", run_id=VALID)
        run.warning("written?")
        run.end()
        assert snapshot(outside, ()) == before
        failing = {h for h in handlers if h.failures["primary"]}
        if where == "file":
            assert failing == {handlers[0]}
        elif where == "trace":
            assert failing == {handlers[2]}
        else:
            assert failing == {handlers[0], handlers[2]}  # no stage record was logged
        assert all(h.failures["primary"] == h.failures["mirror"] for h in handlers)

        reader = igl.RunLogReader(base)
        for call in (
            lambda: reader.tail(VALID, account_id=7, site_id="x"),
            lambda: reader.read_trace(VALID, account_id=7, site_id="x").events,
            lambda: reader.summary(VALID, account_id=7, site_id="x"),
            lambda: list(reader.follow(VALID, account_id=7, site_id="x", lines=5, timeout=0)),
        ):
            try:
                result = call()
            except igl.RunNotFound:
                continue
            assert "secret" not in repr(result)
        if where in ("account", "site", "run"):
            assert reader.list_runs(account_id=7, site_id="x") == []

    def test_base_dir_itself_may_be_a_link(self, tmp_path: Path) -> None:
        real = tmp_path / "real"
        real.mkdir()
        (tmp_path / "link").symlink_to(real)
        logger, _ = _logger(tmp_path / "link", None)
        igl.start_run(logger, run_id=VALID).end()
        assert (real / "_" / "_" / VALID / "automation_run.log").exists()
        assert igl.RunLogReader(tmp_path / "link").summary(VALID)["status"] == "completed"


class TestCrossTenant:
    """A run of account A / site X is never returned for A / Y, for B / X, or for the
    default ``_`` folders, by ``tail``, ``read_trace``, ``summary``, ``follow`` or
    ``list_runs``; a cursor issued for one run is refused by any other."""

    OTHER = "run_20260102_000000_beef0001"

    def test_isolation(self, tmp_path: Path) -> None:
        logger, _ = _logger(tmp_path, None)
        for account, site, run_id in (("A", "X", VALID), (2, "X", VALID), ("A", "X", self.OTHER)):
            run = igl.start_run(logger, account, site, run_id=run_id)
            run.warning(f"secret of {account}/{site}/{run_id}")
            run.end()
        reader = igl.RunLogReader(tmp_path)
        owner = f"secret of A/X/{VALID}"
        assert any(owner in line for line in reader.tail(VALID, account_id="A", site_id="X"))
        others: tuple[tuple[str | None, str | None], ...] = (
            ("A", "Y"),
            ("B", "X"),
            (None, None),
            ("A", None),
            (None, "X"),
        )
        for other_account, other_site in others:
            tenant = {"account_id": other_account, "site_id": other_site}
            for call in (
                lambda: reader.tail(VALID, account_id=other_account, site_id=other_site),
                lambda: reader.read_trace(VALID, account_id=other_account, site_id=other_site),
                lambda: reader.summary(VALID, account_id=other_account, site_id=other_site),
                lambda: list(
                    reader.follow(VALID, account_id=other_account, site_id=other_site, timeout=0)
                ),
            ):
                with pytest.raises(igl.RunNotFound):
                    call()
            assert VALID not in reader.list_runs(**tenant)
        assert reader.list_runs(account_id="A", site_id="X") == [self.OTHER, VALID]
        assert reader.list_runs(account_id=2, site_id="X") == [VALID]
        # the same run id under another account is another run, with its own lines
        lines = reader.tail(VALID, account_id=2, site_id="X")
        assert not any(owner in line for line in lines)

        page = reader.read_trace(VALID, account_id="A", site_id="X", limit=1)
        for run_id, account in ((VALID, 2), (self.OTHER, "A")):
            with pytest.raises(ValueError, match="cursor"):
                reader.read_trace(run_id, account_id=account, site_id="X", cursor=page.cursor)


FORGERIES = [
    "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029",
    "\x00", "\x1b[2K\r", "\x1b[1A\x1b[2K", "\x1b]0;title\x07\n", "\n\n", "\r\r\n",
]  # fmt: skip


class TestLogForging:
    """CR, LF, CRLF, other line breaks, ``\\x1b`` escape sequences and NUL in messages,
    ``extra`` values, stage names and exception texts: no physical line of a text log
    starts like a record unless it is one, no raw control character reaches it, and the
    trace stays one valid JSON object per line holding the exact text."""

    def test_no_forged_record_lines(self, tmp_path: Path) -> None:
        logger, _ = _logger(tmp_path, tmp_path / "mirror")
        run = igl.start_run(logger, run_id=VALID)
        logged = 1
        expected_messages = []
        for sep in FORGERIES:
            evil = f"ok{sep}{RECORD}{sep}"
            run.info(evil)
            run.for_stage(1).warning(evil, extra={"note": evil})
            run.trace("item", stage=1, message=evil, note=evil, **{f"k{sep}": evil})
            run.stage_start(1, name=evil)
            try:
                raise ValueError(evil)
            except ValueError:
                run.for_stage(1).exception(evil)
            logged += 5
            expected_messages += [evil, evil, evil]
        run.end()
        logged += 1
        for root in (tmp_path, tmp_path / "mirror"):
            folder = root / "_" / "_" / VALID
            for name in ("automation_run.log", "stage_1.log"):
                data = (folder / name).read_bytes()
                for byte in (b"\r", b"\x1b", b"\x00", b"\x0b", b"\x0c"):
                    assert byte not in data
                text = data.decode()
                for lines in (text.split("\n")[:-1], text.splitlines()):
                    starts = [line for line in lines if w.RECORD_RE.match(line)]
                    assert not [s for s in starts if "forged" in s.split("] ", 1)[1][:20]]
                    assert all(line[:1].isspace() for line in lines if line not in starts)
                records = len(list(w.records(data)))
                assert records == (logged if name.startswith("auto") else 4 * len(FORGERIES))
            trace = (folder / "run_trace.jsonl").read_bytes().split(b"\n")
            events = [json.loads(line) for line in trace[:-1]]
            assert all(isinstance(e, dict) for e in events)
            assert trace[-1] == b""
            messages = [e["message"] for e in events if e["event"] in ("log", "item")]
            assert sorted(messages) == sorted(expected_messages)
            notes = [e["note"] for e in events if "note" in e]
            assert len(notes) == 2 * len(FORGERIES)
            assert set(notes) == set(expected_messages)


class TestOversize:
    """A 10 MB message (or field, or exception text) is cut with the visible marker in the
    text logs and the trace, both bounded; a 10 MB line written into a log from outside
    leaves ``tail`` within bounded memory."""

    SIZE = 10 * 1024 * 1024

    def test_ten_megabyte_record_is_cut(self, tmp_path: Path) -> None:
        logger, _ = _logger(tmp_path, tmp_path / "mirror")
        run = igl.start_run(logger, run_id=VALID)
        huge = "é" * (self.SIZE // 2)
        run.for_stage(1).warning(huge)
        run.trace("item", stage=1, message="big field", blob=huge)
        try:
            raise ValueError(huge)
        except ValueError:
            run.for_stage(1).exception("big traceback")
        limit = 64 * 1024
        sizes: dict[str, int] = {}
        for root in (tmp_path, tmp_path / "mirror"):
            folder = root / "_" / "_" / VALID
            for name in ("automation_run.log", "stage_1.log"):
                data = (folder / name).read_bytes()
                records = list(w.records(data))
                for first, rest in records[1:]:
                    size = len("\n".join([first, *rest]).encode())
                    assert size <= 2 * limit + 1024
                    sizes[name] = max(sizes.get(name, 0), size)
                assert data.count("…[truncated".encode()) >= 3
            lines = (folder / "run_trace.jsonl").read_bytes().split(b"\n")[:-1]
            for line in lines:
                assert len(line) <= 3 * limit + 4096
                event = json.loads(line)
                sizes["trace"] = max(sizes.get("trace", 0), len(line))
                if event["event"] != "run_start":
                    assert "…[truncated" in json.dumps(event, ensure_ascii=False)
        print(f"\n[oversize] 10 MB record -> largest line per file (bytes): {sizes}")

    @pytest.mark.parametrize("lines", [1, 10, 10_000])
    def test_tail_of_a_ten_megabyte_line(self, tmp_path: Path, lines: int) -> None:
        logger, _ = _logger(tmp_path, None)
        run = igl.start_run(logger, run_id=VALID)
        path = tmp_path / "_" / "_" / VALID / "automation_run.log"
        with path.open("ab") as f:
            f.write(b"  " + b"z" * self.SIZE + b"\n")
        run.info("after")
        reader = igl.RunLogReader(tmp_path)
        tracemalloc.start()
        try:
            got = reader.tail(VALID, lines=lines)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert got[-1].endswith("after")
        assert peak < 1024 * 1024, peak
        assert sum(len(line) for line in got) < 1024 * 1024
        print(f"\n[oversize] tail(lines={lines}) over a 10 MB line: peak {peak / 1024:.0f} KiB")
