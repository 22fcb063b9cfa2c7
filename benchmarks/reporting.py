"""What every benchmark prints beside its tables: the exact command, the environment, progress lines.

Imported by the benchmark scripts as ``from reporting import ...`` (they run as ``python benchmarks/NAME.py``, so
this folder is on ``sys.path``).
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from collections.abc import Sequence
from datetime import date
from importlib.metadata import PackageNotFoundError, version


def command_line() -> str:
    """The command that is running, with the interpreter relative to the working directory when inside it."""
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    return shlex.join([python, *sys.argv])


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def environment(packages: Sequence[str]) -> str:
    """Python, the versions of ``packages``, the usable cores and today's date, on one line."""
    versions = ", ".join(f"{name} {package_version(name)}" for name in packages)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"Python {platform.python_version()}, {versions}; {cores} cores, no GPU used; {date.today().isoformat()}"


def progress(message: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(message, file=sys.stderr, flush=True)
