"""Docking targets and results in the knowledge store: adding a target, and recording a docking report (its target
row and one ``docking_score`` measurement per docked molecule) in one transaction. Recording is idempotent: a measurement's op_id is the docking's content key, so the
same docking recorded twice (a cache hit, a repeated command) adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from knowledge.models import DockingTarget
from knowledge.store import KnowledgeStore, PreparedMeasurement, StoreReader, StoreWriter
from tools.docking.box import Box
from tools.docking.receptor import ReceptorOptions, prepare_receptor
from tools.docking.service import DockingReport
from tools.docking.targets import bundled_target, resolve_target, stored_receptor_copy
from tools.errors import ToolInputError

__all__ = ["add_target", "record_docking", "resolve_target", "write_docking"]


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
    """Write the report's target and its measurements; returns the report (its target renamed when a file or
    bundled target's name was taken by another receptor or box) and the number of new measurements."""
    report = distinct_target_name(store, report)
    preparer = store.preparer()
    measurements = [preparer.prepare(row) for row in report.measurements()]  # validated before the transaction
    return report, store.write(lambda writer: write_docking(writer, report, measurements, description))


def distinct_target_name(store: KnowledgeStore | StoreReader, report: DockingReport) -> DockingReport:
    """The report, its target renamed ``NAME-<hash>`` when the store's target of that name is another receptor or
    box (a bundled target docked with a box of the user's own, two files of one name)."""
    existing = store.docking_target(report.target)
    box = report.box.model_dump(mode="json")
    if existing is None or report.target_source == "user" or (existing.receptor_hash == report.receptor.receptor_hash and existing.box == box):
        return report
    variant = hashlib.sha256(json.dumps([report.receptor.receptor_hash, box]).encode()).hexdigest()[:8]
    return report.model_copy(update={"target": f"{report.target}-{variant}"})


def write_docking(writer: StoreWriter, report: DockingReport, measurements: list[PreparedMeasurement], description: str = "") -> int:
    """The target row (not for a user's own target: docking never moves its box) and the measurements, inside an
    open transaction (the agent's record step); returns the number of new measurements."""
    if report.target_source != "user":
        writer.upsert_docking_target(
            report.target,
            receptor_hash=report.receptor.receptor_hash,
            box=report.box.model_dump(mode="json"),
            receptor_path=f"bundled:{report.target}" if report.target_source == "bundled" else report.receptor.source,
            description=description,
        )
    return writer.add_measurements(measurements)
