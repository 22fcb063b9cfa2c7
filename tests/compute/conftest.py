"""The compute tests' job functions live in ``job_functions`` next to this file: put this folder on ``sys.path``
so the test process, the job processes it starts (they inherit the path) and Dask workers can import them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture
def book(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A job book on a migrated SQLite store with its result files under ``tmp_path/jobs``."""
    from knowledge.database import make_engine, upgrade
    from tools.compute.book import JobBook

    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield JobBook.open(engine, tmp_path / "jobs")
    engine.dispose()


@pytest.fixture
def ran():  # type: ignore[no-untyped-def]
    """Reads a job function's log: one line per time it really ran."""

    def read(path: Path) -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    return read
