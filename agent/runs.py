"""Starting, resuming, approving and cancelling agent runs: the glue between the CLI and the graph."""

from __future__ import annotations

import logging
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from agent import leases
from agent.graph import Budgets, GraphDeps, build_graph
from agent.identifiers import checked_id
from agent.plan import Planner
from agent.recording import RunRecorder
from knowledge.errors import StoreInputError
from tools.paths import AllowedPaths

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
    failure: str | None = None  # input | setup | run, when the run did not succeed (see agent.graph.RunState)


class RunNotContinuable(StoreInputError):
    """The run cannot be continued that way (approving a run that waits for nothing, re-using its id for
    another request)."""


# stored statuses of a run that will not change again
FINISHED_STATUSES = ("succeeded", "failed", "cancelled", "budget_exhausted")


@contextmanager
def checkpointer(app: App) -> Iterator[Any]:
    """LangGraph's SQLite saver next to the store, or its PostgreSQL saver when the store is on PostgreSQL."""
    url = app.settings.resolved_database_url
    if url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver

        plain = "postgresql://" + url.split("://", 1)[1]
        with PostgresSaver.from_conn_string(plain) as postgres_saver:
            postgres_saver.setup()
            yield postgres_saver
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = app.settings.home_dir / "checkpoints.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), check_same_thread=False)
    try:
        sqlite_saver = SqliteSaver(connection)
        sqlite_saver.setup()
        yield sqlite_saver
    finally:
        connection.close()


class Lazy:
    """Builds a dependency on first use (the predictor registry, the compute executor), so runs that predict or
    compute nothing never load scikit-learn or start workers."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._built: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._built is None:
            self._built = self._factory()
        return getattr(self._built, name)


class RunManager:
    """Starts and continues agent runs.

    Approval: a run's physical steps wait for a person when the lab is real, when ``require_approval`` is set,
    or when the planner is an LLM (it may propose lab work the request never asked for); ``no_approval`` opts
    out of the last, on the simulated lab only. The decision is made when a run starts and stored in its
    state, so resuming or approving it later, from any command, meets the same gate.

    A run is held by one process at a time (a lease, ``agent.leases``): a second process that tries to
    continue it gets ``AlreadyRunning``.
    """

    def __init__(
        self,
        app: App,
        *,
        planner: Planner | None = None,
        require_approval: bool = False,
        no_approval: bool = False,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        budgets: Budgets | None = None,
        allowed_paths: tuple[Any, ...] = (),
    ) -> None:
        if no_approval and require_approval:
            raise StoreInputError("--no-approval and --require-approval contradict each other: give one")
        if no_approval and app.settings.lab.mode == "real":
            raise StoreInputError("--no-approval is only for the simulated lab: physical steps on a real lab always wait for approval")
        app.check_lab()  # a real lab that is not configured fails here, before any run is written
        self.app = app
        self._planner = planner
        self.require_approval = require_approval
        self.no_approval = no_approval
        self.on_event = on_event
        self.budgets = budgets or Budgets()
        self.paths = AllowedPaths.of(app.settings.tool_roots(tuple(allowed_paths)), workdir=Path.cwd())

    def needs_approval(self, planner: Planner) -> bool:
        """Whether a new run with ``planner`` waits for a person before each physical step."""
        if self.app.settings.lab.mode == "real" or self.require_approval:
            return True
        return planner.name == "llm" and not self.no_approval

    def _locks_dir(self) -> Any:
        return self.app.settings.home_dir / "locks"

    def _deps(self, planner: Planner) -> GraphDeps:
        return GraphDeps(
            store=self.app.store,
            tools=self.app.tools,
            planner=planner,
            predictors=Lazy(lambda: self.app.predictors),
            lab=self.app.lab,
            settings=self.app.tool_settings,
            executor=Lazy(lambda: self.app.executor),
            paths=self.paths,
            mode=self.app.settings.lab.mode,
            require_approval=self.needs_approval(planner),
            budgets=self.budgets,
            on_event=self.on_event,
            recorder=RunRecorder(self.app.store, self.app.settings.reports_dir),
            crash_after=os.environ.get(CRASH_ENV) or None,
            campaigns=self._launch_campaign,
        )

    def _launch_campaign(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run a campaign for the start_campaign tool (campaigns are the agent's: they write their own rows)."""
        from agent.campaign import CampaignRunner
        from agent.campaign_spec import CampaignSpec

        spec = CampaignSpec.from_data(
            {
                "name": request["name"],
                "objectives": [{"property": request["objective"]["property"], "direction": request["objective"]["direction"], "target": request.get("target")}],
                "constraints": request.get("constraints", []),
                "pool": {"file": request["pool_file"]} if request.get("pool_file") else {"store": True},
                "budget": {"experiments": request["experiments"], "iterations": max(0, (request["experiments"] - request["initial"]) // request["batch_size"])},
                "batch_size": request["batch_size"],
                "initial": {"size": request["initial"], "design": request["initial_design"]},
                "acquisition": {"kind": request["acquisition"]},
                "stages": [_docking_stage(request["docking"])] if request.get("docking") else [],
            },
            "campaign request",
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
        """Run ``request`` as a new run. A given ``run_id`` names this request: if a run of that id exists for
        another request it is an input error; for the same request, a finished run's result is returned as it
        is (nothing runs again) and an unfinished one must be continued with resume or approve."""
        if not request.strip():
            raise StoreInputError("the request is empty: say in words what you want")
        run_id = checked_id(run_id) if run_id is not None else f"run-{uuid.uuid4().hex[:12]}"
        existing = self._stored_run(run_id)
        if existing is not None:
            if existing.request != request:
                raise RunNotContinuable(
                    f"the run id {run_id!r} already names another request ({existing.request[:80]!r}); "
                    "choose a new id, or continue that run with `atomloop runs resume`"
                )
            if existing.status not in FINISHED_STATUSES:
                raise RunNotContinuable(
                    f"run {run_id!r} already exists ({self._shown_status(existing)}); continue it with "
                    f"`atomloop runs resume {run_id}` (or `runs approve` if it waits for approval)"
                )
            with checkpointer(self.app) as saver:
                return self._result(build_graph(self._deps(self._planner_for(run_id)), saver), run_id)
        planner = self._planner or self.app.planner()
        payload = {
            "run_id": run_id,
            "request": request,
            "approval_required": self.needs_approval(planner),
            "allowed_paths": [str(root) for root in self.paths.roots],
            "workdir": str(self.paths.workdir),
        }
        return self._invoke(planner, run_id, payload)

    def resume(self, run_id: str) -> RunResult:
        """Continue a run from its last checkpoint (a finished run is returned as it is)."""
        run_id = checked_id(run_id)
        return self._invoke(self._planner_for(run_id), run_id, None)

    def approve(self, run_id: str, approved: bool = True) -> RunResult:
        """Approve (or refuse) the physical step a run waits on; an error for a run that waits for nothing."""
        from langgraph.types import Command

        run_id = checked_id(run_id)
        planner = self._planner_for(run_id)
        run = self._stored_run(run_id)
        if run is not None and run.status != "waiting_approval":
            verb = "approve" if approved else "cancel"
            raise RunNotContinuable(f"run {run_id!r} is not waiting for approval (it is {self._shown_status(run)}): there is nothing to {verb}")
        return self._invoke(planner, run_id, Command(resume={"approved": approved}))

    def _stored_run(self, run_id: str) -> Any:
        from knowledge.models import Run

        with self.app.store.session() as session:
            return session.get(Run, run_id)

    def _shown_status(self, run: Any) -> str:
        return leases.shown_status(self._locks_dir(), "run", run.id, run.status)

    def _planner_for(self, run_id: str) -> Planner:
        from knowledge.errors import NotFoundError

        run = self._stored_run(run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id!r}: see `atomloop runs list`")
        if self._planner is not None:
            return self._planner
        return self.app.planner(offline=run.planner == "offline")

    def _invoke(self, planner: Planner, run_id: str, payload: Any) -> RunResult:
        config = {"configurable": {"thread_id": run_id}, "recursion_limit": 200}
        with leases.hold(self._locks_dir(), "run", run_id), checkpointer(self.app) as saver:
            graph = build_graph(self._deps(planner), saver)
            if isinstance(payload, dict) and graph.get_state(config).values:
                # another process started this run id between our check and our lease: it is theirs
                raise RunNotContinuable(f"run {run_id!r} was started by another process just now; see `atomloop runs show {run_id}`")
            try:
                graph.invoke(payload, config)
            except BaseException as error:
                if not isinstance(error, KeyboardInterrupt | SystemExit):
                    # the run cannot go on: say so in the store rather than leave it "running"
                    self._mark_failed(run_id, error)
                raise
            return self._result(graph, run_id)

    def _mark_failed(self, run_id: str, error: BaseException) -> None:
        log.error("run %s stopped: %s: %s", run_id, type(error).__name__, error)
        try:
            RunRecorder(self.app.store, self.app.settings.reports_dir).set_status(run_id, "failed", answer=f"Stopped: {type(error).__name__}: {error}")
        except Exception:  # the store itself may be what failed; the original error is what the user needs
            log.exception("could not mark run %s failed", run_id)

    def _result(self, graph: Any, run_id: str) -> RunResult:
        config = {"configurable": {"thread_id": run_id}}
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
            failure=values.get("failure") if waiting is None else None,
        )


DOCKED_SHARE = 0.25  # of a docking stage's docked candidates, the share that goes on when no threshold is given


def _docking_stage(docking: dict[str, Any]) -> dict[str, Any]:
    """The campaign stage of the start_campaign tool's ``docking`` input: its threshold, else the best quarter of
    the docked candidates."""
    stage: dict[str, Any] = {
        "evaluation": "docked", "target": docking["target"], "dock_top": docking["dock_top"], "exhaustiveness": docking["exhaustiveness"],
    }
    if docking.get("threshold") is not None:
        stage["threshold"] = docking["threshold"]
    else:
        stage["keep_fraction"] = DOCKED_SHARE
    return stage
