"""The ambient run context: ``bind_run``, ``current_run`` and carrying it into threads."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import text_lines, trace_events

import igny8_logging as igl
from igny8_logging._context import make_context, reset_context, set_context

RUN_A = "run_20261129_013000_aaaa1111"
RUN_B = "run_20261129_013001_bbbb2222"


def run_folder(base: Path, run_id: str, account: str = "_", site: str = "_") -> Path:
    return base / account / site / run_id


class TestBindRun:
    """Inside ``bind_run`` records of ANY logger that reach the handlers belong to the run."""

    def test_records_of_any_logger_are_routed(
        self, make_logger: Callable[..., logging.Logger], base_dir: Path
    ) -> None:
        # The handlers sit on a parent; the records come from unrelated child loggers.
        parent = make_logger(igl.logging_config(base_dir))
        child = logging.getLogger(parent.name + ".some.library")
        child.setLevel(logging.DEBUG)
        with igl.bind_run(RUN_A, 7, "site-1", stage=2):
            child.info("library says hi")
            parent.warning("careful")
        folder = run_folder(base_dir, RUN_A, "7", "site-1")
        run_log = text_lines(folder / "automation_run.log")
        assert [line.split(maxsplit=2)[2] for line in run_log] == [
            "[stage 2] library says hi",
            "[stage 2] careful",
        ]
        assert len(text_lines(folder / "stage_2.log")) == 2
        (event,) = trace_events(folder / "run_trace.jsonl")  # WARNING+ only
        assert event["message"] == "careful"
        assert (event["account_id"], event["site_id"], event["stage"]) == (7, "site-1", 2)

    def test_records_outside_any_run_are_ignored(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run_logger.error("no run here")
        with igl.bind_run(RUN_A):
            pass
        run_logger.info("nor here")
        assert not base_dir.exists()

    def test_extra_run_id_routes_without_binding(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run_logger.info("tagged", extra={"run_id": RUN_A, "account_id": 1, "stage": "x"})
        folder = run_folder(base_dir, RUN_A, "1")
        assert text_lines(folder / "stage_x.log")[0].endswith("[stage x] tagged")

    def test_extra_run_id_wins_over_binding(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        with igl.bind_run(RUN_A, 1, 1, stage=3):
            run_logger.info("for B", extra={"run_id": RUN_B})
        # The binding's tenant and stage belong to run A: run B gets none of them.
        assert text_lines(run_folder(base_dir, RUN_B) / "automation_run.log")[0].endswith(
            "[run] for B"
        )
        assert not run_folder(base_dir, RUN_A, "1", "1").exists()

    def test_nesting_restores_the_outer_binding(self) -> None:
        assert igl.current_run() is None
        with igl.bind_run(RUN_A, 1) as outer:
            assert igl.current_run() == outer == igl.RunContext(RUN_A, 1)
            with igl.bind_run(RUN_B, stage=1) as inner:
                assert igl.current_run() == inner == igl.RunContext(RUN_B, None, None, 1)
            assert igl.current_run() is outer
        assert igl.current_run() is None

    def test_binding_is_reset_when_the_block_raises(self) -> None:
        with pytest.raises(RuntimeError), igl.bind_run(RUN_A):
            raise RuntimeError("boom")
        assert igl.current_run() is None

    @pytest.mark.parametrize(
        ("args", "kwargs"),
        [
            (("../x",), {}),
            (("run_../../etc",), {}),
            ((RUN_A, ".."), {}),
            ((RUN_A, 1, "a/b"), {}),
            ((RUN_A, True), {}),
            ((RUN_A,), {"stage": "a/b"}),
            ((RUN_A,), {"stage": -1}),
        ],
    )
    def test_bad_ids_raise_value_error_at_once(
        self, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> None:
        with pytest.raises(ValueError):  # the error comes from entering
            with igl.bind_run(*args, **kwargs):  # type: ignore[arg-type]
                pytest.fail("the block must not run")
        assert igl.current_run() is None

    def test_set_and_reset_context_tokens(self) -> None:
        token = set_context(make_context(RUN_A, 1, 2, 3))
        try:
            assert igl.current_run() == igl.RunContext(RUN_A, 1, 2, 3)
        finally:
            reset_context(token)
        assert igl.current_run() is None

    def test_as_dict_is_the_header_payload(self) -> None:
        assert make_context(RUN_A, 1, "s", "2").as_dict() == {
            "run_id": RUN_A,
            "account_id": 1,
            "site_id": "s",
            "stage": "2",
        }


def _log_in_pool(
    logger: logging.Logger, submit: Callable[[ThreadPoolExecutor, Callable[[int], None]], object]
) -> None:
    def work(item: int) -> None:
        logger.info("item %d done", item)

    with ThreadPoolExecutor(max_workers=2) as pool:
        submit(pool, work)


class TestThreads:
    """Threads do not inherit the context; ``carry_context`` and ``RunContextExecutor`` carry it."""

    def test_plain_thread_pool_loses_the_run(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        with igl.bind_run(RUN_A):
            _log_in_pool(run_logger, lambda pool, work: list(pool.map(work, range(4))))
        assert not base_dir.exists()  # the records belonged to no run: nothing written

    def test_carry_context_keeps_the_run(self, run_logger: logging.Logger, base_dir: Path) -> None:
        with igl.bind_run(RUN_A, stage=1):
            _log_in_pool(
                run_logger,
                lambda pool, work: list(pool.map(igl.carry_context(work), range(4))),
            )
        lines = text_lines(run_folder(base_dir, RUN_A) / "stage_1.log")
        assert sorted(line.split("] ")[1] for line in lines) == [f"item {n} done" for n in range(4)]

    def test_carry_context_captures_when_wrapped(self) -> None:
        with igl.bind_run(RUN_A):
            wrapped = igl.carry_context(igl.current_run)
        with igl.bind_run(RUN_B):
            context = wrapped()
        assert context is not None
        assert context.run_id == RUN_A

    def test_carried_function_runs_in_several_threads_at_once(self) -> None:
        barrier = threading.Barrier(4)

        def work() -> str | None:
            barrier.wait(timeout=10)  # all four inside the same captured context at once
            context = igl.current_run()
            return None if context is None else context.run_id

        with igl.bind_run(RUN_A):
            wrapped = igl.carry_context(work)
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = [pool.submit(wrapped) for _ in range(4)]
            assert [f.result(timeout=10) for f in results] == [RUN_A] * 4

    def test_run_context_executor_submit_and_map(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        with igl.bind_run(RUN_A, 5, 6), igl.RunContextExecutor(max_workers=2) as pool:
            pool.submit(run_logger.info, "submitted").result(timeout=10)
            list(pool.map(lambda n: run_logger.info("mapped %d", n), range(3)))
        lines = text_lines(run_folder(base_dir, RUN_A, "5", "6") / "automation_run.log")
        assert len(lines) == 4
        assert all("[run] " in line for line in lines)

    def test_executor_uses_the_context_of_each_submit(self) -> None:
        with igl.RunContextExecutor(max_workers=1) as pool:
            with igl.bind_run(RUN_A):
                first = pool.submit(igl.current_run)
            with igl.bind_run(RUN_B):
                second = pool.submit(igl.current_run)
            outside = pool.submit(igl.current_run)
            assert [f.result(timeout=10) for f in (first, second, outside)] == [
                igl.RunContext(RUN_A),
                igl.RunContext(RUN_B),
                None,
            ]

    def test_context_filter_stamps_records_for_other_threads(self) -> None:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
        with igl.bind_run(RUN_A, 1, 2, stage=3):
            assert igl.RunContextFilter().filter(record)
        assert (record.run_id, record.account_id, record.site_id, record.stage) == (  # type: ignore[attr-defined]
            RUN_A,
            1,
            2,
            3,
        )
