"""Structure files: input lists (SMILES, CSV, SDF) read entry by entry; SDF, PDB and XYZ written and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from tools.errors import ToolInputError
from tools.structures.conformers import ConformerSet, embed_conformers
from tools.structures.errors import StructureFileError
from tools.structures.io import (
    SdfEntry,
    conformer_entries,
    read_molecules,
    read_pdb,
    read_sdf,
    read_xyz,
    write_pdb,
    write_sdf,
    write_xyz,
)


@pytest.fixture(scope="module")
def zwitterion() -> ConformerSet:
    """A charged, flexible molecule with several conformers (serine's zwitterion)."""
    conformers = embed_conformers("[NH3+][C@@H](CO)C(=O)[O-]", 4)
    assert conformers.n_conformers >= 2
    return conformers


def atoms(mol: Chem.Mol) -> list[tuple[int, int]]:
    return [(atom.GetAtomicNum(), atom.GetFormalCharge()) for atom in mol.GetAtoms()]


def test_sdf_round_trip_keeps_atoms_coordinates_charges_and_properties(zwitterion: ConformerSet, tmp_path: Path) -> None:
    path = tmp_path / "serine.sdf"
    written = write_sdf(path, conformer_entries(zwitterion, "serine zwitterion", {"source_line": 3, "ph": 7.4, "note": None}))
    assert written == zwitterion.n_conformers
    records = read_sdf(path)
    assert len(records) == zwitterion.n_conformers
    for index, record in enumerate(records):
        assert record.name == "serine zwitterion"
        assert atoms(record.mol) == atoms(zwitterion.mol)
        assert np.abs(record.mol.GetConformer().GetPositions() - zwitterion.positions(index)).max() < 1e-3
        assert record.properties["source_line"] == "3" and record.properties["ph"] == "7.4"
        assert "note" not in record.properties  # None is left out
        assert int(record.properties["conformer"]) == index
        assert float(record.properties["energy_kcal_per_mol"]) == pytest.approx(zwitterion.energies[index], abs=1e-5)
        assert record.properties["force_field"] == "mmff94"
    assert Chem.MolToSmiles(Chem.RemoveHs(records[0].mol)) == "[NH3+][C@@H](CO)C(=O)[O-]"
    assert records[1].line > records[0].line > 0


def test_pdb_round_trip_keeps_every_conformer_as_a_model(zwitterion: ConformerSet, tmp_path: Path) -> None:
    path = tmp_path / "serine.pdb"
    write_pdb(path, zwitterion.mol, "serine")
    text = path.read_text(encoding="utf-8")
    assert text.count("MODEL") == zwitterion.n_conformers and text.startswith("COMPND    serine")
    mol = read_pdb(path)
    assert mol.GetNumConformers() == zwitterion.n_conformers
    assert atoms(mol) == atoms(zwitterion.mol)
    for index in range(zwitterion.n_conformers):
        assert np.abs(mol.GetConformer(index).GetPositions() - zwitterion.positions(index)).max() < 1e-3
    typed = read_pdb(path, template_smiles="[NH3+][C@@H](CO)C(=O)[O-]")  # bond orders from the template
    assert Chem.MolToSmiles(Chem.RemoveHs(typed)) == "[NH3+][C@@H](CO)C(=O)[O-]"
    assert typed.GetNumConformers() == zwitterion.n_conformers


def test_xyz_round_trip_keeps_frames_and_bonds_can_be_perceived(zwitterion: ConformerSet, tmp_path: Path) -> None:
    path = tmp_path / "serine.xyz"
    write_xyz(path, zwitterion.mol, [f"conformer={i}" for i in range(zwitterion.n_conformers)])
    frames = read_xyz(path)
    assert len(frames) == zwitterion.n_conformers
    for index, frame in enumerate(frames):
        assert frame.symbols == zwitterion.symbols and frame.comment == f"conformer={index}"
        assert np.abs(np.asarray(frame.coordinates) - zwitterion.positions(index)).max() < 1e-3
    perceived = frames[0].to_mol(charge=0)
    assert Chem.MolToSmiles(Chem.RemoveHs(perceived), isomericSmiles=False) == "[NH3+]C(CO)C(=O)[O-]"


def test_input_lists_report_bad_entries_with_their_line(tmp_path: Path) -> None:
    smi = tmp_path / "mols.smi"
    smi.write_text("smiles name\nCCO ethanol\n\n# a comment\nC1CC ring not closed\nc1ccccc1\tbenzene\nC(C)(C)(C)(C)C\n", encoding="utf-8")
    listed = read_molecules(smi)
    assert listed.format == "smiles"
    assert [(e.line, e.label, e.ok) for e in listed.entries] == [
        (2, "ethanol", True), (5, "ring not closed", False), (6, "benzene", True), (7, "line 7", False)]
    assert "RDKit cannot parse" in (listed.entries[1].error or "") and "valence" in (listed.entries[3].error or "")

    table = tmp_path / "mols.csv"
    table.write_text('ID,SMILES,pIC50\nm1,CCO,5\nm2,"C1CC",6\n\nm3,c1ccccc1,7\n', encoding="utf-8")
    rows = read_molecules(table)
    assert rows.format == "csv"
    assert [(e.line, e.label, e.ok) for e in rows.entries] == [(2, "m1", True), (3, "m2", False), (5, "m3", True)]

    sdf = tmp_path / "mols.sdf"
    good = Chem.MolToMolBlock(Chem.MolFromSmiles("CCO"))
    bad = good.replace("  2  3  1  0", "  2  9  1  0", 1)  # a bond to atom 9 of 3
    sdf.write_text(good.replace("\n", "ethanol\n", 1) + "$$$$\n" + bad + "$$$$\n", encoding="utf-8")
    records = read_molecules(sdf)
    assert records.format == "sdf" and [e.ok for e in records.entries] == [True, False]
    assert records.entries[0].label == "ethanol" and records.entries[1].line == good.count("\n") + 2
    with pytest.raises(StructureFileError, match="SDF record 2") as raised:
        read_sdf(sdf)
    assert raised.value.line == records.entries[1].line


def test_a_table_without_a_smiles_column_is_an_input_error(tmp_path: Path) -> None:
    table = tmp_path / "values.csv"
    table.write_text("name,structure\nethanol,CCO\n", encoding="utf-8")
    with pytest.raises(StructureFileError, match="no SMILES column") as raised:
        read_molecules(table)
    assert raised.value.line == 1 and "name, structure" in raised.value.reason
    named = read_molecules(table, smiles_column="structure").entries
    assert [(e.label, e.text, e.ok) for e in named] == [("ethanol", "CCO", True)]


def test_bad_and_binary_structure_files_are_typed_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sdf"
    garbage.write_text("this is not\na structure file\n", encoding="utf-8")
    with pytest.raises(StructureFileError, match="M  END"):
        read_molecules(garbage)
    with pytest.raises(StructureFileError, match="mol block"):
        read_sdf(garbage)
    binary = tmp_path / "blob.sdf"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    for reader in (read_sdf, read_pdb, read_xyz, read_molecules):
        with pytest.raises(StructureFileError, match="PNG image") as raised:
            reader(binary)
        assert isinstance(raised.value, ToolInputError)
    with pytest.raises(StructureFileError, match="no such"):
        read_molecules(tmp_path / "missing.smi")
    with pytest.raises(StructureFileError, match="one 3D structure"):
        read_molecules(tmp_path / "protein.pdb")
    empty = tmp_path / "empty.smi"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(StructureFileError, match="no molecule"):
        read_molecules(empty)


def test_bad_pdb_and_xyz_name_the_line(tmp_path: Path) -> None:
    pdb = tmp_path / "bad.pdb"
    pdb.write_text("HETATM    1  C1  UNL     1      -0.6x0  -0.108   0.032  1.00  0.00           C\nEND\n", encoding="utf-8")
    with pytest.raises(StructureFileError, match="not numbers") as raised:
        read_pdb(pdb)
    assert raised.value.line == 1
    text = tmp_path / "words.pdb"
    text.write_text("REMARK nothing here\nEND\n", encoding="utf-8")
    with pytest.raises(StructureFileError, match="no ATOM or HETATM"):
        read_pdb(text)
    cases = {
        "3\nwater\nO 0 0 0\nH 0.96 0 0\n": ("ends first", 1),
        "2\nx\nO 0 0 0\nQq 1 0 0\n": ("unknown element", 4),
        "2\nx\nO 0 0 0\nH 1 zero 0\n": ("not numbers", 4),
        "two\nx\nO 0 0 0\n": ("number of atoms", 1),
    }
    for content, (message, line) in cases.items():
        xyz = tmp_path / "bad.xyz"
        xyz.write_text(content, encoding="utf-8")
        with pytest.raises(StructureFileError, match=message) as raised:
            read_xyz(xyz)
        assert raised.value.line == line


def test_writes_replace_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "out.sdf"
    path.write_text("old contents\n", encoding="utf-8")
    mol = Chem.AddHs(Chem.MolFromSmiles("C"))
    from rdkit.Chem import AllChem

    AllChem.EmbedMolecule(mol, randomSeed=1)
    assert write_sdf(path, [SdfEntry(mol, "methane\nsecond line", {"tag": "a\nb"})]) == 1
    text = path.read_text(encoding="utf-8")
    assert text.startswith("methane second line\n") and "> <tag>\na b\n" in text and "old" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sdf"]  # no staging file left
    with pytest.raises(ValueError, match="field name"):
        write_sdf(tmp_path / "other.sdf", [SdfEntry(mol, "m", {"a<b": 1})])
    assert not (tmp_path / "other.sdf").exists()
