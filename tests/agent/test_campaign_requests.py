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


def test_start_campaign_keeps_strict_constraints_and_the_clustered_start(_isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def capture(cls: Any, app: Any, spec: Any, on_progress: Any = None) -> Any:
        seen["spec"] = spec
        raise _Captured

    monkeypatch.setattr(CampaignRunner, "create", classmethod(capture))
    app = build_app()
    upgrade(app.unchecked_store.engine)
    campaign = {
        "objective": {"property": "pIC50"},
        "constraints": [{"property": "logS", "op": ">", "value": -4.0}, {"property": "pIC50", "op": "<", "value": 11.0}],
        "from_store": True,
        "experiments": 40,
    }
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="start_campaign", args=campaign)]), Answer(text="no", supported=False)])
    with pytest.raises(_Captured):
        RunManager(app, planner=planner).start("a constrained campaign", run_id="strict-campaign")
    spec = seen["spec"]
    assert spec.constraints == [ConstraintSpec(property="logS", op=">", value=-4.0), ConstraintSpec(property="pIC50", op="<", value=11.0)]
    assert (spec.initial.size, spec.initial.design) == (16, "clusters")
    assert (spec.budget.experiments, spec.budget.iterations) == (40, 3)


@pytest.mark.parametrize(("op", "x", "holds"), [(">", -4.0, False), (">=", -4.0, True), ("<", -4.0, False), ("<=", -4.0, True), (">", -3.9, True), ("<", -4.1, True)])
def test_a_constraint_holds_strictly_or_not(op: str, x: float, holds: bool) -> None:
    assert ConstraintSpec(property="logS", op=op, value=-4.0).holds(x) is holds  # type: ignore[arg-type]
