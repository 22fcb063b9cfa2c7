"""Docking targets and results in the knowledge store: which receptor and box a name means, and recording a
docking report (its target row and one ``docking_score`` measurement per docked molecule) in one transaction.

A name is looked up among the bundled targets first, then among the store's; a path to a PDB file is a target of
its own, named after the file. Recording is idempotent: a measurement's op_id is the docking's content key, so the
same docking recorded twice (a cache hit, a repeated command) adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from knowledge.models import DockingTarget
from knowledge.store import KnowledgeStore, StoreWriter
from tools.docking.box import Box
from tools.docking.receptor import ReceptorOptions, prepare_receptor
from tools.docking.service import DockingReport
from tools.docking.targets import DockingTargetSpec, bundled_target, stored_receptor_copy
from tools.errors import ToolInputError

PDB_SUFFIXES = (".pdb", ".ent", ".pdbqt")


class UnknownTarget(ToolInputError):
    """A target name that is neither bundled, nor in the store, nor a PDB file."""


def resolve_target(store: KnowledgeStore, name_or_path: str, box: Box | None = None) -> DockingTargetSpec:
    """The target ``name_or_path`` names, with ``box`` instead of its own when given.

    Raises:
        UnknownTarget: no bundled or stored target has that name and it is no PDB file.
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
    if path.suffix.lower() in PDB_SUFFIXES and path.is_file():
        return DockingTargetSpec(name=path.stem, receptor_path=str(path.resolve()), box=box, source="file")
    known = ", ".join([*(t.name for t in _bundled()), *(t.name for t in store.docking_targets())])
    raise UnknownTarget(f"no docking target {name_or_path!r}: give a receptor PDB file or one of the targets ({known})")


def _bundled() -> list[DockingTargetSpec]:
    from tools.docking.targets import bundled_targets

    return list(bundled_targets().values())


def add_target(store: KnowledgeStore, home: Path, name: str, receptor: Path, box: Box, description: str = "", replace: bool = False) -> DockingTarget:
    """Add a user target: the receptor is prepared (to refuse a file that cannot be docked into, or a box away from
    it), copied under ``home/targets``, and recorded by name.

    Raises:
        ToolInputError: the name is a bundled target's or, without ``replace``, a stored target's.
        ReceptorError: the receptor cannot be prepared or has no atom in the box.
    """
    if bundled_target(name) is not None:
        raise ToolInputError(f"{name} is a bundled target; choose another name")
    if not replace and store.docking_target(name) is not None:
        raise ToolInputError(f"a docking target {name!r} exists already; give --replace to point it at this receptor")
    prepared = prepare_receptor(receptor, home / "receptors", ReceptorOptions())
    prepared.check_box(box)
    copy = stored_receptor_copy(receptor, home)
    return store.write(
        lambda writer: writer.upsert_docking_target(
            name, receptor_hash=prepared.receptor_hash, box=box.model_dump(mode="json"), receptor_path=str(copy), description=description
        )
    )


def record_docking(store: KnowledgeStore, report: DockingReport, description: str = "") -> tuple[DockingReport, int]:
    """Write the report's target and its measurements; returns the report (its target renamed when a file target's
    name was taken by another receptor or box) and the number of new measurements."""
    existing = store.docking_target(report.target)
    box = report.box.model_dump(mode="json")
    if existing is not None and report.target_source != "user" and (existing.receptor_hash != report.receptor.receptor_hash or existing.box != box):
        # the name is taken by another receptor or box (a bundled target docked with a box of the user's own)
        variant = hashlib.sha256(json.dumps([report.receptor.receptor_hash, box]).encode()).hexdigest()[:8]
        report = report.model_copy(update={"target": f"{report.target}-{variant}"})
    preparer = store.preparer()
    measurements = [preparer.prepare(row) for row in report.measurements()]  # validated before the transaction

    def write(writer: StoreWriter) -> int:
        if report.target_source != "user":  # a user target's row is its own: docking never moves its box
            writer.upsert_docking_target(
                report.target,
                receptor_hash=report.receptor.receptor_hash,
                box=box,
                receptor_path=f"bundled:{report.target}" if report.target_source == "bundled" else report.receptor.source,
                description=description,
            )
        return writer.add_measurements(measurements)

    return report, store.write(write)
