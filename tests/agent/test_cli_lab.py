from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.cli import cli
from knowledge.bundled import bundled_dir
from knowledge.chem import canonicalize
from simulators.runner import free_loopback_port


@pytest.fixture(scope="module")
def bace10(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    rows = list(csv.DictReader((bundled_dir() / "bace_pic50.csv").open()))[:10]
    path = tmp_path_factory.mktemp("bace") / "bace10.smi"
    path.write_text("".join(f"{r['smiles']} {r['cid']}\n" for r in rows))
    return path, {canonicalize(r["smiles"]).inchikey: float(r["pIC50"]) for r in rows}


def _simulate(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["lab", "simulate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_simulate_ten_bace_compounds_matches_the_noise_model(bace10: tuple[Path, dict[str, float]]) -> None:
    path, truth = bace10
    payload = _simulate("--smiles-file", str(path), "--assay", "potency", "--seed", "3")
    potency = [m for m in payload["measurements"] if m["property"] == "pIC50"]
    assert len(potency) + len(payload["failures"]) == 10
    assert len(potency) >= 7
    errors = []
    for m in potency:
        assert m["unit"] == "-log10(mol/L)"
        assert m["uncertainty"] == pytest.approx(0.3, abs=0.1)
        if m["status"] == "ok":
            errors.append(m["value"] - truth[canonicalize(m["smiles"]).inchikey])
    assert all(abs(e) < 4 * 0.3 for e in errors)
    assert float(np.sqrt(np.mean(np.square(errors)))) < 0.6
    assert payload["makespan_s"] > 4 * 3600  # at least one synthesis
    assert set(payload["measurements"][0]) >= {"smiles", "property", "value", "uncertainty", "unit", "status"}


def test_same_seed_same_readings_and_sila2_gives_the_same_answer(bace10: tuple[Path, dict[str, float]]) -> None:
    path, _ = bace10
    first = _simulate("--smiles-file", str(path), "--seed", "5", "--assay", "potency", "--assay", "solubility")
    again = _simulate("--smiles-file", str(path), "--seed", "5", "--assay", "potency", "--assay", "solubility")
    over_sila = _simulate("--smiles-file", str(path), "--seed", "5", "--assay", "potency", "--assay", "solubility", "--transport", "sila2")
    assert first["measurements"] == again["measurements"]
    assert over_sila["measurements"] == first["measurements"]
    assert over_sila["transport"] == "sila2"
    assert {m["property"] for m in first["measurements"]} == {"purity", "pIC50", "logS"}
    other_seed = _simulate("--smiles-file", str(path), "--seed", "6", "--assay", "potency")
    assert [m["value"] for m in other_seed["measurements"]] != [m["value"] for m in first["measurements"] if m["property"] != "logS"]


def test_simulate_can_record_into_the_store(bace10: tuple[Path, dict[str, float]]) -> None:
    path, _ = bace10
    runner = CliRunner()
    runner.invoke(cli, ["db", "init"])
    payload = _simulate("--smiles-file", str(path), "--seed", "1", "--record")
    stats = json.loads(runner.invoke(cli, ["db", "stats", "--json"]).stdout)
    assert stats["measurements"] == len(payload["measurements"])
    assert stats["measurements_by_source"] == {"simulated": len(payload["measurements"])}
    _simulate("--smiles-file", str(path), "--seed", "1", "--record")  # same op ids: nothing new
    assert json.loads(runner.invoke(cli, ["db", "stats", "--json"]).stdout)["measurements"] == len(payload["measurements"])


def test_unknown_assay_is_an_error(bace10: tuple[Path, dict[str, float]]) -> None:
    path, _ = bace10
    result = CliRunner().invoke(cli, ["lab", "simulate", "--smiles-file", str(path), "--assay", "toxicity"])
    assert result.exit_code != 0
    assert "unknown assay" in result.stderr


def test_invalid_smiles_in_the_file_is_reported_per_molecule(tmp_path: Path) -> None:
    path = tmp_path / "m.smi"
    path.write_text("CCO\nnot_a_smiles\n")
    payload = _simulate("--smiles-file", str(path))
    assert [f["error_type"] for f in payload["failures"]] == ["InvalidRequest"]
    assert {m["smiles"] for m in payload["measurements"]} == {"CCO"}


def test_status_lists_instruments_and_inventory() -> None:
    result = CliRunner().invoke(cli, ["lab", "status", "--json"])
    payload = json.loads(result.stdout)
    assert {i["kind"] for i in payload["instruments"]} == {"liquid_handler", "synthesizer", "plate_reader", "solubility_meter", "lcms", "balance"}
    assert all(i["simulated"] for i in payload["instruments"])
    buffer = next(item for item in payload["labware"] if item["id"] == "buffer")
    assert buffer["volume_ul"] == pytest.approx(250_000)


def test_serve_runs_a_sila2_server_a_client_can_use(tmp_path: Path) -> None:
    from lab.sila import SilaInstrumentClient

    port = free_loopback_port()
    script = Path(sys.executable).parent / "atomloop"
    server = subprocess.Popen([str(script), "lab", "serve", "--instrument", "plate-reader", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        client = SilaInstrumentClient("plate_reader", port=port)
        deadline = time.monotonic() + 90  # the server's start-up (imports, gRPC) is slow on a loaded machine
        while True:
            try:
                client.connect()
                break
            except Exception:
                if server.poll() is not None:
                    pytest.fail(server.stderr.read() if server.stderr else "server exited")
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        description = client.describe()
        assert description.kind == "plate_reader" and description.transport == "sila2"
        client.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert server.returncode == 0
