"""run_experiment: make molecules and measure them on the lab (a physical operation)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from tools.base import Tool, ToolContext
from tools.candidates import resolve_all
from tools.errors import ToolFailed
from tools.records import Records
from tools.schemas import MAX_MOLECULES_PER_EXPERIMENT, ToolInput, ToolOutput

AssayName = Literal["potency", "solubility"]


def _default_assays() -> list[AssayName]:
    return ["potency"]


class RunExperimentInput(ToolInput):
    smiles: list[str] = Field(min_length=1, max_length=MAX_MOLECULES_PER_EXPERIMENT, description="Molecules to make and measure")
    assays: list[AssayName] = Field(default_factory=_default_assays, min_length=1)

    @field_validator("assays")
    @classmethod
    def _unique(cls, assays: list[AssayName]) -> list[AssayName]:
        return list(dict.fromkeys(assays))


class MeasuredValue(ToolOutput):
    smiles: str
    property: str
    value: float
    uncertainty: float | None
    unit: str
    status: str
    op_id: str
    instrument: str
    conditions: dict[str, Any] = Field(default_factory=dict)


class ExperimentFailure(ToolOutput):
    smiles: str
    error_type: str
    error: str


class RunExperimentOutput(ToolOutput):
    measurements: list[MeasuredValue]
    failures: list[ExperimentFailure]
    makespan_h: float
    simulated: bool


async def run_experiment(ctx: ToolContext, args: RunExperimentInput) -> RunExperimentOutput:
    if ctx.lab is None:
        raise ToolFailed("no lab is configured for this run")
    smiles = resolve_all(args.smiles)
    report = await ctx.lab.run_assays(smiles, list(args.assays), ctx.op_prefix())
    measurements = [
        MeasuredValue(
            smiles=m.smiles, property=m.property, value=m.value, uncertainty=m.uncertainty, unit=m.unit, status=m.status, op_id=m.op_id, instrument=m.instrument, conditions=m.conditions
        )
        for m in report.measurements
    ]
    failures = [ExperimentFailure(smiles=f.smiles, error_type=f.error_type, error=f.error) for f in report.failures]
    if not measurements:
        raise ToolFailed(f"no molecule could be measured: {'; '.join(f'{f.smiles}: {f.error}' for f in failures)[:500]}")
    return RunExperimentOutput(measurements=measurements, failures=failures, makespan_h=report.makespan_s / 3600.0, simulated=ctx.lab.source == "simulated")


def records(output: RunExperimentOutput) -> Records:
    from lab.recipes import LabMeasurement

    return Records(
        measurements=tuple(LabMeasurement.model_validate(m.model_dump()) for m in output.measurements),
        measurement_source="simulated" if output.simulated else "measured",
    )


TOOL = Tool(
    "run_experiment",
    "Make molecules and measure them on the lab (potency against BACE-1 as pIC50, kinetic solubility as logS). A physical operation.",
    RunExperimentInput,
    RunExperimentOutput,
    run_experiment,
    effect="physical",
    timeout_s=3600,
    lab_cost=lambda args: len(args.smiles),
    records=records,
)
