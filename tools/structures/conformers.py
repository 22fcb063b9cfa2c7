"""3D conformers from RDKit: ETKDGv3 embedding, seeded, then MMFF94 (UFF where MMFF has no parameters).

Two shapes, for two kinds of caller:

* ``Conformer`` and ``generate_conformer``: one geometry as plain data (element symbols and coordinates), what the
  Uni-Mol model reads and what ``ConformerCache`` stores as JSON by InChIKey. Its generator and seed are part of every
  Uni-Mol model version, so this code path is kept exactly as the models were trained with.
* ``ConformerSet`` and ``embed_conformers``: up to N distinct geometries of one molecule as an RDKit ``Mol`` with
  explicit hydrogens (one RDKit conformer per geometry) and the force-field energy of each, what docking, free
  energies and atomistic models start from. Conformer 0 comes from the same seeded embedding as ``generate_conformer``,
  so with the same seed and molecule it is the same geometry.

RDKit and numpy are imported inside the functions: importing this module is cheap. The RDKit functions come from
the modules that define them (``rdDistGeom``, ``rdForceFieldHelpers``, ``rdDepictor``; ``AllChem`` re-exports the
same objects, which RDKit's type stubs do not declare). The stubs type the setters of ``EmbedParameters``
(``randomSeed`` and the like) as taking the parameters object itself, so those assignments carry a narrow ignore.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from rdkit import Chem

log = logging.getLogger(__name__)

CONFORMER_SEED = 0x5EED
CONFORMER_GENERATOR = "rdkit-etkdgv3-mmff94"
DEFAULT_PRUNE_RMS = 0.5  # Angstrom, heavy atoms: closer geometries count as one conformer
MAX_FORCE_FIELD_ITERATIONS = 1000
FORCE_FIELD_UNIT = "kcal/mol"


# -- one conformer as plain data (the Uni-Mol path) ------------------------------------------------------


@dataclass(frozen=True)
class Conformer:
    """One 3D geometry of a molecule: every atom (hydrogens included) and its coordinates in Angstrom."""

    inchikey: str
    smiles: str
    symbols: tuple[str, ...]
    coordinates: tuple[tuple[float, float, float], ...]
    method: str

    def to_json(self) -> str:
        return json.dumps(
            {"inchikey": self.inchikey, "smiles": self.smiles, "symbols": list(self.symbols),
             "coordinates": [list(c) for c in self.coordinates], "method": self.method},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Conformer:
        data = json.loads(text)
        coordinates = tuple((float(x), float(y), float(z)) for x, y, z in data["coordinates"])
        symbols = tuple(str(s) for s in data["symbols"])
        if len(symbols) != len(coordinates):
            raise ValueError("symbols and coordinates differ in length")
        return cls(str(data["inchikey"]), str(data["smiles"]), symbols, coordinates, str(data["method"]))


def generate_conformer(smiles: str, inchikey: str, seed: int = CONFORMER_SEED) -> Conformer:
    """ETKDGv3 (seeded) + MMFF94 (UFF without MMFF parameters); 2D coordinates, with a warning, on failure."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdDepictor, rdDistGeom, rdForceFieldHelpers

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            from knowledge.errors import InvalidStructure

            raise InvalidStructure(smiles)
        mol = Chem.AddHs(mol)
        params = rdDistGeom.ETKDGv3()
        params.randomSeed = seed  # type: ignore[assignment]
        status = rdDistGeom.EmbedMolecule(mol, params)
        if status != 0:
            params.useRandomCoords = True  # type: ignore[assignment]
            status = rdDistGeom.EmbedMolecule(mol, params)
        if status == 0:
            method = "etkdgv3"
            try:
                if rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol):
                    rdForceFieldHelpers.MMFFOptimizeMolecule(mol, maxIters=1000)
                    method += "+mmff94"
                elif rdForceFieldHelpers.UFFHasAllMoleculeParams(mol):
                    rdForceFieldHelpers.UFFOptimizeMolecule(mol, maxIters=1000)
                    method += "+uff"
            except (ValueError, RuntimeError) as error:  # keep the ETKDG geometry
                log.warning("force-field optimisation failed for %s (%s); keeping the ETKDG geometry", smiles, error)
        else:
            log.warning("3D embedding failed for %s; using 2D coordinates (z = 0)", smiles)
            rdDepictor.Compute2DCoords(mol)
            method = "2d"
    positions = mol.GetConformer().GetPositions()
    return Conformer(
        inchikey=inchikey,
        smiles=smiles,
        symbols=tuple(atom.GetSymbol() for atom in mol.GetAtoms()),
        coordinates=tuple((float(x), float(y), float(z)) for x, y, z in positions),
        method=method,
    )


# -- several conformers as an RDKit molecule (docking, free energies, atomistic models) ------------------


@dataclass(frozen=True, eq=False)
class ConformerSet:
    """A molecule in 3D: an RDKit ``Mol`` with explicit hydrogens whose conformers (ids 0 .. n-1, in embedding
    order) are its geometries in Angstrom, with each one's force-field energy.

    ``method`` says how the geometries were made: ``etkdgv3+mmff94``, ``etkdgv3+uff``, ``etkdgv3`` (no force field
    had parameters, or it failed) or ``2d`` (embedding failed: one flat geometry, no energy). ``energies`` are in
    ``FORCE_FIELD_UNIT`` by the force field the method names, ``None`` where there is none; energies of one set are
    comparable with each other, not across molecules or force fields. The ``Mol`` is shared, not copied: callers
    that change it take ``Chem.Mol(conformers.mol)`` first.
    """

    mol: Chem.Mol
    energies: tuple[float | None, ...]
    method: str
    seed: int

    def __post_init__(self) -> None:
        if self.mol.GetNumConformers() != len(self.energies):
            raise ValueError(f"{self.mol.GetNumConformers()} conformers but {len(self.energies)} energies")
        ids = [conformer.GetId() for conformer in self.mol.GetConformers()]
        if ids != list(range(len(ids))):
            raise ValueError(f"conformer ids must be 0 .. n-1 in order, not {ids}")

    @property
    def n_conformers(self) -> int:
        return len(self.energies)

    @property
    def force_field(self) -> str | None:
        """``mmff94``, ``uff`` or ``None``: what ``energies`` were computed with."""
        for name in ("mmff94", "uff"):
            if self.method.endswith("+" + name):
                return name
        return None

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(atom.GetSymbol() for atom in self.mol.GetAtoms())

    @property
    def smiles(self) -> str:
        """The canonical SMILES of the molecule (hydrogens implicit, charges as embedded)."""
        from rdkit import Chem

        return str(Chem.MolToSmiles(Chem.RemoveHs(self.mol)))

    def positions(self, index: int = 0) -> np.ndarray:
        """Coordinates of conformer ``index``, (atoms, 3) in Angstrom (a copy)."""
        return self.mol.GetConformer(self._checked(index)).GetPositions()

    def lowest_energy_index(self) -> int:
        """The conformer with the lowest energy (the first one where there are no energies)."""
        known = [(energy, i) for i, energy in enumerate(self.energies) if energy is not None]
        return min(known)[1] if known else 0

    def single(self, index: int = 0) -> Chem.Mol:
        """A new ``Mol`` holding only conformer ``index`` (as conformer 0)."""
        from rdkit import Chem

        index = self._checked(index)
        copy = Chem.Mol(self.mol, confId=index)
        copy.GetConformer().SetId(0)
        return copy

    def molblock(self, index: int = 0) -> str:
        """The MDL V2000 mol block of conformer ``index`` (V3000 where V2000 cannot hold the molecule)."""
        from rdkit import Chem

        return str(Chem.MolToMolBlock(self.mol, confId=self._checked(index), kekulize=True))

    def to_json(self) -> dict[str, Any]:
        """Plain data (what a compute job returns): a mol block and an energy per conformer."""
        return {
            "method": self.method,
            "seed": self.seed,
            "energies": list(self.energies),
            "molblocks": [self.molblock(i) for i in range(self.n_conformers)],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConformerSet:
        """The set ``to_json`` wrote (coordinates as the mol blocks hold them, to 1e-4 Angstrom)."""
        return cls.from_molblocks(data["molblocks"], data["energies"], str(data["method"]), int(data["seed"]))

    @classmethod
    def from_molblocks(
        cls, molblocks: Sequence[str], energies: Sequence[float | None], method: str, seed: int
    ) -> ConformerSet:
        """One molecule from mol blocks of the same atoms in the same order, one per conformer."""
        from rdkit import Chem, rdBase

        if not molblocks or len(molblocks) != len(energies):
            raise ValueError(f"{len(molblocks)} mol blocks for {len(energies)} energies")
        mol: Chem.Mol | None = None
        with rdBase.BlockLogs():
            for index, block in enumerate(molblocks):
                conformer_mol = Chem.MolFromMolBlock(block, removeHs=False)
                if conformer_mol is None:
                    raise ValueError(f"mol block {index} is not a valid molecule")
                if mol is None:
                    mol = Chem.Mol(conformer_mol)
                    mol.RemoveAllConformers()
                elif [a.GetAtomicNum() for a in conformer_mol.GetAtoms()] != [a.GetAtomicNum() for a in mol.GetAtoms()]:
                    raise ValueError(f"mol block {index} has other atoms than mol block 0")
                conformer = Chem.Conformer(conformer_mol.GetConformer())
                conformer.SetId(index)
                mol.AddConformer(conformer, assignId=False)
        assert mol is not None
        return cls(mol, tuple(None if e is None else float(e) for e in energies), method, seed)

    def _checked(self, index: int) -> int:
        if not 0 <= index < self.n_conformers:
            raise IndexError(f"conformer {index} of {self.n_conformers}")
        return index


def embed_conformers(
    molecule: Chem.Mol | str,
    n_conformers: int = 1,
    seed: int = CONFORMER_SEED,
    *,
    prune_rms: float = DEFAULT_PRUNE_RMS,
    max_iterations: int = MAX_FORCE_FIELD_ITERATIONS,
) -> ConformerSet:
    """Up to ``n_conformers`` distinct 3D geometries of ``molecule`` (a SMILES or an RDKit ``Mol``, taken as it is:
    protonate it first where the charge state matters).

    ETKDGv3 embeds ``n_conformers`` attempts with ``seed`` (random starting coordinates when none embeds), pruning
    those within ``prune_rms`` Angstrom heavy-atom RMSD of an earlier one; each is then optimised with MMFF94 (UFF
    where MMFF94 lacks parameters), and geometries that the optimisation brought within ``prune_rms`` of an earlier
    one are dropped. A molecule that cannot be embedded gets one 2D geometry, with a warning. The same molecule,
    count and seed give the same coordinates on one machine (RDKit runs single-threaded here).

    Raises:
        knowledge.errors.InvalidStructure: the SMILES does not parse.
        ValueError: ``n_conformers`` below 1 or ``prune_rms`` negative.
    """
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdDepictor, rdDistGeom

    if n_conformers < 1:
        raise ValueError(f"n_conformers must be at least 1, not {n_conformers}")
    if prune_rms < 0:
        raise ValueError(f"prune_rms must be at least 0, not {prune_rms}")
    with rdBase.BlockLogs():
        if isinstance(molecule, str):
            parsed = Chem.MolFromSmiles(molecule)
            if parsed is None:
                from knowledge.errors import InvalidStructure

                raise InvalidStructure(molecule)
        else:
            parsed = Chem.Mol(molecule)
        parsed.RemoveAllConformers()
        mol = Chem.AddHs(parsed)
        name = Chem.MolToSmiles(parsed)
        params = rdDistGeom.ETKDGv3()
        params.randomSeed = seed  # type: ignore[assignment]
        params.pruneRmsThresh = prune_rms  # type: ignore[assignment]
        params.numThreads = 1  # type: ignore[assignment]
        ids = list(rdDistGeom.EmbedMultipleConfs(mol, n_conformers, params))
        if not ids:
            params.useRandomCoords = True  # type: ignore[assignment]
            ids = list(rdDistGeom.EmbedMultipleConfs(mol, n_conformers, params))
        if not ids:
            log.warning("3D embedding failed for %s; using 2D coordinates (z = 0)", name)
            mol.RemoveAllConformers()
            rdDepictor.Compute2DCoords(mol)
            return ConformerSet(_renumbered(mol, [mol.GetConformer().GetId()]), (None,), "2d", seed)
        method, energies = _optimise(mol, ids, max_iterations, name)
    kept = _distinct(mol, ids, prune_rms)
    return ConformerSet(_renumbered(mol, kept), tuple(energies[ids.index(i)] for i in kept), method, seed)


def _optimise(mol: Chem.Mol, ids: list[int], max_iterations: int, name: str) -> tuple[str, list[float | None]]:
    """Optimise every conformer in place with MMFF94 (else UFF); the method and each conformer's energy."""
    from rdkit.Chem import rdForceFieldHelpers

    try:
        if rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol):
            results = rdForceFieldHelpers.MMFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=max_iterations)
            method = "etkdgv3+mmff94"
        elif rdForceFieldHelpers.UFFHasAllMoleculeParams(mol):
            results = rdForceFieldHelpers.UFFOptimizeMoleculeConfs(mol, numThreads=1, maxIters=max_iterations)
            method = "etkdgv3+uff"
        else:
            log.warning("no force field has parameters for %s; keeping the ETKDG geometries", name)
            return "etkdgv3", [None] * len(ids)
    except (ValueError, RuntimeError) as error:
        log.warning("force-field optimisation failed for %s (%s); keeping the ETKDG geometries", name, error)
        return "etkdgv3", [None] * len(ids)
    # the optimisers return one (not converged, energy) pair per conformer, in the molecule's conformer order
    by_id = {conformer.GetId(): float(energy) for conformer, (_, energy) in zip(mol.GetConformers(), results, strict=True)}
    return method, [by_id[i] for i in ids]


def _distinct(mol: Chem.Mol, ids: list[int], prune_rms: float) -> list[int]:
    """``ids`` without the conformers within ``prune_rms`` heavy-atom RMSD (after superposition) of an earlier kept
    one. Coordinates are not moved."""

    heavy = [atom.GetIdx() for atom in mol.GetAtoms() if atom.GetAtomicNum() > 1] or list(range(mol.GetNumAtoms()))
    kept: list[int] = []
    kept_xyz: list[np.ndarray] = []
    for conformer_id in ids:
        xyz = mol.GetConformer(conformer_id).GetPositions()[heavy]
        if all(kabsch_rmsd(xyz, other) >= prune_rms for other in kept_xyz):
            kept.append(conformer_id)
            kept_xyz.append(xyz)
    return kept


def kabsch_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    """The RMSD of two (atoms, 3) coordinate arrays of the same atoms after the best rigid superposition."""
    import numpy as np

    a = np.asarray(a, dtype=float) - np.mean(a, axis=0)
    b = np.asarray(b, dtype=float) - np.mean(b, axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    rotation = u @ np.diag([1.0, 1.0, d]) @ vt
    return float(np.sqrt(np.mean(np.sum((a @ rotation - b) ** 2, axis=1))))


def _renumbered(mol: Chem.Mol, keep: list[int]) -> Chem.Mol:
    """``mol`` with only the conformers ``keep``, in that order, renumbered 0 .. n-1."""
    from rdkit import Chem

    conformers = [Chem.Conformer(mol.GetConformer(i)) for i in keep]
    mol.RemoveAllConformers()
    for index, conformer in enumerate(conformers):
        conformer.SetId(index)
        mol.AddConformer(conformer, assignId=False)
    return mol
