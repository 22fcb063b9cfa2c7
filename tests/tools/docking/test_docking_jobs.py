"""Docking a batch as compute jobs gives what docking it in one process gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from agent.cli import cli
from knowledge.models import ComputeJob

FAST = ["--exhaustiveness", "1", "--poses", "2", "--seed", "5", "--cpu", "1"]


def _dock(ligands: Path, home: Path, executor: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("ATOMLOOP_HOME", str(home))
    monkeypatch.setenv("ATOMLOOP_COMPUTE__EXECUTOR", executor)
    monkeypatch.setenv("ATOMLOOP_COMPUTE__WORKERS", "2")
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "init", "--json"]).exit_code == 0
    result = runner.invoke(cli, ["dock", "1IEP", str(ligands), *FAST, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_jobs_on_a_local_pool_dock_as_the_process_itself_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ligands = tmp_path / "ligands.smi"
    ligands.write_text("Oc1ccccc1 phenol\nNC(=O)c1ccccc1 benzamide\nCC(=O)Nc1ccc(O)cc1 paracetamol\n")
    inline = _dock(ligands, tmp_path / "inline", "inline", monkeypatch)
    pooled = _dock(ligands, tmp_path / "pooled", "local", monkeypatch)
    scores = {r["input"]: [p["score"] for p in r["poses"]] for r in inline["results"]}
    assert {r["input"]: [p["score"] for p in r["poses"]] for r in pooled["results"]} == scores
    assert all(Path(r["pose_file"]).is_relative_to(tmp_path / "pooled") for r in pooled["results"])
    from agent.app import build_app

    with build_app() as app, app.store.session() as session:
        jobs = session.exec(select(ComputeJob).where(ComputeJob.group == "dock to 1IEP")).all()
    assert jobs and all(job.status == "succeeded" for job in jobs)
    assert sum(len(job.inputs["ligands"]) for job in jobs) == 3
