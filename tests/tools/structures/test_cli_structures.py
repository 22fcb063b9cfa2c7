"""``atomloop structures embed``: an SDF from a file with bad lines (exit 0, the bad lines listed), exit 2 for garbage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import cli
from tools.structures.io import read_sdf


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ATOMLOOP_COMPUTE__EXECUTOR", "inline")
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "init"]).exit_code == 0
    return runner


def test_embed_writes_the_sdf_and_lists_invalid_lines(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "mols.smi"
    source.write_text("CC(=O)O acid\nnot-a-smiles\nCCN amine\nC1CC\n", encoding="utf-8")
    out = tmp_path / "out.sdf"
    result = runner.invoke(cli, ["structures", "embed", str(source), "--out", str(out), "--conformers", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["molecules"], summary["embedded"], summary["jobs"], summary["reused_jobs"]) == (4, 2, 2, 0)
    assert [(e["line"], e["text"]) for e in summary["invalid"]] == [(2, "not-a-smiles"), (4, "C1CC")]
    assert summary["out"] == str(out) and summary["ph"] == 7.4 and summary["executor"] == "inline"
    assert [(r.name, r.properties["smiles"]) for r in read_sdf(out)] == [("acid", "CC(=O)[O-]"), ("amine", "CC[NH3+]")]

    again = runner.invoke(cli, ["structures", "embed", str(source), "--out", str(out), "--conformers", "2"])
    assert again.exit_code == 0, again.output
    assert "2 reused" in again.stdout and "lines 2, 4" in again.stdout and "not-a-smiles" in again.stdout


def test_embed_without_protonation_and_with_a_seed(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "mols.csv"
    source.write_text("name,smiles\nacid,CC(=O)O\n", encoding="utf-8")
    out = tmp_path / "neutral.sdf"
    result = runner.invoke(cli, ["structures", "embed", str(source), "-o", str(out), "--no-protonate", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    record = read_sdf(out)[0]
    assert (record.properties["smiles"], record.properties["seed"], "ph" in record.properties) == ("CC(=O)O", "3", False)


def test_garbage_and_bad_options_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.smi"
    garbage.write_text("hello world\n%%%\n((((\n", encoding="utf-8")
    out = tmp_path / "out.sdf"
    result = runner.invoke(cli, ["structures", "embed", str(garbage), "--out", str(out), "--json"])
    assert result.exit_code == 2
    summary = json.loads(result.stdout)
    assert summary["embedded"] == 0 and len(summary["invalid"]) == 3 and "nothing was written" in summary["error"]
    assert not out.exists()
    binary = tmp_path / "image.sdf"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    unreadable = runner.invoke(cli, ["structures", "embed", str(binary), "--out", str(out), "--json"])
    assert unreadable.exit_code == 2 and "PNG image" in json.loads(unreadable.stdout)["error"]
    both = runner.invoke(cli, ["structures", "embed", str(garbage), "--out", str(out), "--ph", "7", "--no-protonate"])
    assert both.exit_code == 2 and "not both" in both.stderr
    acid_rain = runner.invoke(cli, ["structures", "embed", str(garbage), "--out", str(out), "--ph", "15"])
    assert acid_rain.exit_code == 2 and "ph" in acid_rain.stderr
    missing = runner.invoke(cli, ["structures", "embed", str(tmp_path / "missing.smi"), "--out", str(out)])
    assert missing.exit_code == 2 and "no such" in missing.stderr
