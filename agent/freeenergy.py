"""Free-energy results in the knowledge store: a computed hydration free energy recorded as its
``hydration_free_energy`` measurement (``HydrationResult.measurement``), once however often it is recorded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.store import KnowledgeStore
    from tools.freeenergy.hydration import HydrationResult

__all__ = ["record_hydration"]


def record_hydration(store: KnowledgeStore, result: HydrationResult, home: Path | None = None) -> tuple[int | None, bool]:
    """Record the result; (the measurement's id, whether it is new)."""
    added = store.record_measurements([result.measurement(home)])
    op_id = f"fe-hydration:{result.key}"
    rows = [row for row in store.measurements("hydration_free_energy", molecule=result.smiles, source="computed") if row.op_id == op_id]
    return (rows[0].id if rows else None), bool(added)
