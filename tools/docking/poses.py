"""Poses as molecules: Vina's output PDBQT back to RDKit molecules with all their hydrogens, SDF files, RMSD.

meeko writes the ligand's SMILES and atom order into the PDBQT it prepares, so a docked pose comes back as the
full molecule (bond orders, charges, hydrogens) with one conformer per pose. RMSD between poses and a crystal pose
is over heavy atoms, symmetry-aware and without superposition (the poses share the receptor's frame): every
mapping of the reference's heavy-atom graph onto the pose's (elements and connectivity only, so a different
protonation or bond-order perception of the crystal ligand still maps) is tried and the smallest RMSD kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tools.docking.engine import Pose

if TYPE_CHECKING:
    from rdkit import Chem

MAX_MATCHES = 20000


def pose_molecule(poses_pdbqt: str) -> Chem.Mol:
    """The docked ligand with one conformer per pose, in rank order."""
    from meeko import PDBQTMolecule, RDKitMolCreate
    from rdkit import rdBase

    from tools.docking.meeko_logs import quiet_meeko

    with quiet_meeko(), rdBase.BlockLogs():
        molecules = RDKitMolCreate.from_pdbqt_mol(PDBQTMolecule(poses_pdbqt, skip_typing=True))
    if not molecules or molecules[0] is None:
        raise ValueError("meeko could not rebuild the molecule from the poses")
    return molecules[0]


def poses_sdf(mol: Chem.Mol, poses: Sequence[Pose], name: str, extra: dict[str, str] | None = None) -> str:
    """An SDF with one record per pose, its score and RMSDs as data fields."""
    from rdkit import Chem

    blocks = []
    for pose, conformer in zip(poses, mol.GetConformers(), strict=False):
        record = Chem.Mol(mol, confId=conformer.GetId())
        record.SetProp("_Name", f"{name} pose {pose.rank}")
        fields = {"rank": str(pose.rank), "score_kcal_mol": f"{pose.score:.3f}", "rmsd_lb": f"{pose.rmsd_lb:.3f}", "rmsd_ub": f"{pose.rmsd_ub:.3f}", **(extra or {})}
        block = Chem.MolToMolBlock(record, confId=conformer.GetId())
        data = "".join(f">  <{key}>\n{value}\n\n" for key, value in fields.items())
        blocks.append(f"{block}{data}$$$$\n")
    return "".join(blocks)


def _skeleton(mol: Chem.Mol) -> Chem.Mol:
    """Heavy atoms and single bonds only: the graph that survives any protonation or bond-order perception."""
    from rdkit import Chem

    heavy = Chem.RWMol(mol)
    for index in sorted((atom.GetIdx() for atom in mol.GetAtoms() if atom.GetAtomicNum() == 1), reverse=True):
        heavy.RemoveAtom(index)  # in descending order, the heavy atoms keep their relative order
    for atom in heavy.GetAtoms():
        atom.SetFormalCharge(0)
        atom.SetIsAromatic(False)
        atom.SetNoImplicit(True)
        atom.SetNumExplicitHs(0)
        atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for bond in heavy.GetBonds():
        bond.SetBondType(Chem.BondType.SINGLE)
        bond.SetIsAromatic(False)
    return heavy.GetMol()


def symmetric_rmsd(probe: Chem.Mol, reference: Chem.Mol, probe_conformer: int = -1, reference_conformer: int = -1) -> float:
    """Heavy-atom RMSD of ``probe`` to ``reference`` in place, minimised over the graph's symmetries.

    Raises ``ValueError`` when the reference's heavy-atom graph does not map onto the probe's (another molecule).
    """
    from rdkit import Chem

    probe_heavy_ids = [atom.GetIdx() for atom in probe.GetAtoms() if atom.GetAtomicNum() > 1]
    reference_heavy_ids = [atom.GetIdx() for atom in reference.GetAtoms() if atom.GetAtomicNum() > 1]
    probe_skeleton, reference_skeleton = _skeleton(probe), _skeleton(reference)
    if probe_skeleton.GetNumAtoms() != reference_skeleton.GetNumAtoms():
        raise ValueError(f"the molecules differ: {probe_skeleton.GetNumAtoms()} and {reference_skeleton.GetNumAtoms()} heavy atoms")
    matches = probe_skeleton.GetSubstructMatches(reference_skeleton, uniquify=False, useChirality=False, maxMatches=MAX_MATCHES)
    if not matches:
        raise ValueError(f"the heavy-atom graphs differ ({Chem.MolToSmiles(probe_skeleton)} and {Chem.MolToSmiles(reference_skeleton)})")
    probe_xyz = probe.GetConformer(probe_conformer).GetPositions()[probe_heavy_ids]
    reference_xyz = reference.GetConformer(reference_conformer).GetPositions()[reference_heavy_ids]
    best = min(float(np.sum((probe_xyz[list(match)] - reference_xyz) ** 2)) for match in matches)
    return float(np.sqrt(best / len(reference_heavy_ids)))


def pose_pdbqt_from_sdf(path: Path) -> tuple[str, str]:
    """The first molecule of an SDF, in place (hydrogens added where missing), as a ligand PDBQT to score; and its
    SMILES.

    Raises:
        LigandPreparationError: the file holds no molecule meeko can type.
    """
    from rdkit import Chem, rdBase

    from tools.docking.errors import LigandPreparationError
    from tools.docking.ligands import meeko_pdbqt

    with rdBase.BlockLogs():
        try:
            supplier = Chem.SDMolSupplier(str(path), removeHs=False)
            mol = next((m for m in supplier if m is not None), None)
        except OSError as error:
            raise LigandPreparationError(str(path), f"cannot be read ({error})") from None
    if mol is None or mol.GetNumConformers() == 0:
        raise LigandPreparationError(str(path), "holds no molecule RDKit can read with coordinates")
    if not any(atom.GetAtomicNum() == 1 for atom in mol.GetAtoms()):
        mol = Chem.AddHs(mol, addCoords=True)
    pdbqt, _torsions = meeko_pdbqt(mol, str(path))
    return Chem.MolToSmiles(Chem.RemoveHs(mol)), pdbqt


def read_reference_ligand(path: Path | str) -> Chem.Mol:
    """A crystal ligand to measure poses against (SDF/MOL, PDB or MOL2); only its heavy atoms' elements,
    connectivity and coordinates are used, so a file without bond orders (a PDB's HETATM records) will do.

    Raises ``ValueError`` when the file holds no molecule with coordinates.
    """
    from rdkit import Chem, rdBase

    path = Path(path)
    suffix = path.suffix.lower()
    with rdBase.BlockLogs():
        if suffix in {".sdf", ".mol", ".sd"}:
            mol = next((m for m in Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False) if m is not None), None)
        elif suffix in {".pdb", ".ent", ".pdbqt"}:
            mol = Chem.MolFromPDBFile(str(path), sanitize=False, removeHs=False, proximityBonding=True)
        elif suffix == ".mol2":
            mol = Chem.MolFromMol2File(str(path), sanitize=False, removeHs=False)
        else:
            raise ValueError(f"{path}: give an .sdf, .mol, .pdb or .mol2 reference ligand")
    if mol is None or mol.GetNumConformers() == 0:
        raise ValueError(f"{path}: no molecule with coordinates")
    return mol


def reference_rmsds(pose_file: Path | str, reference: Chem.Mol) -> tuple[float, ...] | None:
    """The heavy-atom RMSD of every pose in ``pose_file`` to ``reference``; None when they are other molecules."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        poses = [m for m in Chem.SDMolSupplier(str(pose_file), removeHs=False) if m is not None]
    try:
        return tuple(round(symmetric_rmsd(pose, reference), 3) for pose in poses)
    except ValueError:
        return None
