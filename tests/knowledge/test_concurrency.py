"""Two processes writing to one SQLite store at once lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from knowledge.database import make_engine, upgrade
from knowledge.store import KnowledgeStore

PER_PROCESS = 150
SHARED = ["CCO", "CCCO", "c1ccccc1O", "CC(=O)O"]

WRITER = """
import sys
from pathlib import Path
from knowledge.database import make_engine
from knowledge.store import KnowledgeStore, NewMeasurement

url, worker, per_process, shared = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(",")
store = KnowledgeStore(make_engine(url), snapshot_dir=Path("unused"))
for i in range(per_process):
    # both workers write the same molecules (the upsert race) and their own measurements
    store.record_measurement(
        NewMeasurement(smiles=shared[i % len(shared)], property="logS", value=-i / 100, op_id=f"w{worker}-{i}")
    )
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = make_engine(url)
    upgrade(engine)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(worker), str(PER_PROCESS), ",".join(SHARED)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in (1, 2)
    ]
    for process in workers:
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr
    store = KnowledgeStore(engine, snapshot_dir=tmp_path / "s")
    stats = store.stats()
    assert stats.measurements == 2 * PER_PROCESS
    assert stats.molecules == len(SHARED)
    op_ids = {m.op_id for m in store.measurements("logS")}
    assert op_ids == {f"w{w}-{i}" for w in (1, 2) for i in range(PER_PROCESS)}
