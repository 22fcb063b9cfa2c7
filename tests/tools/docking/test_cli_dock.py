"""``atomloop dock``: the command a new user runs, its JSON, its records in the store and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from agent.cli import cli
from agent.cli_common import EXIT_INPUT
from knowledge.models import DockingTarget, Measurement

FAST = ["--exhaustiveness", "1", "--poses", "3", "--seed", "3", "--cpu", "1"]


def _run(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    payload = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, payload


def test_docking_to_a_bundled_target_records_a_score_and_a_second_run_is_cached(tmp_path: Path, _isolated_home: Path) -> None:
    assert _run("db", "init")[0] == 0
    ligands = tmp_path / "ligands.smi"
    ligands.write_text("NC(=O)c1ccccc1 benzamide\nnot_a_smiles broken\nOc1ccccc1 phenol\n")
    code, payload = _run("dock", "1IEP", str(ligands), *FAST, "--out", str(tmp_path / "poses"))
    assert code == 0, payload
    assert payload["target"] == "1IEP" and payload["engine"] == "vina"
    by_name = {result["input"]: result for result in payload["results"]}
    assert set(by_name) == {"benzamide", "broken", "phenol"}
    assert by_name["broken"]["error"] and by_name["broken"]["score"] is None
    benzamide = by_name["benzamide"]
    assert benzamide["score"] == benzamide["poses"][0]["score"] < -3
    assert {"rank", "score", "rmsd_lb", "rmsd_ub"} == set(benzamide["poses"][0])
    assert Path(benzamide["pose_file"]) == tmp_path / "poses" / "benzamide.sdf" and Path(benzamide["pose_file"]).exists()
    assert payload["new_measurements"] == 2
    again_code, again = _run("dock", "1IEP", str(ligands), *FAST)
    assert again_code == 0 and again["new_measurements"] == 0
    assert all(result["cached"] for result in again["results"] if result["error"] is None)
    from agent.app import build_app

    with build_app() as app, app.store.session() as session:
        scores = session.exec(select(Measurement).where(Measurement.property == "docking_score")).all()
        target = session.exec(select(DockingTarget)).one()
    assert len(scores) == 2 and {m.conditions["target"] for m in scores} == {"1IEP"}
    assert target.name == "1IEP" and target.receptor_hash == payload["receptor"]["hash"]


def test_score_only_answers_with_the_score_and_vinas_terms_by_name(_isolated_home: Path) -> None:
    from tools.docking.targets import TARGETS_DIR

    assert _run("db", "init")[0] == 0
    code, payload = _run("dock", "1IEP", "--score-only", str(TARGETS_DIR / "1iep_ligand.sdf"))
    assert code == 0, payload
    (result,) = payload["results"]
    # Vina's tutorial scores imatinib's crystal pose at about -12.5 kcal/mol (with the crystal's protonation)
    assert -14.0 < result["score"] < -11.0
    terms = result["terms"]
    assert {"gauss1", "gauss2", "repulsion", "hydrophobic", "hydrogen", "intramolecular", "torsion_penalty"} <= set(terms)
    assert sum(terms[name] for name in ("gauss1", "gauss2", "repulsion", "hydrophobic", "hydrogen")) == pytest.approx(terms["intermolecular"], abs=0.01)
    assert terms["intermolecular"] + terms["intramolecular"] + terms["torsion_penalty"] - terms["unbound"] == pytest.approx(result["score"], abs=0.01)
    assert terms["repulsion"] > 0 > terms["gauss1"]


def test_a_user_target_is_added_by_name_listed_and_docked_to(tmp_path: Path, _isolated_home: Path) -> None:
    from tools.docking.targets import TARGETS_DIR

    assert _run("db", "init")[0] == 0
    receptor = tmp_path / "abl.pdb"
    receptor.write_bytes((TARGETS_DIR / "1iep_receptor.pdb").read_bytes())
    code, added = _run("dock", "targets", "add", "abl-site", str(receptor), "--autobox-ligand", str(TARGETS_DIR / "1iep_ligand.sdf"))
    assert code == 0, added
    receptor.unlink()  # the target keeps its own copy
    listed = {row["name"]: row for row in _run("dock", "targets")[1]["targets"]}
    assert {"1IEP", "4IVT", "abl-site"} <= set(listed) and listed["abl-site"]["source"] == "user"
    code, payload = _run("dock", "abl-site", "Oc1ccccc1", *FAST)
    assert code == 0, payload
    assert payload["target"] == "abl-site" and payload["box"] == added["box"]
    assert _run("dock", "targets", "add", "abl-site", str(TARGETS_DIR / "1iep_receptor.pdb"), "--center", "0", "0", "0", "--size", "10", "10", "10")[0] == EXIT_INPUT


def test_input_the_user_must_fix_exits_2_with_the_reason(tmp_path: Path, _isolated_home: Path) -> None:
    from tools.docking.targets import TARGETS_DIR

    assert _run("db", "init")[0] == 0
    code, payload = _run("dock", "NOPE", "CCO")
    assert code == EXIT_INPUT and "no docking target 'NOPE'" in payload["error"] and "1IEP" in payload["error"]
    receptor = str(TARGETS_DIR / "1iep_receptor.pdb")
    code, payload = _run("dock", receptor, "CCO")
    assert code == EXIT_INPUT and "without a box" in payload["error"]
    code, payload = _run("dock", receptor, "CCO", "--center", "500", "500", "500", "--size", "20", "20", "20")
    assert code == EXIT_INPUT and "no receptor atom lies in the box" in payload["error"]
    code, payload = _run("dock", "1IEP", "CCO", "--size", "200", "20", "20", "--center", "15", "53", "16")
    assert code == EXIT_INPUT and "126 Angstrom" in payload["error"]
    code, payload = _run("dock", "1IEP", "not a molecule at all")
    assert code == EXIT_INPUT and "cannot turn" in payload["error"]
    only_bad = tmp_path / "bad.smi"
    only_bad.write_text("C1CC( broken\n")
    code, payload = _run("dock", "1IEP", str(only_bad), *FAST)
    assert code == EXIT_INPUT and payload["results"][0]["error"]


def test_ask_docks_through_the_tool_and_the_record_step_stores_the_score(_isolated_home: Path) -> None:
    from agent.app import build_app

    assert _run("db", "init")[0] == 0
    code, payload = _run("ask", "--offline", "dock phenol to 1IEP")
    assert code == 0, payload
    assert payload["status"] == "succeeded" and [step["tool"] for step in payload["steps"]] == ["dock_molecules"]
    (docked,) = payload["steps"][0]["result"]["docked"]
    assert docked["smiles"] == "Oc1ccccc1" and docked["score"] < -3
    assert "Docked to 1IEP" in payload["answer"] and "kcal/mol" in payload["answer"]
    with build_app() as app, app.store.session() as session:
        (measurement,) = session.exec(select(Measurement).where(Measurement.property == "docking_score")).all()
        assert measurement.value == docked["score"] and measurement.tool_call_id is not None
        assert measurement.provenance["run_id"] == payload["run_id"] and measurement.conditions["target"] == "1IEP"
