"""Atom mappings for relative free energies: the common substructure of two ligands, and the second placed on the
first's pose in the T4 lysozyme L99A complex (p-xylene, as openmmtools ships it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from tools.freeenergy.errors import SoluteInputError
from tools.freeenergy.mapping import atom_mapping, place_on
from tools.freeenergy.solute import read_solute

XYLENE = Path(__file__).parent / "data" / "t4l_p_xylene.mol2"  # openmmtools' T4L L99A ligand (data/SOURCE.txt)


@pytest.fixture
def xylene() -> Chem.Mol:
    mol = Chem.MolFromMol2File(str(XYLENE), removeHs=False)
    assert mol is not None and Chem.MolToSmiles(Chem.RemoveHs(mol)) == "Cc1ccc(C)cc1"
    return mol


@pytest.mark.parametrize(("smiles", "mapped", "unmapped_b"), [("Cc1ccccc1", 7, 0), ("CCc1ccccc1", 7, 1), ("c1ccc2ccccc2c1", 6, 4)])
def test_the_common_substructure_maps_whole_rings_and_matching_elements(xylene: Chem.Mol, smiles: str, mapped: int, unmapped_b: int) -> None:
    ligand = read_solute(smiles).mol()
    mapping = atom_mapping(xylene, ligand)
    assert len(mapping.pairs) == mapped and mapping.unmapped_a == 8 - mapped and mapping.unmapped_b == unmapped_b
    for a, b in mapping.pairs:
        assert xylene.GetAtomWithIdx(a).GetSymbol() == ligand.GetAtomWithIdx(b).GetSymbol() != "H"
        assert xylene.GetAtomWithIdx(a).IsInRing() == ligand.GetAtomWithIdx(b).IsInRing()
    assert len({a for a, _ in mapping.pairs}) == len({b for _, b in mapping.pairs}) == mapped  # one to one


def test_the_second_ligand_is_placed_on_the_first_ones_pose(xylene: Chem.Mol) -> None:
    ethylbenzene = read_solute("CCc1ccccc1").mol()
    mapping = atom_mapping(xylene, ethylbenzene)
    placed, rmsd = place_on(ethylbenzene, xylene, mapping)
    assert rmsd < 0.1
    a = xylene.GetConformer().GetPositions()
    b = placed.GetConformer().GetPositions()
    assert max(np.linalg.norm(a[i] - b[j]) for i, j in mapping.pairs) < 0.2  # Å: the common atoms sit where xylene's are
    assert placed.GetNumAtoms() == ethylbenzene.GetNumAtoms() and Chem.MolToSmiles(Chem.RemoveHs(placed)) == "CCc1ccccc1"


def test_ligands_with_too_little_in_common_are_refused(xylene: Chem.Mol) -> None:
    with pytest.raises(SoluteInputError, match="too few for a relative free energy"):
        atom_mapping(xylene, read_solute("CCO").mol())
