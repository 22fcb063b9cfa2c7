from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from tools.docking.errors import LigandPreparationError
from tools.docking.ligands import prepare_ligand
from tools.docking.poses import pose_molecule, pose_pdbqt_from_sdf, read_reference_ligand, reference_rmsds, symmetric_rmsd


def test_a_ligand_is_protonated_at_the_ph_and_typed_with_its_torsions() -> None:
    amine = prepare_ligand("CCCCN", label="butylamine")
    assert amine.smiles == "CCCC[NH3+]"
    assert amine.parent_smiles == "CCCCN"
    assert amine.torsions == 3  # C-C, C-C, C-N: the amine's hydrogens count as one rotor in Vina's tree
    assert amine.pdbqt.count("ENDBRANCH") == 3
    assert "HD" in amine.pdbqt
    as_written = prepare_ligand("CCCCN", ph=None)
    assert as_written.smiles == "CCCCN"
    assert prepare_ligand("c1ccccc1").torsions == 0


def test_ligands_that_cannot_be_docked_say_why() -> None:
    with pytest.raises(LigandPreparationError, match="not a valid structure"):
        prepare_ligand("C1CC(", label="broken")
    with pytest.raises(LigandPreparationError, match="more than one molecule"):
        prepare_ligand("CC(=O)O.[Na+]")


def test_symmetric_rmsd_is_zero_for_a_symmetric_relabelling_and_the_shift_for_a_translation() -> None:
    benzoate = Chem.AddHs(Chem.MolFromSmiles("OC(=O)c1ccccc1"))
    AllChem.EmbedMolecule(benzoate, randomSeed=7)
    # the same molecule with its atoms renumbered (a symmetry the graph allows, carboxylate oxygens swapped)
    order = list(range(benzoate.GetNumAtoms()))
    order[0], order[2] = order[2], order[0]
    renumbered = Chem.RenumberAtoms(benzoate, order)
    assert symmetric_rmsd(renumbered, benzoate) == pytest.approx(0.0, abs=1e-6)
    shifted = Chem.Mol(benzoate)
    conformer = shifted.GetConformer()
    for index in range(shifted.GetNumAtoms()):
        position = conformer.GetAtomPosition(index)
        conformer.SetAtomPosition(index, (position.x + 1.5, position.y, position.z))
    assert symmetric_rmsd(shifted, benzoate) == pytest.approx(1.5, abs=1e-6)
    with pytest.raises(ValueError, match="differ"):
        symmetric_rmsd(Chem.AddHs(Chem.MolFromSmiles("CCO")), benzoate)


def test_a_crystal_pose_goes_to_pdbqt_and_back_to_the_same_coordinates(crystal_1iep: Path, tmp_path: Path) -> None:
    smiles, pdbqt = pose_pdbqt_from_sdf(crystal_1iep)
    assert Chem.MolFromSmiles(smiles).GetNumHeavyAtoms() == 37
    mol = pose_molecule(pdbqt)
    crystal = read_reference_ligand(crystal_1iep)
    assert symmetric_rmsd(mol, crystal) < 0.01
    # PDBQT keeps three decimals; a charge state other than the crystal's still maps (heavy-atom graph only)
    pose_file = tmp_path / "pose.sdf"
    with Chem.SDWriter(str(pose_file)) as writer:
        writer.write(mol)
    assert reference_rmsds(pose_file, crystal) == (pytest.approx(0.0, abs=0.01),)
    other = tmp_path / "other.sdf"
    ethanol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(ethanol, randomSeed=1)
    with Chem.SDWriter(str(other)) as writer:
        writer.write(ethanol)
    assert reference_rmsds(other, crystal) is None
    assert np.isfinite(crystal.GetConformer().GetPositions()).all()
