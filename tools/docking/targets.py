"""Docking targets: a receptor file and a box, by name.

Two targets ship with AtomLoop, so "dock to 1IEP" works on a fresh install: 1IEP (Abl kinase, the AutoDock Vina
example) and 4IVT (BACE-1). A user adds more (``atomloop dock targets add NAME RECEPTOR.pdb --box ...``); those are
rows of the knowledge store's ``dockingtarget`` table, their receptor file copied under ``$ATOMLOOP_HOME/targets``
by content hash so that moving the original breaks nothing. A PDB path given instead of a name is a target of its
own, named after the file, whose box the caller gives.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from tools.docking.box import Box
from tools.errors import ToolInputError

if TYPE_CHECKING:
    from knowledge.models import DockingTarget

TARGETS_DIR = Path(__file__).parent / "targets"
TargetSource = Literal["bundled", "user", "file"]
RECEPTOR_SUFFIXES = (".pdb", ".ent", ".pdbqt", ".pdb.gz", ".ent.gz", ".pdbqt.gz")


class UnknownTarget(ToolInputError):
    """A target name that is neither bundled, nor in the store, nor a receptor file."""


class TargetLookup(Protocol):
    """Where user targets are found (the knowledge store, or its read-only view)."""

    def docking_target(self, name: str) -> DockingTarget | None: ...

    def docking_targets(self) -> list[DockingTarget]: ...


class DockingTargetSpec(BaseModel):
    """A target to dock to: name, receptor PDB file, box, and where it came from."""

    model_config = ConfigDict(frozen=True)

    name: str
    receptor_path: str
    box: Box | None
    source: TargetSource
    description: str = ""
    reference_ligand: str | None = None  # the crystal ligand, when known (bundled targets)
    reference_smiles: str | None = None

    def with_box(self, box: Box | None) -> DockingTargetSpec:
        return self if box is None else self.model_copy(update={"box": box})


@cache
def bundled_targets() -> dict[str, DockingTargetSpec]:
    """The targets AtomLoop ships, by upper-case name."""
    data = json.loads((TARGETS_DIR / "targets.json").read_text(encoding="utf-8"))
    targets = {}
    for name, entry in data.items():
        targets[name.upper()] = DockingTargetSpec(
            name=name,
            receptor_path=str(TARGETS_DIR / entry["receptor"]),
            box=Box.of(entry["box"]["center"], entry["box"]["size"]),
            source="bundled",
            description=entry["description"],
            reference_ligand=str(TARGETS_DIR / entry["ligand"]) if entry.get("ligand") else None,
            reference_smiles=entry.get("ligand_smiles"),
        )
    return targets


def bundled_target(name: str) -> DockingTargetSpec | None:
    return bundled_targets().get(name.strip().upper())


def stored_receptor_copy(receptor: Path, home: Path) -> Path:
    """``receptor`` copied to ``home/targets/<sha256>.pdb`` (once): a user target keeps working when the original
    file moves."""
    digest = hashlib.sha256(receptor.read_bytes()).hexdigest()[:32]
    target = home / "targets" / f"{digest}.pdb"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        shutil.copyfile(receptor, temporary)
        temporary.replace(target)
    return target


def resolve_target(store: TargetLookup, name_or_path: str, box: Box | None = None) -> DockingTargetSpec:
    """The target ``name_or_path`` names (bundled first, then the store's, then a receptor file), with ``box``
    instead of its own when given.

    Raises:
        UnknownTarget: no bundled or stored target has that name and it is no receptor file.
    """
    spec = bundled_target(name_or_path)
    if spec is not None:
        return spec.with_box(box)
    row = store.docking_target(name_or_path)
    if row is not None:
        return DockingTargetSpec(
            name=row.name,
            receptor_path=row.receptor_path,
            box=Box.model_validate(row.box) if row.box else None,
            source="user",
            description=row.description,
        ).with_box(box)
    path = Path(name_or_path).expanduser()
    if path.name.lower().endswith(RECEPTOR_SUFFIXES) and path.is_file():
        return DockingTargetSpec(name=path.name.split(".")[0], receptor_path=str(path.resolve()), box=box, source="file")
    known = ", ".join([*(t.name for t in bundled_targets().values()), *(t.name for t in store.docking_targets())])
    raise UnknownTarget(f"no docking target {name_or_path!r}: give a receptor PDB file or one of the targets ({known})")
