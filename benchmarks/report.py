"""The machine description and the Markdown tables the benchmark prints and saves."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def filesystem(path: str) -> str:
    """The type and device of the filesystem holding *path* (``df -T``)."""
    try:
        out = subprocess.run(
            ["df", "-T", path], capture_output=True, text=True, check=True, timeout=10
        ).stdout.splitlines()
        device, fstype = out[-1].split()[:2]
        return f"{fstype} ({device})"
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def environment(path: str) -> list[tuple[str, str]]:
    packages = ("igny8-logging", "python-json-logger", "orjson", "loguru", "structlog", "celery")
    return [
        ("Python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("OS", platform.platform()),
        ("CPU", f"{os.cpu_count()} × {_cpu_model()}"),
        ("Filesystem of the files written", filesystem(path)),
        ("Packages", ", ".join(f"{name} {_version(name)}" for name in packages)),
    ]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; numbers right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    numeric = [
        all(
            row[i].replace(".", "").replace(",", "").replace("×", "").strip().isdigit()
            or row[i] in ("", "-")
            for row in cells
        )
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        padded = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (width + 1) + ":" if right else "-" * (width + 2)
            for width, right in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(list(headers)), rule, *(line(row) for row in cells)])


def number(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def ratio(value: float) -> str:
    return f"{value:.2f}×"
