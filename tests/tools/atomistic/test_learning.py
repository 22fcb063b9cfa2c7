"""Concurrent learning: the trust bands and selections, the configuration, an exploration by a committee of two
real potentials (GFN2- and GFN1-xTB disagree by a genuine deviation), and (slow) the whole loop, killed with
SIGKILL while it fine-tunes and resumed without relabelling a frame."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ase")
pytest.importorskip("tblite")

from sqlmodel import select  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from agent.cli import cli  # noqa: E402
from tools.atomistic.learning import read_config, select_at_random, select_by_deviation, trust_bands  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def test_trust_bands_and_selections_follow_dp_gen() -> None:
    deviations = [0.01, 0.05, 0.12, 0.2, 0.3, 0.5, float("inf"), 0.15]
    bands = trust_bands(deviations, lower=0.1, upper=0.4)
    assert (bands.frames, bands.accurate, bands.candidate, bands.failed) == (8, 0.25, 0.5, 0.25)
    assert select_by_deviation(deviations, 0.1, 0.4, count=10, seed=0) == [2, 3, 4, 7]  # every candidate, no other
    picked = select_by_deviation(deviations, 0.1, 0.4, count=2, seed=0)
    assert len(picked) == 2 and set(picked) <= {2, 3, 4, 7} and picked == select_by_deviation(deviations, 0.1, 0.4, count=2, seed=0)
    assert select_by_deviation([0.5, 0.9, 0.45, float("inf"), 0.2], 0.1, 0.4, count=3, seed=0, fill_from_failed=True) == [0, 2, 4]
    drawn = select_at_random(100, 5, seed=1, exclude=[0, 1, 2])
    assert len(set(drawn)) == 5 and not set(drawn) & {0, 1, 2}


def test_a_configuration_is_checked_and_its_structure_path_is_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "mol.xyz").write_text("3\n\nO 0 0 0\nH 0 0 0.97\nH 0.93 0 -0.26\n")
    good = tmp_path / "run.yaml"
    good.write_text("name: w\nsystem: {structure: mol.xyz}\n")
    config = read_config(good)
    assert config.system.source == str(tmp_path / "mol.xyz") and config.model.committee == 2 and config.select.converged_fraction == 0.9
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: w\nsystem: {smiles: O}\nselect: {lower: 0.5, upper: 0.1}\nmodel: {committee: 1}\n")
    result = CliRunner().invoke(cli, ["atoms", "learn", str(bad)])
    assert result.exit_code == 2 and "upper trust level must be above" in result.stderr and "committee" in result.stderr
    assert read_config(ROOT / "examples" / "learn_ethanol.yaml").system.smiles == "CCO"  # the shipped example is valid


def test_an_exploration_by_a_committee_records_each_frames_deviation(tmp_path: Path) -> None:
    from ase.io import read

    from tools.atomistic.jobs import exploration_job, structure_ref
    from tools.atomistic.models import ModelSpec
    from tools.atomistic.structure import read_structure

    ref = structure_ref(read_structure("O"), tmp_path)
    options = {"temperature_k": 300.0, "steps": 30, "interval": 5, "seed": 1}
    result = exploration_job([ModelSpec(name="xtb").model_dump(), ModelSpec(name="gfn1-xtb").model_dump()], ref.model_dump(), options, str(tmp_path))
    frames = read(result["trajectory"], index=":")
    assert len(frames) == len(result["deviations"]) == result["expected_frames"] == 7
    assert all(0.0 < d < 5.0 for d in result["deviations"])  # two xTB parametrisations disagree, but not wildly
    assert [f.info["max_force_deviation"] for f in frames] == pytest.approx(result["deviations"])
    stopped = exploration_job([ModelSpec(name="xtb").model_dump(), ModelSpec(name="gfn1-xtb").model_dump()], ref.model_dump(),
                              {**options, "stop_deviation": 1e-6}, str(tmp_path))
    assert stopped["stopped_early"] and len(stopped["deviations"]) < stopped["expected_frames"]


TINY = """name: tiny-water
system: {smiles: O}
oracle: xtb
model: {size: quick, committee: 2, initial_steps: 40, finetune_steps: 20}
explore: {temperatures: [300], steps: 40, interval: 5}
select: {lower: 0.02, upper: 5.0, max_per_iteration: 3}
data: {initial_frames: 4, heldout_frames: 4, interval: 5}
iterations: 1
label_budget: 10
compare_random: false
"""


@pytest.mark.slow
def test_learning_killed_while_it_fine_tunes_resumes_without_relabelling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("deepmd")
    from agent.app import build_app
    from knowledge.models import AtomisticResult, ComputeJob, LearningRun

    home = tmp_path / "home"
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    env = {**os.environ, "ATOMLOOP_HOME": str(home), "ATOMLOOP_COMPUTE__EXECUTOR": "inline"}
    monkeypatch.setenv("ATOMLOOP_HOME", str(home))
    monkeypatch.setenv("ATOMLOOP_COMPUTE__EXECUTOR", "inline")
    assert CliRunner().invoke(cli, ["db", "init", "--json"]).exit_code == 0
    atomloop = [str(Path(sys.executable).with_name("atomloop"))]

    def selected_labels() -> list[AtomisticResult]:
        with build_app() as app, app.store.session() as session:
            rows = session.exec(select(AtomisticResult).where(AtomisticResult.task == "calc")).all()
        return [row for row in rows if row.details.get("role") == "selected"]

    process = subprocess.Popen([*atomloop, "atoms", "learn", str(config), "--json"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not selected_labels() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    assert process.poll() is None, "the run ended before it could be killed while fine-tuning"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    labelled = {row.op_id for row in selected_labels()}
    assert 1 <= len(labelled) <= 3
    with build_app() as app, app.store.session() as session:
        assert session.get(LearningRun, session.exec(select(LearningRun)).one().id).status == "running"  # killed: no chance to say so

    finished = subprocess.run([*atomloop, "atoms", "learn", str(config), "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["status"] in ("finished", "converged") and [it["iteration"] for it in report["iterations"]][0] == 0
    assert {row.op_id for row in selected_labels()} == labelled  # the same labels, none made again
    with build_app() as app, app.store.session() as session:
        label_jobs = [job for job in session.exec(select(ComputeJob).where(ComputeJob.group == "atoms learn: labels")).all()]
    assert len(label_jobs) == len(labelled) and all(job.attempts == 1 for job in label_jobs)
    assert report["labels_spent"] == 4 + len(labelled)
