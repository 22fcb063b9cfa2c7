"""Shared fixtures. The store's tests run on SQLite always and on PostgreSQL when
ATOMLOOP_TEST_POSTGRES_URL names a server (CI starts one; see .ci/run)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL_ENV = "ATOMLOOP_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk to loopback only (the test PostgreSQL server, loopback fakes)."""
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and host not in ("127.0.0.1", "::1", "localhost"):
            raise RuntimeError(f"network access to {address!r} is forbidden in tests")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own ATOMLOOP_HOME; nothing touches the real ~/.atomloop."""
    home = tmp_path / "atomloop-home"
    monkeypatch.setenv("ATOMLOOP_HOME", str(home))
    monkeypatch.delenv("ATOMLOOP_DATABASE_URL", raising=False)
    monkeypatch.delenv("ATOMLOOP_CONFORMER_CACHE", raising=False)
    return home


def _backends() -> list[object]:
    return [
        "sqlite",
        pytest.param(
            "postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not os.environ.get(POSTGRES_URL_ENV), reason=f"{POSTGRES_URL_ENV} not set"),
            ],
        ),
    ]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    from sqlalchemy import create_engine, text

    url = os.environ[POSTGRES_URL_ENV]
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield url


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[object]:
    """A migrated store on each backend."""
    from knowledge.database import make_engine, upgrade
    from knowledge.store import KnowledgeStore

    engine = make_engine(database_url)
    upgrade(engine)
    yield KnowledgeStore(engine, snapshot_dir=tmp_path / "snapshots")
    engine.dispose()


@pytest.fixture
def data_dir() -> Path:
    from knowledge.bundled import bundled_dir

    return bundled_dir()
