"""The linter and the type checker over the tree, as part of the suite: a change that breaks either fails here.

Both read their settings from ``pyproject.toml`` (``[tool.ruff]``, ``[tool.mypy]``) and are installed by the
``test`` extra; they run from the same environment as pytest.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed beside pytest ({BIN}): install the test extra (`make install`)")
    return str(path)


def test_ruff_finds_nothing() -> None:
    done = subprocess.run([_tool("ruff"), "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    # a cache of its own: the test neither reads a stale cache nor leaves one in the tree
    done = subprocess.run([_tool("mypy"), "--cache-dir", str(tmp_path / "mypy"), "--no-error-summary"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
