"""Ligand preparation: a molecule to the PDBQT Vina docks, from its graph alone.

A ligand is protonated to its dominant state at a pH (dimorphite-dl, through ``tools.structures.protonation``),
given fresh 3D coordinates (the lowest-energy of a few ETKDGv3 + MMFF94 conformers, ``tools.structures.conformers``:
the input's own coordinates are never used, so a SMILES and an SDF of the same molecule dock the same way), and typed by meeko, which builds the
torsion tree and opens macrocycles into flexible chains with glue atoms as Vina expects.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from tools.docking.errors import LigandPreparationError

if TYPE_CHECKING:
    from rdkit import Chem

LIGAND_METHOD = "dimorphite-ph/etkdgv3-lowest-of-8/mmff94/meeko-1"
# Conformers embedded to choose the starting geometry from: Vina keeps bond angles and ring puckers as given, so the
# lowest-energy of several (MMFF94) starts it from the preferred ring conformations.
STARTING_CONFORMERS = 8
DEFAULT_LIGAND_SEED = 0xD0C  # the seed of the ligand's starting geometry (docking has its own seed)


class PreparedLigand(BaseModel):
    """A ligand ready to dock: its label, the SMILES of the state docked, and its PDBQT."""

    model_config = ConfigDict(frozen=True)

    label: str
    input: str
    smiles: str  # the protonated state, canonical
    parent_smiles: str  # the molecule as given, canonical (the one results are stored under)
    inchikey: str
    pdbqt: str
    torsions: int
    heavy_atoms: int


def prepare_ligand(
    molecule: str | Chem.Mol,
    *,
    label: str | None = None,
    ph: float | None = 7.4,
    seed: int = DEFAULT_LIGAND_SEED,
) -> PreparedLigand:
    """``molecule`` (a SMILES or an RDKit molecule) protonated at ``ph`` (``None``: as given), embedded, typed.

    Raises:
        LigandPreparationError: it does not parse, cannot be embedded in 3D, or has atoms Vina has no types for.
    """
    from rdkit import Chem, rdBase

    from knowledge.chem import canonicalize
    from knowledge.errors import InvalidStructure
    from tools.structures.conformers import embed_conformers
    from tools.structures.protonation import protonate

    given = molecule if isinstance(molecule, str) else Chem.MolToSmiles(molecule)
    name = label or given
    with rdBase.BlockLogs():
        try:
            parent = canonicalize(given)
        except InvalidStructure:
            raise LigandPreparationError(name, "not a valid structure (RDKit cannot parse it)") from None
        if "." in parent.smiles:
            raise LigandPreparationError(name, "holds more than one molecule (a salt or a mixture): give the parent compound alone")
        try:
            state = protonate(parent.smiles, ph) if ph is not None else parent.smiles
        except InvalidStructure:
            raise LigandPreparationError(name, "dimorphite-dl could not protonate it") from None
        conformers = embed_conformers(state, STARTING_CONFORMERS, seed)
    if conformers.method == "2d":
        raise LigandPreparationError(name, "RDKit could not embed it in 3D (ETKDGv3, random coordinates included)")
    mol = conformers.single(conformers.lowest_energy_index())
    pdbqt, torsions = meeko_pdbqt(mol, name)
    return PreparedLigand(
        label=name,
        input=given,
        smiles=state,
        parent_smiles=parent.smiles,
        inchikey=parent.inchikey,
        pdbqt=pdbqt,
        torsions=torsions,
        heavy_atoms=sum(1 for atom in mol.GetAtoms() if atom.GetAtomicNum() > 1),
    )


def ligand_key(smiles: str, ph: float | None, seed: int) -> str:
    """What decides a prepared ligand: the molecule, the pH, the seed and the versions of the tools."""
    import meeko
    import rdkit

    from tools.structures.protonation import dimorphite_version

    payload = {"smiles": smiles, "ph": ph, "seed": seed, "method": LIGAND_METHOD, "rdkit": rdkit.__version__, "meeko": meeko.__version__, "dimorphite": dimorphite_version()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def meeko_pdbqt(mol: Chem.Mol, name: str) -> tuple[str, int]:
    from meeko import MoleculePreparation, PDBQTWriterLegacy

    from tools.docking.meeko_logs import quiet_meeko

    try:
        with quiet_meeko():
            setups = MoleculePreparation().prepare(mol)
            pdbqt, ok, problem = PDBQTWriterLegacy.write_string(setups[0])
    except Exception as error:  # meeko raises RuntimeError/ValueError/bare Exception for what it cannot type
        reason = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        raise LigandPreparationError(name, f"meeko cannot type it for Vina ({reason})") from None
    if not ok:
        raise LigandPreparationError(name, f"meeko cannot write it for Vina ({str(problem).strip() or 'no reason given'})")
    torsions = 0
    for line in pdbqt.splitlines():
        if line.startswith("TORSDOF"):
            torsions = int(line.split()[1])
    return pdbqt, torsions
