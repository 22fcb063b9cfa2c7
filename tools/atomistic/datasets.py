"""Labelled frames for training and testing atomic models: read from DeePMD data folders or labelled structure files
(extxyz with energies and forces), split into training and held-out frames, and written as DeePMD systems (one per
composition, as deepmd-kit wants) in a folder of the model's own, so a model version keeps the data it learned from.

The held-out split is by each frame's content hash, so a frame is held out (or not) whatever file it came from and
whatever else is in the set; the fingerprint of a data set (``dataset_hash``) covers every frame's structure and
labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from tools.atomistic.errors import StructureInputError
from tools.atomistic.structure import read_frames, structure_hash, write_deepmd
from tools.atomistic.training import labels

if TYPE_CHECKING:
    from ase import Atoms

HOLDOUT_FRACTION = 0.1


class PreparedData(BaseModel):
    """Training and held-out DeePMD systems written for one model, their type map, frame counts and fingerprint."""

    model_config = ConfigDict(frozen=True)

    training: list[str]
    heldout: list[str]
    type_map: list[str]
    training_frames: int
    heldout_frames: int
    dataset_hash: str


def labelled_frames(sources: Sequence[Path]) -> list[Atoms]:
    """Every frame of ``sources`` (DeePMD folders, or structure files ASE reads), each with its energy and forces.

    Raises:
        StructureInputError: a source that cannot be read, or a frame without an energy and forces.
    """
    frames: list[Atoms] = []
    for source in sources:
        path = Path(source).expanduser()
        if not path.exists():
            raise StructureInputError(path, "no such file or folder")
        found = _deepmd_systems(path) if path.is_dir() else [path]
        if not found:
            raise StructureInputError(path, "a folder with no DeePMD data (type.raw and set.*/) in it or below it")
        for system in found:
            for frame in read_frames(system):
                labels(frame)
                frame.info["source"] = str(system)
                frames.append(frame)
    if not frames:
        raise StructureInputError(", ".join(str(s) for s in sources), "holds no frames")
    return frames


def _deepmd_systems(folder: Path) -> list[Path]:
    """``folder`` when it is a DeePMD system, else the systems below it (a folder of systems)."""
    if (folder / "type.raw").exists():
        return [folder]
    return sorted(path.parent for path in folder.rglob("type.raw"))


def is_heldout(frame: Atoms, fraction: float = HOLDOUT_FRACTION) -> bool:
    """Whether a frame belongs to the held-out part: the leading bits of its structure hash, below ``fraction``."""
    return int(structure_hash(frame)[:8], 16) / 0xFFFFFFFF < fraction


def type_map_of(frames: Sequence[Atoms], first: Sequence[str] = ()) -> list[str]:
    """The elements of ``frames`` in order of first appearance, after those of ``first`` (a parent's type map)."""
    order = list(first)
    for frame in frames:
        for symbol in frame.get_chemical_symbols():
            if symbol not in order:
                order.append(symbol)
    return order


def dataset_hash(frames: Sequence[Atoms]) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        energy, forces = labels(frame)
        digest.update(structure_hash(frame).encode())
        digest.update(f"{energy:.8f}".encode())
        digest.update(forces.round(6).tobytes())
    return digest.hexdigest()


def prepare_data(
    frames: Sequence[Atoms], folder: Path, type_map: Sequence[str], heldout: Sequence[Atoms] | None = None, fraction: float = HOLDOUT_FRACTION
) -> PreparedData:
    """Write ``frames`` as DeePMD systems under ``folder/train`` and the held-out ones under ``folder/heldout``:
    ``heldout`` when given, else the frames ``is_heldout`` picks (at least one, and never every frame).

    Raises:
        StructureInputError: too few frames to hold one out and train on the rest.
    """
    if heldout is None:
        picked = [is_heldout(frame, fraction) for frame in frames]
        if not any(picked) and len(frames) > 1:
            picked[min(range(len(frames)), key=lambda i: structure_hash(frames[i]))] = True
        if all(picked):
            raise StructureInputError(folder, f"{len(frames)} frame(s) are too few to train on some and hold others out; give more or --validation")
        training = [f for f, p in zip(frames, picked, strict=True) if not p]
        held = [f for f, p in zip(frames, picked, strict=True) if p]
    else:
        training, held = list(frames), list(heldout)
    return PreparedData(
        training=_write_systems(training, folder / "train", type_map), heldout=_write_systems(held, folder / "heldout", type_map),
        type_map=list(type_map), training_frames=len(training), heldout_frames=len(held), dataset_hash=dataset_hash(training),
    )


def _write_systems(frames: Sequence[Atoms], folder: Path, type_map: Sequence[str]) -> list[str]:
    groups: dict[tuple[object, ...], list[Atoms]] = {}
    for frame in frames:
        groups.setdefault((tuple(frame.get_chemical_symbols()), bool(frame.pbc.any())), []).append(frame)
    return [str(write_deepmd(group, folder / f"system_{i:03d}", type_map)) for i, group in enumerate(groups.values())]


def read_systems(folders: Sequence[str]) -> list[Atoms]:
    """The frames of DeePMD systems written by ``prepare_data``."""
    return [frame for folder in folders for frame in read_frames(Path(folder))]
