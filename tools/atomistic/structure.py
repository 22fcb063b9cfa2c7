"""Atomic structures in and out: what a user names as a structure (a SMILES, a structure file, a DeePMD data
folder) as ASE ``Atoms``, checked, and saved by content hash.

A SMILES is protonated as written and embedded by the shared structure module (the lowest-energy of a few ETKDGv3 +
MMFF94 conformers, ``tools.structures.conformers``), with no cell. Files are read by ASE (extxyz/XYZ, CIF, POSCAR,
PDB, SDF and what else ASE knows by the file name); a DeePMD data folder (``type.raw`` and ``set.*/coord.npy``) is
read here, with its energies and forces, since ASE does not read it. Every structure is checked before a model sees
it: at least one atom, finite coordinates, no two atoms closer than ``MIN_DISTANCE_A``, a cell of positive volume
where it is periodic.

A structure's identity is the SHA-256 of its atomic numbers, positions (to 1e-6 Å), cell and periodicity, so the
same geometry from a SMILES or a file is one file under ``$ATOMLOOP_HOME/structures/`` (extxyz).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tools.atomistic.errors import StructureInputError

if TYPE_CHECKING:
    from ase import Atoms

MIN_DISTANCE_A = 0.5  # closer than this, two atoms are a broken file, not chemistry
SMILES_CONFORMERS = 8
SMILES_SEED = 0xA70
_FORMATS = {
    ".xyz": "extxyz", ".extxyz": "extxyz", ".cif": "cif", ".vasp": "vasp", ".poscar": "vasp", ".pdb": "proteindatabank",
    ".sdf": "sdf", ".mol": "sdf", ".traj": "traj", ".json": "json",
}
_VASP_NAMES = ("POSCAR", "CONTCAR")


def read_structure(source: str | Path, *, frame: int = 0, seed: int = SMILES_SEED) -> Atoms:
    """The structure ``source`` names: a file or DeePMD folder when that path exists, else a SMILES.

    ``frame`` picks one frame of a file or folder with several (0: the first, -1: the last). The ``Atoms``' ``info``
    holds ``source`` (and ``smiles`` for a SMILES).

    Raises:
        StructureInputError: the path is not a structure ASE or AtomLoop reads, the SMILES does not parse or embed,
            or the structure fails the checks (no atoms, overlapping atoms, a flat cell).
    """
    path = Path(str(source)).expanduser()
    if path.exists():
        frames = read_frames(path)
        try:
            atoms = frames[frame]
        except IndexError:
            raise StructureInputError(path, f"has {len(frames)} frames; frame {frame} is not one of them") from None
    elif _looks_like_a_path(str(source)):
        raise StructureInputError(source, "no such file or folder")
    else:
        atoms = atoms_from_smiles(str(source), seed=seed)
    check_structure(atoms, str(source))
    atoms.info["source"] = str(source)
    return atoms


def read_frames(path: Path) -> list[Atoms]:
    """Every frame of a structure file or DeePMD data folder (with its energies and forces where the file has them).

    Raises:
        StructureInputError: not a readable structure file or DeePMD folder.
    """
    if path.is_dir():
        return read_deepmd(path)
    _refuse_binary(path)
    from ase.io import read

    fmt = _FORMATS.get(path.suffix.lower()) or ("vasp" if path.name.upper().startswith(_VASP_NAMES) else None)
    try:
        frames = read(str(path), index=":", format=fmt)
    except Exception as error:  # ASE raises many kinds for a file it cannot parse; all mean "not this format"
        reason = str(error).strip() or type(error).__name__
        raise StructureInputError(path, f"ASE cannot read it{' as ' + fmt if fmt else ''}: {reason}") from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise StructureInputError(path, "holds no structure")
    return frames


def read_deepmd(folder: Path) -> list[Atoms]:
    """The frames of a DeePMD data folder (``type.raw``, ``type_map.raw``, ``set.*/{coord,box,energy,force}.npy``), with
    energies (eV) and forces (eV/Å) attached as ASE single-point results when the sets have them.

    Raises:
        StructureInputError: no ``type.raw`` or sets, shapes that do not agree, or no ``type_map.raw`` to name the types.
    """
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    types_file, map_file = folder / "type.raw", folder / "type_map.raw"
    if not types_file.exists():
        raise StructureInputError(folder, "a folder, but not a DeePMD data folder (no type.raw)")
    if not map_file.exists():
        raise StructureInputError(folder, "has no type_map.raw, so its atom types have no elements")
    types = np.loadtxt(types_file, dtype=int, ndmin=1)
    type_map = map_file.read_text(encoding="utf-8").split()
    if types.size == 0 or types.max() >= len(type_map) or types.min() < 0:
        raise StructureInputError(folder, f"type.raw names types 0..{types.max() if types.size else -1}, type_map.raw has {len(type_map)}")
    symbols = [type_map[t] for t in types]
    sets = sorted(p for p in folder.glob("set.*") if (p / "coord.npy").exists())
    if not sets:
        raise StructureInputError(folder, "has no set.*/coord.npy")
    frames: list[Atoms] = []
    for set_dir in sets:
        coords = np.load(set_dir / "coord.npy").reshape(-1, len(types), 3)
        n = len(coords)
        boxes = np.load(set_dir / "box.npy").reshape(n, 3, 3) if (set_dir / "box.npy").exists() else None
        energies = np.load(set_dir / "energy.npy").reshape(n) if (set_dir / "energy.npy").exists() else None
        forces = np.load(set_dir / "force.npy").reshape(n, len(types), 3) if (set_dir / "force.npy").exists() else None
        periodic = boxes is not None and not (folder / "nopbc").exists()
        for i in range(n):
            atoms = Atoms(symbols=symbols, positions=coords[i], cell=boxes[i] if boxes is not None else None, pbc=periodic)
            if energies is not None:
                atoms.calc = SinglePointCalculator(atoms, energy=float(energies[i]), forces=forces[i] if forces is not None else None)
            atoms.info["deepmd_set"] = set_dir.name
            frames.append(atoms)
    return frames


def write_deepmd(frames: Sequence[Atoms], folder: Path, type_map: Sequence[str]) -> Path:
    """Write labelled frames (energy and forces from each frame's calculator) as one DeePMD data folder (one set)."""
    folder.mkdir(parents=True, exist_ok=True)
    first = frames[0]
    index = {symbol: i for i, symbol in enumerate(type_map)}
    (folder / "type_map.raw").write_text("\n".join(type_map) + "\n", encoding="utf-8")
    (folder / "type.raw").write_text("\n".join(str(index[s]) for s in first.get_chemical_symbols()) + "\n", encoding="utf-8")
    if not first.pbc.any():
        (folder / "nopbc").write_text("", encoding="utf-8")
    set_dir = folder / "set.000"
    set_dir.mkdir(exist_ok=True)
    np.save(set_dir / "coord.npy", np.array([f.get_positions().reshape(-1) for f in frames]))
    np.save(set_dir / "box.npy", np.array([_deepmd_box(f).reshape(-1) for f in frames]))
    np.save(set_dir / "energy.npy", np.array([f.get_potential_energy() for f in frames]))
    np.save(set_dir / "force.npy", np.array([f.get_forces().reshape(-1) for f in frames]))
    return folder


def _deepmd_box(atoms: Atoms) -> np.ndarray:
    """The cell DeePMD trains with: the structure's own, or for a molecule a cube far larger than it (DeePMD's
    ``nopbc`` file marks it as not periodic)."""
    if atoms.pbc.any():
        return np.asarray(atoms.cell.array, dtype=float)
    extent = np.ptp(atoms.get_positions(), axis=0).max() if len(atoms) > 1 else 0.0
    return np.eye(3) * (extent + 100.0)


def atoms_from_smiles(smiles: str, *, seed: int = SMILES_SEED) -> Atoms:
    """A molecule from its SMILES (as written: no protonation), hydrogens explicit, in its lowest-energy conformer."""
    from ase import Atoms

    from knowledge.errors import InvalidStructure
    from tools.structures.conformers import embed_conformers

    try:
        conformers = embed_conformers(smiles, SMILES_CONFORMERS, seed)
    except InvalidStructure:
        raise StructureInputError(smiles, "not a file, and not a SMILES RDKit can parse") from None
    if conformers.method == "2d":
        raise StructureInputError(smiles, "RDKit could not embed it in 3D")
    index = conformers.lowest_energy_index()
    mol = conformers.single(index)
    charge = sum(atom.GetFormalCharge() for atom in mol.GetAtoms())
    atoms = Atoms(symbols=list(conformers.symbols), positions=conformers.positions(index))
    atoms.info.update({"smiles": conformers.smiles, "charge": int(charge)})
    return atoms


def check_structure(atoms: Atoms, source: str) -> None:
    """Refuse a structure no model should be given: no atoms, coordinates that are not finite, two atoms closer than
    ``MIN_DISTANCE_A`` (periodic images included), a periodic cell without volume."""
    if len(atoms) == 0:
        raise StructureInputError(source, "has no atoms")
    positions = atoms.get_positions()
    if not np.isfinite(positions).all():
        raise StructureInputError(source, "has coordinates that are not numbers (NaN or infinite)")
    if atoms.pbc.any() and abs(atoms.cell.volume) < 1e-6:
        raise StructureInputError(source, "is periodic but its cell has no volume")
    if len(atoms) > 1:
        from ase.neighborlist import neighbor_list

        i, j, d = neighbor_list("ijd", atoms, MIN_DISTANCE_A)
        if len(d):
            k = int(np.argmin(d))
            raise StructureInputError(source, f"atoms {i[k] + 1} and {j[k] + 1} are {d[k]:.2f} Å apart (overlapping atoms)")


def structure_hash(atoms: Atoms) -> str:
    """The SHA-256 of the structure's numbers, positions (1e-6 Å), cell (1e-6 Å) and periodicity."""
    digest = hashlib.sha256()
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    digest.update(np.round(atoms.get_positions(), 6).astype(np.float64).tobytes() + b"|")
    digest.update(np.round(np.asarray(atoms.cell.array), 6).astype(np.float64).tobytes())
    digest.update(bytes(int(p) for p in atoms.pbc))
    return digest.hexdigest()


def save_structure(atoms: Atoms, home: Path) -> Path:
    """Write ``atoms`` (with its results, if any) as extxyz under ``home/structures/``, named by the content hash of
    what the file holds (extxyz keeps 8 decimals, so a position may round differently once written: the file's
    atoms are the structure), atomically; a structure saved before is left as it is."""
    from ase.io import read, write

    folder = home / "structures"
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{structure_hash(atoms)}.{os.getpid()}.tmp"
    write(str(staging), atoms, format="extxyz")
    path = folder / f"{structure_hash(read(str(staging), index=-1, format='extxyz'))}.extxyz"  # type: ignore[arg-type]
    if path.exists():
        staging.unlink()
    else:
        os.replace(staging, path)
    return path


def write_trajectory(frames: Sequence[Atoms], home: Path) -> Path:
    """Write frames as one extxyz trajectory under ``home/trajectories/``, named by the hash of its frames."""
    from ase.io import write

    digest = hashlib.sha256("".join(structure_hash(f) for f in frames).encode()).hexdigest()
    folder = home / "trajectories"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.extxyz"
    if not path.exists():
        staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        write(str(staging), list(frames), format="extxyz")
        os.replace(staging, path)
    return path


def formula(atoms: Atoms) -> str:
    return str(atoms.get_chemical_formula(mode="hill"))


def _refuse_binary(path: Path) -> None:
    """A file whose first bytes hold a NUL is binary (or UTF-16) text: refuse it by name rather than let a parser
    guess. ASE's own binary trajectory format is the one exception."""
    if path.suffix.lower() == ".traj":
        return
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise StructureInputError(path, "is UTF-16 text: save it as UTF-8")
    if b"\x00" in head:
        raise StructureInputError(path, "is a binary file, not a structure file")


def _looks_like_a_path(text: str) -> bool:
    """A name meant as a file: a known suffix, a start like a path, or a VASP name (a SMILES may hold '/' for its
    double-bond geometry, so a slash inside is not enough)."""
    return text.startswith(("~", "/", "./", "../")) or Path(text).suffix.lower() in _FORMATS or text.upper().startswith(_VASP_NAMES)


def describe(atoms: Atoms) -> dict[str, Any]:
    """The structure in a few words, for tables and JSON."""
    return {"formula": formula(atoms), "atoms": len(atoms), "periodic": bool(atoms.pbc.any())}
