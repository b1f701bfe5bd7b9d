"""``logging_config``: a ready ``dictConfig`` dictionary (``_config``)."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import text_lines, trace_events

import igny8_logging as igl

RUN_ID = "run_20261129_013000_abcd1234"


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Names of loggers a test configured; their handlers are closed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        logger.propagate = True


class TestShape:
    """The dict names our three handler classes and one logger; it is plain data."""

    def test_defaults(self) -> None:
        config = igl.logging_config()
        assert config["version"] == 1
        assert config["disable_existing_loggers"] is False
        assert config["loggers"] == {
            "igny8.automation": {
                "handlers": ["igny8_run", "igny8_stage", "igny8_trace"],
                "level": "INFO",
                "propagate": True,
            }
        }
        assert {name: h["class"] for name, h in config["handlers"].items()} == {
            "igny8_run": "igny8_logging.RunLogHandler",
            "igny8_stage": "igny8_logging.StageLogHandler",
            "igny8_trace": "igny8_logging.TraceHandler",
        }
        assert all(
            h["base_dir"] is None and h["shared_dir"] is None for h in config["handlers"].values()
        )

    def test_paths_and_names(self, tmp_path: Path) -> None:
        config = igl.logging_config(tmp_path / "b", str(tmp_path / "s"), logger="app", level=10)
        assert json.loads(json.dumps(config)) == config  # can live in a JSON settings file
        for handler in config["handlers"].values():
            assert (handler["base_dir"], handler["shared_dir"]) == (
                str(tmp_path / "b"),
                str(tmp_path / "s"),
            )
        assert config["loggers"]["app"]["level"] == 10


class TestApplied:
    """Applied with dictConfig, it wires the handlers and keeps existing loggers enabled."""

    def test_child_loggers_reach_the_files(
        self, tmp_path: Path, cleanup: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        existing = logging.getLogger("igny8.test.config.existing")
        monkeypatch.setenv("IGNY8_LOG_DIR", str(tmp_path / "env"))
        cleanup.append("igny8.test.config")
        logging.config.dictConfig(igl.logging_config(logger="igny8.test.config"))
        logging.getLogger("igny8.test.config").propagate = False
        assert not existing.disabled
        with igl.bind_run(RUN_ID, stage=1):
            existing.info("from an existing child")
            logging.getLogger("igny8.test.config.new").debug("below INFO: dropped")
        folder = tmp_path / "env" / "_" / "_" / RUN_ID  # base_dir None: $IGNY8_LOG_DIR
        assert [line.split("] ")[1] for line in text_lines(folder / "stage_1.log")] == [
            "from an existing child"
        ]

    def test_on_the_root_logger_every_logger_reaches_the_run(self, tmp_path: Path) -> None:
        """``logger=""`` puts the handlers on the root: any library's records in a run land."""
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        try:
            logging.config.dictConfig(igl.logging_config(tmp_path, logger=""))
            run = igl.start_run("igny8.test.config.root", run_id=RUN_ID)
            with run.stage(1):
                logging.getLogger("some.library").info("from a library")
            logging.getLogger("some.library").warning("outside any run")
        finally:
            for handler in root.handlers[:]:
                root.removeHandler(handler)
                handler.close()
            for handler in saved[0]:
                root.addHandler(handler)
            root.setLevel(saved[1])
        folder = tmp_path / "_" / "_" / RUN_ID
        stage = [line.split("] ", 1)[1] for line in text_lines(folder / "stage_1.log")]
        assert stage == ["stage 1 started", "from a library", stage[-1]]
        assert "outside any run" not in (folder / "automation_run.log").read_text()

    def test_merged_into_a_larger_configuration(
        self, tmp_path: Path, cleanup: list[str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        ours = igl.logging_config(tmp_path, tmp_path / "mirror", logger="igny8.test.merged")
        config = {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"console": {"format": "%(levelname)s %(run_id)s %(message)s"}},
            "handlers": {
                **ours["handlers"],
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "console",
                    "stream": "ext://sys.stdout",
                    "filters": ["run"],
                },
            },
            "filters": {"run": {"()": "igny8_logging.RunContextFilter"}},
            "loggers": {
                "igny8.test.merged": {
                    **ours["loggers"]["igny8.test.merged"],
                    "handlers": [*ours["loggers"]["igny8.test.merged"]["handlers"], "console"],
                    "propagate": False,
                }
            },
        }
        cleanup.append("igny8.test.merged")
        logging.config.dictConfig(config)
        run = igl.start_run("igny8.test.merged", run_id=RUN_ID)
        run.warning("seen everywhere")
        assert f"WARNING {RUN_ID} seen everywhere" in capsys.readouterr().out
        for root in (tmp_path, tmp_path / "mirror"):
            events = trace_events(root / "_" / "_" / RUN_ID / "run_trace.jsonl")
            assert [e["event"] for e in events] == ["run_start", "log"]
