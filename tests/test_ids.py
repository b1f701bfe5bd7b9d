"""Identifiers: run ids, tenants, stages and the folders they name (``_ids``)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

import igny8_logging as igl
from igny8_logging._ids import (
    RUN_LOG,
    TRACE_FILE,
    RunRef,
    check_run_id,
    check_stage,
    check_tenant,
    default_base_dir,
    new_run_id,
    run_started_at,
    stage_file,
)

RUN_ID = "run_20261129_013000_abcd1234"
CONTRACT_RE = re.compile(r"run_[0-9]{8}_[0-9]{6}_[a-z0-9]{4,32}", re.ASCII)

BAD_RUN_IDS: list[Any] = [
    "",
    "../x",
    "run_../../etc",
    "/etc/passwd",
    "run_20261129_013000_abcd1234\n",
    "run_20261129_013000_abcd1234\x00",
    " run_20261129_013000_abcd1234",
    "run_20261129_013000_ABCD1234",
    "run_20261129_013000_abc",  # suffix too short
    "run_20261129_013000_" + "a" * 33,  # suffix too long
    "run_2026112९_013000_abcd1234",  # a non-ASCII digit
    "run_20261129_013000_abcd1234/..",
    "run_" + "9" * 10_000,
    b"run_20261129_013000_abcd1234",
    12345,
    None,
]


class TestRunIds:
    """New run ids are ``run_YYYYMMDD_HHMMSS_<8 hex>`` in UTC; only full ASCII matches pass."""

    def test_new_run_id_format_and_utc_time(self) -> None:
        run_id = new_run_id(1_795_915_800.5)  # 2026-11-29T01:30:00Z
        assert re.fullmatch(r"run_20261129_013000_[0-9a-f]{8}", run_id)
        assert CONTRACT_RE.fullmatch(run_id)
        assert check_run_id(run_id) == run_id

    def test_new_run_ids_use_the_current_time_and_differ(self) -> None:
        ids = {new_run_id() for _ in range(200)}
        assert len(ids) == 200
        assert all(CONTRACT_RE.fullmatch(run_id) for run_id in ids)

    def test_run_started_at_reads_the_time_back(self) -> None:
        started = run_started_at(RUN_ID)
        assert started is not None
        assert started.isoformat() == "2026-11-29T01:30:00+00:00"
        assert run_started_at("run_20261399_013000_abcd") is None  # matches, but no date

    @pytest.mark.parametrize(
        "run_id", [RUN_ID, "run_20261129_013000_abcd", "run_20261129_013000_" + "z9" * 16]
    )
    def test_valid_ids_pass_unchanged(self, run_id: str) -> None:
        assert check_run_id(run_id) is run_id

    @pytest.mark.parametrize("run_id", BAD_RUN_IDS)
    def test_invalid_ids_raise_value_error(self, run_id: object) -> None:
        with pytest.raises(ValueError, match="invalid run id"):
            check_run_id(run_id)

    def test_error_message_is_bounded(self) -> None:
        with pytest.raises(ValueError) as info:
            check_run_id("x" * 100_000)
        assert len(str(info.value)) < 200


class TestTenants:
    """Account/site ids: ints >= 0 (not bools) or short safe names without ``..``."""

    @pytest.mark.parametrize("value", [None, 0, 7, 10**20, "a", "Acme-1.eu_2", "A" * 64, "1"])
    def test_valid(self, value: object) -> None:
        assert check_tenant(value) == value

    @pytest.mark.parametrize(
        "value",
        [
            True,
            False,
            -1,
            10**64,
            "",
            ".",
            "..",
            "a..b",
            "a/b",
            "%2e%2e",
            "_",
            "-a",
            ".hidden",
            "a b",
            "a\x00",
            "a\n",
            "A" * 65,
            "١",
            1.0,
            b"a",
            ["a"],
        ],
    )
    def test_invalid(self, value: object) -> None:
        with pytest.raises(ValueError, match="site_id"):
            check_tenant(value, "site_id")

    def test_missing_parts_use_underscore(self) -> None:
        assert RunRef(RUN_ID).parts == ("_", "_", RUN_ID)
        assert RunRef(RUN_ID, 5).parts == ("5", "_", RUN_ID)
        assert RunRef(RUN_ID, None, "s").parts == ("_", "s", RUN_ID)

    def test_checked_names_the_bad_value(self) -> None:
        with pytest.raises(ValueError, match="account_id"):
            RunRef.checked(RUN_ID, "..", 1)
        with pytest.raises(ValueError, match="site_id"):
            RunRef.checked(RUN_ID, 1, "a/b")
        with pytest.raises(ValueError, match="run id"):
            RunRef.checked("../x", 1, 1)
        assert RunRef.checked(RUN_ID, 1, "2") == RunRef(RUN_ID, 1, "2")

    def test_ids_keep_their_type(self) -> None:
        ref = RunRef.checked(RUN_ID, 1, "1")
        assert type(ref.account_id) is int
        assert type(ref.site_id) is str


class TestStages:
    """Stages: ints >= 0 or names; the file is ``stage_{stage}.log``."""

    @pytest.mark.parametrize("value", [0, 1, 12, "1", "keywords", "Stage_2-b", "x" * 64])
    def test_valid(self, value: object) -> None:
        assert check_stage(value) == value

    @pytest.mark.parametrize(
        "value", [True, -1, "", "a.b", "..", "a/b", "_x", "x" * 65, "1\n", None, 1.5]
    )
    def test_invalid(self, value: object) -> None:
        with pytest.raises(ValueError, match="invalid stage"):
            check_stage(value)

    def test_file_names(self) -> None:
        assert stage_file(1) == stage_file("1") == "stage_1.log"
        assert RUN_LOG == "automation_run.log"
        assert TRACE_FILE == "run_trace.jsonl"


class TestBaseDir:
    """The default base dir is ``$IGNY8_LOG_DIR``, else ``/data/app/logs/automation``."""

    def test_env_variable(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("IGNY8_LOG_DIR", str(tmp_path))
        assert default_base_dir() == str(tmp_path)
        assert igl.RunLogHandler().base_dir == str(tmp_path)
        assert igl.RunLogReader().base_dir == str(tmp_path)

    def test_library_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("IGNY8_LOG_DIR", raising=False)
        assert default_base_dir() == "/data/app/logs/automation"
        monkeypatch.setenv("IGNY8_LOG_DIR", "")
        assert default_base_dir() == "/data/app/logs/automation"


class TestFoldersOnDisk:
    """Written runs land in ``{base}/{account}/{site}/{run_id}``; 1 and "1" are one folder."""

    def test_int_and_str_ids_share_a_folder(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        a = igl.start_run(run_logger, 1, 2, run_id=RUN_ID)
        a.info("from ints")
        b = igl.RunLogger.attach(run_logger, RUN_ID, "1", "2")
        b.info("from strings")
        assert sorted(p.name for p in base_dir.iterdir()) == ["1"]
        text = (base_dir / "1" / "2" / RUN_ID / RUN_LOG).read_text()
        assert "from ints" in text
        assert "from strings" in text

    def test_missing_tenant_uses_underscore_folders(
        self, run_logger: logging.Logger, base_dir: Path
    ) -> None:
        run = igl.start_run(run_logger, site_id=3)
        assert (base_dir / "_" / "3" / run.run_id / RUN_LOG).is_file()

    @pytest.mark.parametrize("flag", [True, False])
    def test_bools_are_not_ids(self, run_logger: logging.Logger, flag: bool) -> None:
        with pytest.raises(ValueError):
            igl.start_run(run_logger, flag, 1)
        with pytest.raises(ValueError):
            igl.start_run(run_logger, 1, flag)
