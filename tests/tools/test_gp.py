"""The fingerprint Gaussian process: its kernel, fit, uncertainty that grows away from the data, artifacts, lineage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tools.errors import ToolFailed
from tools.predict.base import PredictedValue, PredictionFailure, Predictor, TrainingRows
from tools.predict.gp import FingerprintGPPredictor, GPParams, minmax_similarity


@pytest.fixture(scope="module")
def bace() -> TrainingRows:
    return TrainingRows.from_bundled("pIC50")


@pytest.fixture(scope="module")
def splits(bace: TrainingRows) -> dict[str, TrainingRows]:
    order = np.random.default_rng(5).permutation(len(bace)).tolist()
    return {"train": bace.subset(order[:150]), "test": bace.subset(order[150:350]), "more": bace.subset(order[350:380])}


LEGACY = GPParams(kernel="tanimoto", atom_pairs=False)


def test_minmax_similarity_is_sum_of_minima_over_sum_of_maxima_and_tanimoto_on_bits() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, size=(7, 40)).astype(np.float32) * (rng.random((7, 40)) < 0.4)
    b = rng.integers(0, 9, size=(5, 40)).astype(np.float32) * (rng.random((5, 40)) < 0.4)
    expected = np.array([[np.minimum(x, y).sum() / np.maximum(x, y).sum() for y in b] for x in a])
    assert np.allclose(minmax_similarity(a, b), expected)
    bits_a, bits_b = (a > 0).astype(np.float32), (b > 0).astype(np.float32)
    common = bits_a @ bits_b.T
    tanimoto = common / (bits_a.sum(1)[:, None] + bits_b.sum(1)[None, :] - common)
    assert np.allclose(minmax_similarity(bits_a, bits_b), tanimoto)
    assert minmax_similarity(np.zeros((1, 40)), np.zeros((1, 40)))[0, 0] == 0.0
    assert np.allclose(np.diag(minmax_similarity(a[:4], a[:4])), 1.0)


@pytest.fixture(scope="module")
def model(splits: dict[str, TrainingRows]) -> FingerprintGPPredictor:
    return FingerprintGPPredictor.train(splits["train"])


def test_fits_bace_potency_from_150_molecules_with_honest_intervals(model: FingerprintGPPredictor, splits: dict[str, TrainingRows]) -> None:
    assert isinstance(model, Predictor) and model.name == "gp" and model.property == "pIC50"
    metrics = model.evaluate(splits["test"])
    assert metrics["n"] == 200 and metrics["rmse"] < 1.0 and metrics["spearman"] > 0.6
    assert 0.8 <= metrics["coverage90"] <= 0.98
    hyper = model.hyperparameters
    assert hyper.mean == pytest.approx(float(np.mean(splits["train"].values)))
    assert 0 < hyper.noise < hyper.amplitude


def test_uncertainty_is_smallest_at_training_molecules_and_grows_away_from_them(model: FingerprintGPPredictor, splits: dict[str, TrainingRows]) -> None:
    seen = [r for r in model.predict(splits["train"].smiles[:10]) if isinstance(r, PredictedValue)]
    stranger = model.predict(["CCCCCCCCCCCCCCCC(=O)O"])[0]  # a fatty acid among BACE inhibitors
    assert isinstance(stranger, PredictedValue)
    ceiling = (model.hyperparameters.amplitude**2 + model.hyperparameters.noise**2) ** 0.5
    assert max(r.uncertainty for r in seen) < stranger.uncertainty <= ceiling + 1e-9
    assert stranger.value == pytest.approx(model.hyperparameters.mean, abs=0.5)  # far from data: back to the mean


def test_deterministic_artifacts_lineage_and_per_molecule_failures(
    model: FingerprintGPPredictor, splits: dict[str, TrainingRows], tmp_path: Path
) -> None:
    again = FingerprintGPPredictor.train(splits["train"])
    probe = list(splits["test"].smiles[:20])
    assert again.version == model.version
    assert [(r.value, r.uncertainty) for r in again.predict(probe)] == [(r.value, r.uncertainty) for r in model.predict(probe)]  # type: ignore[union-attr]
    model.save(tmp_path / "gp")
    loaded = FingerprintGPPredictor.load(tmp_path / "gp")
    assert loaded.version == model.version
    assert np.allclose([r.value for r in loaded.predict(probe)], [r.value for r in model.predict(probe)])  # type: ignore[union-attr]
    child = model.fine_tune(splits["more"])
    assert child.parent_version == model.version and child.version != model.version
    assert len(child.training_rows) == 180 and len(model.training_rows) == 150
    mixed = model.predict(["not a smiles", probe[0]])
    assert isinstance(mixed[0], PredictionFailure) and isinstance(mixed[1], PredictedValue)
    with pytest.raises(ToolFailed, match="need 3"):
        FingerprintGPPredictor.train(splits["train"].subset([0, 1]))


def test_the_registry_trains_and_reloads_gp_versions(store, splits: dict[str, TrainingRows], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tools.predict.registry import PredictorRegistry

    registry = PredictorRegistry(store, tmp_path / "models")
    trained = registry.train("pIC50", splits["train"], kind="gp")
    registry.register(trained)
    assert trained.record.kind == "gp" and trained.record.approved
    fresh = PredictorRegistry(store, tmp_path / "models")
    assert fresh.get(trained.record.id).version == trained.record.id


def test_atom_pairs_and_counts_beat_morgan_bits_alone_on_the_same_molecules(model: FingerprintGPPredictor, splits: dict[str, TrainingRows]) -> None:
    legacy = FingerprintGPPredictor.train(splits["train"], params=LEGACY)
    assert model.params == GPParams() and model.params.kernel == "minmax" and model.params.atom_pairs
    default_rmse = model.evaluate(splits["test"])["rmse"]
    legacy_rmse = legacy.evaluate(splits["test"])["rmse"]
    assert default_rmse < legacy_rmse - 0.03  # 0.925 against 0.978 when written


def test_gps_fitted_before_the_kernel_options_keep_their_versions_and_load_as_they_were(splits: dict[str, TrainingRows], tmp_path: Path) -> None:
    legacy = FingerprintGPPredictor.train(splits["train"], params=LEGACY)
    assert legacy.version == "5637fec7ecd751db"  # the version this model had before the options existed
    legacy.save(tmp_path / "old")
    meta_path = tmp_path / "old" / "meta.json"
    meta = json.loads(meta_path.read_text())
    for name in ("kernel", "atom_pairs"):  # an artifact written before the options existed has neither
        del meta["params"][name]
    meta_path.write_text(json.dumps(meta))
    loaded = FingerprintGPPredictor.load(tmp_path / "old")
    assert loaded.version == legacy.version and loaded.params == LEGACY


def test_the_joint_posterior_matches_predict_and_believing_a_pick_is_refitting_with_its_mean(
    model: FingerprintGPPredictor, splits: dict[str, TrainingRows]
) -> None:
    from tools.predict.base import JointPosterior, JointPosteriorPredictor

    assert isinstance(model, JointPosteriorPredictor)
    candidates = list(splits["test"].smiles[:25])
    joint = model.joint_posterior(candidates)
    assert isinstance(joint, JointPosterior) and joint.smiles == tuple(candidates)
    marginal = [r for r in model.predict(candidates) if isinstance(r, PredictedValue)]
    assert np.allclose(joint.mean, [r.value for r in marginal])
    assert np.allclose(joint.sigma(), [r.uncertainty for r in marginal])
    noise = model.hyperparameters.noise**2
    assert model.noise_variance == noise and joint.noise_variance == noise
    assert np.allclose(np.diag(joint.covariance), np.array([r.uncertainty for r in marginal]) ** 2 - noise)
    assert np.allclose(joint.covariance, joint.covariance.T)
    assert np.linalg.eigvalsh(joint.covariance).min() > -1e-8

    # Believing pick 3 is exactly the GP with pick 3 measured at its mean (same hyperparameters): the means stay,
    # and the variances shrink most at pick 3 and its near neighbours.
    believed = joint.believe(3)
    refitted_rows = TrainingRows(
        property=model.property, unit=model.unit,
        smiles=(*model.training_rows.smiles, candidates[3]),
        values=(*model.training_rows.values, float(joint.mean[3])), dataset_hash=None,
    )
    refitted = FingerprintGPPredictor(
        property=model.property, unit=model.unit, params=model.params, hyper=model.hyperparameters,
        training=refitted_rows, parent_version=None, version="check",
    )
    again = [r for r in refitted.predict(candidates) if isinstance(r, PredictedValue)]
    assert np.allclose(believed.mean, [r.value for r in again], atol=1e-6)
    assert np.allclose(believed.sigma(), [r.uncertainty for r in again], atol=1e-6)
    shrink = joint.sigma() - believed.sigma()
    assert shrink.min() >= -1e-9 and int(np.argmax(shrink)) == 3
    assert believed.sigma()[3] < 0.8 * joint.sigma()[3]
    # The input is left as it was.
    assert np.allclose(joint.sigma(), [r.uncertainty for r in marginal])
    noise = model.hyperparameters.noise**2
    assert model.noise_variance == noise and joint.noise_variance == noise
    assert np.allclose(np.diag(joint.covariance), np.array([r.uncertainty for r in marginal]) ** 2 - noise)


def test_the_joint_posterior_refuses_an_invalid_structure(model: FingerprintGPPredictor) -> None:
    from tools.errors import ToolInputError

    with pytest.raises(ToolInputError, match="input 1"):
        model.joint_posterior(["CCO", "not a smiles", "CCN"])
    with pytest.raises(ToolInputError):
        model.joint_posterior("CCO")
