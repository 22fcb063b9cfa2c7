"""What a planner produces: a typed plan of tool calls, or an answer. Never free text to be re-interpreted."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class StepRef(BaseModel):
    """An argument taken from an earlier step's output: ``steps[step].output[field]``."""

    model_config = ConfigDict(frozen=True)

    step: int = Field(ge=0, description="Index of the earlier step in the run")
    field: str = Field(description="Field of that step's output (dotted path allowed)")


class PlannedStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    refs: dict[str, StepRef] = Field(default_factory=dict, description="Arguments filled from earlier outputs")
    rationale: str = ""


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["plan"] = "plan"
    steps: list[PlannedStep] = Field(min_length=1)


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["answer"] = "answer"
    text: str
    supported: bool = Field(default=True, description="False when the planner could not do what was asked")


StepStatus = Literal["succeeded", "failed", "rejected"]
STEP_STATUSES: tuple[StepStatus, ...] = ("succeeded", "failed", "rejected")


class StepRecord(BaseModel):
    """One executed (or refused) step, as planners see the history."""

    model_config = ConfigDict(frozen=True)

    index: int
    tool: str
    args: dict[str, Any]
    status: StepStatus
    output: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None


class PlannerUsage(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0


@runtime_checkable
class Planner(Protocol):
    name: str

    def plan(self, objective: str, history: list[StepRecord]) -> Plan | Answer:
        """The next steps for ``objective`` given what already ran, or the final answer."""
        ...


class PlannerError(Exception):
    """The planner could not produce a valid plan (endpoint down, retries exhausted). Ends the run cleanly."""


class PlannerSetupError(PlannerError):
    """The planner cannot work as configured: no endpoint or model, a refused key, an endpoint that is down or
    answers with something that is not an OpenAI-compatible response. The operator fixes the configuration
    (exit code 3); the run is marked failed."""
