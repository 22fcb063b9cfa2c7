"""DPA-2 through deepmd-kit: ``atomloop atoms train --quick`` learns DFT water forces from 20 frames, registers a
version tested on held-out frames, runs through deepmd-kit's ASE calculator, and fine-tunes into a child that
records its parent."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("ase")
pytest.importorskip("deepmd")

from typer.testing import CliRunner  # noqa: E402

from agent.cli import cli  # noqa: E402
from tools.atomistic.structure import read_deepmd  # noqa: E402
from tools.atomistic.training import TrainingPlan, neighbour_selection, training_input  # noqa: E402

WATER = Path(__file__).parent / "data" / "water"


def _atoms(*args: str, code: int = 0) -> dict:
    result = CliRunner().invoke(cli, ["atoms", *args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.fixture
def home(cli_home: Path) -> Path:
    return cli_home


def test_a_quick_dpa2_trains_runs_through_the_ase_calculator_and_fine_tunes(home: Path) -> None:
    # the whole path on few steps (the default suite); the slow test below checks that it learns
    _train_test_and_finetune(steps=40, finetune_steps=10, learns=False)


@pytest.mark.slow
def test_a_quick_dpa2_learns_water_forces_and_keeps_them_when_fine_tuned(home: Path) -> None:
    _train_test_and_finetune(steps=300, finetune_steps=40, learns=True)


def _train_test_and_finetune(*, steps: int, finetune_steps: int, learns: bool) -> None:
    trained = _atoms("train", "--data", str(WATER / "train"), "--validation", str(WATER / "heldout"), "--quick", "--steps", str(steps))
    assert trained["approved"] is True and trained["metrics"]["training_frames"] == 20 and trained["metrics"]["heldout_frames"] == 8
    if learns:
        assert trained["force_rmse_mev_per_a"] < 0.85 * trained["zero_force_rmse_mev_per_a"]  # it learned forces (509 of 830 meV/Å with seed 1)
        assert trained["energy_rmse_per_atom_mev"] < 100
    listed = _atoms("models")["models"]
    assert [m["version"] for m in listed] == [trained["version"]] and listed[0]["force_rmse_mev_per_a"] == trained["force_rmse_mev_per_a"]
    tested = _atoms("test", "--model", f"dpa2:{trained['version'][:8]}", "--data", str(WATER / "heldout"))
    assert tested["force_rmse_mev_per_a"] == pytest.approx(trained["force_rmse_mev_per_a"], rel=1e-6)
    frame = read_deepmd(WATER / "heldout")[0]
    point = _atoms("calc", str(WATER / "heldout"), "--model", trained["model"])  # deepmd.calculator.DP, one frame
    reference_error = abs(point["energy"] - frame.get_potential_energy()) / len(frame) * 1000
    assert point["potential_version"].startswith("deepmd-kit 3.") and math.isfinite(point["energy"])
    if learns:
        assert reference_error < 100  # meV/atom

    child = _atoms("train", "--data", str(WATER / "train"), "--validation", str(WATER / "heldout"), "--finetune", trained["version"],
                   "--steps", str(finetune_steps))
    assert child["parent"] == trained["version"] and child["version"] != trained["version"]
    parent_on_heldout = child["metrics"]["parent_heldout"]["force_rmse_mev_per_a"]
    assert parent_on_heldout == pytest.approx(trained["force_rmse_mev_per_a"], rel=1e-6)
    assert child["approved"] == (child["force_rmse_mev_per_a"] <= parent_on_heldout)
    if learns:
        assert child["force_rmse_mev_per_a"] < 0.85 * child["zero_force_rmse_mev_per_a"]  # it kept what the parent learned
    versions = {m["version"]: m for m in _atoms("models")["models"]}
    assert versions[child["version"]]["parent"] == trained["version"]


def test_bad_training_input_is_refused_before_anything_trains(home: Path, tmp_path: Path) -> None:
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    (unlabelled / "frame.xyz").write_text("3\n\nO 0 0 0\nH 0 0 0.97\nH 0.93 0 -0.26\n")
    for args, message in [
        (["--data", str(unlabelled / "frame.xyz")], "without an energy and forces"),
        (["--data", str(tmp_path / "missing")], "no such file"),
        (["--data", str(WATER / "train"), "--finetune", "no-such-version"], "no dpa2 model"),
        (["--data", str(WATER / "train"), "--model", "mace"], "trains dpa2 models"),
    ]:
        result = CliRunner().invoke(cli, ["atoms", "train", *args])
        assert result.exit_code == 2, result.output
        assert message in result.stderr


def test_neighbour_selections_hold_every_neighbour_and_the_input_is_deepmds() -> None:
    frames = read_deepmd(WATER / "train")
    nsel = neighbour_selection(frames)
    assert nsel["repinit"] >= 108 and nsel["repinit"] % 4 == 0  # water's densest shell within 6 Å holds 108 atoms
    assert 39 <= nsel["repformer"] < nsel["repinit"]  # and within 4 Å, 39 (deepmd-kit's neighbour statistics of these frames)
    plan = TrainingPlan(training=["a"], validation=["b"], type_map=["O", "H"], steps=400, nsel=nsel)
    config = training_input(plan)
    assert config["model"]["descriptor"]["type"] == "dpa2" and config["model"]["descriptor"]["repinit"]["nsel"] == nsel["repinit"]
    rates = config["learning_rate"]
    assert rates["stop_lr"] == pytest.approx(rates["start_lr"] / 20) and plan.model_copy(update={"steps": 10_000}).final_lr == pytest.approx(2e-5)
