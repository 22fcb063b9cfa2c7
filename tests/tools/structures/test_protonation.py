"""Protonation: the dominant charge state at a pH (dimorphite-dl), one answer per molecule, every time."""

from __future__ import annotations

import pytest
from rdkit import Chem

from knowledge.errors import InvalidStructure
from tools.errors import ToolInputError
from tools.structures.protonation import protonate


def charges(smiles: str) -> list[int]:
    mol = Chem.MolFromSmiles(smiles)
    return sorted(atom.GetFormalCharge() for atom in mol.GetAtoms() if atom.GetFormalCharge())


@pytest.mark.parametrize(
    ("smiles", "ph", "expected"),
    [
        ("CC(=O)O", 7.4, "CC(=O)[O-]"),  # acetic acid, pKa 4.8: the carboxylate
        ("CC(=O)O", 2.0, "CC(=O)O"),  # below its pKa: the neutral acid
        ("CCN", 7.4, "CC[NH3+]"),  # ethylamine, pKa 10.7: the ammonium
        ("CCN", 12.0, "CCN"),
        ("NCC(=O)O", 7.4, "[NH3+]CC(=O)[O-]"),  # glycine: the zwitterion
        ("CC(=O)[O-]", 2.0, "CC(=O)O"),  # a charge as written is not kept against the pH
        ("CCO", 7.4, "CCO"),  # no ionisable group
        ("c1ccncc1", 7.4, "c1ccncc1"),  # pyridine, pKa 5.2: neutral
        ("c1ccncc1", 2.0, "c1cc[nH+]cc1"),
    ],
)
def test_dominant_state(smiles: str, ph: float, expected: str) -> None:
    assert protonate(smiles, ph) == expected


def test_uncertain_phenols_stay_neutral_near_neutral_ph() -> None:
    # dimorphite-dl's generic phenol (pKa 7.1 +- 3.3) would make phenolates of these at 7.4
    assert protonate("CC(=O)Nc1ccc(O)cc1", 7.4) == "CC(=O)Nc1ccc(O)cc1"  # paracetamol, pKa 9.5
    assert protonate("OC(=O)c1ccccc1O", 7.4) == "O=C([O-])c1ccccc1O"  # salicylic acid: the carboxylate only
    assert charges(protonate("CC(=O)Nc1ccc(O)cc1", 12.0)) == [-1]  # far above any phenol's pKa


def test_protonation_is_deterministic_and_keeps_stereochemistry() -> None:
    states = {protonate("C[C@H](N)C(=O)O", 7.4) for _ in range(3)}
    assert states == {"C[C@H]([NH3+])C(=O)[O-]"}
    mol = Chem.MolFromSmiles("CC(C)Cc1ccc(cc1)C(C)C(=O)O")
    assert protonate(mol, 7.4) == protonate("CC(C)Cc1ccc(cc1)C(C)C(=O)O", 7.4) == "CC(C)Cc1ccc(C(C)C(=O)[O-])cc1"


def test_a_smiles_that_names_a_file_is_still_a_smiles(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "CCN").write_text("CC(=O)O\n", encoding="utf-8")
    assert protonate("CCN", 7.4) == "CC[NH3+]"


def test_bad_input_is_a_typed_error() -> None:
    with pytest.raises(InvalidStructure):
        protonate("C1CC", 7.4)
    with pytest.raises(ToolInputError, match="between 0 and 14"):
        protonate("CCO", 15.0)
    with pytest.raises(ToolInputError, match="a number"):
        protonate("CCO", "neutral")  # type: ignore[arg-type]
