from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from agent.app import build_app
from agent.cli import cli
from agent.plan import Answer, Plan, PlannedStep
from agent.planners.scripted import ScriptedPlanner
from agent.runs import RunManager

BACE = [
    "Cc1ccccc1-c1ccc2nc(N)c(C[C@@H](C)C(=O)N[C@@H]3CCOC(C)(C)C3)cc2c1",
    "CC#Cc1cncc(-c2cccc([C@@]3(C)CS(=O)(=O)C(C)(C)C(N)=N3)c2)c1",
    "CCOC[C@@H](Oc1cc(C[C@@H](C)C(=O)NC2CCOC(C)(C)C2)cc2cc(-c3ccccc3C)ccc12)c1ccccc1",
]


def _json(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _every(data_dir: Path, name: str, every: int, tmp_path: Path) -> Path:
    """Every ``every``-th row of a bundled file: a sample of ESOL trains a model as good as these tests ask, in a
    fraction of the time (the accuracy on the whole file is tests/tools/test_predict.py's to check)."""
    header, *rows = (data_dir / name).read_text(encoding="utf-8").splitlines()
    path = tmp_path / name
    path.write_text("\n".join([header, *rows[::every]]) + "\n", encoding="utf-8")
    return path


def test_train_list_and_predict_with_the_newest_approved_version(data_dir: Path, tmp_path: Path) -> None:
    _json("db", "init")
    assert _json("db", "import", str(_every(data_dir, "delaney.csv", 4, tmp_path)), "--property", "logS")["imported"] == 282
    trained = _json("models", "train", "--property", "logS")
    assert trained["approved"] is True and trained["kind"] == "fingerprint"
    assert "snapshot" in trained["trained_on"]
    assert trained["metrics"]["rmse"] < 1.0 and 0.8 <= trained["metrics"]["coverage90"] <= 1.0
    listed = _json("models", "list", "--property", "logS")
    assert [v["id"] for v in listed] == [trained["id"]]
    answer = _json("ask", "--offline", "predict logS of CCO")
    assert answer["steps"][0]["result"]["model"]["version"] == trained["id"]
    assert answer["steps"][0]["result"]["model"]["newly_trained"] is False


def test_finetune_records_lineage(data_dir: Path, tmp_path: Path) -> None:
    _json("db", "init")
    _json("db", "import", str(_every(data_dir, "freesolv.csv", 3, tmp_path)), "--property", "hydration_free_energy")
    parent = _json("models", "train", "--property", "hydration_free_energy")
    _json("db", "import", str(_every(data_dir, "delaney.csv", 4, tmp_path)), "--property", "logS")  # unrelated data: same snapshot
    child = _json("models", "finetune", "--property", "hydration_free_energy", "--from", parent["id"])
    assert child["parent_id"] == parent["id"]
    assert child["id"] != parent["id"]
    assert "parent_rmse" in child["metrics"]


def test_calibration_joins_predictions_and_the_measurements_they_motivated() -> None:
    _json("db", "init")
    app = build_app()
    planner = ScriptedPlanner([
        Plan(steps=[
            PlannedStep(tool="predict_property", args={"smiles": BACE, "property": "pIC50"}),
            PlannedStep(tool="run_experiment", args={"smiles": BACE, "assays": ["potency"]}),
        ]),
        Answer(text="done"),
    ])
    result = RunManager(app, planner=planner).start("predict then measure", run_id="run-calibration")
    version = result.steps[0].result["model"]["version"]
    measured = [m for m in result.steps[1].result["measurements"] if m["property"] == "pIC50" and m["status"] == "ok"]
    shown = _json("models", "show", version)
    calibration = shown["calibration"]
    assert calibration["n"] == len(measured) > 0
    predicted = {p["smiles"]: p["value"] for p in result.steps[0].result["predictions"]}
    errors = [m["value"] - predicted[m["smiles"]] for m in measured]
    assert abs(calibration["rmse"] - (sum(e * e for e in errors) / len(errors)) ** 0.5) < 1e-9
    assert 0 <= calibration["coverage90"] <= 1
