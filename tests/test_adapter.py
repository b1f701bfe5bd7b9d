"""``RunLogger`` and ``start_run``: the run and stage API over a ``LoggerAdapter``."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator, KeysView, Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import run_dir, text_lines, trace_events

import igny8_logging as igl

RUN_ID = "run_20261129_013000_abcd1234"


def events(base: Path, run: igl.RunLogger) -> list[dict[str, Any]]:
    return trace_events(run_dir(base, run) / "run_trace.jsonl")


def bodies(path: Path) -> list[str]:
    """``[where] message`` of each record line."""
    return [line.split(maxsplit=2)[2] for line in text_lines(path) if not line[:1].isspace()]


class BrokenHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError("broken handler")


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


class TestStartRun:
    """``start_run`` makes an id, the tenant folders, the header and ``run_start``."""

    def test_new_run(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.start_run(run_logger, 12, "shop", metadata={"trigger": "api"})
        assert re.fullmatch(r"run_\d{8}_\d{6}_[0-9a-f]{8}", run.run_id)
        assert (run.account_id, run.site_id, run.stage_id) == (12, "shop", None)
        folder = base_dir / "12" / "shop" / run.run_id
        assert sorted(p.name for p in folder.iterdir()) == [
            "automation_run.log",
            "run_trace.jsonl",
        ]
        assert bodies(folder / "automation_run.log") == ["[run] run started"]
        (start,) = events(base_dir, run)
        assert start["event"] == "run_start"
        assert start["metadata"] == {"trigger": "api"}

    def test_given_run_id_and_logger_name(self, run_logger: logging.Logger) -> None:
        run = igl.start_run(run_logger.name, run_id=RUN_ID)
        assert run.run_id == RUN_ID
        assert run.logger is run_logger

    @pytest.mark.parametrize(
        ("args", "kwargs"),
        [
            ((), {"run_id": "../x"}),
            ((), {"run_id": ""}),
            ((), {"run_id": "run_20261129_013000_abcd1234\n"}),
            (("..",), {}),
            ((1, "a/b"), {}),
            ((True,), {}),
            ((-1,), {}),
        ],
    )
    def test_bad_ids_raise_value_error(
        self,
        run_logger: logging.Logger,
        base_dir: Path,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        with pytest.raises(ValueError):
            igl.start_run(run_logger, *args, **kwargs)
        assert not base_dir.exists()

    @pytest.mark.parametrize(
        "args", [("../x",), (RUN_ID, "%2e%2e"), (RUN_ID, 1, "a/b"), (RUN_ID, False)]
    )
    def test_attach_and_bind_run_raise_too(
        self, run_logger: logging.Logger, args: tuple[Any, ...]
    ) -> None:
        with pytest.raises(ValueError):
            igl.RunLogger.attach(run_logger, *args)
        with pytest.raises(ValueError), igl.bind_run(*args):
            pass

    def test_attach_needs_no_files(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID, 1, 2)
        assert not base_dir.exists()
        run.info("from another host")
        assert bodies(base_dir / "1" / "2" / RUN_ID / "automation_run.log") == [
            "[run] from another host"
        ]


class TestStageApi:
    """Each stage method writes its event to the logs and the trace."""

    def test_full_run(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.start_run(run_logger, 1, 1)
        run.stage_start(1, "Keywords", pending=3)
        run.stage_progress(1, 2, 3)
        run.trace("keyword_done", stage=1, keyword="shoes")
        run.stage_complete(1, 3, credits_used=1.5, result={"kept": 3})
        run.stage_start(2, "Clusters")
        run.stage_error(2, "upstream timeout")
        run.end("failed")
        folder = run_dir(base_dir, run)
        assert bodies(folder / "stage_1.log")[:3] == [
            "[stage 1] stage 1 started: Keywords (3 pending)",
            "[stage 1] stage 1 progress: 2/3",
            "[stage 1] keyword_done keyword=shoes",
        ]
        assert re.fullmatch(
            r"\[stage 1\] stage 1 completed: 3 processed, in \d+\.\d{3}s, 1\.5 credits",
            bodies(folder / "stage_1.log")[3],
        )
        assert bodies(folder / "stage_2.log") == [
            "[stage 2] stage 2 started: Clusters",
            "[stage 2] stage 2 failed: upstream timeout",
        ]
        assert re.fullmatch(
            r"\[run\] run failed after \d+\.\d{3}s", bodies(folder / "automation_run.log")[-1]
        )
        assert [e["event"] for e in events(base_dir, run)] == [
            "run_start",
            "stage_start",
            "stage_progress",
            "keyword_done",
            "stage_complete",
            "stage_start",
            "stage_error",
            "run_end",
        ]

    def test_elapsed_measured_when_this_process_saw_the_start(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.start_run(run_logger)
        run.stage_start(1)
        time.sleep(0.05)
        run.stage_complete(1)
        complete = events(base_dir, run)[-1]
        assert complete["elapsed_s"] >= 0.05

    def test_a_given_elapsed_wins_over_the_measured_one(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.start_run(run_logger)
        run.stage_start(3)
        run.stage_complete(3, processed=1, elapsed=2.5)
        run.stage_start(3)  # the given elapsed also ended the measure
        time.sleep(0.01)
        run.stage_complete(3)
        given, measured = [e for e in events(base_dir, run) if e["event"] == "stage_complete"]
        assert given["elapsed_s"] == 2.5
        assert bodies(run_dir(base_dir, run) / "stage_3.log")[1] == (
            "[stage 3] stage 3 completed: 1 processed, in 2.500s"
        )
        assert 0.01 <= measured["elapsed_s"] < 2.5

    def test_overlapping_starts_of_one_stage_report_the_given_elapsed(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        """Two tasks of one stage in flight in one process: which start a completion
        belongs to is unknown, so each reports the elapsed its caller measured."""
        run = igl.start_run(run_logger)
        run.stage_start(1)
        run.stage_start(1)
        run.stage_complete(1, elapsed=3.5)
        run.stage_complete(1, elapsed=0.25)
        run.stage_start(1)
        run.stage_start(1)
        run.stage_complete(1)  # ambiguous, and no elapsed given: unknown
        run.stage_complete(1)
        run.stage_start(1)  # the stage is idle again: measured as usual
        run.stage_complete(1)
        completes = [e for e in events(base_dir, run) if e["event"] == "stage_complete"]
        assert [e["elapsed_s"] for e in completes[:4]] == [3.5, 0.25, None, None]
        assert isinstance(completes[4]["elapsed_s"], float)

    def test_elapsed_given_when_the_start_was_elsewhere(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(run_logger, igl.new_run_id())  # no start seen here yet
        pid = os.fork()  # the stage starts in another process
        if pid == 0:  # pragma: no cover - child
            try:
                run.stage_start(1)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        run.stage_complete(1, elapsed=7.25)
        run.stage_start(2)
        run.stage_complete(2)
        other = igl.RunLogger.attach(run_logger, run.run_id)
        other.stage_complete(3)
        start, complete, _, measured, unknown = events(base_dir, run)
        assert start["event"] == "stage_start"
        assert complete["elapsed_s"] == 7.25
        assert isinstance(measured["elapsed_s"], float)
        assert unknown["elapsed_s"] is None

    def test_stage_error_with_exception_and_exc_info(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        try:
            raise KeyError("kw")
        except KeyError:
            run.stage_error(1, "lookup failed", exc_info=True)
        run.stage_error(1, TimeoutError("late"))  # never raised: no traceback
        with_tb, without = events(base_dir, run)
        assert (with_tb["error"], with_tb["error_type"]) == ("lookup failed", "KeyError")
        assert "KeyError: 'kw'" in with_tb["traceback"]
        assert (without["error"], without["error_type"], without["traceback"]) == (
            "late",
            "TimeoutError",
            None,
        )
        lines = text_lines(run_dir(base_dir, run) / "stage_1.log")
        assert "  KeyError: 'kw'" in lines

    @pytest.mark.parametrize(
        ("status", "expected"),
        [("completed", "completed"), ("cancelled", "cancelled"), ("bogus", "failed")],
    )
    def test_end_status(
        self, run_logger: logging.Logger, base_dir: Path, status: str, expected: str
    ) -> None:
        run = igl.start_run(run_logger)
        run.end(status, reason="test")
        end = events(base_dir, run)[-1]
        assert (end["event"], end["status"], end["reason"]) == ("run_end", expected, "test")
        assert end["elapsed_s"] >= 0

    def test_end_of_an_attached_run_measures_from_the_id(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(run_logger, igl.new_run_id(time.time() - 60))
        run.end()
        assert 59 <= events(base_dir, run)[-1]["elapsed_s"] < 3600

    def test_trace_without_stage_goes_to_the_run(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.trace("checkpoint", message="saved", rows=3)
        assert bodies(run_dir(base_dir, run) / "automation_run.log") == ["[run] saved rows=3"]
        assert not list(run_dir(base_dir, run).glob("stage_*"))


class TestStageContext:
    """``with run.stage(...) as st``: start; complete on exit; error and re-raise on raise."""

    def test_complete(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.start_run(run_logger)
        other = logging.getLogger(run_logger.name + ".lib")
        with run.stage(1, "Keywords", pending=5) as st:
            assert st.stage_id == 1
            assert igl.current_run() == igl.RunContext(run.run_id, None, None, 1)
            st.info("bound adapter")
            other.info("any logger")
            st.processed, st.credits_used, st.result = 5, 2.0, {"ok": True}
        assert igl.current_run() is None
        assert bodies(run_dir(base_dir, run) / "stage_1.log")[1:3] == [
            "[stage 1] bound adapter",
            "[stage 1] any logger",
        ]
        complete = events(base_dir, run)[-1]
        assert complete["event"] == "stage_complete"
        assert (complete["processed"], complete["credits_used"], complete["result"]) == (
            5,
            2.0,
            {"ok": True},
        )
        assert complete["elapsed_s"] >= 0

    def test_error_is_logged_and_reraised(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.start_run(run_logger)
        with pytest.raises(ZeroDivisionError), run.stage("clusters"):
            1 / 0
        assert igl.current_run() is None
        error = events(base_dir, run)[-1]
        assert (error["event"], error["stage"], error["error_type"]) == (
            "stage_error",
            "clusters",
            "ZeroDivisionError",
        )
        assert "1 / 0" in error["traceback"]
        assert "stage_complete" not in [e["event"] for e in events(base_dir, run)]

    def test_for_stage_and_bound(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID, 4, 5)
        st = run.for_stage(3)
        assert (st.run_id, st.account_id, st.site_id, st.stage_id) == (RUN_ID, 4, 5, 3)
        assert run.stage_id is None
        st.warning("stage three")
        st.progress(1, 2)
        with st.bound():
            logging.getLogger(run_logger.name + ".x").info("ambient")
        with run.bound():
            logging.getLogger(run_logger.name + ".x").info("ambient run")
        folder = run_dir(base_dir, run)
        assert bodies(folder / "stage_3.log") == [
            "[stage 3] stage three",
            "[stage 3] stage 3 progress: 1/2",
            "[stage 3] ambient",
        ]
        assert bodies(folder / "automation_run.log")[-1] == "[run] ambient run"


class TestExtra:
    """A call's ``extra=`` is merged (the stdlib adapter drops it); run ids stay the run's."""

    def test_extra_is_merged(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.warning("with extra", extra={"item": 42})
        plain = logging.LoggerAdapter(run_logger, {"run_id": RUN_ID})
        plain.warning("stdlib adapter", extra={"item": 43})
        ours, stdlib = events(base_dir, run)
        assert ours["item"] == 42
        assert "item" not in stdlib  # what users lose with the stdlib adapter

    def test_run_ids_cannot_be_overridden(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID, 1, 2)
        run.warning(
            "m",
            extra={"run_id": "run_20990101_000000_ffff", "account_id": 9, "site_id": 9},
        )
        (event,) = events(base_dir, run)
        assert (event["run_id"], event["account_id"], event["site_id"]) == (RUN_ID, 1, 2)
        assert [p.name for p in base_dir.iterdir()] == ["1"]

    def test_extra_may_set_stage_and_event_on_an_unbound_run(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.info("custom", extra={"stage": 2, "event": "item_done", "n": 1})
        (event,) = events(base_dir, run)
        assert (event["stage"], event["event"], event["n"]) == (2, "item_done", 1)
        # ... but a stage-bound adapter keeps its stage.
        run.for_stage(1).info("bound", extra={"stage": 2})
        assert bodies(run_dir(base_dir, run) / "stage_1.log") == ["[stage 1] bound"]

    def test_record_attribute_names_do_not_raise(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        clash = {"name": "n", "module": "m", "message": "x", "asctime": "t", "args": "a"}
        run.warning("fine", extra=clash)
        run.info("fine too", extra={1: "non-str key"})
        (event,) = events(base_dir, run)
        assert event["message"] == "fine"
        assert (event["name"], event["module"], event["args"]) == ("n", "m", "a")
        assert {"x", "t"} <= set(event.values())


class TestNeverRaises:
    """No adapter method raises into the caller."""

    @pytest.mark.parametrize("stage", [None, "../x", -1, 1.5, object()])
    def test_bad_stage(
        self,
        run_logger: logging.Logger,
        base_dir: Path,
        stage: Any,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        run.stage_start(stage, "name", pending=1)
        run.stage_progress(stage, 1, 2)
        run.stage_complete(stage, 1)
        run.stage_error(stage, "e")
        run.trace("evt", stage=stage)
        with run.stage(stage) as st:
            st.info("inside")
        assert "Traceback" not in capfd.readouterr().err
        assert not list(base_dir.rglob("*x*"))  # nothing named after the bad stage

    def test_unserializable_fields_and_bad_arguments(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.start_run(run_logger, metadata={"x": Unprintable()})
        run.stage_start(1, Unprintable(), pending=Unprintable(), extra=Unprintable())  # type: ignore[arg-type]
        run.stage_progress(1, Unprintable(), "ten")  # type: ignore[arg-type]
        run.stage_complete(1, elapsed="3s", credits_used="many")  # type: ignore[arg-type]
        run.stage_complete(2, elapsed="3s")  # type: ignore[arg-type]
        run.stage_error(1, Unprintable(), exc_info=("not", "a", "tuple"))  # type: ignore[arg-type]
        run.trace(Unprintable(), stage=1, value=Unprintable())  # type: ignore[arg-type]
        run.end(status=["odd"], more=Unprintable())  # type: ignore[arg-type]
        assert events(base_dir, run)[0]["event"] == "run_start"

    def test_broken_handler(self, run_logger: logging.Logger, base_dir: Path) -> None:
        run_logger.addHandler(BrokenHandler())
        run = igl.start_run(run_logger)
        run.stage_start(1)
        run.stage_progress(1, 1)
        run.stage_complete(1)
        run.stage_error(1, ValueError("x"))
        run.trace("evt")
        with pytest.raises(KeyError), run.stage(2):
            raise KeyError("the caller's own error still propagates")
        run.end()
        # Our handlers ran before the broken one: the events are all written.
        assert len(events(base_dir, run)) == 9

    def test_disabled_logger_writes_nothing(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run_logger.setLevel(logging.CRITICAL)
        run = igl.start_run(run_logger)
        run.stage_start(1)
        run.end()
        assert not base_dir.exists()


def test_header_and_trace_agree(run_logger: logging.Logger, base_dir: Path) -> None:
    """The run_start header in the text log carries what the trace event carries."""
    run = igl.start_run(run_logger, 1, 2, metadata={"k": [1, 2]})
    (start,) = events(base_dir, run)
    text = (run_dir(base_dir, run) / "automation_run.log").read_text()
    assert f"  pid: {start['pid']}" in text
    assert f"  metadata: {json.dumps(start['metadata'])}" in text


class BadKeys(Mapping[str, Any]):
    """A mapping that cannot be read (its ``keys()`` and iteration raise)."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("unreadable")

    def __len__(self) -> int:
        return 1

    def keys(self) -> KeysView[str]:
        raise RuntimeError("unreadable")


class TestMetadata:
    """``start_run``'s metadata must be a mapping; a mapping that cannot be read is best effort."""

    @pytest.mark.parametrize("metadata", [["a", 1], "text", 3, {("k",)}])
    def test_not_a_mapping_is_a_type_error_at_once(
        self, run_logger: logging.Logger, base_dir: Path, metadata: Any
    ) -> None:
        with pytest.raises(TypeError, match="metadata must be a mapping"):
            igl.start_run(run_logger, metadata=metadata)
        assert not base_dir.exists()

    def test_an_unreadable_mapping_still_starts_the_run(
        self, run_logger: logging.Logger, base_dir: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        igl.RunLogger.failures.reset()
        run = igl.start_run(run_logger, metadata=BadKeys())
        (start,) = events(base_dir, run)
        assert start["event"] == "run_start"
        assert start["metadata"] == "<BadKeys object: unreadable>"
        assert "could not read its metadata" in capfd.readouterr().err
        assert igl.RunLogger.failures.counts["start_run.metadata"] == 1
        igl.RunLogger.failures.reset()


class TestForStage:
    """``for_stage`` validates the stage at once, like the constructor."""

    @pytest.mark.parametrize("stage", ["../x", "", -1, True, 1.5, "a" * 65, object()])
    def test_invalid_stage_raises(
        self, run_logger: logging.Logger, base_dir: Path, stage: Any
    ) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        with pytest.raises(ValueError, match="invalid stage"):
            run.for_stage(stage)
        with pytest.raises(ValueError, match="invalid stage"):
            igl.RunLogger(run_logger, RUN_ID, stage=stage)
        with pytest.raises(ValueError, match="invalid stage"):
            run.for_stage(None)  # type: ignore[arg-type]
        assert not base_dir.exists()

    def test_valid_stage_is_the_plain_value(self, run_logger: logging.Logger) -> None:
        class Sneaky(str):
            def __str__(self) -> str:
                return "../x"

        st = igl.RunLogger.attach(run_logger, RUN_ID).for_stage(Sneaky("clusters"))
        assert type(st.stage_id) is str
        assert st.stage_id == "clusters"


class TestCurrent:
    """``RunLogger.current()`` is the run bound in the ambient context, with its stage."""

    def test_outside_a_run(self) -> None:
        assert igl.RunLogger.current() is None

    def test_inside_bind_run(self, run_logger: logging.Logger, base_dir: Path) -> None:
        with igl.bind_run(RUN_ID, 4, "shop", stage=2):
            run = igl.RunLogger.current(run_logger)
        assert run is not None
        assert (run.run_id, run.account_id, run.site_id, run.stage_id) == (RUN_ID, 4, "shop", 2)
        assert run.logger is run_logger
        run.progress(3, 10)
        assert bodies(base_dir / "4" / "shop" / RUN_ID / "stage_2.log") == [
            "[stage 2] stage 2 progress: 3/10"
        ]

    def test_default_logger_and_stage_block(self, run_logger: logging.Logger) -> None:
        run = igl.RunLogger.attach(run_logger, RUN_ID)
        with run.bound():
            current = igl.RunLogger.current()
            assert current is not None
            assert (current.logger.name, current.stage_id) == ("igny8.automation", None)
        with run.stage(5):
            inside = igl.RunLogger.current(run_logger.name)
            assert inside is not None
            assert (inside.run_id, inside.stage_id) == (RUN_ID, 5)
