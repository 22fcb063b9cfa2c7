"""The docking box: where on the receptor the search happens.

A box is a centre and three side lengths in Angstrom. It comes from the command line (``--center``/``--size``), from
a box file (Vina's ``center_x = ...`` config lines, or JSON ``{"center": [...], "size": [...]}``), or from a
reference ligand's atoms (its bounding box grown by a padding on every side, as GNINA's ``--autobox_ligand`` does).
Vina grids the box at 0.375 Angstrom and refuses more than 336 points a side, so no side may exceed 126 Angstrom.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from tools.docking.errors import BoxError

MAX_SIDE_A = 126.0  # Vina: 0.375 Angstrom spacing, at most 336 grid points a side
DEFAULT_PADDING_A = 4.0
MAX_PADDING_A = 20.0

Vector = tuple[float, float, float]


class Box(BaseModel):
    """A search box: ``center`` and ``size`` (the full side lengths), in Angstrom."""

    model_config = ConfigDict(frozen=True)

    center: Vector
    size: Vector

    @field_validator("center")
    @classmethod
    def _finite_center(cls, center: Vector) -> Vector:
        if not all(math.isfinite(value) for value in center):
            raise ValueError(f"the box centre must be three finite numbers, not {center}")
        return tuple(round(float(value), 3) for value in center)  # type: ignore[return-value]

    @field_validator("size")
    @classmethod
    def _griddable_size(cls, size: Vector) -> Vector:
        for value in size:
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"every side of the box must be more than 0 Angstrom, not {size}")
            if value > MAX_SIDE_A:
                raise ValueError(
                    f"a box side of {value:g} Angstrom is more than Vina can grid ({MAX_SIDE_A:g} Angstrom: 336 points "
                    "at 0.375 Angstrom); give a box around the binding site"
                )
        return tuple(round(float(value), 3) for value in size)  # type: ignore[return-value]

    @classmethod
    def of(cls, center: tuple[float, ...] | list[float], size: tuple[float, ...] | list[float]) -> Box:
        """The box with this centre and size; a typed error naming what is wrong with them."""
        from pydantic import ValidationError

        if len(center) != 3 or len(size) != 3:
            raise BoxError(f"a box needs three numbers for its centre and three for its size, got {list(center)} and {list(size)}")
        try:
            return cls(center=(center[0], center[1], center[2]), size=(size[0], size[1], size[2]))
        except ValidationError as error:
            raise BoxError("; ".join(str(problem["msg"]).removeprefix("Value error, ") for problem in error.errors())) from None

    def contains(self, points: np.ndarray) -> np.ndarray:
        """A mask of the ``points`` (n x 3) that lie inside the box."""
        half = np.asarray(self.size) / 2.0
        return np.all(np.abs(np.asarray(points, dtype=float) - np.asarray(self.center)) <= half, axis=1)

    def as_vina_config(self) -> str:
        axes = "xyz"
        lines = [f"center_{axis} = {value:.3f}" for axis, value in zip(axes, self.center, strict=True)]
        lines += [f"size_{axis} = {value:.3f}" for axis, value in zip(axes, self.size, strict=True)]
        return "\n".join(lines) + "\n"


def box_around(points: np.ndarray, padding: float = DEFAULT_PADDING_A) -> Box:
    """The bounding box of ``points`` grown by ``padding`` Angstrom on every side."""
    if not 0 <= padding <= MAX_PADDING_A:
        raise BoxError(f"the padding must lie between 0 and {MAX_PADDING_A:g} Angstrom, not {padding:g}")
    coordinates = np.asarray(points, dtype=float).reshape(-1, 3)
    if len(coordinates) == 0:
        raise BoxError("a box around no atoms")
    low, high = coordinates.min(axis=0), coordinates.max(axis=0)
    return Box.of(list((low + high) / 2.0), list(high - low + 2.0 * padding))


def box_from_ligand(path: Path | str, padding: float = DEFAULT_PADDING_A) -> Box:
    """The box around a reference ligand's heavy atoms (SDF/MOL, PDB/PDBQT or MOL2)."""
    return box_around(ligand_coordinates(path), padding)


def read_box_file(path: Path | str) -> Box:
    """A box from Vina's config lines (``center_x = 15.19`` ... ``size_z = 20``) or from JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BoxError(f"box file {path}: cannot be read as text ({error.__class__.__name__})") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
            return Box.of(list(data["center"]), list(data["size"]))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise BoxError(f"box file {path}: JSON needs 'center' and 'size', three numbers each ({error})") from None
    values: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content or "=" not in content:
            continue
        key, _, value = (part.strip() for part in content.partition("="))
        if key in {"center_x", "center_y", "center_z", "size_x", "size_y", "size_z"}:
            try:
                values[key] = float(value)
            except ValueError:
                raise BoxError(f"box file {path}, line {number}: {key} is not a number ({value!r})") from None
    missing = [key for key in ("center_x", "center_y", "center_z", "size_x", "size_y", "size_z") if key not in values]
    if missing:
        raise BoxError(f"box file {path}: missing {', '.join(missing)} (Vina config lines such as 'center_x = 15.19')")
    return Box.of([values[f"center_{axis}"] for axis in "xyz"], [values[f"size_{axis}"] for axis in "xyz"])


def ligand_coordinates(path: Path | str) -> np.ndarray:
    """The heavy-atom coordinates of a ligand file, by its suffix: .sdf/.mol, .pdb/.pdbqt/.ent, .mol2."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BoxError(f"reference ligand {path}: cannot be read as text ({error.__class__.__name__})") from None
    suffix = path.suffix.lower()
    if suffix in {".sdf", ".mol", ".sd"}:
        coordinates = _molfile_coordinates(text)
    elif suffix in {".pdb", ".pdbqt", ".ent"}:
        coordinates = heavy_atom_coordinates(text)
    elif suffix == ".mol2":
        coordinates = _mol2_coordinates(text)
    else:
        raise BoxError(f"reference ligand {path}: give an .sdf, .mol, .pdb, .pdbqt or .mol2 file")
    if len(coordinates) == 0:
        raise BoxError(f"reference ligand {path}: no heavy atoms found")
    return np.asarray(coordinates, dtype=float)


def _molfile_coordinates(text: str) -> list[list[float]]:
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        block = text.split("$$$$", 1)[0]
        mol = Chem.MolFromMolBlock(block, sanitize=False, removeHs=False)
    if mol is None or mol.GetNumConformers() == 0:
        return []
    positions = mol.GetConformer().GetPositions()
    return [list(positions[atom.GetIdx()]) for atom in mol.GetAtoms() if atom.GetAtomicNum() != 1]


def heavy_atom_coordinates(text: str) -> list[list[float]]:
    """The coordinates of the ATOM/HETATM records of PDB or PDBQT text that are not hydrogens (PDB's element column;
    PDBQT's AutoDock type starts in the same column, so HD and HS read as hydrogens too)."""
    coordinates = []
    for line in text.splitlines():
        if line.startswith(("ATOM  ", "HETATM")) and len(line) >= 54:
            element = (line[76:78].strip() if len(line) >= 78 else "") or line[12:16].strip()[:1]
            if element.upper() in {"H", "HD", "HS"}:
                continue
            try:
                coordinates.append([float(line[30:38]), float(line[38:46]), float(line[46:54])])
            except ValueError:
                continue
    return coordinates


def _mol2_coordinates(text: str) -> list[list[float]]:
    coordinates, in_atoms = [], False
    for line in text.splitlines():
        if line.startswith("@<TRIPOS>"):
            in_atoms = line.strip() == "@<TRIPOS>ATOM"
            continue
        fields = line.split()
        if in_atoms and len(fields) >= 6 and fields[5].split(".")[0] != "H":
            try:
                coordinates.append([float(fields[2]), float(fields[3]), float(fields[4])])
            except ValueError:
                continue
    return coordinates
