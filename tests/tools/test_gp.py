"""The Tanimoto-kernel Gaussian process: fit, uncertainty that grows away from the data, artifacts, lineage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tools.errors import ToolFailed
from tools.predict.base import PredictedValue, PredictionFailure, Predictor, TrainingRows
from tools.predict.gp import TanimotoGPPredictor


@pytest.fixture(scope="module")
def bace() -> TrainingRows:
    return TrainingRows.from_bundled("pIC50")


@pytest.fixture(scope="module")
def splits(bace: TrainingRows) -> dict[str, TrainingRows]:
    order = np.random.default_rng(5).permutation(len(bace)).tolist()
    return {"train": bace.subset(order[:150]), "test": bace.subset(order[150:350]), "more": bace.subset(order[350:380])}


@pytest.fixture(scope="module")
def model(splits: dict[str, TrainingRows]) -> TanimotoGPPredictor:
    return TanimotoGPPredictor.train(splits["train"])


def test_fits_bace_potency_from_150_molecules_with_honest_intervals(model: TanimotoGPPredictor, splits: dict[str, TrainingRows]) -> None:
    assert isinstance(model, Predictor) and model.name == "gp" and model.property == "pIC50"
    metrics = model.evaluate(splits["test"])
    assert metrics["n"] == 200 and metrics["rmse"] < 1.0 and metrics["spearman"] > 0.6
    assert 0.8 <= metrics["coverage90"] <= 0.98
    hyper = model.hyperparameters
    assert hyper.mean == pytest.approx(float(np.mean(splits["train"].values)))
    assert 0 < hyper.noise < hyper.amplitude


def test_uncertainty_is_smallest_at_training_molecules_and_grows_away_from_them(model: TanimotoGPPredictor, splits: dict[str, TrainingRows]) -> None:
    seen = [r for r in model.predict(splits["train"].smiles[:10]) if isinstance(r, PredictedValue)]
    stranger = model.predict(["CCCCCCCCCCCCCCCC(=O)O"])[0]  # a fatty acid among BACE inhibitors
    assert isinstance(stranger, PredictedValue)
    ceiling = (model.hyperparameters.amplitude**2 + model.hyperparameters.noise**2) ** 0.5
    assert max(r.uncertainty for r in seen) < stranger.uncertainty <= ceiling + 1e-9
    assert stranger.value == pytest.approx(model.hyperparameters.mean, abs=0.5)  # far from data: back to the mean


def test_deterministic_artifacts_lineage_and_per_molecule_failures(
    model: TanimotoGPPredictor, splits: dict[str, TrainingRows], tmp_path: Path
) -> None:
    again = TanimotoGPPredictor.train(splits["train"])
    probe = list(splits["test"].smiles[:20])
    assert again.version == model.version
    assert [(r.value, r.uncertainty) for r in again.predict(probe)] == [(r.value, r.uncertainty) for r in model.predict(probe)]  # type: ignore[union-attr]
    model.save(tmp_path / "gp")
    loaded = TanimotoGPPredictor.load(tmp_path / "gp")
    assert loaded.version == model.version
    assert np.allclose([r.value for r in loaded.predict(probe)], [r.value for r in model.predict(probe)])  # type: ignore[union-attr]
    child = model.fine_tune(splits["more"])
    assert child.parent_version == model.version and child.version != model.version
    assert len(child.training_rows) == 180 and len(model.training_rows) == 150
    mixed = model.predict(["not a smiles", probe[0]])
    assert isinstance(mixed[0], PredictionFailure) and isinstance(mixed[1], PredictedValue)
    with pytest.raises(ToolFailed, match="need 3"):
        TanimotoGPPredictor.train(splits["train"].subset([0, 1]))


def test_the_registry_trains_and_reloads_gp_versions(store, splits: dict[str, TrainingRows], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tools.predict.registry import PredictorRegistry

    registry = PredictorRegistry(store, tmp_path / "models")
    trained = registry.train("pIC50", splits["train"], kind="gp")
    registry.register(trained)
    assert trained.record.kind == "gp" and trained.record.approved
    fresh = PredictorRegistry(store, tmp_path / "models")
    assert fresh.get(trained.record.id).version == trained.record.id
