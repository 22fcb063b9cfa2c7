"""The molecule of a free-energy calculation: one connected, neutral-or-charged molecule with every hydrogen and a
3D geometry, its atoms in RDKit's canonical order, so that two spellings of one molecule (two SMILES, a SMILES and
an SDF) give the same atoms in the same order and share cached parameters and compute jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from tools.freeenergy.errors import SoluteInputError

EMBEDDING_SEED = 0xF0E
FILE_SUFFIXES = {".sdf", ".mol", ".mol2"}


class Solute(BaseModel):
    """A molecule ready to parametrise: canonical SMILES, InChIKey, and an MDL molblock with hydrogens and 3D
    coordinates (Å) in canonical atom order."""

    model_config = ConfigDict(frozen=True)

    smiles: str
    inchikey: str
    name: str
    molblock: str
    formal_charge: int
    source: str

    def mol(self) -> Any:
        """The RDKit molecule (hydrogens and conformer kept)."""
        from rdkit import Chem

        mol = Chem.MolFromMolBlock(self.molblock, removeHs=False)
        if mol is None:  # pragma: no cover - the block was written by RDKit
            raise SoluteInputError(f"the stored geometry of {self.smiles} cannot be read back")
        return mol

    @property
    def atoms(self) -> int:
        return int(self.molblock.splitlines()[3][:3])


def read_solute(text: str, name: str | None = None, seed: int = EMBEDDING_SEED) -> Solute:
    """The solute ``text`` names: a structure file (SDF/MOL/MOL2, first record; its geometry is kept, missing
    hydrogens are added with coordinates) or a SMILES (embedded with ETKDGv3 and MMFF94-optimised, seeded).

    Raises:
        SoluteInputError: not a readable file or SMILES, no atoms, several molecules, or no 3D geometry found.
    """
    path = Path(text).expanduser()
    if path.suffix.lower() in FILE_SUFFIXES and path.is_file():
        return solute_from_mol(_read_file(path), name=name or path.stem, source=str(path.resolve()))
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(text.strip()) if text.strip() else None
    if mol is None:
        hint = " (a file name must end in .sdf, .mol or .mol2 and exist)" if path.suffix else ""
        raise SoluteInputError(f"{text!r} is neither a structure file nor a valid SMILES{hint}")
    canonical = Chem.MolFromSmiles(Chem.MolToSmiles(mol))  # embed in one atom order: every spelling, one geometry
    return solute_from_mol(embed(canonical, seed), name=name or text.strip(), source="smiles")


def solute_from_mol(mol: Any, *, name: str, source: str) -> Solute:
    """A ``Solute`` from an RDKit molecule with a 3D conformer (hydrogens added where missing)."""
    from rdkit import Chem

    if mol.GetNumAtoms() == 0:
        raise SoluteInputError(f"{name}: the molecule has no atoms")
    if len(Chem.GetMolFrags(mol)) > 1:
        raise SoluteInputError(f"{name}: several molecules (a salt or a mixture); give the one to compute, e.g. without its counter-ion")
    if mol.GetNumConformers() == 0 or not mol.GetConformer().Is3D():
        raise SoluteInputError(f"{name}: the structure has no 3D coordinates; give a SMILES or a 3D file")
    radicals = sum(atom.GetNumRadicalElectrons() for atom in mol.GetAtoms())
    if radicals:
        raise SoluteInputError(f"{name}: radicals ({radicals} unpaired electrons) have no force-field parameters")
    mol = Chem.AddHs(mol, addCoords=True)
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=True))
    mol = Chem.RenumberAtoms(mol, sorted(range(mol.GetNumAtoms()), key=ranks.__getitem__))
    smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
    return Solute(
        smiles=smiles, inchikey=Chem.MolToInchiKey(mol) or smiles, name=name, molblock=Chem.MolToMolBlock(mol),
        formal_charge=Chem.GetFormalCharge(mol), source=source,
    )


def embed(mol: Any, seed: int = EMBEDDING_SEED) -> Any:
    """``mol`` with hydrogens and one 3D conformer: ETKDGv3 (random coordinates if that fails), MMFF94-optimised
    where MMFF has parameters.

    Raises:
        SoluteInputError: no 3D geometry could be embedded.
    """
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdDistGeom, rdForceFieldHelpers

    mol = Chem.AddHs(mol)
    with rdBase.BlockLogs():
        params = rdDistGeom.ETKDGv3()
        params.randomSeed = seed  # type: ignore[assignment]
        if rdDistGeom.EmbedMolecule(mol, params) != 0:
            params.useRandomCoords = True  # type: ignore[assignment]
            if rdDistGeom.EmbedMolecule(mol, params) != 0:
                raise SoluteInputError(f"no 3D geometry could be embedded for {Chem.MolToSmiles(Chem.RemoveHs(mol))}")
        if rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol):
            rdForceFieldHelpers.MMFFOptimizeMolecule(mol, maxIters=2000)
    return mol


def _read_file(path: Path) -> Any:
    from rdkit import Chem, rdBase

    mol: Any
    with rdBase.BlockLogs():
        if path.suffix.lower() == ".mol2":
            mol = Chem.MolFromMol2File(str(path), removeHs=False)
        else:
            supplier = Chem.SDMolSupplier(str(path), removeHs=False)
            mol = next(iter(supplier), None) if len(supplier) else None
    if mol is None:
        raise SoluteInputError(f"{path}: no molecule could be read (the first record is empty or invalid)")
    return mol
