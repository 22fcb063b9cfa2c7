"""The Uni-Mol-style predictor: conformer cache, SE(3) invariance, pretraining, ESOL accuracy and calibration,
determinism, artifacts, fine-tuning, the registry, and the loader of official checkpoints (all on CPU, small)."""

from __future__ import annotations

import argparse
import datetime
import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from tools.errors import ToolFailed, ToolInputError
from tools.predict.base import PredictedValue, PredictionFailure, Predictor, TrainingRows
from tools.predict.unimol import (
    BUNDLED_BACKBONE,
    Pretrainer,
    UniMolConfig,
    UniMolFeaturizer,
    UniMolPredictor,
    UniMolTrainParams,
    UniMolWeightsError,
    build_network,
    default_dictionary,
    forward_geometry,
    load_unimol_weights,
    official_parameters,
    pretrain,
)
from tools.structures.cache import ConformerCache
from tools.structures.conformers import CONFORMER_GENERATOR

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TINY = UniMolConfig(layers=2, embed_dim=32, ffn_dim=64, heads=4, kernels=16)
# One conformer per molecule, two members and a few epochs keep these tests fast (they check behaviour, and the
# accuracy bars below hold with a wide margin: spearman 0.9, coverage 1.0 when written); several conformers have
# their own test.
PARAMS = UniMolTrainParams(min_steps=0, epochs=6, fine_tune_epochs=2, n_members=2, n_conformers=1)


@pytest.fixture(scope="module")
def esol() -> TrainingRows:
    return TrainingRows.from_bundled("logS")


@pytest.fixture(scope="module")
def splits(esol: TrainingRows) -> dict[str, TrainingRows]:
    """Disjoint ESOL subsets fixed by a seeded permutation: train (200), test (50), more (30)."""
    order = np.random.default_rng(11).permutation(len(esol)).tolist()
    return {
        "train": esol.subset(order[:200]),
        "test": esol.subset(order[200:250]),
        "more": esol.subset(order[250:280]),
    }


@pytest.fixture(scope="module")
def conformers(tmp_path_factory: pytest.TempPathFactory) -> ConformerCache:
    return ConformerCache(tmp_path_factory.mktemp("conformers"))


@pytest.fixture(scope="module")
def featurizer(conformers: ConformerCache) -> UniMolFeaturizer:
    return UniMolFeaturizer(UniMolConfig.small(), conformers)


@pytest.fixture(scope="module")
def model(splits: dict[str, TrainingRows], featurizer: UniMolFeaturizer) -> UniMolPredictor:
    return UniMolPredictor.train(splits["train"], seed=0, params=PARAMS, featurizer=featurizer)


def values_of(results: list[PredictedValue | PredictionFailure]) -> list[tuple[float, float]]:
    return [(r.value, r.uncertainty) for r in results if isinstance(r, PredictedValue)]


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


# -- conformers ------------------------------------------------------------------------------------------


def test_the_conformer_cache_computes_once_in_memory_and_on_disk(tmp_path: Path) -> None:
    cache = ConformerCache(tmp_path)
    first = cache.conformer("CC(=O)Oc1ccccc1C(=O)O")
    assert (cache.computed, cache.memory.hits) == (1, 0)
    assert "mmff94" in first.method and "H" in first.symbols
    xyz = np.asarray(first.coordinates)
    assert xyz.shape == (len(first.symbols), 3) and np.ptp(xyz[:, 2]) > 0.5  # really 3D
    again = cache.conformer("OC(=O)c1ccccc1OC(C)=O")  # another spelling, same InChIKey
    assert (cache.computed, cache.memory.hits) == (1, 1)
    assert again.coordinates == first.coordinates
    fresh = ConformerCache(tmp_path)  # a new process: read from disk, not recomputed
    from_disk = fresh.conformer("CC(=O)Oc1ccccc1C(=O)O")
    assert (fresh.computed, fresh.disk_hits) == (0, 1)
    assert from_disk == first
    other_seed = ConformerCache(tmp_path, seed=1)
    other_seed.conformer("CC(=O)Oc1ccccc1C(=O)O")
    assert other_seed.computed == 1 and other_seed.tag != cache.tag


def test_an_invalid_smiles_fails_only_its_own_molecule(model: UniMolPredictor) -> None:
    results = model.predict(["CCO", "not a smiles", "c1ccccc1", "", "C1CC"])
    assert [type(r).__name__ for r in results] == [
        "PredictedValue", "PredictionFailure", "PredictedValue", "PredictionFailure", "PredictionFailure",
    ]
    assert results[1].smiles == "not a smiles" and results[1].error_type == "InvalidStructure"
    alone = model.predict(["c1ccccc1"])[0]
    assert isinstance(alone, PredictedValue) and isinstance(results[2], PredictedValue)
    assert alone.value == pytest.approx(results[2].value, abs=1e-5)
    assert results[0].property == "logS" and results[0].model_version == model.version
    with pytest.raises(ToolInputError, match="sequence of SMILES"):
        model.predict("CCO")  # type: ignore[arg-type]


def test_the_members_predictions_average_to_the_mean(model: UniMolPredictor) -> None:
    results = model.predict_with_members(["CCO", "not a smiles", "c1ccccc1"])
    assert [type(r).__name__ for r in results] == ["tuple", "PredictionFailure", "tuple"]
    for result, predicted in zip((results[0], results[2]), model.predict(["CCO", "c1ccccc1"]), strict=True):
        assert isinstance(result, tuple) and isinstance(predicted, PredictedValue)
        prediction, drawn = result
        assert prediction.value == pytest.approx(predicted.value, abs=1e-5)
        assert prediction.uncertainty == pytest.approx(predicted.uncertainty, abs=1e-5)
        assert len(drawn) == PARAMS.n_members
        assert sum(drawn) / len(drawn) == pytest.approx(predicted.value, abs=1e-5)


# -- the network -----------------------------------------------------------------------------------------


def test_rotation_and_translation_do_not_change_the_output(model: UniMolPredictor, conformers: ConformerCache) -> None:
    conformer = conformers.conformer("CC(C)Cc1ccc(cc1)C(C)C(=O)O")  # ibuprofen
    symbols, xyz = conformer.symbols, np.asarray(conformer.coordinates)
    rng = np.random.default_rng(0)
    moved = xyz @ random_rotation(rng).T + rng.normal(scale=5.0, size=3)
    network = model.networks[0]
    before, after = forward_geometry(network, symbols, xyz), forward_geometry(network, symbols, moved)
    for key in ("cls", "output", "pair"):
        np.testing.assert_allclose(after[key], before[key], atol=1e-4, rtol=0)
    value, sigma = model.predict_geometry(symbols, xyz)
    value_moved, sigma_moved = model.predict_geometry(symbols, moved)
    assert value_moved == pytest.approx(value, abs=1e-4) and sigma_moved == pytest.approx(sigma, abs=1e-4)
    # Not vacuous: stretching the molecule moves every output 10x more than rotating it does.
    stretched = forward_geometry(network, symbols, xyz * 1.3)
    for key in ("cls", "output", "pair"):
        moved_by_rotation = float(np.abs(after[key] - before[key]).max())
        assert float(np.abs(stretched[key] - before[key]).max()) > max(10 * moved_by_rotation, 1e-6), key


def test_the_network_is_uni_mol_shaped() -> None:
    small, full = UniMolConfig.small(), UniMolConfig.full()
    assert (small.layers, small.embed_dim, small.heads, small.kernels) == (4, 128, 8, 32)
    assert (full.layers, full.embed_dim, full.ffn_dim, full.heads, full.kernels) == (15, 512, 2048, 64, 128)
    dictionary = default_dictionary()
    assert len(dictionary) == 31 and dictionary.symbols[:5] == ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "C")
    assert dictionary.symbols[-1] == "[MASK]" and dictionary.index("Xe") == dictionary.unk
    network = build_network(TINY)
    state = network.state_dict()
    for parameter in official_parameters(TINY):
        assert tuple(state[parameter.local].shape) == parameter.shape, parameter.official
    with pytest.raises(ValueError, match="multiple of heads"):
        UniMolConfig(embed_dim=100, heads=8)


def test_the_atom_readout_sums_over_atoms_only(conformers: ConformerCache) -> None:
    from tools.predict.unimol import _collate, encode_geometry

    assert UniMolConfig.small().readout == "cls+atoms"
    assert build_network(TINY.model_copy(update={"readout": "cls"})).regression_head.atom_proj is None
    network = build_network(TINY, seed=3)
    dictionary = default_dictionary()
    small, large = (conformers.conformer(s) for s in ("CCO", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"))
    encoded = [encode_geometry(c.symbols, c.coordinates, TINY, dictionary) for c in (small, large)]
    tokens, distances = _collate(encoded, dictionary.pad)
    mask = network.atom_mask(tokens)
    assert mask.sum(dim=1).tolist() == [3.0, 15.0]  # heavy atoms of ethanol and ibuprofen; not CLS, SEP or padding
    assert mask[0, 0] == 0 and mask[0, 4] == 0 and mask[0, 1:4].tolist() == [1.0, 1.0, 1.0]
    with torch.inference_mode():
        together = network.regress(tokens, distances)
        alone = network.regress(*_collate(encoded[:1], dictionary.pad))
        # The atom term is the sum of one linear contribution per atom.
        x = network.encode(tokens, distances)[0]
        head = network.regression_head
        cls_term = head.out_proj(torch.tanh(head.dense(x[:, 0, :]))).squeeze(-1)
        atom_terms = head.atom_proj(x).squeeze(-1)
    # Padding a molecule next to a larger one changes nothing.
    assert float(alone[0]) == pytest.approx(float(together[0]), abs=1e-5)
    expected = cls_term + (atom_terms * mask).sum(dim=1)
    np.testing.assert_allclose(together.numpy(), expected.numpy(), atol=1e-5)
    assert float((atom_terms[1] * mask[1]).abs().sum()) > 1e-4  # the atom term is not vacuous


# -- pretraining -----------------------------------------------------------------------------------------


def test_pretraining_runs_and_the_masked_atom_loss_falls(
    esol: TrainingRows, conformers: ConformerCache, tmp_path: Path
) -> None:
    smiles = list(esol.smiles[:50]) + ["not a smiles"]
    result = pretrain(smiles, TINY, epochs=1, seed=0, output=tmp_path / "pre.pt", conformers=conformers)
    assert (result.n_molecules, result.n_failed, result.steps) == (50, 1, 2)
    assert all(math.isfinite(v) for step in result.history for v in step.values())
    assert result.path.is_file()
    checkpoint = torch.load(result.path, weights_only=True)
    assert checkpoint["config"] == TINY.model_dump(mode="json")
    loaded = load_unimol_weights(result.path, TINY)
    assert torch.equal(loaded.state_dict()["lm_head.weight"], checkpoint["model"]["lm_head.weight"])

    # On one fixed batch, a few steps lower the masked-atom loss.
    trainer = Pretrainer(TINY, seed=0, conformers=conformers, learning_rate=3e-3)
    molecules, failures = trainer.molecules(esol.smiles[:16])
    assert not failures
    batch = trainer.masked_batch(molecules)
    assert int(batch.masked.sum()) >= 16  # at least one atom of each molecule
    losses = [trainer.step(batch)["token"] for _ in range(8)]
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.8 * losses[0]

    # A pretrained checkpoint starts a predictor, and its hash is part of the version.
    rows = esol.subset(range(100, 140))
    quick = UniMolTrainParams(min_steps=0, epochs=1, n_members=2, n_conformers=1)
    with_pretraining = UniMolPredictor.train(
        rows, config=TINY, pretrained=result.path, params=quick, conformers=conformers
    )
    without = UniMolPredictor.train(rows, config=TINY, params=quick, conformers=conformers)
    assert with_pretraining.pretrained_hash == result.sha256 and without.pretrained_hash is None
    assert with_pretraining.version != without.version


# -- accuracy, determinism, artifacts, fine-tuning -------------------------------------------------------


def test_accuracy_and_calibrated_uncertainty_on_held_out_molecules(
    model: UniMolPredictor, splits: dict[str, TrainingRows]
) -> None:
    assert isinstance(model, Predictor)
    assert (model.name, model.property, model.implemented_properties) == ("unimol", "logS", frozenset({"logS"}))
    results = model.predict(splits["test"].smiles)
    assert all(isinstance(r, PredictedValue) for r in results)
    assert all(math.isfinite(v) and math.isfinite(s) and s > 0 for v, s in values_of(results))
    metrics = model.evaluate(splits["test"])
    print("unimol small, 200 ESOL rows:", json.dumps(metrics))
    assert metrics["n"] == 50 and metrics["n_failed"] == 0
    assert metrics["spearman"] > 0.6  # measured ~0.9; a tiny model trained for seconds
    assert metrics["coverage90"] >= 0.7  # the 90% interval is not badly over-confident (measured 0.9 to 1.0)
    assert model.residual_sigma > 0
    # The small configuration starts from the bundled pretrained backbone unless told otherwise.
    bundled = json.loads(BUNDLED_BACKBONE.with_suffix(".json").read_text())
    assert model.pretrained_hash == bundled["sha256"]


def test_small_sets_train_more_epochs_up_to_a_cap() -> None:
    params = UniMolTrainParams()  # 80 epochs at least, 1600 steps of 32 at least, 200 epochs at most
    assert params.training_epochs(3000) == 80  # 94 steps an epoch: 80 epochs are 7520 steps
    assert params.training_epochs(436) == 115  # FreeSolv's training split less a member's held-out slice
    assert params.training_epochs(20) == 200  # one step an epoch: capped
    assert UniMolTrainParams(min_steps=0, epochs=7).training_epochs(20) == 7


def test_same_seed_same_model_other_seed_other_model(esol: TrainingRows, conformers: ConformerCache) -> None:
    rows = esol.subset(range(300, 360))
    quick = UniMolTrainParams(min_steps=0, epochs=2, n_members=2, n_conformers=1)
    first = UniMolPredictor.train(rows, seed=3, config=TINY, params=quick, conformers=conformers)
    second = UniMolPredictor.train(rows, seed=3, config=TINY, params=quick, conformers=conformers)
    other = UniMolPredictor.train(rows, seed=4, config=TINY, params=quick, conformers=conformers)
    probe = list(esol.smiles[400:420])
    assert first.version == second.version != other.version
    assert values_of(first.predict(probe)) == values_of(second.predict(probe))
    assert values_of(first.predict(probe)) != values_of(other.predict(probe))
    for a, b in zip(first.networks, second.networks, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_several_conformers_train_on_draws_and_predict_the_mean_over_them(
    esol: TrainingRows, conformers: ConformerCache, tmp_path: Path
) -> None:
    rows = esol.subset(range(300, 360))
    one = UniMolTrainParams(min_steps=0, epochs=2, n_members=2, n_conformers=1)
    three = one.model_copy(update={"n_conformers": 3})
    assert "n_conformers" not in one.hashed() and three.hashed()["n_conformers"] == 3  # old versions keep their hash
    # The small configuration on the bundled backbone: a network whose output depends on the geometry.
    single = UniMolPredictor.train(rows, seed=3, params=one, conformers=conformers)
    several = UniMolPredictor.train(rows, seed=3, params=three, conformers=conformers)
    assert several.version != single.version

    # Conformer k comes from the generator seeded seed + k, cached in its own folder: other geometries.
    featurizer = several.featurizer
    flexible = featurizer.structure("CCCCCCCCO")
    distances = [featurizer.molecule(flexible, k).distances for k in range(3)]
    assert not np.allclose(distances[0], distances[1]) or not np.allclose(distances[0], distances[2])
    folders = {path.name for path in conformers.directory.iterdir()}
    assert {f"{CONFORMER_GENERATOR}-seed{conformers.seed + k}" for k in range(3)} <= folders

    # A prediction is the mean over the three conformers (each one predicted alone through its geometry).
    probe = ["CCCCCCCCO", "Oc1ccccc1", "CC(=O)Nc1ccc(O)cc1"]
    predictions = several.predict(probe)
    alone_on_first = []
    for smiles, prediction in zip(probe, predictions, strict=True):
        assert isinstance(prediction, PredictedValue)
        structure = featurizer.structure(smiles)
        per_conformer = []
        for k in range(3):
            geometry = featurizer.conformer_cache(k).get(structure)
            per_conformer.append(several.predict_geometry(geometry.symbols, geometry.coordinates)[0])
        assert prediction.value == pytest.approx(float(np.mean(per_conformer)), abs=1e-5)
        alone_on_first.append(per_conformer[0])
    assert [p.value for p in predictions] != pytest.approx(alone_on_first, abs=1e-3)  # type: ignore[union-attr]

    several.save(tmp_path / "several")
    loaded = UniMolPredictor.load(tmp_path / "several", conformers=conformers)
    assert loaded.version == several.version and loaded.params.n_conformers == 3
    assert values_of(loaded.predict(probe)) == values_of(predictions)


def test_save_and_load_give_identical_predictions(
    model: UniMolPredictor, splits: dict[str, TrainingRows], tmp_path: Path
) -> None:
    model.save(tmp_path / "artifact")
    meta = json.loads((tmp_path / "artifact" / "meta.json").read_text())
    assert meta["family"] == "unimol" and meta["version"] == model.version
    loaded = UniMolPredictor.load(tmp_path / "artifact")
    assert loaded.version == model.version and loaded.config == model.config and loaded.params == model.params
    probe = list(splits["test"].smiles[:20])
    assert values_of(loaded.predict(probe)) == values_of(model.predict(probe))
    # An artifact written before n_conformers existed (one conformer per molecule) loads as what it was trained as,
    # whatever the default is now.
    meta["params"].pop("n_conformers")
    (tmp_path / "artifact" / "meta.json").write_text(json.dumps(meta))
    older = UniMolPredictor.load(tmp_path / "artifact")
    assert older.params.n_conformers == 1 and older.version == model.version
    assert values_of(older.predict(probe)) == values_of(model.predict(probe))
    # A tampered artifact is refused.
    weights = tmp_path / "artifact" / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ToolFailed, match="weights"):
        UniMolPredictor.load(tmp_path / "artifact")
    model.save(tmp_path / "artifact")
    training = tmp_path / "artifact" / "training.csv"
    training.write_text(training.read_text().replace("\n", "\nCCCCCCCC,1.0\n", 1))
    with pytest.raises(ToolFailed, match="does not match its version"):
        UniMolPredictor.load(tmp_path / "artifact")


def test_fine_tune_returns_a_new_version_and_leaves_the_parent_alone(
    model: UniMolPredictor, splits: dict[str, TrainingRows]
) -> None:
    probe = list(splits["test"].smiles[:10])
    before = values_of(model.predict(probe))
    child = model.fine_tune(splits["more"])
    assert child.version != model.version and child.parent_version == model.version
    assert len(child.training_rows) == len(model.training_rows) + len(splits["more"])
    assert child.seed == model.seed and child.params == model.params
    assert values_of(model.predict(probe)) == before
    assert all(math.isfinite(v) and s > 0 for v, s in values_of(child.predict(probe)))
    assert values_of(child.predict(probe)) != before
    with pytest.raises(ToolInputError, match="cannot fine-tune"):
        model.fine_tune(TrainingRows(property="HFE", unit="kcal/mol", smiles=("C",), values=(1.0,)))


def test_training_skips_invalid_rows_and_refuses_too_few(esol: TrainingRows, conformers: ConformerCache) -> None:
    rows = esol.subset(range(20))
    rows = rows.model_copy(update={"smiles": ("nonsense",) + rows.smiles[1:]})
    quick = UniMolTrainParams(min_steps=0, epochs=1, n_members=2, n_conformers=1)
    small = UniMolPredictor.train(rows, config=TINY, params=quick, conformers=conformers)
    assert len(small.training_rows) == 19 and "nonsense" not in small.training_rows.smiles
    with pytest.raises(ToolFailed, match="cannot train a logS model on 3 valid rows"):
        UniMolPredictor.train(esol.subset(range(3)), config=TINY, params=quick, conformers=conformers)


def test_the_registry_trains_saves_and_loads_unimol_versions(
    store, esol: TrainingRows, conformers: ConformerCache, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    from tools.predict.registry import PredictorRegistry

    class QuickUniMol:
        @staticmethod
        def train(rows: TrainingRows, seed: int = 0) -> UniMolPredictor:
            params = UniMolTrainParams(min_steps=0, epochs=2, n_members=2, n_conformers=1)
            return UniMolPredictor.train(rows, seed, TINY, params=params, conformers=conformers)

        @staticmethod
        def load(directory: Path) -> UniMolPredictor:
            return UniMolPredictor.load(directory, conformers=conformers)

    registry = PredictorRegistry(store, tmp_path / "models", families={"unimol": QuickUniMol})
    trained = registry.train("logS", esol.subset(range(500, 580)), kind="unimol")
    assert trained.record.kind == "unimol" and trained.record.metrics["n_test"] > 0
    registry.register(trained)
    fresh = PredictorRegistry(store, tmp_path / "models", families={"unimol": QuickUniMol})
    again = fresh.get(trained.record.id)
    assert again is not trained.predictor and again.version == trained.predictor.version
    assert values_of(again.predict(["CCO", "c1ccccc1O"])) == values_of(trained.predictor.predict(["CCO", "c1ccccc1O"]))


def test_the_apps_unimol_models_keep_their_conformers_in_the_conformer_directory(
    esol: TrainingRows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.app import build_app
    from knowledge.database import upgrade

    shared = tmp_path / "shared-conformers"
    monkeypatch.setenv("ATOMLOOP_CONFORMER_CACHE", str(shared))
    app = build_app()
    upgrade(app.unchecked_store.engine)
    assert app.settings.conformer_dir == shared.resolve()
    rows = esol.subset(range(600, 640))
    params = UniMolTrainParams(min_steps=0, epochs=1, n_members=2, n_conformers=2)
    trained = app.predictors.train("logS", rows, kind="unimol", options={"config": TINY, "params": params})
    app.predictors.register(trained)
    # two conformers of each of the 40 molecules, one folder per generator seed
    written = sorted(folder.name for folder in shared.iterdir())
    assert [len(list((shared / name).glob("*.json"))) for name in written] == [40, 40]
    assert written[0] == f"{CONFORMER_GENERATOR}-seed{trained.predictor.featurizer.conformers.seed}"

    # Another process (a new app, nothing in memory) loads the version and reads every conformer from disk.
    later = build_app()
    loaded = later.predictors.get(trained.record.id)
    family = later.predictors.family("unimol")
    probe = list(rows.smiles[:10])
    assert values_of(loaded.predict(probe)) == values_of(trained.predictor.predict(probe))
    assert (family.conformers.computed, family.conformers.disk_hits) == (0, 10)


# -- official checkpoints --------------------------------------------------------------------------------


def official_state(config: UniMolConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {p.official: torch.randn(p.shape, generator=generator) for p in official_parameters(config)}


def test_an_official_checkpoint_loads_into_the_same_architecture(tmp_path: Path) -> None:
    config = UniMolConfig.small()
    state = official_state(config)
    state["classification_heads.esol.dense.weight"] = torch.zeros(3, 3)  # task heads are ignored
    path = tmp_path / "mol_pre_no_h.pt"
    torch.save({"args": argparse.Namespace(arch="unimol_base"), "model": state, "extra_state": {"epoch": 3}}, path)
    network = load_unimol_weights(path, config)
    loaded = network.state_dict()
    for name in ("embed_tokens.weight", "gbf.means.weight", "gbf_proj.linear1.weight",
                 "encoder.layers.0.self_attn.in_proj.weight", "encoder.layers.3.fc2.bias", "lm_head.weight"):
        assert torch.equal(loaded[name], state[name]), name
    head = loaded["regression_head.dense.weight"]
    assert not torch.equal(head, torch.zeros_like(head))  # the regression head stays freshly initialised

    # Uni-Mol's older head naming (layer1/layer2) and a checkpoint without the pretraining heads load too.
    backbone = {k.replace("gbf_proj.linear", "gbf_proj.layer"): v for k, v in state.items()
                if not k.startswith(("lm_head", "dist_head", "pair2coord_proj", "classification"))}
    torch.save({"model": backbone}, tmp_path / "backbone.pt")
    network = load_unimol_weights(tmp_path / "backbone.pt", config)
    assert torch.equal(network.state_dict()["gbf_proj.linear2.weight"], state["gbf_proj.linear2.weight"])

    # A fine-tuned predictor starts from it.
    rows = TrainingRows.from_bundled("logS").subset(range(600, 630))
    quick = UniMolTrainParams(min_steps=0, epochs=1, n_members=2, n_conformers=1)
    predictor = UniMolPredictor.train(rows, pretrained=path, params=quick)
    assert predictor.pretrained_hash is not None


def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    config = UniMolConfig.small()
    wrong_width = official_state(config)
    wrong_width["embed_tokens.weight"] = torch.zeros(30, 128)
    torch.save({"model": wrong_width}, tmp_path / "wrong.pt")
    with pytest.raises(UniMolWeightsError, match=r"embed_tokens.weight has shape \(30, 128\)"):
        load_unimol_weights(tmp_path / "wrong.pt", config)
    with pytest.raises(UniMolWeightsError, match="does not fit"):  # full-size model, small checkpoint
        load_unimol_weights(tmp_path / "wrong.pt", UniMolConfig.full())
    deeper = official_state(config.model_copy(update={"layers": 5}))
    torch.save({"model": deeper}, tmp_path / "deeper.pt")
    with pytest.raises(UniMolWeightsError, match="more layers"):
        load_unimol_weights(tmp_path / "deeper.pt", config)
    missing = official_state(config)
    del missing["encoder.layers.2.fc1.weight"]
    torch.save({"model": missing}, tmp_path / "missing.pt")
    with pytest.raises(UniMolWeightsError, match="missing encoder.layers.2.fc1.weight"):
        load_unimol_weights(tmp_path / "missing.pt", config)
    with pytest.raises(UniMolWeightsError, match="no checkpoint file"):
        load_unimol_weights(tmp_path / "absent.pt", config)
    # Pickled objects other than tensors are refused unless trusted.
    torch.save({"model": official_state(config), "saved": datetime.date(2022, 8, 16)}, tmp_path / "pickled.pt")
    with pytest.raises(UniMolWeightsError, match="trust_pickle"):
        load_unimol_weights(tmp_path / "pickled.pt", config)
    assert load_unimol_weights(tmp_path / "pickled.pt", config, trust_pickle=True) is not None
    # ... even when their classes cannot be imported here (official checkpoints pickle unicore's meters).
    meters = types.ModuleType("unicore_meters_for_test")

    class AverageMeter:
        def __init__(self) -> None:
            self.sum, self.count = 3.0, 2

    AverageMeter.__module__, AverageMeter.__qualname__ = meters.__name__, "AverageMeter"
    meters.AverageMeter = AverageMeter  # type: ignore[attr-defined]
    sys.modules[meters.__name__] = meters
    try:
        torch.save({"model": official_state(config), "extra_state": {"metrics": AverageMeter()}}, tmp_path / "u.pt")
    finally:
        del sys.modules[meters.__name__]
    network = load_unimol_weights(tmp_path / "u.pt", config, trust_pickle=True)
    assert torch.equal(network.state_dict()["embed_tokens.weight"], official_state(config)["embed_tokens.weight"])
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(UniMolWeightsError, match="cannot read"):
        load_unimol_weights(tmp_path / "garbage.pt", config)
    assert isinstance(UniMolWeightsError("x"), ToolFailed)


def test_importing_the_module_loads_no_heavy_library() -> None:
    code = (
        "import sys, tools.predict.unimol\n"
        "heavy = [m for m in ('torch', 'rdkit', 'numpy', 'sklearn') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
