"""Static checks of a package's layout (AST only: nothing is imported or run).

Used by ``tests/test_layout.py`` on ``igny8_logging`` and, to show each check can
fail, on small packages written into a temporary folder.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Module:
    name: str  # dotted: "igny8_logging._adapter"
    path: Path
    is_package: bool  # an __init__.py


def modules(root: Path) -> dict[str, Module]:
    """Every module of the package at *root* (a folder with ``__init__.py``), by dotted name."""
    found: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = Module(".".join(parts), path, is_package)
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (a lazy import in a function counts),
    except those under ``if TYPE_CHECKING:``, which never run."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module name a ``from ... import`` statement imports from."""
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base.pop()
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(module: Module, known: dict[str, Module]) -> set[str]:
    """The package's own modules that *module* imports (explicitly, not parent packages)."""
    targets: set[str] = set()
    tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            source = _resolve(module, node)
            # ``from . import _events`` imports the submodule; ``from ._ids import x`` the module.
            names = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                for alias in node.names
            ]
        targets.update(name for name in names if name in known and name != module.name)
    return targets


def import_cycles(root: Path) -> list[list[str]]:
    """The import cycles among the package's modules (each a strongly connected group)."""
    known = modules(root)
    graph = {name: imports(module, known) for name, module in known.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(cycles)


def long_functions(root: Path, limit: int) -> list[str]:
    """``module:function (N lines)`` for every function longer than *limit* lines."""
    found = []
    for module in modules(root).values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    found.append(f"{module.name}:{node.name} ({length} lines)")
    return sorted(found)


def long_modules(root: Path, limit: int) -> list[str]:
    """``module (N lines)`` for every module longer than *limit* lines."""
    found = []
    for module in modules(root).values():
        length = len(module.path.read_text(encoding="utf-8").splitlines())
        if length > limit:
            found.append(f"{module.name} ({length} lines)")
    return sorted(found)


#: ``python -m`` entry points have no test module of their own.
ENTRY_POINTS = frozenset({"__main__"})


def wanted_tests(module: Module, root_name: str) -> list[str]:
    """The test module names that cover *module* (any one of them will do).

    ``pkg/_ids.py`` -> ``test_ids.py``; the root package -> ``test_package.py``; a
    subpackage ``pkg/celery/`` -> ``test_celery.py``; a module of a subpackage
    ``pkg/celery/_hooks.py`` -> ``test_hooks.py`` or ``test_celery_hooks.py``.
    """
    parts = module.name.split(".")
    if module.name == root_name:
        return ["test_package.py"]
    stem = parts[-1].lstrip("_")
    names = [f"test_{stem}.py"]
    if len(parts) > 2 and not module.is_package:
        names.append(f"test_{parts[-2].lstrip('_')}_{stem}.py")
    return names


def _container(module: Module, root_name: str) -> bool:
    """A subpackage whose ``__init__`` defines nothing (its modules have their own tests)."""
    if not module.is_package or module.name == root_name:
        return False
    tree = ast.parse(module.path.read_text(encoding="utf-8"))
    defines = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return not any(isinstance(node, defines) for node in ast.walk(tree))


def untested_modules(root: Path, tests: Path) -> list[str]:
    """Modules without their ``tests/test_<name>.py`` (the name's leading underscore dropped).

    Not counted: ``python -m`` entry points, and subpackages whose ``__init__``
    defines nothing.
    """
    missing = []
    for module in modules(root).values():
        if module.path.stem in ENTRY_POINTS or _container(module, root.name):
            continue
        wanted = wanted_tests(module, root.name)
        if not any((tests / name).is_file() for name in wanted):
            missing.append(f"{module.name} (tests/{' or tests/'.join(wanted)})")
    return sorted(missing)
