"""``atomloop atoms calc|relax|md|eos``: a molecule from SMILES and a crystal from CIF, run as compute jobs,
answered in JSON, recorded in the store once, and refused with the right exit code when the input is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ase")
pytest.importorskip("tblite")

from ase.build import bulk  # noqa: E402
from ase.io import read, write  # noqa: E402
from sqlmodel import select  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from agent.cli import cli  # noqa: E402
from knowledge.models import AtomicStructure, AtomisticResult, ComputeJob  # noqa: E402


@pytest.fixture
def home(cli_home: Path) -> Path:
    return cli_home


def _atoms(*args: str, code: int = 0) -> dict:
    result = CliRunner().invoke(cli, ["atoms", *args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def _rows() -> tuple[list[AtomisticResult], list[AtomicStructure]]:
    from agent.app import build_app

    with build_app() as app, app.store.session() as session:
        return list(session.exec(select(AtomisticResult))), list(session.exec(select(AtomicStructure)))


def test_relaxing_a_smiles_with_xtb_answers_once_and_records_once(home: Path) -> None:
    first = _atoms("relax", "CCO", "--model", "xtb")
    assert first["potential"] == "gfn2-xtb" and first["converged"] is True and first["fmax"] < 0.05
    assert first["energy"] == pytest.approx(-310.06, abs=0.05)  # GFN2-xTB's total energy of ethanol, eV
    relaxed = read(first["structure"])
    assert sorted(relaxed.get_chemical_symbols()) == sorted("CCOHHHHHH") and Path(first["structure"]).is_relative_to(home)
    again = _atoms("relax", "CCO", "--model", "xtb")
    assert again["cached"] is True and again["new_result"] is False and again["energy"] == first["energy"]
    results, structures = _rows()
    assert len(results) == 1 and results[0].task == "relax" and results[0].converged is True
    assert {s.smiles for s in structures} == {"CCO"} and len(structures) == 2  # the embedded and the relaxed geometry
    assert results[0].output_structure_id != results[0].structure_id and not Path(structures[0].path).is_absolute()


def test_a_cif_crystal_relaxes_its_cell_with_sevennet_and_its_equation_of_state_fits(home: Path, tmp_path: Path) -> None:
    pytest.importorskip("sevenn")
    squeezed = bulk("Si", "diamond", a=5.30)
    write(tmp_path / "si.cif", squeezed)
    relaxed = _atoms("relax", str(tmp_path / "si.cif"), "--out", str(tmp_path / "relaxed.cif"))
    assert relaxed["converged"] is True and relaxed["details"]["cell_relaxed"] is True
    cell = read(tmp_path / "relaxed.cif")
    assert relaxed["structure"] == str(tmp_path / "relaxed.cif")
    assert (4 * cell.get_volume()) ** (1 / 3) == pytest.approx(5.466, abs=0.02)  # SevenNet-0's silicon lattice constant
    fit = _atoms("eos", str(tmp_path / "relaxed.cif"), "--points", "5", "--fixed-positions")
    assert 80 < fit["details"]["bulk_modulus_gpa"] < 110  # PBE silicon: 88-98 GPa
    assert fit["details"]["volume_a3"] == pytest.approx(cell.get_volume(), rel=0.01)


def test_md_writes_a_trajectory_of_labelled_frames_near_its_temperature(home: Path) -> None:
    run = _atoms("md", "O", "--model", "xtb", "--steps", "40", "--interval", "10", "--temperature", "300", "--seed", "3")
    frames = read(run["trajectory"], index=":")
    assert len(frames) == run["details"]["frames"] == 5  # the start and every tenth step
    assert all(np.isfinite(frame.get_forces()).all() for frame in frames)
    assert run["details"]["mean_temperature_k"] > 0 and run["steps"] == 40


def test_a_relaxation_out_of_steps_exits_4_and_is_still_recorded(home: Path) -> None:
    stopped = _atoms("relax", "CCCC", "--model", "xtb", "--steps", "1", "--fmax", "0.001", code=4)
    assert stopped["converged"] is False and Path(stopped["structure"]).exists()
    results, _ = _rows()
    assert [r.converged for r in results] == [False]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["calc", "C1CC", "--model", "xtb"], 2, "not a SMILES"),
        (["calc", "CCO", "--model", "mace"], 2, "downloads its weights at run time"),
        (["calc", "CCO", "--model", "nonsense"], 2, "unknown model"),
        (["calc", "CCO", "--model", "dpa2:no-such-version"], 2, "no dpa2 model"),
        (["eos", "CCO", "--model", "xtb"], 2, "periodic cell"),
        (["relax", "CCO", "--model", "xtb", "--fmax", "-1"], 2, "invalid relax options"),
        (["calc", "[Og]", "--model", "xtb"], 2, "knows no Og"),
    ],
)
def test_bad_input_exits_2_naming_what_is_wrong(home: Path, args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(cli, ["atoms", *args])
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert _rows() == ([], [])


def test_a_calculation_runs_as_a_job_on_the_local_pool(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATOMLOOP_COMPUTE__EXECUTOR", "local")
    monkeypatch.setenv("ATOMLOOP_COMPUTE__WORKERS", "1")
    point = _atoms("calc", "O", "--model", "xtb")
    assert point["energy"] == pytest.approx(-137.0, abs=1.0) and point["fmax"] > 0  # water's GFN2-xTB energy (unrelaxed)
    forces = np.array(point["forces"])
    assert forces.shape == (3, 3) and np.linalg.norm(forces, axis=1).max() == pytest.approx(point["fmax"])
    assert np.abs(forces.sum(axis=0)).max() < 1e-3  # no net force on an isolated molecule
    from agent.app import build_app

    with build_app() as app, app.store.session() as session:
        jobs = session.exec(select(ComputeJob).where(ComputeJob.group == "atoms calc")).all()
    assert [job.status for job in jobs] == ["succeeded"] and jobs[0].inputs["model"]["name"] == "xtb"


def test_a_calculation_recorded_twice_is_one_row_on_each_backend(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from agent.atomistic import record_calculation
    from tools.atomistic.jobs import CalculationResult, structure_ref
    from tools.atomistic.models import ModelSpec
    from tools.atomistic.structure import read_structure

    start, end = read_structure("CO"), read_structure("CO", seed=7)
    end.positions[0] += 0.01
    result = CalculationResult(
        task="relax", model=ModelSpec(name="xtb"), potential="gfn2-xtb", potential_version="tblite 0.8.0",
        input=structure_ref(start, tmp_path), output=structure_ref(end, tmp_path), energy_ev=-1.5, energy_per_atom_ev=-0.25,
        fmax_ev_per_a=0.01, converged=True, steps=3, seconds=0.1,
    )
    first, new = record_calculation(store, tmp_path, result, "key-1")
    again, new_again = record_calculation(store, tmp_path, result, "key-1")
    assert new and not new_again and first.id == again.id
    rows = store.atomistic_results()
    assert len(rows) == 1 and rows[0][0].energy_ev == -1.5 and rows[0][1].smiles == "CO"
    assert rows[0][1].path == f"structures/{result.input.hash}.extxyz"  # relative to the home, which can move
