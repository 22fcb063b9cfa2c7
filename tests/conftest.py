"""Shared fixtures. The store's tests run on SQLite always and on PostgreSQL when
ATOMLOOP_TEST_POSTGRES_URL names a server (CI starts one; see .ci/run)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture
def cli_home(_isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's AtomLoop home with its database initialised and compute jobs run inline (in the test's process)."""
    from typer.testing import CliRunner

    from agent.cli import cli

    monkeypatch.setenv("ATOMLOOP_COMPUTE__EXECUTOR", "inline")
    assert CliRunner().invoke(cli, ["db", "init", "--json"]).exit_code == 0
    return _isolated_home


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


def _this_workers_database(url: str) -> str:
    """``url`` itself, or under pytest-xdist a database of this worker's own on the same server (created on first
    use): each test empties its database, and two workers must not empty each other's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"{server.database}_{worker}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).scalar() is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    from sqlalchemy import create_engine, text

    url = _this_workers_database(os.environ[POSTGRES_URL_ENV])
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


class BundledModels:
    """The fingerprint models of the bundled datasets, each trained once for the session.

    A run that predicts before the store holds a model trains one on the bundled dataset of the property
    (``PredictorRegistry.bundled_model``), and fitting its forests is most of such a test's time. Training is
    deterministic (tests/tools/test_predict.py checks it), so the session keeps the first model fitted on a bundled
    dataset's training split and hands it back to later fits of exactly the same rows, seed and parameters. Every
    other fit (other rows, a subset, a parent, another featurizer) trains for real, and so does the first.
    """

    def __init__(self) -> None:
        self.models: dict[tuple[object, ...], Any] = {}
        self.trained = 0
        self._splits: dict[str, Any] | None = None

    def _training_splits(self) -> dict[str, Any]:
        """The training split of each bundled dataset, by its dataset hash (the registry's default split)."""
        if self._splits is None:
            from knowledge.bundled import BUNDLED_DATASETS
            from tools.predict.base import TrainingRows
            from tools.predict.registry import split_rows

            self._splits = {}
            for dataset in BUNDLED_DATASETS:
                rows = TrainingRows.from_bundled(dataset.property)
                self._splits[rows.dataset_hash] = split_rows(rows, 0.2)[0]
        return self._splits

    def key(self, rows: Any, seed: int, params: Any) -> tuple[object, ...] | None:
        """The memo key of a fit, or None for a fit that is not of a bundled dataset's training split."""
        if rows.dataset_hash is None or len(rows) < 100:
            return None
        if self._training_splits().get(rows.dataset_hash) != rows:
            return None
        return (rows.dataset_hash, rows.smiles, rows.values, seed, params.model_dump_json(exclude={"n_jobs"}))


@pytest.fixture(scope="session")
def _bundled_models() -> BundledModels:
    return BundledModels()


@pytest.fixture(autouse=True)
def _bundled_models_trained_once(_bundled_models: BundledModels, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.predict.fingerprint import FingerprintParams, FingerprintPredictor

    fit = FingerprintPredictor.__dict__["train"].__func__

    def train(
        cls: type[FingerprintPredictor], rows: Any, seed: int = 0, params: FingerprintParams | None = None,
        executor: Any = None, work_dir: Any = None, **kwargs: Any
    ) -> FingerprintPredictor:
        # members fitted as jobs are the serial members (tests/tools/predict/test_member_jobs.py), so where the fit
        # runs is no part of the key; the registry sees ``executor`` in this signature and hands its own over
        key = None if kwargs else _bundled_models.key(rows, seed, params or FingerprintParams())
        if key is None:
            return fit(cls, rows, seed, params, executor=executor, work_dir=work_dir, **kwargs)
        if key not in _bundled_models.models:
            _bundled_models.models[key] = fit(cls, rows, seed, params)
            _bundled_models.trained += 1
        return _bundled_models.models[key]

    monkeypatch.setattr(FingerprintPredictor, "train", classmethod(train))


@pytest.fixture(scope="session")
def _bundled_truth() -> Any:
    """The simulated world's ground truth from the bundled datasets, read once for the session and only if a
    test builds a world (see ``_bundled_truth_read_once``)."""
    import functools

    import simulators.world

    return functools.cache(simulators.world.load_bundled_truth)


@pytest.fixture(autouse=True)
def _bundled_truth_read_once(_bundled_truth: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every simulated lab and every campaign's world_eval builds a ``SimWorld``, whose ground truth is every
    bundled molecule canonicalized: seconds each time, and the same answer every time (it reads shipped files,
    and nothing writes it)."""
    import simulators.world

    monkeypatch.setattr(simulators.world, "load_bundled_truth", _bundled_truth)
