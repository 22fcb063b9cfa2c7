from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from tools.docking.box import Box, box_around, box_from_ligand, read_box_file
from tools.docking.errors import BoxError


def test_a_box_side_of_zero_or_beyond_vinas_grid_is_refused_with_the_reason() -> None:
    with pytest.raises(BoxError, match="more than 0"):
        Box.of([0, 0, 0], [20, 0, 20])
    with pytest.raises(BoxError, match="126 Angstrom"):
        Box.of([0, 0, 0], [127, 20, 20])
    with pytest.raises(BoxError, match="three numbers"):
        Box.of([0, 0], [20, 20, 20])
    assert Box.of([1, 2, 3], [126, 126, 126]).size == (126.0, 126.0, 126.0)


def test_vina_config_and_json_box_files_read_the_same(tmp_path: Path) -> None:
    config = tmp_path / "box.txt"
    config.write_text("center_x = 15.190\ncenter_y = 53.903\ncenter_z = 16.917  # site\nsize_x = 20\nsize_y = 22.5\nsize_z = 18\n")
    as_json = tmp_path / "box.json"
    as_json.write_text(json.dumps({"center": [15.19, 53.903, 16.917], "size": [20, 22.5, 18]}))
    assert read_box_file(config) == read_box_file(as_json) == Box.of([15.19, 53.903, 16.917], [20, 22.5, 18])
    assert read_box_file(config).as_vina_config().splitlines()[0] == "center_x = 15.190"
    broken = tmp_path / "broken.txt"
    broken.write_text("center_x = 1\ncenter_y = 2\n")
    with pytest.raises(BoxError, match="missing center_z, size_x, size_y, size_z"):
        read_box_file(broken)


def test_the_box_around_a_ligand_is_its_heavy_atoms_bounding_box_plus_the_padding(crystal_1iep: Path) -> None:
    mol = Chem.MolFromMolFile(str(crystal_1iep))
    heavy = mol.GetConformer().GetPositions()[[a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]]
    box = box_from_ligand(crystal_1iep, padding=5.0)
    assert np.allclose(box.center, (heavy.min(0) + heavy.max(0)) / 2, atol=1e-3)
    assert np.allclose(box.size, heavy.max(0) - heavy.min(0) + 10.0, atol=1e-3)
    assert box.contains(heavy).all()
    with pytest.raises(BoxError, match="padding"):
        box_around(heavy, padding=-1)


def test_a_pdb_reference_ligand_gives_the_box_of_its_atoms(tmp_path: Path) -> None:
    pdb = tmp_path / "ligand.pdb"
    pdb.write_text(
        "HETATM    1  C1  LIG A   1       0.000   0.000   0.000  1.00  0.00           C\n"
        "HETATM    2  O1  LIG A   1       2.000   4.000   6.000  1.00  0.00           O\n"
        "HETATM    3  H1  LIG A   1      30.000  30.000  30.000  1.00  0.00           H\n"
    )
    box = box_from_ligand(pdb, padding=4.0)
    assert box.center == (1.0, 2.0, 3.0)
    assert box.size == (10.0, 12.0, 14.0)
