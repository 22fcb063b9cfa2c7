"""Free-energy calculations for the command line and the agent: one hydration free energy computed as compute jobs
and recorded as a ``hydration_free_energy`` measurement (source ``computed``) with its uncertainty, method, force
field, protocol and artifacts. The measurement's op_id is the calculation's content key, so the same calculation
recorded twice is one row."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.store import KnowledgeStore, NewMeasurement
    from tools.freeenergy.hydration import HydrationResult

__all__ = ["hydration_measurement", "record_hydration"]


def hydration_measurement(result: HydrationResult, home: Path | None = None) -> NewMeasurement:
    """The measurement a computed hydration free energy is: value and uncertainty in kcal/mol, the conditions it
    holds under (temperature, solvent model) and how it was computed (provenance)."""
    from knowledge.store import NewMeasurement

    return NewMeasurement(
        smiles=result.smiles,
        property="hydration_free_energy",
        value=result.value_kcal,
        unit="kcal/mol",
        uncertainty=result.uncertainty_kcal,
        source="computed",
        conditions={"temperature_k": result.temperature_k, "solvent_model": result.solvent},
        provenance={
            "method": result.method,
            "forcefield": result.forcefield,
            "charge_method": result.charge_method,
            "protocol": result.protocol.model_dump(mode="json"),
            "legs": [leg.model_dump(mode="json") for leg in result.legs],
            "min_overlap": round(result.min_overlap, 4),
            "warnings": result.warnings,
            "cpu_seconds": round(result.cpu_seconds, 1),
            "platform": result.platform,
            "software": result.software,
            "artifacts": {name: _relative(path, home) for name, path in
                          (("folder", result.folder), ("mbar_input", result.mbar_input), ("plot", result.plot)) if path},
            "calculation_key": result.key,
        },
        op_id=f"fe-hydration:{result.key}",
    )


def record_hydration(store: KnowledgeStore, result: HydrationResult, home: Path | None = None) -> tuple[int | None, bool]:
    """Record the result; (the measurement's id, whether it is new)."""
    added = store.record_measurements([hydration_measurement(result, home)])
    op_id = f"fe-hydration:{result.key}"
    rows = [row for row in store.measurements("hydration_free_energy", molecule=result.smiles, source="computed") if row.op_id == op_id]
    return (rows[0].id if rows else None), bool(added)


def _relative(path: str, home: Path | None) -> str:
    if home is None:
        return path
    try:
        return str(Path(path).resolve().relative_to(home.resolve()))
    except ValueError:
        return path
