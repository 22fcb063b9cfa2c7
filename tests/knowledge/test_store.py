from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from knowledge.errors import (
    IncompatibleUnit,
    InvalidStructure,
    InvalidValue,
    NotFoundError,
    StoreInputError,
    UnknownProperty,
    UnknownUnit,
)
from knowledge.store import KnowledgeStore, NewMeasurement

ASPIRIN_SPELLINGS = ["CC(=O)Oc1ccccc1C(=O)O", "OC(=O)c1ccccc1OC(C)=O", "CC(=O)OC1=CC=CC=C1C(O)=O"]
ASPIRIN_KEY = "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"


def test_same_molecule_any_spelling_is_one_row(store: KnowledgeStore) -> None:
    ids = {store.add_molecule(smiles).id for smiles in ASPIRIN_SPELLINGS}
    assert len(ids) == 1
    molecule = store.molecule(ASPIRIN_KEY)
    assert molecule.smiles == "CC(=O)Oc1ccccc1C(=O)O"
    assert molecule.formula == "C9H8O4"
    assert store.molecule("O=C(O)c1ccccc1OC(C)=O").id == molecule.id
    assert store.stats().molecules == 1


def test_unknown_molecule_is_not_found(store: KnowledgeStore) -> None:
    with pytest.raises(NotFoundError):
        store.molecule("CCCCCCCCCCCCCCCCCCCCO")


def test_measurement_is_stored_in_canonical_unit_with_propagated_uncertainty(store: KnowledgeStore) -> None:
    stored = store.record_measurement(
        NewMeasurement(smiles=ASPIRIN_SPELLINGS[1], property="pic50", value=100.0, unit="nM", uncertainty=10.0)
    )
    assert stored.property == "pIC50"
    assert stored.value == pytest.approx(7.0)
    assert stored.unit == "-log10(mol/L)"
    # d(-log10 c) = dc / (c ln 10) = 0.1 / ln 10
    assert stored.uncertainty == pytest.approx(0.1 / math.log(10), rel=1e-2)
    [record] = store.measurements("pIC50")
    assert record.inchikey == ASPIRIN_KEY
    assert record.value == pytest.approx(7.0)


@pytest.mark.parametrize(
    ("new", "error"),
    [
        (dict(smiles="C1CC", property="logS", value=-1.0), InvalidStructure),
        (dict(smiles="", property="logS", value=-1.0), InvalidStructure),
        (dict(smiles="CCO", property="solubilityy", value=-1.0), UnknownProperty),
        (dict(smiles="CCO", property="logS", value=-1.0, unit="blorps per zog"), UnknownUnit),
        (dict(smiles="CCO", property="logS", value=-1.0, unit="K"), IncompatibleUnit),
        (dict(smiles="CCO", property="yield", value=120.0), InvalidValue),
        (dict(smiles="CCO", property="melting_point", value=-5.0, unit="K"), InvalidValue),
    ],
)
def test_bad_input_is_typed_and_writes_nothing(store: KnowledgeStore, new: dict, error: type[Exception]) -> None:
    store.record_measurement(NewMeasurement(smiles="CCC", property="logS", value=-1.5))
    before = store.stats()
    with pytest.raises(error):
        store.record_measurement(NewMeasurement(**new))
    assert store.stats() == before


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "abc"])
def test_non_finite_values_are_rejected_before_the_store(store: KnowledgeStore, bad: object) -> None:
    with pytest.raises((InvalidValue, ValidationError)):
        NewMeasurement(smiles="CCO", property="logS", value=bad)  # type: ignore[arg-type]
    with pytest.raises((InvalidValue, ValidationError)):
        NewMeasurement(smiles="CCO", property="logS", value=-1.0, uncertainty=-0.1)
    assert issubclass(InvalidValue, StoreInputError)
    assert store.stats().measurements == 0


def test_a_batch_with_one_bad_row_writes_nothing(store: KnowledgeStore) -> None:
    batch = [
        NewMeasurement(smiles="CCO", property="logS", value=1.1),
        NewMeasurement(smiles="CCCO", property="logS", value=0.6),
        NewMeasurement(smiles="not-a-smiles", property="logS", value=0.1),
    ]
    with pytest.raises(InvalidStructure):
        store.record_measurements(batch)
    assert store.stats().measurements == 0
    assert store.stats().molecules == 0
    assert store.record_measurements(batch[:2]) == 2


def test_op_id_makes_a_measurement_idempotent(store: KnowledgeStore) -> None:
    first = store.record_measurement(
        NewMeasurement(smiles="CCO", property="logS", value=1.1, source="simulated", op_id="op-1")
    )
    again = store.record_measurement(
        NewMeasurement(smiles="CCO", property="logS", value=9.9 / 10, source="simulated", op_id="op-1")
    )
    assert again.id == first.id
    assert again.value == pytest.approx(1.1)
    # the same operation may measure another property
    store.record_measurement(NewMeasurement(smiles="CCO", property="purity", value=98.0, op_id="op-1"))
    assert store.record_measurements(
        [NewMeasurement(smiles="CCO", property="logS", value=1.0, op_id="op-1")]
    ) == 0
    assert store.stats().measurements == 2


def test_query_filters(store: KnowledgeStore) -> None:
    store.record_measurement(NewMeasurement(smiles="CCO", property="logS", value=1.1, source="measured"))
    store.record_measurement(NewMeasurement(smiles="CCO", property="logS", value=1.0, source="simulated"))
    store.record_measurement(NewMeasurement(smiles="CCCCCC", property="logS", value=-3.8, source="literature"))
    store.record_measurement(NewMeasurement(smiles="CCO", property="logD", value=-0.3, source="measured"))
    assert len(store.measurements("logS")) == 3
    assert len(store.measurements("solubility")) == 3  # alias
    assert [m.value for m in store.measurements("logS", source="simulated")] == [1.0]
    assert len(store.measurements(source=["measured", "literature"])) == 3
    assert {m.property for m in store.measurements(molecule="OCC")} == {"logS", "logD"}
    assert store.measurements(since=datetime.now(UTC) + timedelta(hours=1)) == []
    assert len(store.measurements(since=datetime.now(UTC) - timedelta(hours=1))) == 4
    assert len(store.measurements(limit=2)) == 2
    with pytest.raises(UnknownProperty):
        store.measurements("nonsense")


def test_samples_are_idempotent_and_validated(store: KnowledgeStore) -> None:
    with store.transaction() as writer:
        sample = writer.add_sample("CCO", container="vial-1", amount=5.0, amount_unit="mg", purity=0.97, op_id="s-1")
        again = writer.add_sample("CCO", container="vial-1", amount=5.0, amount_unit="mg", purity=0.97, op_id="s-1")
    assert sample.id == again.id
    with pytest.raises(InvalidValue):
        with store.transaction() as writer:
            writer.add_sample("CCO", container="vial-2", amount=-1.0, amount_unit="mg")
    with pytest.raises(InvalidValue):
        with store.transaction() as writer:
            writer.add_sample("CCO", container="vial-2", amount=1.0, amount_unit="mg", purity=97.0)
    assert store.stats().samples == 1


def test_transaction_rolls_back_everything_on_error(store: KnowledgeStore) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction() as writer:
            writer.upsert_molecule("CCO")
            writer.add_measurement(NewMeasurement(smiles="CCO", property="logS", value=1.1))
            raise RuntimeError("the recording step failed")
    assert store.stats().molecules == 0
    assert store.stats().measurements == 0


def test_stats_counts_by_property_and_source(store: KnowledgeStore) -> None:
    store.record_measurements(
        [
            NewMeasurement(smiles="CCO", property="logS", value=1.1),
            NewMeasurement(smiles="CCCO", property="logS", value=0.6, source="literature"),
            NewMeasurement(smiles="CCCO", property="pIC50", value=4.0, source="simulated"),
        ]
    )
    stats = store.stats()
    assert stats.molecules == 2
    assert stats.measurements == 3
    assert stats.measurements_by_property == {"logS": 2, "pIC50": 1}
    assert stats.measurements_by_source == {"literature": 1, "measured": 1, "simulated": 1}
