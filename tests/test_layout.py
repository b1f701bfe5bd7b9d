"""The package's layout rules: no import cycle, short functions and modules, a test module each.

The checks read the source (AST), so a lazy import inside a function counts as
an import.  Each check is also run on a small package written for the test, to
show it finds what it is meant to find.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from _layout import import_cycles, long_functions, long_modules, untested_modules

import igny8_logging

PACKAGE = Path(igny8_logging.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400

#: Violations accepted for now (none: every rule holds for the whole package).
PENDING: frozenset[str] = frozenset()


def not_pending(violations: list[str]) -> list[str]:
    """The *violations* (``"name (details)"``) not listed in :data:`PENDING`."""
    return [v for v in violations if v.split(" (")[0] not in PENDING]


def write_package(base: Path, files: dict[str, str]) -> Path:
    root = base / "pkg"
    for name, source in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return root


class TestImportCycles:
    """No module of ``igny8_logging`` imports, even lazily, a module that imports it back."""

    def test_none_in_the_package(self) -> None:
        cycles = [f"cycle {' '.join(group)}" for group in import_cycles(PACKAGE)]
        assert not_pending(cycles) == []

    def test_a_lazy_cycle_is_found(self, tmp_path: Path) -> None:
        root = write_package(
            tmp_path,
            {
                "cli.py": "from .demo import run\n",
                "demo.py": "def run() -> None:\n    from .cli import main\n",
                "alone.py": "from . import cli\n",
            },
        )
        assert import_cycles(root) == [["pkg.cli", "pkg.demo"]]

    def test_forms_of_import(self, tmp_path: Path) -> None:
        root = write_package(
            tmp_path,
            {
                "a.py": "from . import b\n",
                "b.py": "import pkg.sub.c\n",
                "sub/__init__.py": "",
                "sub/c.py": "from ..a import x\n",
                "typed.py": (
                    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import d\n"
                ),
                "d.py": "from .typed import y\n",
            },
        )
        assert import_cycles(root) == [["pkg.a", "pkg.b", "pkg.sub.c"]]


class TestSizes:
    """No function over 60 lines, no module over 400 lines."""

    def test_functions(self) -> None:
        assert not_pending(long_functions(PACKAGE, MAX_FUNCTION_LINES)) == []

    def test_modules(self) -> None:
        assert not_pending(long_modules(PACKAGE, MAX_MODULE_LINES)) == []

    def test_limits_are_found(self, tmp_path: Path) -> None:
        body = "".join(f"    x{n} = {n}\n" for n in range(60))
        root = write_package(tmp_path, {"big.py": f"def long() -> None:\n{body}"})
        assert long_functions(root, MAX_FUNCTION_LINES) == ["pkg.big:long (61 lines)"]
        assert long_functions(root, 61) == []
        assert long_modules(root, 60) == ["pkg.big (61 lines)"]
        assert long_modules(root, 61) == []


class TestEveryModuleHasTests:
    """Each library module has ``tests/test_<module>.py`` (its leading underscore dropped)."""

    def test_package(self) -> None:
        assert not_pending(untested_modules(PACKAGE, TESTS)) == []

    @pytest.mark.parametrize(
        ("module", "test"),
        [
            ("_ids.py", "test_ids.py"),
            ("cli.py", "test_cli.py"),
            ("__init__.py", "test_package.py"),
            ("celery/__init__.py", "test_celery.py"),
            ("celery/_hooks.py", "test_hooks.py"),
            ("celery/_chord.py", "test_celery_chord.py"),
        ],
    )
    def test_names(self, tmp_path: Path, module: str, test: str) -> None:
        code = "def f() -> None:\n    pass\n"
        root = write_package(
            tmp_path,
            {"__init__.py": code, module: code, "__main__.py": code, "empty/__init__.py": ""},
        )
        tests = tmp_path / "tests"
        tests.mkdir()
        others = {"test_package.py", "test_celery.py", "test_hooks.py", "test_celery_chord.py"}
        for name in others - {test}:
            (tests / name).write_text("")
        dotted = ".".join(["pkg", *Path(module).with_suffix("").parts]).removesuffix(".__init__")
        (missing,) = untested_modules(root, tests)  # not the entry point, not a bare container
        assert missing.startswith(f"{dotted} (tests/")
        assert f"tests/{test}" in missing
        (tests / test).write_text("")
        assert untested_modules(root, tests) == []
