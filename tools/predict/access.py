"""The model a tool predicts with: the newest approved version in the store, or else one trained now on the
bundled dataset of the property (returned unregistered: the agent's record step writes its ModelVersion row)."""

from __future__ import annotations

from typing import Any

from tools.errors import ToolFailed


def model_for_prediction(registry: Any, property_name: str) -> tuple[Any, dict[str, Any]]:
    """(predictor, model info) for ``property_name``; model info has the ModelVersion fields + newly_trained."""
    from knowledge.models import ModelVersion

    predictor = registry.latest(property_name)
    if predictor is not None:
        with registry.store.session() as session:
            row = session.get(ModelVersion, predictor.version)
        if row is None:
            raise ToolFailed(f"model version {predictor.version} is not in the store")
        return predictor, {
            "version": row.id,
            "kind": row.kind,
            "property": row.property,
            "parent_id": row.parent_id,
            "dataset_hash": row.dataset_hash,
            "metrics": row.metrics,
            "artifact_path": row.artifact_path or "",
            "approved": row.approved,
            "newly_trained": False,
        }
    trained = registry.bundled_model(property_name)
    record = trained.record
    return trained.predictor, {
        "version": record.id,
        "kind": record.kind,
        "property": record.property,
        "parent_id": record.parent_id,
        "dataset_hash": record.dataset_hash,
        "metrics": record.metrics,
        "artifact_path": record.artifact_path or "",
        "approved": record.approved,
        "newly_trained": True,
    }
