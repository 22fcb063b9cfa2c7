"""Two processes writing to one SQLite store at once lose nothing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from knowledge.database import make_engine, upgrade
from knowledge.store import KnowledgeStore, NewMeasurement

PER_PROCESS = 150
SHARED = ["CCO", "CCCO", "c1ccccc1O", "CC(=O)O"]


def _writer(url: str, worker: int, snapshot_dir: str) -> None:
    store = KnowledgeStore(make_engine(url), snapshot_dir=Path(snapshot_dir))
    for i in range(PER_PROCESS):
        # both workers write the same molecules (upsert race) and their own measurements
        store.record_measurement(
            NewMeasurement(
                smiles=SHARED[i % len(SHARED)], property="logS", value=-i / 100, op_id=f"w{worker}-{i}"
            )
        )
    store.engine.dispose()


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(url)
    upgrade(engine)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(url, w, str(tmp_path / "s"))) for w in (1, 2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=240)
        assert process.exitcode == 0
    store = KnowledgeStore(engine, snapshot_dir=tmp_path / "s")
    stats = store.stats()
    assert stats.measurements == 2 * PER_PROCESS
    assert stats.molecules == len(SHARED)
    op_ids = {m.op_id for m in store.measurements("logS")}
    assert op_ids == {f"w{w}-{i}" for w in (1, 2) for i in range(PER_PROCESS)}
