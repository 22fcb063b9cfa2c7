"""Hydration free energies end to end: solutes read in canonical order, GAFF-2.11/AM1-BCC parameters cached by
InChIKey, the OBC2 coupling sampled as compute jobs, MBAR with its error and overlap, and typed refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openmm")
pytest.importorskip("pymbar")
pytest.importorskip("openmmforcefields")

from typer.testing import CliRunner  # noqa: E402

from agent.cli import cli  # noqa: E402
from tools.errors import ToolInputError  # noqa: E402
from tools.freeenergy.errors import FreeEnergySetupError, ParametrizationFailed, SoluteInputError  # noqa: E402
from tools.freeenergy.parameters import load_system, solute_parameters  # noqa: E402
from tools.freeenergy.solute import read_solute  # noqa: E402


def test_two_spellings_of_one_molecule_are_one_solute_in_one_atom_order(tmp_path: Path) -> None:
    first, second = read_solute("OCC"), read_solute("C(O)C")
    assert first.inchikey == second.inchikey == "LFQSCWFLJHTTHZ-UHFFFAOYSA-N" and first.smiles == second.smiles == "CCO"
    symbols = [atom.GetSymbol() for atom in first.mol().GetAtoms()]
    assert symbols == [atom.GetSymbol() for atom in second.mol().GetAtoms()] and sorted(symbols) == sorted("CCOHHHHHH")
    assert first.mol().GetConformer().Is3D()
    sdf = tmp_path / "ethanol.sdf"
    sdf.write_text(first.molblock + "$$$$\n")
    from_file = read_solute(str(sdf))
    assert from_file.inchikey == first.inchikey and from_file.name == "ethanol" and from_file.source == str(sdf.resolve())
    assert np.allclose(from_file.mol().GetConformer().GetPositions(), first.mol().GetConformer().GetPositions(), atol=1e-3)


@pytest.mark.parametrize(("text", "message"), [("C1CC", "neither a structure file nor a valid SMILES"), ("[Na+].[Cl-]", "several molecules"),
                                               ("[CH3]", "radicals"), ("missing.sdf", "neither a structure file")])
def test_unreadable_molecules_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(SoluteInputError, match=message):
        read_solute(text)


def test_binary_and_utf16_structure_files_are_input_errors(tmp_path: Path) -> None:
    binary, utf16 = tmp_path / "binary.sdf", tmp_path / "utf16.sdf"
    binary.write_bytes(b"\x00\x01\xff\xfe not a molecule")
    utf16.write_text(read_solute("CCO").molblock + "$$$$\n", encoding="utf-16")
    for path in (binary, utf16):
        with pytest.raises(SoluteInputError, match="no molecule could be read"):
            read_solute(str(path))


def test_gaff_parameters_are_am1bcc_charged_once_and_refused_for_elements_gaff_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    solute = read_solute("CC(=O)[O-]")
    parameters = solute_parameters(solute, "gaff-2.11", tmp_path)
    assert parameters.charge_method == "am1bcc" and sum(parameters.charges) == pytest.approx(-1.0, abs=1e-4)
    oxygens = [q for q, atom in zip(parameters.charges, solute.mol().GetAtoms(), strict=True) if atom.GetSymbol() == "O"]
    assert all(-0.95 < q < -0.6 for q in oxygens) and oxygens[0] == pytest.approx(oxygens[1], abs=0.02)  # equivalent carboxylate O
    assert load_system(parameters).getNumParticles() == solute.atoms
    with pytest.raises(ParametrizationFailed, match="no parameters for B"):
        solute_parameters(read_solute("OB(O)c1ccccc1"), "gaff-2.11", tmp_path)
    monkeypatch.setattr("tools.freeenergy.parameters._gaff_system", lambda *_: pytest.fail("charged twice"))
    assert solute_parameters(read_solute("[O-]C(=O)C"), "gaff-2.11", tmp_path) == parameters  # another spelling: the cache


def test_gaff_without_ambertools_is_a_setup_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(FreeEnergySetupError, match="sqm"):
        solute_parameters(read_solute("CO"), "gaff-2.11", tmp_path / "cache")


def test_atomloop_fe_hydration_computes_records_once_and_reuses_its_windows(cli_home: Path) -> None:
    result = CliRunner().invoke(cli, ["fe", "hydration", "CCO", "--json"])
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout)
    # GAFF-2.11/AM1-BCC in OBC2: -3.99 ± 0.01 kcal/mol by openmmtools' alchemical factory (soft-core, 6 windows x 100 ps),
    # a route independent of this one's linear coupling; experiment -5.0, FreeSolv's TIP3P GAFF value -3.2.
    assert first["value"] == pytest.approx(-3.98, abs=0.15) and 0.0 < first["uncertainty"] < 0.1 and first["unit"] == "kcal/mol"
    assert first["min_overlap"] > 0.05 and first["warnings"] == [] and first["windows"] == 5 and first["reused_windows"] == 0
    assert first["legs"][0]["states"] == [[0.0], [0.25], [0.5], [0.75], [1.0]] and first["platform"] == "Reference"
    assert first["convergence"][-1]["value"] == pytest.approx(first["value"], abs=1e-6)
    mbar_input = np.load(first["mbar_input"])
    assert mbar_input["leg0_solute_kj"].shape == mbar_input["leg0_solvent_kj"].shape == (5, 200) and Path(first["plot"]).stat().st_size > 10_000
    assert (mbar_input["leg0_solvent_kj"][-1] < 0).all()  # a polar solute is stabilised by the solvent it is coupled to
    again = json.loads(CliRunner().invoke(cli, ["fe", "hydration", "OCC", "--json"]).stdout)
    assert again["reused_windows"] == 5 and again["value"] == first["value"] and again["recorded"] is False
    from agent.app import build_app

    with build_app() as app:
        rows = app.store.measurements("hydration_free_energy")
    assert len(rows) == 1 and rows[0].source == "computed" and rows[0].uncertainty == pytest.approx(first["uncertainty"], abs=1e-3)
    assert rows[0].provenance["forcefield"] == "gaff-2.11" and rows[0].conditions == {"temperature_k": 298.15, "solvent_model": "obc2"}
    assert (cli_home / rows[0].provenance["artifacts"]["mbar_input"]).is_file()


@pytest.mark.parametrize("arguments", [["C1CC"], ["CCO", "--solvent", "water"], ["CCO", "--solvent", "tip3p", "--forcefield", "mmff94"], ["CCO", "--protocol", "long"], ["OB(O)O"]])
def test_fe_hydration_refuses_input_to_fix_with_exit_2(cli_home: Path, arguments: list[str]) -> None:
    result = CliRunner().invoke(cli, ["fe", "hydration", *arguments, "--json"])
    assert result.exit_code == 2, result.output
    assert "error" in json.loads(result.stdout)
    assert issubclass(SoluteInputError, ToolInputError)


def test_tip3p_runs_a_vacuum_and_a_water_leg_and_combines_them(cli_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the code path end to end with a protocol far too short for a number worth keeping (3 water states x 2 ps)
    from tools.freeenergy import explicit
    from tools.freeenergy.protocol import SamplingProtocol

    short = explicit.AlchemicalProtocol(
        name="quick", states=((1.0, 1.0), (0.0, 1.0), (0.0, 0.0)), equilibration_ps=1.0, production_ps=2.0,
        sample_interval_ps=0.1, vacuum=SamplingProtocol(name="quick-vacuum", lambdas=(0.0, 0.5, 1.0), equilibration_ps=2.0, production_ps=20.0),
    )
    monkeypatch.setitem(explicit.EXPLICIT_PROTOCOLS, "quick", short)
    result = CliRunner().invoke(cli, ["fe", "hydration", "CO", "--solvent", "tip3p", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    vacuum, water = payload["legs"]
    assert vacuum["states"] == [[0.0], [0.5], [1.0]] and water["states"][0] == [1.0, 1.0] and water["states"][-1] == [0.0, 0.0]
    assert vacuum["sign"] == water["sign"] == -1
    assert payload["value"] == pytest.approx(-vacuum["value"] - water["value"], abs=2e-3)
    assert payload["uncertainty"] == pytest.approx((vacuum["uncertainty"] ** 2 + water["uncertainty"] ** 2) ** 0.5, abs=2e-3)
    assert np.isfinite(payload["value"]) and any("TIP3P" in w and "poor overlap" in w for w in payload["warnings"])  # 3 states are too few
    assert payload["windows"] == 6 and set(payload["platform"].split(", ")) == {"CPU", "Reference"}
    energies = np.load(payload["mbar_input"])["leg1_energies_kj"]
    assert energies.shape == (3, 3, 20)  # windows x states x samples
    assert (energies[:, 0, :] != energies[:, 1, :]).all() and (energies[:, 1, :] != energies[:, 2, :]).all()
    again = json.loads(CliRunner().invoke(cli, ["fe", "hydration", "CO", "--solvent", "tip3p", "--json"]).stdout)
    assert again["reused_windows"] == 6 and again["value"] == payload["value"]


def test_ask_offline_computes_a_hydration_free_energy_as_a_tool_and_records_it_with_the_call(cli_home: Path) -> None:
    from sqlmodel import select

    from agent.app import build_app
    from knowledge.models import Measurement

    request = "calculate the hydration free energy of ethanol and methanol by an alchemical free energy calculation"
    result = CliRunner().invoke(cli, ["ask", "--offline", request, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["status"] == "succeeded" and [step["tool"] for step in payload["steps"]] == ["compute_free_energy"]
    values = {r["smiles"]: r for r in payload["steps"][0]["result"]["results"]}
    assert set(values) == {"CCO", "CO"} and values["CCO"]["value"] == pytest.approx(-3.98, abs=0.15)
    assert "Hydration free energies" in payload["answer"] and "kcal/mol" in payload["answer"]
    with build_app() as app, app.store.session() as session:
        rows = session.exec(select(Measurement).where(Measurement.property == "hydration_free_energy")).all()
    assert len(rows) == 2 and all(r.source == "computed" and r.tool_call_id is not None for r in rows)
    assert {r.provenance["run_id"] for r in rows} == {payload["run_id"]}
