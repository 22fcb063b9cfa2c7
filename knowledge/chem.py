"""The chemistry boundary: SMILES in, a validated canonical structure out (or ``InvalidStructure``).

RDKit is imported lazily: ``import knowledge`` must stay fast for the CLI.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from knowledge.errors import InvalidStructure


class CanonicalStructure(BaseModel):
    """A structure that RDKit parsed and sanitised. Inside the system, a structure is always valid."""

    model_config = ConfigDict(frozen=True)

    smiles: str
    inchikey: str
    formula: str
    molar_mass: float
    monoisotopic_mass: float


def canonicalize(smiles: str) -> CanonicalStructure:
    """Parse ``smiles`` with RDKit and return its canonical SMILES, InChIKey, formula and molar mass.

    Raises:
        InvalidStructure: the text is empty, does not parse, or has no InChIKey.
    """
    from rdkit import Chem, rdBase
    from rdkit.Chem import Descriptors, rdMolDescriptors

    text = (smiles or "").strip()
    if not text:
        raise InvalidStructure(smiles, "empty")
    if any(ch.isspace() for ch in text):
        raise InvalidStructure(smiles, "contains white space")
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            raise InvalidStructure(smiles)
        if mol.GetNumAtoms() == 0:
            raise InvalidStructure(smiles, "no atoms")
        inchikey = Chem.MolToInchiKey(mol)
    if not inchikey:
        raise InvalidStructure(smiles, "no InChIKey could be computed")
    return CanonicalStructure(
        smiles=Chem.MolToSmiles(mol),
        inchikey=inchikey,
        formula=rdMolDescriptors.CalcMolFormula(mol),
        # rdkit-stubs omit Descriptors.MolWt (a module-level lambda in rdkit).
        molar_mass=float(Descriptors.MolWt(mol)),  # type: ignore[attr-defined]
        monoisotopic_mass=float(rdMolDescriptors.CalcExactMolWt(mol)),
    )
