"""The package: its public names, typing marker and metadata (``__init__``)."""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import subprocess
import sys
from pathlib import Path

import igny8_logging as igl

PUBLIC = {
    "BaseRunHandler",
    "RunContext",
    "RunContextExecutor",
    "RunContextFilter",
    "RunEventHandler",
    "RunLogHandler",
    "RunLogReader",
    "RunLogger",
    "RunNotFound",
    "SourceUnavailable",
    "StageLogHandler",
    "TextFormatter",
    "TraceHandler",
    "TracePage",
    "bind_run",
    "carry_context",
    "current_run",
    "default_base_dir",
    "logging_config",
    "new_run_id",
    "prune_runs",
    "start_run",
}
ROOT = Path(igl.__file__).parent


class TestPublicNames:
    """Every name of the README's API is importable from ``igny8_logging``; ``__all__`` matches."""

    def test_all_matches(self) -> None:
        assert set(igl.__all__) == PUBLIC
        assert len(igl.__all__) == len(PUBLIC)
        for name in igl.__all__:
            assert getattr(igl, name) is not None

    def test_star_import(self) -> None:
        namespace: dict[str, object] = {}
        exec("from igny8_logging import *", namespace)
        assert PUBLIC <= set(namespace)

    def test_kinds(self) -> None:
        for handler in (igl.RunLogHandler, igl.StageLogHandler, igl.TraceHandler):
            assert issubclass(handler, logging.Handler)
            assert issubclass(handler, igl.BaseRunHandler)
            params = inspect.signature(handler).parameters
            assert list(params)[:2] == ["base_dir", "shared_dir"]
        assert issubclass(igl.RunLogger, logging.LoggerAdapter)
        assert issubclass(igl.RunNotFound, LookupError)
        assert issubclass(igl.SourceUnavailable, ConnectionError)  # an OSError
        assert not issubclass(igl.SourceUnavailable, LookupError | ValueError)
        assert issubclass(igl.TextFormatter, logging.Formatter)
        assert issubclass(igl.RunContextFilter, logging.Filter)

    def test_reader_signatures(self) -> None:
        sig = inspect.signature(igl.RunLogReader.tail)
        assert sig.parameters["lines"].default == 100
        assert sig.parameters["account_id"].kind is inspect.Parameter.KEYWORD_ONLY
        assert inspect.signature(igl.RunLogReader.read_trace).parameters["limit"].default == 500


class TestDistribution:
    """``py.typed`` ships; the distribution is ``igny8-logging`` with the documented extras."""

    def test_py_typed_is_shipped(self, tmp_path: Path) -> None:
        """setuptools' own ``build_py`` (what a wheel holds) copies the marker."""
        assert (ROOT / "py.typed").is_file()
        build = ["build_py", "--build-lib", str(tmp_path)]
        subprocess.run(
            [sys.executable, "-c", "from setuptools import setup; setup()", "-q", *build],
            cwd=ROOT.parent,
            check=True,
            capture_output=True,
        )
        built = tmp_path / "igny8_logging"
        assert (built / "py.typed").is_file()
        assert (built / "__init__.py").is_file()

    def test_metadata(self) -> None:
        meta = importlib.metadata.metadata("igny8-logging")
        assert meta["Name"] == "igny8-logging"
        assert meta["Version"] == igl.__version__
        assert {"celery", "django", "fast", "dev", "all"} <= set(
            meta.get_all("Provides-Extra") or []
        )
        requires = meta.get_all("Requires-Dist") or []
        assert any(r.startswith("python-json-logger>=3.1") for r in requires)
        assert meta["Requires-Python"] == ">=3.11"
