"""A campaign asked for through a run (``start_campaign``) is the campaign the request describes: its constraints,
strict ones included, and the default clustered start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.app import build_app
from agent.campaign import CampaignRunner
from agent.campaign_spec import ConstraintSpec
from agent.plan import Answer, Plan, PlannedStep
from agent.planners.scripted import ScriptedPlanner
from agent.runs import RunManager
from knowledge.database import upgrade


class _Captured(Exception):
    pass


def _captured_spec(monkeypatch: pytest.MonkeyPatch, campaign: dict[str, Any], request: str, run_id: str) -> Any:
    """The campaign spec a run's ``start_campaign`` call with ``campaign`` builds (the campaign itself is not run)."""
    seen: dict[str, Any] = {}

    def capture(cls: Any, app: Any, spec: Any, on_progress: Any = None) -> Any:
        seen["spec"] = spec
        raise _Captured

    monkeypatch.setattr(CampaignRunner, "create", classmethod(capture))
    app = build_app()
    upgrade(app.unchecked_store.engine)
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="start_campaign", args=campaign)]), Answer(text="no", supported=False)])
    with pytest.raises(_Captured):
        RunManager(app, planner=planner).start(request, run_id=run_id)
    return seen["spec"]


def test_start_campaign_keeps_strict_constraints_and_the_clustered_start(_isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    campaign = {
        "objective": {"property": "pIC50"},
        "constraints": [{"property": "logS", "op": ">", "value": -4.0}, {"property": "pIC50", "op": "<", "value": 11.0}],
        "from_store": True,
        "experiments": 40,
    }
    spec = _captured_spec(monkeypatch, campaign, "a constrained campaign", "strict-campaign")
    assert spec.constraints == [ConstraintSpec(property="logS", op=">", value=-4.0), ConstraintSpec(property="pIC50", op="<", value=11.0)]
    assert (spec.initial.size, spec.initial.design) == (16, "clusters")
    assert (spec.budget.experiments, spec.budget.iterations) == (40, 3)


@pytest.mark.parametrize(("op", "x", "holds"), [(">", -4.0, False), (">=", -4.0, True), ("<", -4.0, False), ("<=", -4.0, True), (">", -3.9, True), ("<", -4.1, True)])
def test_a_constraint_holds_strictly_or_not(op: str, x: float, holds: bool) -> None:
    assert ConstraintSpec(property="logS", op=op, value=-4.0).holds(x) is holds  # type: ignore[arg-type]


@pytest.mark.parametrize(("docking", "threshold", "keep_fraction"), [({"target": "4IVT"}, None, 0.25), ({"target": "1IEP", "threshold": -9.0, "dock_top": 12}, -9.0, None)])
def test_start_campaign_docking_becomes_a_docked_stage(
    _isolated_home: Path, monkeypatch: pytest.MonkeyPatch, docking: dict[str, Any], threshold: float | None, keep_fraction: float | None
) -> None:
    campaign = {"objective": {"property": "pIC50"}, "from_store": True, "experiments": 40, "docking": docking}
    (stage,) = _captured_spec(monkeypatch, campaign, "a campaign with docking", "docking-campaign").stages
    assert (stage.evaluation, stage.property, stage.direction, stage.target) == ("docked", "docking_score", "minimize", docking["target"])
    assert (stage.dock_top, stage.exhaustiveness) == (docking.get("dock_top", 32), 8)
    assert (stage.threshold, stage.keep_fraction) == (threshold, keep_fraction)
