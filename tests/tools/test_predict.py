"""The property predictors on real data (ESOL): accuracy, calibration, determinism, artifacts, the registry."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.errors import ToolFailed, ToolInputError
from tools.predict import base
from tools.predict.base import PredictedValue, PredictionFailure, Predictor, TrainingRows
from tools.predict.fingerprint import FingerprintParams, FingerprintPredictor
from tools.predict.registry import PredictorRegistry, split_rows

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def esol() -> TrainingRows:
    return TrainingRows.from_bundled("logS")


@pytest.fixture(scope="module")
def splits(esol: TrainingRows) -> dict[str, TrainingRows]:
    """Disjoint ESOL subsets, fixed by a seeded permutation: train (300), test (200), more (300), spare (100)."""
    import numpy as np

    order = np.random.default_rng(7).permutation(len(esol)).tolist()
    return {
        "train": esol.subset(order[:300]),
        "test": esol.subset(order[300:500]),
        "more": esol.subset(order[500:800]),
        "spare": esol.subset(order[800:900]),
    }


@pytest.fixture(scope="module")
def model(splits: dict[str, TrainingRows]) -> FingerprintPredictor:
    return FingerprintPredictor.train(splits["train"], seed=0)


def values_of(results: list[PredictedValue | PredictionFailure]) -> list[tuple[float, float]]:
    return [(r.value, r.uncertainty) for r in results if isinstance(r, PredictedValue)]


# -- TrainingRows ----------------------------------------------------------------------------------------


def test_bundled_rows_resolve_aliases_and_carry_the_canonical_unit(esol: TrainingRows) -> None:
    assert (esol.property, esol.unit, len(esol)) == ("logS", "log10(mol/L)", 1128)
    assert esol.values[:2] == (-0.77, -3.3)
    assert esol.dataset_hash is not None and len(esol.dataset_hash) == 64
    assert TrainingRows.from_bundled("solubility") == esol
    assert len(TrainingRows.from_bundled("hfe")) == 642
    with pytest.raises(ToolFailed, match="no bundled dataset for IC50"):
        TrainingRows.from_bundled("IC50")
    with pytest.raises(ToolInputError, match="unknown property"):
        TrainingRows.from_bundled("colour")


def test_training_rows_are_validated() -> None:
    with pytest.raises(ToolInputError, match="2 SMILES but 1 values"):
        TrainingRows(property="logS", unit="log10(mol/L)", smiles=("C", "CC"), values=(1.0,))
    with pytest.raises(ToolInputError, match="finite"):
        TrainingRows(property="logS", unit="log10(mol/L)", smiles=("C",), values=(float("nan"),))


def test_rows_from_a_store_snapshot(store, esol: TrainingRows) -> None:  # type: ignore[no-untyped-def]
    from knowledge.store import NewMeasurement

    store.record_measurements(
        [NewMeasurement(smiles="OCC", property="logS", value=1.1, source="literature"),
         NewMeasurement(smiles="CCO", property="logS", value=0.9, source="literature"),
         NewMeasurement(smiles="c1ccccc1", property="solubility", value=-1.64, source="measured")]
    )
    snapshot = store.training_set("logS")
    rows = TrainingRows.from_snapshot_csv(snapshot.path, "logS", "log10(mol/L)", snapshot.content_hash)
    assert sorted(zip(rows.smiles, rows.values, strict=True)) == [("CCO", pytest.approx(1.0)), ("c1ccccc1", -1.64)]
    assert rows.dataset_hash == snapshot.content_hash
    assert TrainingRows.from_snapshot_csv(Path(snapshot.path).parent, "logS", "log10(mol/L)", None).smiles == rows.smiles


# -- the fingerprint predictor ---------------------------------------------------------------------------


def test_accuracy_and_calibrated_uncertainty_on_held_out_molecules(
    model: FingerprintPredictor, splits: dict[str, TrainingRows]
) -> None:
    assert isinstance(model, Predictor)
    assert (model.name, model.property, model.implemented_properties) == ("fingerprint", "logS", frozenset({"logS"}))
    metrics = model.evaluate(splits["test"])
    assert metrics["n"] == 200 and metrics["n_failed"] == 0
    assert metrics["rmse"] < 1.3
    assert metrics["mae"] < metrics["rmse"]
    assert metrics["spearman"] > 0.7
    assert 0.75 <= metrics["coverage90"] <= 1.0
    results = model.predict(splits["test"].smiles)
    assert all(isinstance(r, PredictedValue) and r.uncertainty > 0 for r in results)
    first = results[0]
    assert isinstance(first, PredictedValue)
    assert (first.property, first.unit, first.model_version) == ("logS", "log10(mol/L)", model.version)
    assert len(first.inchikey) == 27
    # Uncertainty is not a constant: it includes the disagreement of the ensemble's members.
    assert len({round(r.uncertainty, 6) for r in results if isinstance(r, PredictedValue)}) > 50


def test_same_seed_same_model_other_seed_other_model(splits: dict[str, TrainingRows]) -> None:
    rows = splits["train"].subset(range(100))  # determinism does not need the whole training split
    probe = splits["test"].smiles[:50]
    first = FingerprintPredictor.train(rows, seed=0)
    again = FingerprintPredictor.train(rows, seed=0)
    assert again is not first and again.version == first.version and len(first.version) == 16
    assert values_of(again.predict(probe)) == values_of(first.predict(probe))
    other = FingerprintPredictor.train(rows, seed=1)
    assert other.version != first.version
    assert values_of(other.predict(probe)) != values_of(first.predict(probe))


def test_the_residual_term_grows_with_distance_from_the_training_molecules(
    model: FingerprintPredictor, splits: dict[str, TrainingRows]
) -> None:
    import numpy as np

    residual = model.residual
    assert len(residual.sigmas) == 5  # 300 rows: five bins of 60
    assert list(residual.similarities) == sorted(residual.similarities)
    assert list(residual.sigmas) == sorted(residual.sigmas, reverse=True)
    assert residual.at(np.array([0.05]))[0] > residual.at(np.array([0.95]))[0]
    assert model.residual_sigma == max(residual.sigmas)
    # A training molecule itself (similarity 1) gets the smallest residual term; on held-out molecules σ tracks error.
    seen = model.predict(splits["train"].smiles[:20])
    assert all(isinstance(r, PredictedValue) and r.uncertainty >= residual.sigmas[-1] - 1e-9 for r in seen)
    from scipy.stats import spearmanr

    test = splits["test"]
    results = values_of(model.predict(test.smiles))
    errors = [abs(value - mu) for value, (mu, _) in zip(test.values, results, strict=True)]
    assert spearmanr(errors, [sigma for _, sigma in results]).statistic > 0.15


def test_bootstraps_leave_out_whole_scaffolds(splits: dict[str, TrainingRows]) -> None:
    """Every member's out-of-bag rows are whole scaffold groups, so calibration sees unseen series."""
    from tools.predict.base import calibration_group
    from tools.predict.fingerprint import _bootstraps

    rows = splits["train"]
    groups = [calibration_group(s) for s in rows.smiles]
    assert calibration_group("Cc1ccccc1O") == calibration_group("Clc1ccccc1") == "c1ccccc1"
    assert calibration_group("CCO") == calibration_group("CCCOC") == "acyclic:C.O"
    assert calibration_group("CCCl") == "acyclic:C.Cl"
    params = FingerprintParams()
    for sample in _bootstraps(groups, seed=3, params=params):
        seen = {groups[row] for row in sample}
        left_out = set(range(len(groups))) - set(sample.tolist())
        assert left_out, "a bootstrap leaves rows out"
        assert all(groups[row] not in seen for row in left_out)
    rows_only = _bootstraps(groups, seed=3, params=FingerprintParams(bootstrap="row"))
    assert any(
        groups[row] in {groups[r] for r in sample}
        for sample in rows_only
        for row in set(range(len(groups))) - set(sample.tolist())
    )


def test_the_ridge_baseline_extrapolates_and_auto_chooses_it_where_it_helps(esol: TrainingRows) -> None:
    """A target linear in a descriptor beyond the training range: a forest alone flattens, the ridge follows."""
    from rdkit import Chem

    heavy = [Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in esol.smiles]
    small = [i for i, n in enumerate(heavy) if n <= 12][:300]
    large = [i for i, n in enumerate(heavy) if 22 <= n <= 30][:30]  # within the clip of 10 standard deviations
    assert len(small) == 300 and len(large) == 30

    def rows(indices: list[int]) -> TrainingRows:
        return TrainingRows(
            property="logS", unit="log10(mol/L)",
            smiles=tuple(esol.smiles[i] for i in indices), values=tuple(-0.4 * heavy[i] for i in indices),
        )

    params = {"n_estimators": 30, "n_jobs": 1}
    auto = FingerprintPredictor.train(rows(small), params=FingerprintParams(**params))
    forest = FingerprintPredictor.train(rows(small), params=FingerprintParams(baseline="none", **params))
    assert (auto.baseline_used, forest.baseline_used) == ("ridge", "none")
    truth = rows(large).values
    auto_error = max(abs(p[0] - t) for p, t in zip(values_of(auto.predict(rows(large).smiles)), truth, strict=True))
    forest_error = min(abs(p[0] - t) for p, t in zip(values_of(forest.predict(rows(large).smiles)), truth, strict=True))
    assert auto_error < 1.0 < 3.0 < forest_error


def test_an_invalid_smiles_fails_only_its_own_molecule(model: FingerprintPredictor) -> None:
    results = model.predict(["CCO", "not a smiles", "", "c1ccccc1", "C1CC"])
    kinds = [type(r).__name__ for r in results]
    assert kinds == ["PredictedValue", "PredictionFailure", "PredictionFailure", "PredictedValue", "PredictionFailure"]
    failure = results[1]
    assert isinstance(failure, PredictionFailure)
    assert (failure.smiles, failure.error_type) == ("not a smiles", "InvalidStructure")
    # Batch-independent, and every spelling of a molecule gets the same prediction.
    alone = model.predict(["OCC", "C1=CC=CC=C1"])
    assert values_of(alone) == values_of([results[0], results[3]])
    assert [r.smiles for r in alone if isinstance(r, PredictedValue)] == ["CCO", "c1ccccc1"]
    with pytest.raises(ToolInputError):
        model.predict("CCO")


def test_the_members_predictions_average_to_the_mean_and_fail_per_molecule(model: FingerprintPredictor) -> None:
    from tools.predict.base import EnsemblePredictor

    assert isinstance(model, EnsemblePredictor)
    results = model.predict_with_members(["CCO", "not a smiles", "c1ccccc1"])
    assert isinstance(results[1], PredictionFailure) and results[1].error_type == "InvalidStructure"
    alone = model.predict(["CCO", "c1ccccc1"])
    for result, predicted in zip((results[0], results[2]), alone, strict=True):
        assert isinstance(result, tuple)
        prediction, drawn = result
        assert prediction == predicted  # the same prediction as predict gives
        assert len(drawn) == model.params.n_members
        assert sum(drawn) / len(drawn) == pytest.approx(prediction.value, abs=1e-6)
        assert max(drawn) - min(drawn) > 0  # the members disagree: their spread is the between-member variance
    with pytest.raises(ToolInputError):
        model.predict_with_members("CCO")


def test_save_and_load_give_identical_predictions(
    model: FingerprintPredictor, splits: dict[str, TrainingRows], tmp_path: Path
) -> None:
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["meta.json", "model.joblib", "training.csv"]
    loaded = FingerprintPredictor.load(tmp_path / "m")
    assert loaded.version == model.version
    assert loaded.training_rows == model.training_rows
    probe = splits["test"].smiles[:40]
    assert values_of(loaded.predict(probe)) == values_of(model.predict(probe))
    # An artifact whose training data no longer matches its version is refused.
    training = tmp_path / "m" / "training.csv"
    lines = training.read_text().splitlines()
    smiles, value = lines[1].rsplit(",", 1)
    lines[1] = f"{smiles},{float(value) + 1}"
    training.write_text("\n".join(lines) + "\n")
    with pytest.raises(ToolFailed, match="does not match its version"):
        FingerprintPredictor.load(tmp_path / "m")
    with pytest.raises(ToolFailed, match="cannot read model artifact"):
        FingerprintPredictor.load(tmp_path / "nothing")


def test_fine_tune_returns_a_new_version_and_leaves_the_parent_alone(
    model: FingerprintPredictor, splits: dict[str, TrainingRows]
) -> None:
    probe = splits["test"].smiles[:30]
    before = values_of(model.predict(probe))
    extra = splits["spare"].subset(range(20))
    child = model.fine_tune(extra)
    assert child.version != model.version
    assert child.parent_version == model.version and model.parent_version is None
    assert len(child.training_rows) == len(model.training_rows) + 20
    assert (child.seed, child.params) == (model.seed, model.params)
    assert values_of(model.predict(probe)) == before
    assert values_of(child.predict(probe)) != before
    with pytest.raises(ToolInputError, match="cannot fine-tune"):
        model.fine_tune(TrainingRows(property="pIC50", unit="-log10(mol/L)", smiles=("CCO",), values=(5.0,)))

    # A newer snapshot holds the parent's rows too: they are not counted twice, and a re-measured molecule
    # takes its new value.
    snapshot = model.training_rows.subset(range(1, len(model.training_rows))).updated_with(extra)
    remeasured = TrainingRows(
        property=snapshot.property, unit=snapshot.unit, smiles=("OCC",),  # ethanol, written another way
        values=(9.5,), dataset_hash="next",
    )
    newest = snapshot.updated_with(remeasured)
    grandchild = child.fine_tune(newest)
    rows = grandchild.training_rows
    # The one row of the child's that the newest snapshot lacks, then the newest snapshot.
    assert rows.values == (model.training_rows.values[0], *newest.values)  # SMILES come back canonical
    assert dict(zip(rows.smiles, rows.values, strict=True))["CCO"] == 9.5 and rows.dataset_hash == "next"


def test_updated_with_matches_molecules_not_strings() -> None:
    old = TrainingRows(property="logS", unit="log10(mol/L)", smiles=("CCO", "c1ccccc1", "bad("), values=(1.0, 2.0, 3.0))
    new = TrainingRows(property="logS", unit="log10(mol/L)", smiles=("C1=CC=CC=C1", "bad("), values=(5.0, 6.0))
    merged = old.updated_with(new)
    assert merged.smiles == ("CCO", "C1=CC=CC=C1", "bad(") and merged.values == (1.0, 5.0, 6.0)
    with pytest.raises(ToolInputError, match="cannot combine"):
        old.updated_with(TrainingRows(property="pIC50", unit="-log10(mol/L)", smiles=("C",), values=(1.0,)))


def test_training_skips_invalid_rows_and_refuses_too_few() -> None:
    rows = TrainingRows(
        property="logS",
        unit="log10(mol/L)",
        smiles=("CCO", "CCCO", "CCCCO", "CCCCCO", "c1ccccc1", "nonsense", "CC(=O)O"),
        values=(0.0, -0.2, -0.4, -0.6, -1.6, 0.0, 0.5),
    )
    small = FingerprintPredictor.train(rows, params=FingerprintParams(n_estimators=10, n_jobs=1))
    assert len(small.training_rows) == 6 and "nonsense" not in small.training_rows.smiles
    with pytest.raises(ToolFailed, match="cannot train a logS model on 2 valid rows"):
        FingerprintPredictor.train(rows.subset([0, 1, 5]))


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import sys, tools.predict.base, tools.predict.registry, tools.predict.fingerprint\n"
        "heavy = [m for m in ('sklearn', 'rdkit', 'numpy', 'scipy', 'joblib') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


# -- the plumbing every family shares (tools.predict.base) -----------------------------------------------


class _Identity(base.PredictorIdentity):
    """The least a family sets for PredictorIdentity: its name and the identity attributes."""

    name = "toy"

    def __init__(self, training: TrainingRows, version: str, parent_version: str | None = None) -> None:
        self._property = training.property
        self._unit = training.unit
        self._training = training
        self._parent_version = parent_version
        self._version = version


def test_predictor_identity_gives_the_shared_properties_checks_and_meta_fields() -> None:
    rows = TrainingRows(
        property="logS", unit="log10(mol/L)", smiles=("CCO", "CCCO"), values=(0.5, -0.1), dataset_hash="d"
    )
    toy = _Identity(rows, "v1", parent_version="v0")
    assert (toy.version, toy.property, toy.unit, toy.parent_version) == ("v1", "logS", "log10(mol/L)", "v0")
    assert toy.dataset_hash == "d" and toy.training_rows is rows
    assert toy.implemented_properties == frozenset({"logS"})
    assert repr(toy) == "_Identity(property='logS', version='v1', n_train=2)"
    assert toy._identity_meta(7) == {
        "family": "toy", "format": 7, "version": "v1", "property": "logS", "unit": "log10(mol/L)",
        "parent_version": "v0", "dataset_hash": "d", "n_train": 2,
    }
    other = TrainingRows(property="pIC50", unit="-log10(mol/L)", smiles=("C",), values=(1.0,))
    with pytest.raises(ToolInputError, match=r"^cannot evaluate a logS model on pIC50 rows$"):
        toy.evaluate(other)
    with pytest.raises(ToolInputError) as wrong_unit:
        toy._check_fine_tune_rows(rows.model_copy(update={"unit": "mol/L"}))
    assert str(wrong_unit.value) == "cannot fine-tune a logS [log10(mol/L)] model on logS [mol/L] rows"
    toy._check_fine_tune_rows(rows)


def test_artifact_files_read_back_exactly_and_only_for_their_family_and_format(tmp_path: Path) -> None:
    values = (0.1 + 0.2, -1e-300, 1 / 3, 12.0)
    rows = TrainingRows(property="logS", unit="log10(mol/L)", smiles=("CCO", "C,C", "c1ccccc1", "C"), values=values)
    meta = {"family": "toy", "format": 2, "version": "abc", "property": "logS", "unit": rows.unit, "dataset_hash": "h"}
    base.write_artifact_files(tmp_path, rows, meta)
    lines = (tmp_path / "training.csv").read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["smiles,value", f"CCO,{values[0]!r}", f'"C,C",{values[1]!r}']
    assert (tmp_path / "meta.json").read_text(encoding="utf-8") == json.dumps(meta, indent=2, sort_keys=True) + "\n"

    template = "{directory} holds {family!r}/{format}, wanted {expected_family!r}/{expected_format}"
    assert base.read_meta(tmp_path, "toy", 2, template) == meta
    back = base.read_training_csv(tmp_path, meta)
    assert back.smiles == rows.smiles and back.values == values and back.dataset_hash == "h"
    with pytest.raises(ToolFailed) as mismatch:
        base.read_meta(tmp_path, "toy", 3, template)
    assert str(mismatch.value) == f"{tmp_path} holds 'toy'/2, wanted 'toy'/3"
    with pytest.raises(ToolFailed, match="cannot read model artifact in"):
        base.read_meta(tmp_path / "missing", "toy", 2, template)
    base.check_version(tmp_path, meta, "abc")
    with pytest.raises(ToolFailed, match="model artifact in .* does not match its version abc"):
        base.check_version(tmp_path, meta, "abd")


def test_content_version_is_a_short_hash_of_compact_sorted_json() -> None:
    expected = hashlib.sha256(b'{"a":[1,"x"],"b":null}').hexdigest()[:16]
    assert base.content_version({"b": None, "a": [1, "x"]}) == expected
    assert base.content_version({"a": [1, "x"], "b": None}) == expected


# -- the registry ----------------------------------------------------------------------------------------


def model_rows(store) -> list:  # type: ignore[no-untyped-def]
    from sqlmodel import select

    from knowledge.models import ModelVersion

    with store.session() as session:
        return list(session.exec(select(ModelVersion).order_by(ModelVersion.created_at)))


def test_ensure_trains_on_bundled_esol_registers_it_and_latest_finds_it(
    store, esol: TrainingRows, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    registry = PredictorRegistry(store, tmp_path / "models")
    assert registry.latest("logS") is None
    predictor = registry.ensure("solubility")
    [row] = model_rows(store)
    assert (row.id, row.kind, row.property, row.parent_id, row.approved) == (
        predictor.version, "fingerprint", "logS", None, True
    )
    assert row.dataset_hash == esol.dataset_hash
    assert row.metrics["n_train"] + row.metrics["n_test"] == 1128
    assert 150 < row.metrics["n_test"] < 300
    assert row.metrics["rmse"] < 1.0 and row.metrics["spearman"] > 0.85
    assert 0.75 <= row.metrics["coverage90"] <= 1.0
    assert Path(row.artifact_path) == tmp_path / "models" / predictor.version
    # A fresh registry (no cache) loads the same version from its artifact.
    reloaded = PredictorRegistry(store, tmp_path / "models").latest("logS")
    assert reloaded is not None and reloaded is not predictor and reloaded.version == predictor.version
    assert values_of(reloaded.predict(["CCO", "c1ccccc1O"])) == values_of(predictor.predict(["CCO", "c1ccccc1O"]))
    # ensure does not train again once a version is approved.
    assert registry.ensure("logS") is predictor and len(model_rows(store)) == 1


def test_ensure_prefers_the_stores_measurements(store, esol: TrainingRows, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from knowledge.store import NewMeasurement

    store.record_measurements(
        [NewMeasurement(smiles=s, property="logS", value=v, source="measured") for s, v in
         zip(esol.smiles[:40], esol.values[:40], strict=True)]
    )
    predictor = PredictorRegistry(store, tmp_path / "models").ensure("logS")
    [row] = model_rows(store)
    assert row.id == predictor.version
    assert row.dataset_hash == store.training_set("logS").content_hash
    assert row.metrics["n_train"] + row.metrics["n_test"] == 40


def test_ensure_without_data_fails_clearly(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    registry = PredictorRegistry(store, tmp_path / "models")
    with pytest.raises(ToolFailed, match=r"no measurements of IC50 in the store .* `atomloop db import`"):
        registry.ensure("IC50")
    with pytest.raises(ToolInputError, match="unknown property"):
        registry.latest("colour")
    with pytest.raises(ToolInputError, match="unknown predictor kind"):
        registry.train("logS", TrainingRows.from_bundled("logS"), kind="oracle")


def test_a_child_is_approved_only_if_not_worse_than_its_parent(
    store, splits: dict[str, TrainingRows], tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    registry = PredictorRegistry(store, tmp_path / "models")
    parent = registry.train("logS", splits["train"])
    assert parent.record.approved and parent.record.parent_id is None
    assert model_rows(store) == []  # training writes no store row
    registry.register(parent)
    registry.register(parent)  # idempotent
    assert [r.id for r in model_rows(store)] == [parent.record.id]

    # Garbage: a handful of new molecules with sign-flipped values, judged on clean held-out molecules.
    spare = splits["spare"].subset(range(40))
    garbage = spare.model_copy(update={"values": tuple(-v for v in spare.values), "dataset_hash": "garbage"})
    bad = registry.train("logS", garbage, parent=parent.record.id, holdout=splits["test"])
    assert bad.record.parent_id == parent.record.id and bad.record.dataset_hash == "garbage"
    assert bad.record.metrics["rmse"] > bad.record.metrics["parent_rmse"]
    assert not bad.record.approved
    registry.register(bad)
    latest = PredictorRegistry(store, tmp_path / "models").latest("logS")
    assert latest is not None and latest.version == parent.record.id

    # More good data: the child beats its parent on the parent's held-out molecules and is approved.
    good = registry.train("logS", splits["more"], parent=parent.record.id)
    assert good.record.parent_id == parent.record.id
    assert good.record.metrics["rmse"] <= good.record.metrics["parent_rmse"]
    assert good.record.approved
    assert good.record.metrics["n_train"] > parent.record.metrics["n_train"]
    registry.register(good)
    latest = PredictorRegistry(store, tmp_path / "models").latest("logS")
    assert latest is not None and latest.version == good.record.id

    # A campaign's way: every row trains (none held out), so nothing is measured and a child is not approved.
    rows = splits["spare"].subset(range(40, 80))
    everything = registry.train("logS", rows, train_on_all=True)
    assert everything.record.metrics["n_train"] == 40 and everything.record.metrics["rmse"] is None
    assert everything.record.metrics["split"] == "none: trained on every row" and everything.record.approved
    child = registry.train("logS", rows, parent=everything.record.id, train_on_all=True)
    assert child.record.metrics["n_train"] == 40  # the parent's rows are not counted twice
    assert not child.record.approved and "cannot compare" in child.record.metrics["approval_note"]


def test_the_held_out_split_is_stable_per_molecule(esol: TrainingRows) -> None:
    train, test = split_rows(esol, 0.2)
    assert len(train) + len(test) == 1128 and 180 < len(test) < 280
    # A molecule's side does not depend on what else is in the data set.
    _, test_of_half = split_rows(esol.subset(range(0, 1128, 2)), 0.2)
    assert set(test_of_half.smiles) == set(test.smiles) & set(esol.smiles[0::2])
