"""The handlers: dictConfig construction, mirror, failures, links, fork and many writers."""

from __future__ import annotations

import json
import logging
import logging.config
import multiprocessing
import os
import re
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import text_lines, trace_events

import igny8_logging as igl

#: Every test runs with the C accelerator writing the lines, and without it.
pytestmark = pytest.mark.usefixtures("speedups")

RUN_ID = "run_20261129_013000_abcd1234"
RECORD_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [A-Z]+ +\[(run|stage \w+)\] .*")
FILES = ("automation_run.log", "stage_1.log", "run_trace.jsonl")


def folder(base: Path, account: str = "_", site: str = "_", run_id: str = RUN_ID) -> Path:
    return base / account / site / run_id


def listing(root: Path) -> dict[str, bytes]:
    """Every path below *root* with the bytes of its files (to prove nothing changed)."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() and not p.is_symlink() else b""
        for p in sorted(root.rglob("*"))
    }


def handlers(logger: logging.Logger) -> list[igl.BaseRunHandler]:
    return [h for h in logger.handlers if isinstance(h, igl.BaseRunHandler)]


class TestConfiguration:
    """Handlers are configured by dictConfig's ``class`` key and never touch the disk early."""

    def test_constructors_never_touch_the_disk(
        self, make_logger: Callable[..., logging.Logger], tmp_path: Path
    ) -> None:
        base, shared = tmp_path / "base", tmp_path / "shared"
        opts = {
            "base_dir": str(base),
            "shared_dir": str(shared),
            "dir_mode": 0o700,
            "file_mode": 0o600,
            "max_record_bytes": 2048,
            "max_open_files": 4,
            "fsync": "stage",
        }
        logger = make_logger(
            {
                "run": {"class": "igny8_logging.RunLogHandler", **opts},
                "stage": {"class": "igny8_logging.StageLogHandler", **opts},
                "trace": {
                    "class": "igny8_logging.TraceHandler",
                    "json_backend": "json",
                    **opts,
                },
            }
        )
        igl.RunLogHandler(base / "x")
        logger.info("no run: nothing to write")
        assert list(tmp_path.iterdir()) == []
        run = igl.RunLogger.attach(logger, RUN_ID)  # attach needs no files either
        assert list(tmp_path.iterdir()) == []
        run.stage_start(1)
        run.stage_complete(1)
        for root in (base, shared):
            assert sorted(p.name for p in folder(root).iterdir()) == sorted(FILES)
            assert oct(folder(root).stat().st_mode & 0o777) == oct(0o700)
            assert oct((folder(root) / FILES[0]).stat().st_mode & 0o777) == oct(0o600)
        assert handlers(logger)[0].trees[0].max_open == 4

    @pytest.mark.parametrize(
        "opts",
        [{"fsync": "sometimes"}, {"max_record_bytes": 10}, {"max_record_bytes": "big"}],
    )
    def test_bad_options_fail_at_configuration(self, opts: dict[str, Any], tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            logging.config.dictConfig(
                {
                    "version": 1,
                    "disable_existing_loggers": False,
                    "handlers": {
                        "h": {"class": "igny8_logging.RunLogHandler", "base_dir": "x", **opts}
                    },
                }
            )

    @pytest.mark.parametrize("policy", ["always", "stage"])
    def test_fsync_policies_write_the_same(
        self, make_logger: Callable[..., logging.Logger], tmp_path: Path, policy: str
    ) -> None:
        logger = make_logger(
            {
                "run": {
                    "class": "igny8_logging.RunLogHandler",
                    "base_dir": str(tmp_path),
                    "fsync": policy,
                }
            }
        )
        run = igl.RunLogger.attach(logger, RUN_ID)
        run.stage_start(1)
        run.stage_complete(1)
        assert len(text_lines(folder(tmp_path) / FILES[0])) == 2

    def test_handler_level_filters(
        self, make_logger: Callable[..., logging.Logger], tmp_path: Path
    ) -> None:
        logger = make_logger(
            {
                "run": {
                    "class": "igny8_logging.RunLogHandler",
                    "base_dir": str(tmp_path),
                    "level": "WARNING",
                }
            }
        )
        with igl.bind_run(RUN_ID):
            logger.info("dropped")
            logger.warning("kept")
        assert [line.rsplit(" ", 1)[1] for line in text_lines(folder(tmp_path) / FILES[0])] == [
            "kept"
        ]


class TestDescriptors:
    """Descriptors stay open between records but are bounded by ``max_open_files``."""

    def test_many_runs_keep_few_descriptors(
        self, make_logger: Callable[..., logging.Logger], tmp_path: Path
    ) -> None:
        opts = {"base_dir": str(tmp_path / "b"), "shared_dir": str(tmp_path / "s")}
        logger = make_logger(
            {
                "run": {"class": "igny8_logging.RunLogHandler", "max_open_files": 3, **opts},
                "trace": {"class": "igny8_logging.TraceHandler", "max_open_files": 3, **opts},
            }
        )
        before = len(os.listdir("/proc/self/fd"))
        runs = [igl.new_run_id() for _ in range(60)]
        for _ in range(3):
            for run_id in runs:
                logger.warning("tick", extra={"run_id": run_id})
                assert len(os.listdir("/proc/self/fd")) <= before + 4 * 3
        assert [tree.open_count for h in handlers(logger) for tree in h.trees] == [3, 3, 3, 3]
        assert all(
            len(text_lines(tmp_path / root / "_" / "_" / run_id / FILES[0])) == 3
            for root in ("b", "s")
            for run_id in runs
        )


class TestMirror:
    """The mirror gets the same relative paths and bytes; each side survives the other failing."""

    def test_mirror_is_byte_identical(
        self, run_logger: logging.Logger, base_dir: Path, shared_dir: Path
    ) -> None:
        run = igl.start_run(run_logger, 1, "s", metadata={"a": 1})
        with run.stage(1, "Keywords") as st:
            st.info("working\nsecond line")
            run.trace("item", stage=1, n=1)
        run.warning("careful")
        run.end()
        primary = listing(base_dir)
        assert primary == listing(shared_dir)
        assert sorted(k for k in primary if k.count("/") == 3) == [
            f"1/s/{run.run_id}/{name}" for name in sorted(FILES)
        ]

    def test_failing_mirror_never_stops_the_primary(
        self,
        make_logger: Callable[..., logging.Logger],
        tmp_path: Path,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        (tmp_path / "file").write_text("not a directory")
        logger = make_logger(igl.logging_config(tmp_path / "base", tmp_path / "file" / "shared"))
        run = igl.start_run(logger, run_id=RUN_ID)
        for n in range(20):
            run.warning("record %d", n)
        assert len(text_lines(folder(tmp_path / "base") / FILES[0])) == 21 + 7  # with header
        assert len(trace_events(folder(tmp_path / "base") / "run_trace.jsonl")) == 21
        err = capfd.readouterr().err
        assert err.count("cannot write mirror") == 2  # once per handler with a file to write
        assert "cannot write primary" not in err
        run_handler, _, trace_handler = handlers(logger)
        assert run_handler.failures == {"primary": 0, "mirror": 21}
        assert trace_handler.failures == {"primary": 0, "mirror": 21}

    def test_failing_primary_never_stops_the_mirror(
        self,
        make_logger: Callable[..., logging.Logger],
        tmp_path: Path,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        (tmp_path / "file").write_text("not a directory")
        logger = make_logger(igl.logging_config(tmp_path / "file" / "base", tmp_path / "shared"))
        with igl.bind_run(RUN_ID, stage=1):
            for n in range(10):
                logger.info("record %d", n)
        assert len(text_lines(folder(tmp_path / "shared") / "stage_1.log")) == 10
        err = capfd.readouterr().err
        assert err.count("cannot write primary") == 2  # run and stage handler, once each
        assert handlers(logger)[1].failures == {"primary": 10, "mirror": 0}


class TestFailures:
    """No handler call raises; each failing destination is reported once and counted."""

    def test_unwritable_base_dir(
        self,
        make_logger: Callable[..., logging.Logger],
        tmp_path: Path,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        """A base_dir below a regular file: ENOTDIR even for root, who ignores chmod."""
        blocker = tmp_path / "blocker"
        blocker.write_text("x")
        logger = make_logger(igl.logging_config(blocker / "logs"))
        run = igl.start_run(logger, 1, 2)
        for n in range(50):
            run.error("lost %d", n)
        err = capfd.readouterr().err
        assert err.count("igny8_logging:") == 2  # run + trace handler (no stage records)
        assert "cannot write primary" in err
        assert [h.failures["primary"] for h in handlers(logger)] == [51, 0, 51]
        # It works again once the cause is gone, and says so once.
        blocker.unlink()
        blocker.mkdir()
        run.error("back")
        err = capfd.readouterr().err
        assert len(re.findall(r"' works again$", err, re.MULTILINE)) == 2
        assert text_lines(blocker / "logs" / "1" / "2" / run.run_id / FILES[0])[-1].endswith("back")

    def test_failure_is_reported_again_after_recovery(
        self,
        make_logger: Callable[..., logging.Logger],
        tmp_path: Path,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        logger = make_logger(
            {"run": {"class": "igny8_logging.RunLogHandler", "base_dir": str(tmp_path / "b")}}
        )
        with igl.bind_run(RUN_ID):
            logger.info("ok")
            for _ in range(2):
                shutil.rmtree(tmp_path / "b")
                (tmp_path / "b").write_text("now a file")
                logger.info("fails")
                logger.info("fails again")
                (tmp_path / "b").unlink()
                logger.info("recovers")
        err = capfd.readouterr().err
        assert err.count("cannot write primary") == 2
        assert len(re.findall(r"' works again$", err, re.MULTILINE)) == 2
        assert handlers(logger)[0].failures["primary"] == 4

    @pytest.mark.parametrize(
        "attrs",
        [
            {"run_id": "../x"},
            {"run_id": "run_../../etc"},
            {"run_id": "/etc/passwd"},
            {"run_id": "run_20261129_013000_abcd\x00"},
            {"run_id": "r" * 100_000},
            {"run_id": 5},
            {"run_id": RUN_ID, "account_id": ".."},
            {"run_id": RUN_ID, "site_id": "a/b"},
            {"run_id": RUN_ID, "account_id": "%2e%2e"},
            {"run_id": RUN_ID, "stage": "../../x"},
            {"run_id": RUN_ID, "account_id": True},
        ],
    )
    def test_bad_ids_are_refused_once(
        self,
        run_logger: logging.Logger,
        tmp_path: Path,
        capfd: pytest.CaptureFixture[str],
        attrs: dict[str, Any],
    ) -> None:
        before = listing(tmp_path)
        for _ in range(3):
            run_logger.error("evil", extra=attrs)
        assert listing(tmp_path) == before  # nothing written anywhere
        err = capfd.readouterr().err
        assert err.count("record refused") == 3  # once per handler, not per record
        assert "Traceback" not in err
        assert [h.refused for h in handlers(run_logger)] == [3, 3, 3]

    def test_full_disk_in_the_primary(
        self, run_logger: logging.Logger, base_dir: Path, shared_dir: Path, tmp_path: Path
    ) -> None:
        """``RLIMIT_FSIZE`` stands in for a full disk (EFBIG), in a forked child.

        The primary run log is already past the limit, the mirror's is not: the
        child's records fail in the primary, are reported once, and reach the mirror.
        """
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.info("first")
        with open(folder(base_dir) / FILES[0], "ab") as log:
            log.write(b" " * 20_000 + b"\n")
        result = tmp_path / "result.json"
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            import resource
            import signal

            try:
                sys.stderr = open(tmp_path / "stderr", "w")
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))
                for n in range(20):
                    run.info("child %d", n)
                result.write_text(json.dumps(handlers(run_logger)[0].failures))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert json.loads(result.read_text()) == {"primary": 20, "mirror": 0}
        err = (tmp_path / "stderr").read_text()
        assert err.count("cannot write primary") == 1
        assert "File too large" in err
        assert len(text_lines(folder(shared_dir) / FILES[0])) == 21


class TestLinks:
    """A link planted below base_dir is never followed: refused, reported once, counted."""

    @pytest.mark.parametrize("where", ["account", "site", "run", "file"])
    def test_planted_link(
        self,
        run_logger: logging.Logger,
        base_dir: Path,
        tmp_path: Path,
        capfd: pytest.CaptureFixture[str],
        where: str,
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "automation_run.log").write_bytes(b"precious\n")
        target = folder(base_dir, "7", "9")
        parts = {"account": target.parents[1], "site": target.parent, "run": target}
        if where == "file":
            target.mkdir(parents=True)
            (target / "automation_run.log").symlink_to(outside / "automation_run.log")
        else:
            parts[where].parent.mkdir(parents=True, exist_ok=True)
            parts[where].symlink_to(outside, target_is_directory=True)
        before = listing(outside)
        for n in range(5):
            run_logger.warning(
                "attack %d", n, extra={"run_id": RUN_ID, "account_id": 7, "site_id": 9}
            )
        assert listing(outside) == before
        err = capfd.readouterr().err
        assert "Traceback" not in err
        run_handler = handlers(run_logger)[0]
        assert run_handler.failures["primary"] == 5
        assert err.count("RunLogHandler: cannot write primary") == 1

    def test_base_dir_itself_may_be_a_link(
        self, make_logger: Callable[..., logging.Logger], tmp_path: Path
    ) -> None:
        (tmp_path / "real").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
        logger = make_logger(igl.logging_config(tmp_path / "link"))
        igl.start_run(logger, run_id=RUN_ID)
        assert (folder(tmp_path / "real") / FILES[0]).is_file()


class TestRecreate:
    """A log file or run folder deleted mid-run is recreated by the next record."""

    def test_deleted_files_and_folder(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID).for_stage(1)
        run.warning("one")
        (folder(base_dir) / "stage_1.log").unlink()
        run.warning("two")
        assert text_lines(folder(base_dir) / "stage_1.log")[0].endswith("two")
        shutil.rmtree(folder(base_dir))
        run.warning("three")
        for name in FILES:
            assert "three" in (folder(base_dir) / name).read_text()
            assert "two" not in (folder(base_dir) / name).read_text()


def _configure(base: str, shared: str, logger_name: str) -> logging.Logger:
    logging.config.dictConfig(igl.logging_config(base, shared, logger=logger_name))
    logger = logging.getLogger(logger_name)
    logger.propagate = False
    return logger


def _write(logger_name: str, worker: int, count: int, barrier: Any) -> None:
    """One writer: *count* records of one run, in the stage of its parity, some WARNING."""
    run = igl.RunLogger.attach(logger_name, RUN_ID, 3, "s")
    stage = run.for_stage(1 + worker % 2)
    barrier.wait(timeout=30)
    payload = "x" * (worker * 300)  # records of several sizes
    for n in range(count):
        level = logging.WARNING if n % 10 == 0 else logging.INFO
        stage.log(level, "w%d n%d %s", worker, n, payload)


def _process_writer(
    base: str, shared: str, logger_name: str, worker: int, count: int, barrier: Any
) -> None:
    """A writer process configured through dictConfig, as a prefork worker would be."""
    _configure(base, shared, logger_name)
    _write(logger_name, worker, count, barrier)
    logging.shutdown()


def _keys(lines: list[str]) -> list[tuple[int, int]]:
    """The (worker, n) of each whole record line; fails on a torn or foreign line."""
    found = []
    for line in lines:
        assert RECORD_RE.fullmatch(line), line[:200]
        match = re.search(r"\] w(\d+) n(\d+) (x*)$", line)
        assert match is not None, line[:200]
        assert len(match[3]) == int(match[1]) * 300
        found.append((int(match[1]), int(match[2])))
    return found


def _check_many_writers(base: Path, shared: Path, workers: int, count: int) -> None:
    expected = sorted((w, n) for w in range(workers) for n in range(count))
    contents: dict[str, list[bytes]] = {}
    for root in (base, shared):
        run = folder(root, "3", "s")
        assert sorted(_keys(text_lines(run / "automation_run.log"))) == expected
        for s in (1, 2):
            assert sorted(_keys(text_lines(run / f"stage_{s}.log"))) == [
                (w, n) for (w, n) in expected if 1 + w % 2 == s
            ]
        events = trace_events(run / "run_trace.jsonl")
        assert sorted(
            tuple(int(part[1:]) for part in e["message"].split()[:2]) for e in events
        ) == [(w, n) for (w, n) in expected if n % 10 == 0]
        for name in ("automation_run.log", "stage_1.log", "stage_2.log", "run_trace.jsonl"):
            contents.setdefault(name, []).append((run / name).read_bytes())
    for primary, mirror in contents.values():  # the same lines, maybe in another order
        assert sorted(primary.splitlines()) == sorted(mirror.splitlines())


class TestManyWriters:
    """Concurrent threads and processes (fork and spawn) never tear or lose a line."""

    @pytest.mark.parametrize("method", ["fork", "spawn"])
    def test_processes(self, tmp_path: Path, method: str) -> None:
        base, shared = tmp_path / "base", tmp_path / "shared"
        context: Any = multiprocessing.get_context(method)
        workers, count = 4, 300
        barrier = context.Barrier(workers)
        procs = [
            context.Process(
                target=_process_writer,
                args=(str(base), str(shared), f"igny8.test.mp.{method}", w, count, barrier),
            )
            for w in range(workers)
        ]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=120)
            assert proc.exitcode == 0
        _check_many_writers(base, shared, workers, count)

    def test_threads(self, tmp_path: Path) -> None:
        base, shared = tmp_path / "base", tmp_path / "shared"
        workers, count = 4, 300
        barrier = threading.Barrier(workers)
        logger = _configure(str(base), str(shared), "igny8.test.threads")
        threads = [
            threading.Thread(target=_write, args=(logger.name, w, count, barrier))
            for w in range(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        _check_many_writers(base, shared, workers, count)

    def test_fork_after_use(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID).for_stage(1)
        run.warning("parent before fork")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                for n in range(200):
                    run.warning("child %d", n)
                code = 0
            finally:
                os._exit(code)
        for n in range(200):
            run.warning("parent %d", n)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        run.warning("parent after child")
        for name in FILES:
            text = (folder(base_dir) / name).read_text()
            lines = text.splitlines()
            assert len(lines) == 402
            for who in ("child", "parent"):
                assert len(re.findall(rf"\b{who} \d+\b", text)) == 200
            if name.endswith(".log"):
                assert all(RECORD_RE.fullmatch(line) for line in lines)
            else:
                assert all(json.loads(line)["run_id"] == RUN_ID for line in lines)
