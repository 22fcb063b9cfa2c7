"""Starting, resuming, approving and cancelling agent runs: the glue between the CLI and the graph."""

from __future__ import annotations

import logging
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from agent.graph import Budgets, GraphDeps, build_graph
from agent.plan import Planner
from agent.recording import RunRecorder

if TYPE_CHECKING:
    from agent.app import App

log = logging.getLogger(__name__)

# Fault injection for resume tests (like the simulators' injected faults): kill the process at a graph point.
CRASH_ENV = "ATOMLOOP_FAULT_CRASH_AFTER"


class StepSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    tool: str
    status: str
    args: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None = None


class RunResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    status: str
    answer: str | None
    report_path: str | None
    steps: list[StepSummary]
    waiting_for: dict[str, Any] | None = None


@contextmanager
def checkpointer(app: App) -> Iterator[Any]:
    """LangGraph's SQLite saver next to the store, or its PostgreSQL saver when the store is on PostgreSQL."""
    url = app.settings.resolved_database_url
    if url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver

        plain = "postgresql://" + url.split("://", 1)[1]
        with PostgresSaver.from_conn_string(plain) as saver:
            saver.setup()
            yield saver
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = app.settings.home_dir / "checkpoints.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), check_same_thread=False)
    try:
        saver = SqliteSaver(connection)
        saver.setup()
        yield saver
    finally:
        connection.close()


class LazyPredictors:
    """Builds the predictor registry on first use, so runs that predict nothing never load scikit-learn."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._registry: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._registry is None:
            self._registry = self._factory()
        return getattr(self._registry, name)


class RunManager:
    def __init__(
        self,
        app: App,
        *,
        planner: Planner | None = None,
        require_approval: bool = False,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self.app = app
        self._planner = planner
        self.require_approval = require_approval
        self.on_event = on_event
        self.budgets = budgets or Budgets()

    def _deps(self, planner: Planner) -> GraphDeps:
        return GraphDeps(
            store=self.app.store,
            tools=self.app.tools,
            planner=planner,
            predictors=LazyPredictors(lambda: self.app.predictors),
            lab=self.app.lab,
            data_dir=self.app.settings.home_dir,
            mode=self.app.settings.lab.mode,
            require_approval=self.require_approval,
            budgets=self.budgets,
            on_event=self.on_event,
            recorder=RunRecorder(self.app.store, self.app.settings.reports_dir),
            crash_after=os.environ.get(CRASH_ENV) or None,
            extras={"campaign_launcher": self._launch_campaign},
        )

    def _launch_campaign(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a campaign for the start_campaign tool (campaigns are the agent's: they write their own rows)."""
        from agent.campaign import CampaignRunner, CampaignSpec

        spec = CampaignSpec.model_validate(
            {
                "name": request["name"],
                "objectives": [{"property": request["objective"]["property"], "direction": request["objective"]["direction"], "target": request.get("target")}],
                "constraints": [c for c in request.get("constraints", []) if c["op"] in (">=", "<=")],
                "pool": {"file": request["pool_file"]} if request.get("pool_file") else {"store": True},
                "budget": {"experiments": request["experiments"], "iterations": max(0, (request["experiments"] - request["initial_random"]) // request["batch_size"])},
                "batch_size": request["batch_size"],
                "initial": {"random": request["initial_random"]},
                "acquisition": {"kind": request["acquisition"]},
            }
        )
        runner = CampaignRunner.create(self.app, spec, on_progress=lambda message: self.on_event("campaign", {"message": message}) if self.on_event else None)
        status = runner.run()
        return {
            "campaign_id": status.id,
            "experiments": status.experiments,
            "iterations": len(status.iterations),
            "best": status.best[:5],
            "report_path": status.report_path,
            "world_eval": runner.world_eval() if self.app.settings.lab.mode == "sim" else None,
        }

    def start(self, request: str, run_id: str | None = None) -> RunResult:
        run_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
        planner = self._planner or self.app.planner()
        return self._invoke(planner, run_id, {"run_id": run_id, "request": request})

    def resume(self, run_id: str) -> RunResult:
        return self._invoke(self._planner_for(run_id), run_id, None)

    def approve(self, run_id: str, approved: bool = True) -> RunResult:
        from langgraph.types import Command

        return self._invoke(self._planner_for(run_id), run_id, Command(resume={"approved": approved}))

    def _planner_for(self, run_id: str) -> Planner:
        from knowledge.errors import NotFoundError
        from knowledge.models import Run

        with self.app.store.session() as session:
            run = session.get(Run, run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id!r}")
        if self._planner is not None:
            return self._planner
        return self.app.planner(offline=run.planner == "offline")

    def _invoke(self, planner: Planner, run_id: str, payload: Any) -> RunResult:
        config = {"configurable": {"thread_id": run_id}, "recursion_limit": 200}
        with checkpointer(self.app) as saver:
            graph = build_graph(self._deps(planner), saver)
            graph.invoke(payload, config)
            snapshot = graph.get_state(config)
        values = snapshot.values or {}
        waiting = None
        for task in snapshot.tasks or ():
            for pending in getattr(task, "interrupts", ()) or ():
                waiting = pending.value
        recorder = RunRecorder(self.app.store, self.app.settings.reports_dir)
        if waiting is not None:
            recorder.set_status(run_id, "waiting_approval")
        from knowledge.models import Run

        with self.app.store.session() as session:
            run = session.get(Run, run_id)
        steps = [
            StepSummary(index=h["index"], tool=h["tool"], status=h["status"], args=h.get("args", {}), result=h.get("output"), error=h.get("error"))
            for h in values.get("history", [])
        ]
        return RunResult(
            run_id=run_id,
            status=run.status if run else values.get("status", "unknown"),
            answer=run.answer if run else None,
            report_path=run.report_path if run else None,
            steps=steps,
            waiting_for=waiting,
        )
