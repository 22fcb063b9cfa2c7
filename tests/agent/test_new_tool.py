"""A new tool is one module plus one catalog line: the tools here are defined in this test and registered beside the
catalog's, and the graph, review and recording store their results and count their lab cost without knowing their
names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import Field
from sqlmodel import select

from agent.app import build_app
from agent.graph import Budgets
from agent.plan import Answer, Plan, PlannedStep
from agent.planners.scripted import ScriptedPlanner
from agent.runs import RunManager
from knowledge.database import upgrade
from knowledge.errors import StoreReadOnly
from knowledge.models import Measurement, ModelVersion, Molecule, Prediction, ToolCall
from tools.base import Tool, ToolContext, ToolRegistry
from tools.catalog import default_tools
from tools.records import PredictionRecord, Records
from tools.schemas import ModelInfo, ToolInput, ToolOutput

# -- a compute tool: a toy boiling-point estimate that records molecules, a model version and predictions ----


class EstimateInput(ToolInput):
    smiles: list[str] = Field(min_length=1)


class Estimate(ToolOutput):
    smiles: str
    kelvin: float


class EstimateOutput(ToolOutput):
    estimates: list[Estimate]
    model: ModelInfo


async def estimate_boiling_point(ctx: ToolContext, args: EstimateInput) -> EstimateOutput:
    from rdkit import Chem

    from knowledge.chem import canonicalize

    model = ModelInfo(version="heavy-atoms-v1", kind="rule", property="boiling_point", parent_id=None, dataset_hash=None,
                      metrics={}, artifact_path="", approved=True, newly_trained=False)
    estimates = [Estimate(smiles=canonicalize(s).smiles, kelvin=200.0 + 25.0 * Chem.MolFromSmiles(s).GetNumHeavyAtoms()) for s in args.smiles]
    return EstimateOutput(estimates=estimates, model=model)


def estimate_records(output: EstimateOutput) -> Records:
    return Records(
        molecules=tuple(e.smiles for e in output.estimates),
        model_versions=(output.model,),
        predictions=tuple(
            PredictionRecord(smiles=e.smiles, property="boiling_point", value=e.kelvin, uncertainty=10.0, unit="K", model_version=output.model.version)
            for e in output.estimates
        ),
    )


ESTIMATE = Tool("estimate_boiling_point", "Estimate boiling points from heavy atoms.", EstimateInput, EstimateOutput,
                estimate_boiling_point, effect="compute", records=estimate_records)

# -- a physical tool: measures potency on the lab, costs one molecule per SMILES, records the lab's readings --


class AssayInput(ToolInput):
    smiles: list[str] = Field(min_length=1)


class Reading(ToolOutput):
    smiles: str
    property: str
    value: float
    uncertainty: float | None
    unit: str
    status: str
    op_id: str
    instrument: str
    conditions: dict[str, Any] = {}


class AssayOutput(ToolOutput):
    readings: list[Reading]
    source: str


async def quick_potency(ctx: ToolContext, args: AssayInput) -> AssayOutput:
    assert ctx.lab is not None
    report = await ctx.lab.run_assays(list(args.smiles), ["potency"], ctx.op_prefix())
    return AssayOutput(readings=[Reading(**m.model_dump()) for m in report.measurements], source=ctx.lab.source)


def potency_records(output: AssayOutput) -> Records:
    from lab.recipes import LabMeasurement

    return Records(measurements=tuple(LabMeasurement(**r.model_dump()) for r in output.readings), measurement_source=output.source)  # type: ignore[arg-type]


POTENCY = Tool("quick_potency", "Measure potency.", AssayInput, AssayOutput, quick_potency, effect="physical",
               lab_cost=lambda args: len(args.smiles), records=potency_records)


# -- a tool that tries to write the store it was given ---------------------------------------------------------


async def sneaky_write(ctx: ToolContext, args: EstimateInput) -> EstimateOutput:
    with ctx.store.session() as session:
        session.add(Molecule(smiles="C", inchikey="VNWKTOKETHGBQD-UHFFFAOYSA-N", formula="CH4"))
        session.commit()
    raise AssertionError("unreachable: the view refuses the write")


SNEAKY = Tool("sneaky_write", "Writes where it should not.", EstimateInput, EstimateOutput, sneaky_write)


def _app_with(*tools: Tool[Any, Any]) -> Any:
    app = build_app()
    upgrade(app.unchecked_store.engine)
    app.tools = ToolRegistry([*default_tools(), *tools])  # the one line a catalog would get
    return app


def _run(app: Any, steps: list[PlannedStep], budgets: Budgets | None = None, run_id: str = "new-tool") -> Any:
    planner = ScriptedPlanner([Plan(steps=steps), Answer(text="done", supported=True)])
    return RunManager(app, planner=planner, budgets=budgets or Budgets()).start("use the new tools", run_id=run_id)


def test_a_new_compute_tool_has_its_declared_rows_recorded(_isolated_home: Path) -> None:
    app = _app_with(ESTIMATE)
    result = _run(app, [PlannedStep(tool="estimate_boiling_point", args={"smiles": ["CCO", "c1ccccc1"]})])
    assert result.status == "succeeded", result
    with app.store.session() as session:
        call = session.exec(select(ToolCall).where(ToolCall.tool == "estimate_boiling_point")).one()
        predictions = session.exec(select(Prediction, Molecule.smiles).join(Molecule, Prediction.molecule_id == Molecule.id)).all()
        version = session.get(ModelVersion, "heavy-atoms-v1")
    assert version is not None and version.kind == "rule"
    assert sorted((smiles, p.value, p.unit, p.tool_call_id) for p, smiles in predictions) == [("CCO", 275.0, "K", call.id), ("c1ccccc1", 350.0, "K", call.id)]


def test_a_new_physical_tool_counts_against_the_lab_budget_and_records_the_labs_readings(_isolated_home: Path) -> None:
    app = _app_with(POTENCY)
    steps = [
        PlannedStep(tool="quick_potency", args={"smiles": ["CCO", "CCN", "CCC"]}),
        PlannedStep(tool="quick_potency", args={"smiles": ["CCCl", "CCBr"]}),
    ]
    result = _run(app, steps, budgets=Budgets(max_lab_molecules=4, max_repairs=0))
    first, second = result.steps
    assert first.status == "succeeded"
    assert second.status == "rejected"
    assert "allows 4 molecules per run; 3 used, 2 asked by quick_potency" in (second.error or "")
    with app.store.session() as session:
        rows = session.exec(select(Measurement).where(Measurement.property == "pIC50")).all()
    assert len(rows) == 3
    assert {row.source for row in rows} == {"simulated"}  # from the lab that made them, not from the tool's name
    assert all(row.provenance == {"run_id": "new-tool"} for row in rows)


def test_a_tool_cannot_write_the_store_it_reads(_isolated_home: Path) -> None:
    app = _app_with(SNEAKY)
    with pytest.raises(StoreReadOnly):
        _run(app, [PlannedStep(tool="sneaky_write", args={"smiles": ["CCO"]})])
    with app.store.session() as session:
        assert session.exec(select(Molecule)).all() == []
