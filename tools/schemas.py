"""Pieces of tool inputs and outputs that several tools share: the frozen base models, an input that is not a
molecule, a model version as tools report it, and objectives and constraints over properties."""

from __future__ import annotations

import builtins
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

MAX_MOLECULES_PER_EXPERIMENT = 96


class ToolInput(BaseModel):
    """Base of tool inputs: frozen, and unknown arguments are an error (the planner must repair them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolOutput(BaseModel):
    model_config = ConfigDict(frozen=True)


class InvalidInput(ToolOutput):
    input: str
    error: str


class ModelInfo(ToolOutput):
    version: str
    kind: str
    property: str
    parent_id: str | None
    dataset_hash: str | None
    metrics: dict[str, Any]
    artifact_path: str
    approved: bool
    newly_trained: bool


class Objective(ToolInput):
    property: str
    direction: Literal["maximize", "minimize"] = "maximize"


class Constraint(ToolInput):
    property: str
    op: Literal[">=", ">", "<=", "<"]
    value: float

    @builtins.property  # the field `property` shadows the builtin in this class body
    def is_lower_bound(self) -> bool:
        return self.op in (">=", ">")

    def holds(self, x: float) -> bool:
        return {">=": x >= self.value, ">": x > self.value, "<=": x <= self.value, "<": x < self.value}[self.op]
