"""The planner graph end to end with the ScriptedPlanner: node order, stored rows, approval, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from agent.app import build_app
from agent.plan import Answer, Plan, PlannedStep, StepRef
from agent.planners.scripted import ScriptedPlanner
from agent.runs import RunManager
from knowledge.database import upgrade
from knowledge.models import Measurement, Molecule, Run, Step, ToolCall

BACE = [
    "Cc1ccccc1-c1ccc2nc(N)c(C[C@@H](C)C(=O)N[C@@H]3CCOC(C)(C)C3)cc2c1",
    "CC#Cc1cncc(-c2cccc([C@@]3(C)CS(=O)(=O)C(C)(C)C(N)=N3)c2)c1",
]


@pytest.fixture
def app(_isolated_home: Path) -> Any:
    app = build_app()
    upgrade(app.unchecked_store.engine)
    return app


def _events() -> tuple[list[tuple[str, dict[str, Any]]], Any]:
    events: list[tuple[str, dict[str, Any]]] = []
    return events, lambda event, payload: events.append((event, payload))


def test_nodes_run_in_order_and_rows_are_stored(app: Any) -> None:
    events, on_event = _events()
    planner = ScriptedPlanner([
        Plan(steps=[PlannedStep(tool="register_molecules", args={"smiles": ["CCO", "aspirin"]}), PlannedStep(tool="query_knowledge", args={"molecules": ["CCO"]})]),
        Answer(text="done"),
    ])
    result = RunManager(app, planner=planner, on_event=on_event).start("register two molecules", run_id="run-order")
    assert result.status == "succeeded"
    assert result.answer == "done"
    assert [e for e, _ in events] == ["intake", "plan", "execute", "record", "execute", "record", "answer"]
    with app.store.session() as session:
        assert session.get(Run, "run-order").status == "succeeded"
        steps = session.exec(select(Step).where(Step.run_id == "run-order").order_by(Step.index)).all()
        assert [s.tool for s in steps] == ["register_molecules", "query_knowledge"]
        calls = session.exec(select(ToolCall).where(ToolCall.run_id == "run-order")).all()
        assert {c.status for c in calls} == {"succeeded"}
        assert {m.smiles for m in session.exec(select(Molecule))} == {"CCO", "CC(=O)Oc1ccccc1C(=O)O"}
    assert Path(result.report_path).read_text().startswith("# AtomLoop run `run-order`")


def test_invalid_steps_are_rejected_by_review_and_nothing_runs(app: Any) -> None:
    planner = ScriptedPlanner([
        Plan(steps=[PlannedStep(tool="dispense_reagent", args={"reagent": "acetone", "volume_ul": 5_000_000})]),
        Plan(steps=[PlannedStep(tool="run_experiment", args={"smiles": ["CCO"] * 500, "assays": ["potency"]})]),
        Answer(text="gave up", supported=False),
    ])
    result = RunManager(app, planner=planner).start("do something unsafe", run_id="run-unsafe")
    assert [s.status for s in result.steps] == ["rejected", "rejected"]
    assert "unknown tool" in result.steps[0].error
    assert "at most 96" in result.steps[1].error or "96" in result.steps[1].error
    with app.store.session() as session:
        assert session.exec(select(Measurement)).all() == []


def test_step_references_feed_later_steps_and_measurements_are_recorded_once(app: Any) -> None:
    planner = ScriptedPlanner([
        Plan(steps=[
            PlannedStep(tool="register_molecules", args={"smiles": BACE}),
            PlannedStep(tool="run_experiment", args={"assays": ["potency"]}, refs={"smiles": StepRef(step=0, field="molecules")}),
        ]),
    ])
    # refs to a list of objects are not SMILES: review rejects the step with a clear error
    result = RunManager(app, planner=planner).start("measure", run_id="run-ref-bad")
    assert result.steps[1].status == "rejected"

    planner = ScriptedPlanner([
        Plan(steps=[PlannedStep(tool="run_experiment", args={"smiles": BACE, "assays": ["potency"]})]),
        Answer(text="measured"),
    ])
    result = RunManager(app, planner=planner).start("measure", run_id="run-measure")
    assert result.status == "succeeded"
    measured = [m for m in result.steps[0].result["measurements"] if m["property"] == "pIC50"]
    assert measured and all(m["op_id"].startswith("run-measure:0-") for m in measured)
    with app.store.session() as session:
        rows = session.exec(select(Measurement).where(Measurement.property == "pIC50")).all()
    assert len(rows) == len(measured)
    assert all(r.source == "simulated" and r.tool_call_id is not None for r in rows)


def test_physical_steps_wait_for_approval_and_resume(app: Any) -> None:
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="run_experiment", args={"smiles": BACE[:1], "assays": ["potency"]})]), Answer(text="ok")])
    manager = RunManager(app, planner=planner, require_approval=True)
    waiting = manager.start("measure one", run_id="run-approve")
    assert waiting.status == "waiting_approval"
    assert waiting.waiting_for["tool"] == "run_experiment"
    with app.store.session() as session:
        assert session.exec(select(Measurement)).all() == []
    done = manager.approve("run-approve")
    assert done.status == "succeeded"
    with app.store.session() as session:
        assert len(session.exec(select(Measurement)).all()) == 2  # purity and pIC50


def test_refusing_approval_ends_the_run_without_the_step(app: Any) -> None:
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="run_experiment", args={"smiles": BACE[:1]})])])
    manager = RunManager(app, planner=planner, require_approval=True)
    manager.start("measure one", run_id="run-refuse")
    result = manager.approve("run-refuse", approved=False)
    assert result.status == "cancelled"
    with app.store.session() as session:
        assert session.exec(select(Measurement)).all() == []


def test_step_budget_ends_the_run_and_says_so(app: Any) -> None:
    from agent.graph import Budgets

    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="query_knowledge", args={}) for _ in range(5)])])
    result = RunManager(app, planner=planner, budgets=Budgets(max_steps=2)).start("loop", run_id="run-budget")
    assert result.status == "budget_exhausted"
    assert "step budget" in result.answer
    assert len(result.steps) == 2


def test_runs_checkpoint_in_the_store_database_on_each_backend(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite store: LangGraph's SQLite saver; PostgreSQL store: its PostgreSQL saver (in CI)."""
    monkeypatch.setenv("ATOMLOOP_DATABASE_URL", database_url)
    app = build_app()
    upgrade(app.unchecked_store.engine)
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="run_experiment", args={"smiles": BACE[:1]})]), Answer(text="ok")])
    manager = RunManager(app, planner=planner, require_approval=True)
    assert manager.start("measure", run_id="run-backend").status == "waiting_approval"
    # a new manager (as after a restart) continues from the checkpoint
    resumed = RunManager(app, planner=planner, require_approval=True).approve("run-backend")
    assert resumed.status == "succeeded"
    assert resumed.steps[0].status == "succeeded"
