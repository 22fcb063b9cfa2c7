from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge.database import make_engine, upgrade
from knowledge.snapshots import DatasetSpec
from knowledge.store import KnowledgeStore, NewMeasurement

SMILES = ["CCO", "CCCO", "CCCCO", "c1ccccc1", "CC(=O)O", "CCN", "OCCO", "CC(C)O"]


def _fresh_store(tmp: Path, name: str) -> KnowledgeStore:
    engine = make_engine(f"sqlite:///{tmp / (name + '.db')}")
    upgrade(engine)
    return KnowledgeStore(engine, snapshot_dir=tmp / name)


def test_snapshot_aggregates_replicates_and_writes_a_manifest(store: KnowledgeStore, tmp_path: Path) -> None:
    store.record_measurements(
        [
            NewMeasurement(smiles="CCO", property="logS", value=1.0, uncertainty=0.3),
            NewMeasurement(smiles="OCC", property="logS", value=1.2, uncertainty=0.4),
            NewMeasurement(smiles="CCCCCC", property="logS", value=-3.8),
            NewMeasurement(smiles="CCCCCC", property="logS", value=-9.0, qc_status="failed"),
            NewMeasurement(smiles="CCCCCC", property="logS", value=-2.0, source="computed"),
        ]
    )
    snapshot = store.training_set("logS", out_dir=tmp_path / "export")
    assert snapshot.row_count == 2
    rows = list(csv.DictReader((tmp_path / "export" / "data.csv").open()))
    by_smiles = {row["smiles"]: row for row in rows}
    assert float(by_smiles["CCO"]["value"]) == pytest.approx(1.1)
    assert int(by_smiles["CCO"]["n"]) == 2
    assert float(by_smiles["CCO"]["value_std"]) == pytest.approx(0.1414213, rel=1e-5)
    assert float(by_smiles["CCO"]["uncertainty"]) == pytest.approx((0.125) ** 0.5)
    assert float(by_smiles["CCCCCC"]["value"]) == pytest.approx(-3.8)  # failed QC and computed rows left out
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["content_hash"] == snapshot.content_hash
    assert manifest["row_count"] == 2
    assert manifest["unit"] == "log10(mol/L)"


def test_same_state_same_spec_same_hash_and_one_row(store: KnowledgeStore) -> None:
    store.record_measurements([NewMeasurement(smiles=s, property="logS", value=-i) for i, s in enumerate(SMILES)])
    first = store.training_set("logS")
    second = store.training_set("logS")
    assert first.content_hash == second.content_hash
    assert first.id == second.id
    assert store.stats().dataset_snapshots == 1
    assert store.training_set("logS", DatasetSpec(aggregate="median")).content_hash != first.content_hash
    store.record_measurement(NewMeasurement(smiles="CCCCCCCO", property="logS", value=-2.0))
    assert store.training_set("logS").content_hash != first.content_hash


def test_parquet_snapshot_has_the_same_rows(store: KnowledgeStore, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    store.record_measurements([NewMeasurement(smiles=s, property="logS", value=-i) for i, s in enumerate(SMILES)])
    snapshot = store.training_set("logS", DatasetSpec(format="parquet"), out_dir=tmp_path / "pq")
    table = pq.read_table(tmp_path / "pq" / "data.parquet").to_pylist()
    assert len(table) == snapshot.row_count == len(SMILES)
    assert sorted(row["value"] for row in table) == sorted(float(-i) for i in range(len(SMILES)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(
        st.tuples(st.sampled_from(SMILES), st.floats(min_value=-12, max_value=2, allow_nan=False)),
        min_size=1,
        max_size=30,
    ),
    seed=st.integers(0, 2**16),
)
def test_snapshot_hash_does_not_depend_on_insertion_order(
    tmp_path_factory: pytest.TempPathFactory, values: list[tuple[str, float]], seed: int
) -> None:
    tmp = tmp_path_factory.mktemp("determinism")
    shuffled = list(values)
    random.Random(seed).shuffle(shuffled)
    hashes = []
    for name, order in (("a", values), ("b", shuffled)):
        store = _fresh_store(tmp, name)
        # one transaction per measurement, as the lab records them
        for smiles, value in order:
            store.record_measurement(NewMeasurement(smiles=smiles, property="logS", value=value))
        snapshot = store.training_set("logS")
        hashes.append(snapshot.content_hash)
        assert snapshot.row_count == len({s for s, _ in values})
        store.engine.dispose()
    assert hashes[0] == hashes[1]
