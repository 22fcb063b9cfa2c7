"""Atom mappings between two ligands for relative free energies: their maximum common substructure (RDKit's
FMCS: elements must match, ring atoms map only to ring atoms and only whole rings), and the second ligand placed on
the first (its common atoms embedded at the first's coordinates, then aligned on them), so that both start in the
same pocket pose."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from tools.freeenergy.errors import SoluteInputError

MCS_TIMEOUT_S = 10
MIN_MAPPED_HEAVY_ATOMS = 3


class AtomMapping(BaseModel):
    """Which heavy atom of ligand B is which of ligand A: ``pairs`` (A index, B index) in each molecule's own atom
    order (hydrogens included in the numbering), with the common substructure as SMARTS."""

    model_config = ConfigDict(frozen=True)

    pairs: tuple[tuple[int, int], ...]
    smarts: str
    heavy_atoms_a: int
    heavy_atoms_b: int

    @property
    def unmapped_a(self) -> int:
        return self.heavy_atoms_a - len(self.pairs)

    @property
    def unmapped_b(self) -> int:
        return self.heavy_atoms_b - len(self.pairs)


def atom_mapping(mol_a: Any, mol_b: Any, timeout_s: int = MCS_TIMEOUT_S) -> AtomMapping:
    """The maximum common substructure of two ligands (hydrogens ignored) as an atom mapping.

    Raises:
        SoluteInputError: fewer than three heavy atoms in common (the ligands are too different for a relative
            calculation).
    """
    from rdkit import Chem
    from rdkit.Chem import rdFMCS

    heavy_a, heavy_b = Chem.RemoveHs(mol_a), Chem.RemoveHs(mol_b)
    result = rdFMCS.FindMCS(
        [heavy_a, heavy_b], timeout=timeout_s, atomCompare=rdFMCS.AtomCompare.CompareElements,
        bondCompare=rdFMCS.BondCompare.CompareOrderExact, ringMatchesRingOnly=True, completeRingsOnly=True,
    )
    if result.numAtoms < MIN_MAPPED_HEAVY_ATOMS or not result.smartsString:
        raise SoluteInputError(
            f"{Chem.MolToSmiles(heavy_a)} and {Chem.MolToSmiles(heavy_b)} share {result.numAtoms} heavy atoms: too few for a relative "
            "free energy (compute each one's absolute free energy instead)"
        )
    core = Chem.MolFromSmarts(result.smartsString)
    match_a = _heavy_match(mol_a, core)
    match_b = _heavy_match(mol_b, core)
    return AtomMapping(
        pairs=tuple(zip(match_a, match_b, strict=True)), smarts=result.smartsString,
        heavy_atoms_a=heavy_a.GetNumAtoms(), heavy_atoms_b=heavy_b.GetNumAtoms(),
    )


def place_on(mol_b: Any, mol_a: Any, mapping: AtomMapping, seed: int = 0xF0E) -> tuple[Any, float]:
    """Ligand B (with hydrogens) given a conformer whose common atoms sit on ligand A's: embedded with those
    atoms' coordinates fixed, aligned on them, MMFF-relaxed with them held in place; (the molecule, the RMSD in Å of
    the common atoms after alignment).

    Raises:
        SoluteInputError: no conformer could be embedded with the common atoms where A has them.
    """
    from rdkit import Chem
    from rdkit.Chem import rdDistGeom, rdForceFieldHelpers, rdMolAlign
    from rdkit.Geometry import Point3D

    conformer_a = mol_a.GetConformer()
    placed = Chem.Mol(mol_b)
    placed.RemoveAllConformers()
    coordinates = {b: Point3D(*conformer_a.GetAtomPosition(a)) for a, b in mapping.pairs}
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = seed  # type: ignore[assignment]
    params.SetCoordMap(coordinates)  # type: ignore[call-arg, arg-type]  # RDKit's stub lacks this overload
    if rdDistGeom.EmbedMolecule(placed, params) != 0:
        params.useRandomCoords = True  # type: ignore[assignment]
        if rdDistGeom.EmbedMolecule(placed, params) != 0:
            raise SoluteInputError(f"{Chem.MolToSmiles(Chem.RemoveHs(mol_b))} could not be placed on the other ligand's common atoms")
    atom_map = [(b, a) for a, b in mapping.pairs]
    rdMolAlign.AlignMol(placed, mol_a, atomMap=atom_map)
    if rdForceFieldHelpers.MMFFHasAllMoleculeParams(placed):
        properties = rdForceFieldHelpers.MMFFGetMoleculeProperties(placed)
        field = rdForceFieldHelpers.MMFFGetMoleculeForceField(placed, properties)
        for _, b in mapping.pairs:  # aligned on A already: hold the common atoms there while the rest relaxes
            field.MMFFAddPositionConstraint(b, 0.05, 100.0)
        field.Minimize(maxIts=500)
    rmsd = rdMolAlign.AlignMol(placed, mol_a, atomMap=atom_map)
    return placed, float(rmsd)


def _heavy_match(mol: Any, core: Any) -> tuple[int, ...]:
    match = mol.GetSubstructMatch(core)
    if not match:  # pragma: no cover - the core came from this molecule
        raise SoluteInputError("the common substructure does not match the ligand it came from")
    return tuple(int(index) for index in match)
