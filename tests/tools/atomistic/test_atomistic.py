"""The atomistic leg's first pieces: structures from SMILES, files and DeePMD folders (checked, saved by content),
the committee's spread, and relaxations with GFN2-xTB and SevenNet-0 on a molecule and a crystal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ase")

from ase import Atoms  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402
from ase.io import write  # noqa: E402

from tools.atomistic.errors import PotentialUnsupported, StructureInputError, UnknownPotential  # noqa: E402
from tools.atomistic.potential import Evaluation, PotentialInfo, check_supported, committee_evaluation  # noqa: E402
from tools.atomistic.potentials import potential_named  # noqa: E402
from tools.atomistic.structure import read_deepmd, read_structure, save_structure, structure_hash, write_deepmd  # noqa: E402
from tools.atomistic.tasks import relax  # noqa: E402


def test_a_smiles_becomes_a_molecule_with_hydrogens_and_its_charge() -> None:
    ethanol = read_structure("CCO")
    assert sorted(ethanol.get_chemical_symbols()) == ["C", "C", "H", "H", "H", "H", "H", "H", "O"]
    assert not ethanol.pbc.any() and ethanol.info["smiles"] == "CCO" and ethanol.info["charge"] == 0
    assert read_structure("C[NH3+]").info["charge"] == 1
    assert structure_hash(read_structure("CCO")) == structure_hash(ethanol)  # the same seed, the same geometry


def test_a_cif_and_a_saved_structure_read_back_the_same(tmp_path: Path) -> None:
    silicon = bulk("Si", "diamond", a=5.43)
    write(tmp_path / "si.cif", silicon)
    read = read_structure(tmp_path / "si.cif")
    assert read.pbc.all() and len(read) == 2 and abs(read.cell.volume - silicon.cell.volume) < 1e-3
    saved = save_structure(read, tmp_path / "home")
    again = read_structure(saved)
    assert np.allclose(again.get_positions(), read.get_positions(), atol=1e-6) and saved.name == f"{structure_hash(again)}.extxyz"


def test_a_saved_structure_is_named_by_what_its_file_holds(tmp_path: Path) -> None:
    water = read_deepmd(Path(__file__).parent / "data" / "water" / "heldout")[0]  # float32 coordinates: many round at 8 decimals
    saved = save_structure(water, tmp_path)
    assert saved.stem == structure_hash(read_structure(saved)) and save_structure(water, tmp_path) == saved
    assert len(list(tmp_path.glob("structures/*"))) == 1  # no staging file left behind


def test_structures_no_model_should_see_are_refused_by_name(tmp_path: Path) -> None:
    close = tmp_path / "close.xyz"
    write(close, Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.2]]))
    binary = tmp_path / "blob.xyz"
    binary.write_bytes(b"\x00\x01\x02 not text")
    utf16 = tmp_path / "mol.xyz"
    utf16.write_bytes("1\n\nH 0 0 0\n".encode("utf-16"))
    for source, message in [
        (close, "atoms 1 and 2 are 0.20 Å apart"), (binary, "binary file"), (utf16, "UTF-16"),
        (tmp_path / "missing.cif", "no such file"), ("C1CC", "not a SMILES RDKit can parse"),
    ]:
        with pytest.raises(StructureInputError, match=message):
            read_structure(source)
    assert read_structure("F/C=C/F").info["smiles"] == "F/C=C/F"  # a slash in a SMILES is not a path


def test_a_deepmd_folder_round_trips_its_frames_energies_and_forces(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = []
    for i in range(3):
        water = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], cell=[8, 8, 8], pbc=True)
        water.positions += rng.normal(0, 0.02, (3, 3))
        water.calc = SinglePointCalculator(water, energy=-14.0 - i, forces=rng.normal(0, 0.1, (3, 3)))
        frames.append(water)
    back = read_deepmd(write_deepmd(frames, tmp_path / "water", ["O", "H"]))
    assert [f.get_potential_energy() for f in back] == [-14.0, -15.0, -16.0]
    assert np.allclose(back[2].get_forces(), frames[2].get_forces()) and back[0].get_chemical_symbols() == ["O", "H", "H"]
    with pytest.raises(StructureInputError, match="no type.raw"):
        read_deepmd(tmp_path)


def test_a_committee_spread_is_the_largest_per_atom_force_deviation() -> None:
    forces_a = np.array([[1.0, 0, 0], [0, 0, 0]])
    forces_b = np.array([[-1.0, 0, 0], [0, 0.2, 0]])
    mean = committee_evaluation([Evaluation(energy=-1.0, forces=forces_a), Evaluation(energy=-3.0, forces=forces_b)])
    assert mean.energy == -2.0 and mean.energy_std == 1.0
    assert mean.max_force_deviation == pytest.approx(1.0)  # atom 1: members at +-1 around 0
    assert np.allclose(mean.forces, [[0, 0, 0], [0, 0.1, 0]])


def test_a_potential_refuses_elements_and_cells_it_does_not_describe() -> None:
    water_only = PotentialInfo(name="water model", version="1", elements=frozenset({"O", "H"}), periodic=False)
    with pytest.raises(PotentialUnsupported, match="knows no C"):
        check_supported(water_only, read_structure("CCO"))
    with pytest.raises(PotentialUnsupported, match="molecules only"):
        check_supported(water_only, Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], cell=[5, 5, 5], pbc=True))
    with pytest.raises(UnknownPotential, match="the models are sevennet-0"):
        potential_named("mace-mp-0")


def test_xtb_relaxes_a_molecule_from_smiles() -> None:
    pytest.importorskip("tblite")
    result = relax(potential_named("xtb"), read_structure("CCO"))
    assert result.converged and result.fmax < 0.05 and not result.cell_relaxed
    assert result.energy < result.initial_energy
    assert result.energy == pytest.approx(-310.06, abs=0.05)  # GFN2-xTB total energy of ethanol, eV


def test_sevennet_relaxes_a_crystal_cell_from_a_cif(tmp_path: Path) -> None:
    pytest.importorskip("sevenn")
    write(tmp_path / "si.cif", bulk("Si", "diamond", a=5.6))
    result = relax(potential_named("sevennet-0"), read_structure(tmp_path / "si.cif"))
    assert result.converged and result.cell_relaxed
    a = result.structure.cell.lengths()[0] * np.sqrt(2)  # the primitive cell's edge is a / sqrt(2)
    assert a == pytest.approx(5.466, abs=0.02)  # SevenNet-0's (PBE-like) lattice constant; experiment 5.431
