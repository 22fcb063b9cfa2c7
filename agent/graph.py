"""The planner graph (LangGraph): intake -> plan -> review -> execute -> record -> reflect -> (review | answer).

- ``review`` has no side effects (LangGraph re-runs an interrupted node from its start): it resolves the next
  step's references, validates it against the tool's schema, the budgets and the lab's limits, and holds the
  approval gate (an interrupt) for physical steps in real mode or when the run requires approval. Whether a
  run requires approval is decided once, when it starts, and kept in its checkpointed state, so every path
  that continues the run (resume, approve, a restart after a crash) meets the same gate. The lab budget is the
  sum of the lab costs every physical tool declares, over the whole run.
- ``execute`` runs the tool; physical operations carry op_ids derived from the run id and step index, so a step
  re-run after a crash replays instead of repeating.
- ``record`` writes the step, its tool call and its results (molecules, predictions, model versions,
  measurements) in one transaction, once per (run, step) however often it is re-run.
- ``reflect`` continues the plan, or asks the planner for more steps or the answer.

The thread id is the run id, and checkpoints live in LangGraph's SQLite (or PostgreSQL) saver, so any run can be
resumed with ``atomloop runs resume RUN_ID``.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, ConfigDict

from agent.plan import STEP_STATUSES, Answer, Plan, PlannedStep, Planner, PlannerError, PlannerSetupError, StepRecord, StepStatus
from knowledge.store import KnowledgeStore
from lab.access import LabAccess
from tools.base import CampaignLauncher, ToolContext, ToolRegistry, ToolSettings
from tools.errors import ToolError, ToolInputError
from tools.paths import AllowedPaths

log = logging.getLogger(__name__)


class Budgets(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_steps: int = 12
    max_lab_molecules: int = 96
    max_repairs: int = 2


class RunState(TypedDict, total=False):
    run_id: str
    request: str
    pending: list[dict[str, Any]]  # PlannedStep dumps still to run
    current: dict[str, Any] | None  # the step under review / execution
    history: Annotated[list[dict[str, Any]], operator.add]  # StepRecord dumps
    answer: dict[str, Any] | None
    status: str
    # why a run that did not succeed stopped: "input" (the request or its arguments), "setup" (the planner's
    # endpoint, the configuration) or "run" (steps or the lab failed while running); None when it succeeded
    failure: str | None
    approval_required: bool  # set when the run starts; every continuation of the run reads it from here
    allowed_paths: list[str]  # the folders the run's tools may read under, fixed when it starts
    workdir: str  # the working directory relative paths in tool arguments are taken from, fixed when it starts
    lab_molecules_used: int
    repairs: int


@dataclass
class GraphDeps:
    store: KnowledgeStore
    tools: ToolRegistry
    planner: Planner
    predictors: Any
    lab: LabAccess | None
    settings: ToolSettings
    paths: AllowedPaths
    executor: Any = None  # tools.compute.jobs.ComputeExecutor
    campaigns: CampaignLauncher | None = None
    mode: str = "sim"
    require_approval: bool = False  # only for runs checkpointed before approval_required was part of the state
    budgets: Budgets = field(default_factory=Budgets)
    on_event: Callable[[str, dict[str, Any]], None] | None = None
    recorder: Any = None  # agent.recording.RunRecorder
    crash_after: str | None = None  # fault injection for resume tests: "execute:<step>" or "record:<step>"
    extras: dict[str, Any] = field(default_factory=dict)  # more read-only dependencies for tools (tests, plug-ins)

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event, payload)


def _dig(output: dict[str, Any], path: str) -> Any:
    value: Any = output
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise ToolInputError(f"an earlier step's output has no field {path!r}")
    return value


def build_graph(deps: GraphDeps, checkpointer: Any) -> Any:
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def history_of(state: RunState) -> list[StepRecord]:
        return [StepRecord.model_validate(item) for item in state.get("history", [])]

    def finish(answer: Answer, status: str, failure: str | None = None) -> dict[str, Any]:
        return {"answer": answer.model_dump(), "status": status, "failure": failure, "pending": [], "current": None}

    def approval_required(state: RunState) -> bool:
        return deps.mode == "real" or bool(state.get("approval_required", deps.require_approval))

    def intake(state: RunState) -> dict[str, Any]:
        deps.recorder.start_run(state["run_id"], state["request"], deps.planner.name, deps.mode)
        deps.emit("intake", {"run_id": state["run_id"]})
        return {"status": "running", "history": [], "lab_molecules_used": 0, "repairs": 0}

    def ask_planner(state: RunState) -> dict[str, Any]:
        try:
            decision = deps.planner.plan(state["request"], history_of(state))
        except PlannerSetupError as error:
            return finish(Answer(text=f"The planner cannot work as configured: {error}", supported=False), "failed", "setup")
        except PlannerError as error:
            return finish(Answer(text=f"The planner failed: {error}", supported=False), "failed", "run")
        if isinstance(decision, Answer):
            if decision.supported:
                return finish(decision, "succeeded")
            # an answer that serves nothing: the request was not understood, or its arguments were refused (the
            # last step was rejected: a missing or refused file, an invalid molecule), or it failed while running
            history = state.get("history") or []
            return finish(decision, "failed", "input" if not history or history[-1]["status"] == "rejected" else "run")
        assert isinstance(decision, Plan)
        deps.emit("plan", {"steps": [s.tool for s in decision.steps]})
        return {"pending": [s.model_dump() for s in decision.steps]}

    def plan(state: RunState) -> dict[str, Any]:
        return ask_planner(state)

    def review(state: RunState) -> dict[str, Any]:
        pending = list(state.get("pending") or [])
        step = PlannedStep.model_validate(pending[0])
        index = len(state.get("history", []))
        if index >= deps.budgets.max_steps:
            return finish(Answer(text=f"Stopped: the step budget ({deps.budgets.max_steps} steps) is used up.", supported=False), "budget_exhausted", "run")
        current: dict[str, Any] = {"index": index, "tool": step.tool, "rationale": step.rationale, "args": dict(step.args)}
        try:
            tool = deps.tools.get(step.tool)
            outputs = {record.index: record.output or {} for record in history_of(state)}
            resolved = dict(step.args)
            for name, ref in step.refs.items():
                if ref.step not in outputs:
                    raise ToolInputError(f"argument {name!r} refers to step {ref.step}, which has no output")
                resolved[name] = _dig(outputs[ref.step], ref.field)
            parsed = tool.parse_args(resolved)
            current["args"] = parsed.model_dump(mode="json")
            if tool.effect == "physical":
                molecules = tool.molecules_sent_to_lab(parsed)
                used = state.get("lab_molecules_used", 0)
                if used + molecules > deps.budgets.max_lab_molecules:
                    raise ToolInputError(
                        f"the lab budget allows {deps.budgets.max_lab_molecules} molecules per run; {used} used, {molecules} asked by {tool.name}"
                    )
                current["lab_cost"] = molecules
        except ToolInputError as error:
            current.update(status="rejected", error=str(error), error_type=type(error).__name__)
            return {"current": current, "pending": pending[1:]}
        if tool.effect == "physical" and approval_required(state):
            decision = interrupt({"run_id": state["run_id"], "step": index, "tool": step.tool, "args": current["args"]})
            if not (isinstance(decision, dict) and decision.get("approved")):
                current.update(status="rejected", error="not approved by a person", error_type="NotApproved")
                return {"current": current, "pending": []}
        current["status"] = "approved"
        return {"current": current, "pending": pending[1:]}

    def route_after_review(state: RunState) -> str:
        if state.get("answer"):
            return "answer"
        return "record" if (state.get("current") or {}).get("status") == "rejected" else "execute"

    def execute(state: RunState) -> dict[str, Any]:
        current = dict(state["current"] or {})
        tool = deps.tools.get(current["tool"])
        context = ToolContext(
            store=deps.store.reader(),
            predictors=deps.predictors,
            lab=deps.lab,
            settings=deps.settings,
            run_id=state["run_id"],
            step_index=current["index"],
            paths=AllowedPaths.of(state["allowed_paths"], state.get("workdir")) if state.get("allowed_paths") else deps.paths,
            executor=deps.executor,
            history=tuple(state.get("history", [])),
            campaigns=deps.campaigns,
            extras=deps.extras,
        )
        deps.emit("execute", {"index": current["index"], "tool": tool.name})
        started = time.perf_counter()
        try:
            output = asyncio.run(asyncio.wait_for(tool.run(context, tool.parse_args(current["args"])), tool.timeout_s))
        except ToolInputError as error:
            # the tool itself refused its arguments (a path outside the allowed folders, nothing predictable); a
            # physical tool may have reached the lab first, so its lab cost still counts (see record)
            current.update(status="rejected", error=str(error), error_type=type(error).__name__, executed=True)
        except (ToolError, TimeoutError) as error:
            current.update(status="failed", error=str(error) or "timed out", error_type=type(error).__name__)
        except Exception as error:
            from lab.errors import LabError

            if not isinstance(error, LabError) or _stops_the_run(error):
                raise
            current.update(status="failed", error=str(error), error_type=type(error).__name__)
        else:
            current.update(status="succeeded", output=output.model_dump(mode="json"))
        current["duration_s"] = time.perf_counter() - started
        _maybe_crash(deps, f"execute:{current['index']}")
        return {"current": current}

    def record(state: RunState) -> dict[str, Any]:
        current = dict(state["current"] or {})
        deps.recorder.record_step(state["run_id"], current, deps.tools.get(current["tool"]) if current["tool"] in deps.tools else None)
        _maybe_crash(deps, f"record:{current['index']}")
        deps.emit("record", {"index": current["index"], "tool": current["tool"], "status": current["status"]})
        status: StepStatus = current["status"] if current["status"] in STEP_STATUSES else "failed"
        entry = StepRecord(
            index=current["index"],
            tool=current["tool"],
            args=current.get("args", {}),
            status=status,
            output=current.get("output"),
            error=current.get("error"),
            error_type=current.get("error_type"),
        )
        # what a physical step sent to the lab counts against the budget whether it succeeded or failed there
        executed = current.get("status") in ("succeeded", "failed") or current.get("executed", False)
        molecules = int(current.get("lab_cost", 0)) if executed else 0
        return {
            "history": [entry.model_dump(mode="json")],
            "current": None,
            "lab_molecules_used": state.get("lab_molecules_used", 0) + molecules,
        }

    def reflect(state: RunState) -> dict[str, Any]:
        last = state["history"][-1]
        if last["status"] == "rejected" and last.get("error_type") == "NotApproved":
            return finish(Answer(text=f"Stopped: step {last['index']} ({last['tool']}) was not approved.", supported=False), "cancelled")
        if last["status"] == "succeeded" and state.get("pending"):
            return {}
        if last["status"] != "succeeded":
            # the rest of the plan was built on this step's result: drop it and ask the planner again
            repairs = state.get("repairs", 0) + 1
            if repairs > deps.budgets.max_repairs:
                text = f"Stopped: step {last['index']} ({last['tool']}) {last['status']}: {last.get('error')}"
                failure = "input" if last["status"] == "rejected" else "run"
                return finish(Answer(text=text, supported=False), "failed", failure) | {"repairs": repairs}
            return {"pending": [], "repairs": repairs, **ask_planner(state)}
        return ask_planner(state)

    def route_after_reflect(state: RunState) -> str:
        return "answer" if state.get("answer") else "review"

    def answer(state: RunState) -> dict[str, Any]:
        final = Answer.model_validate(state["answer"]) if state.get("answer") else Answer(text="No answer.", supported=False)
        status = state.get("status") or "succeeded"
        report_path = deps.recorder.finish_run(state["run_id"], status, final.text, history_of(state))
        deps.emit("answer", {"status": status, "text": final.text, "report": report_path})
        return {"status": status}

    graph = StateGraph(RunState)
    for name, node in (("intake", intake), ("plan", plan), ("review", review), ("execute", execute), ("record", record), ("reflect", reflect), ("answer", answer)):
        graph.add_node(name, node)
    graph.add_edge(START, "intake")
    graph.add_edge("intake", "plan")
    graph.add_conditional_edges("plan", route_after_reflect, {"review": "review", "answer": "answer"})
    graph.add_conditional_edges("review", route_after_review, {"execute": "execute", "record": "record", "answer": "answer"})
    graph.add_edge("execute", "record")
    graph.add_edge("record", "reflect")
    graph.add_conditional_edges("reflect", route_after_reflect, {"review": "review", "answer": "answer"})
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=checkpointer)


def _maybe_crash(deps: GraphDeps, point: str) -> None:
    """Die like ``kill -9`` at ``point`` (after the node's work, before LangGraph checkpoints it)."""
    if deps.crash_after == point:
        import os
        import signal

        log.warning("fault injection: killing the process at %s", point)
        os.kill(os.getpid(), signal.SIGKILL)


def _stops_the_run(error: Exception) -> bool:
    from lab.errors import SafetyViolation, SetupError

    return isinstance(error, SafetyViolation | SetupError)
