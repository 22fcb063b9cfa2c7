"""Agent runs tried as an attacker and a careless user would: approval on every continuation, one lab budget
over every physical tool, run ids that are names, exit codes that say what happened, one process per run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from agent.app import build_app
from agent.cli import cli
from agent.graph import Budgets
from agent.plan import Answer, Plan, PlannedStep
from agent.planners.scripted import ScriptedPlanner
from agent.runs import RunManager
from knowledge.database import upgrade
from knowledge.models import Measurement, Run, ToolCall
from tests.agent.openai_fake import FakeOpenAI, text_response, tool_call_response

CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"


@pytest.fixture
def runner(_isolated_home: Path) -> CliRunner:
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "init"]).exit_code == 0
    return runner


def _invoke(runner: CliRunner, *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(cli, [*args, "--json"])
    try:
        payload = json.loads(result.stdout)
    except ValueError:
        payload = {"output": result.output}
    return result.exit_code, payload


def _measurements() -> list[Measurement]:
    with build_app().store.session() as session:
        return list(session.exec(select(Measurement)))


@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    def configure(fake: FakeOpenAI) -> None:
        monkeypatch.setenv("ATOMLOOP_LLM__BASE_URL", fake.base_url)
        monkeypatch.setenv("ATOMLOOP_LLM__MODEL", "fake-model")
        monkeypatch.setenv("ATOMLOOP_LLM__API_KEY", "sk-test-SECRET")

    for name in list(os.environ):
        if name.startswith("OPENAI_"):
            monkeypatch.delenv(name)
    return configure


# -- approval ----------------------------------------------------------------------------------------------


def test_an_approval_gated_run_still_waits_after_resume(runner: CliRunner) -> None:
    code, waiting = _invoke(runner, "ask", "--offline", "--require-approval", "--run-id", "gated", "measure the solubility of caffeine")
    assert code == 0 and waiting["waiting_for"]["tool"] == "run_experiment"
    # resume in a new command (no --require-approval given): the gate is the run's, not the command's
    code, resumed = _invoke(runner, "runs", "resume", "gated")
    assert code == 0 and resumed["status"] == "waiting_approval" and resumed["waiting_for"]["step"] == 0
    assert _measurements() == []
    code, approved = _invoke(runner, "runs", "approve", "gated")
    assert code == 0 and approved["status"] == "succeeded"
    measured = _measurements()
    assert {m.property for m in measured} == {"purity", "logS"}  # the QC of the synthesis, and the assay
    assert {m.op_id.split(":")[0] for m in measured} == {"gated"}


def test_physical_steps_an_llm_proposes_wait_for_approval_by_default(runner: CliRunner, llm_env: Any) -> None:
    """The request says no experiments; the model proposes one anyway: it waits for a person, also on resume."""
    script = [tool_call_response([("run_experiment", json.dumps({"smiles": [CAFFEINE], "assays": ["solubility"]}))])] * 3
    with FakeOpenAI(script) as fake:
        llm_env(fake)
        code, waiting = _invoke(runner, "ask", "--run-id", "llm-gated", "how soluble is caffeine? do not run any experiments")
        assert code == 0 and waiting["status"] == "waiting_approval"
        code, resumed = _invoke(runner, "runs", "resume", "llm-gated")
        assert code == 0 and resumed["status"] == "waiting_approval"
        code, cancelled = _invoke(runner, "runs", "cancel", "llm-gated")
        assert code == 0 and cancelled["status"] == "cancelled"
    assert _measurements() == []


def test_no_approval_lets_an_llm_run_lab_work_on_the_simulated_lab_only(runner: CliRunner, llm_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    script = [
        tool_call_response([("run_experiment", json.dumps({"smiles": [CAFFEINE], "assays": ["solubility"]}))]),
        text_response("Caffeine was measured."),
    ]
    with FakeOpenAI(script) as fake:
        llm_env(fake)
        code, payload = _invoke(runner, "ask", "--no-approval", "measure caffeine's solubility")
    assert code == 0 and payload["status"] == "succeeded"
    assert "logS" in {m.property for m in _measurements()}
    monkeypatch.setenv("ATOMLOOP_LAB__MODE", "real")
    result = runner.invoke(cli, ["ask", "--offline", "--no-approval", "measure the potency of CCO"])
    assert result.exit_code == 2
    assert "only for the simulated lab" in result.output


def test_approving_or_cancelling_a_finished_run_is_an_error(runner: CliRunner) -> None:
    code, _ = _invoke(runner, "ask", "--offline", "--run-id", "done-run", "what do we know about CCO")
    assert code == 0
    for verb in ("approve", "cancel"):
        result = runner.invoke(cli, ["runs", verb, "done-run"])
        assert result.exit_code == 2, result.output
        assert "not waiting for approval" in result.output


# -- the lab budget ----------------------------------------------------------------------------------------


def _app() -> Any:
    app = build_app()
    upgrade(app.unchecked_store.engine)
    return app


def test_the_lab_budget_counts_campaigns_and_experiments_together(_isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A campaign of 64 molecules, then 40 more in an experiment, against a budget of 96: the experiment is
    refused at review (today the campaign was never counted)."""
    launched: list[dict[str, Any]] = []

    def launch(self: RunManager, request: dict[str, Any]) -> dict[str, Any]:
        launched.append(request)
        return {"campaign_id": "c-1", "experiments": request["experiments"], "iterations": 6, "best": [], "report_path": None}

    monkeypatch.setattr(RunManager, "_launch_campaign", launch)
    smiles = [f"C{'C' * i}O" for i in range(40)]
    campaign = {"objective": {"property": "pIC50"}, "from_store": True, "experiments": 64}
    planner = ScriptedPlanner([
        Plan(steps=[PlannedStep(tool="start_campaign", args=campaign), PlannedStep(tool="run_experiment", args={"smiles": smiles})]),
        Answer(text="stopped"),
    ])
    result = RunManager(_app(), planner=planner).start("campaign then more", run_id="budget-sum")
    assert [(s.tool, s.status) for s in result.steps] == [("start_campaign", "succeeded"), ("run_experiment", "rejected")]
    assert "64 used, 40 asked by run_experiment" in (result.steps[1].error or "")
    assert len(launched) == 1
    assert _measurements() == []


def test_a_campaign_over_the_run_budget_is_refused_at_review(_isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunManager, "_launch_campaign", lambda self, request: pytest.fail("the campaign must not start"))
    campaign = {"objective": {"property": "pIC50"}, "from_store": True, "experiments": 64}
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="start_campaign", args=campaign)]), Answer(text="no", supported=False)])
    result = RunManager(_app(), planner=planner, budgets=Budgets(max_lab_molecules=32)).start("a big campaign", run_id="budget-campaign")
    [step] = result.steps
    assert step.status == "rejected"
    assert "allows 32 molecules per run; 0 used, 64 asked by start_campaign" in (step.error or "")


def test_a_new_physical_tool_cannot_leave_out_its_lab_cost() -> None:
    from pydantic import BaseModel

    from tools.base import Tool

    class Args(BaseModel):
        n: int

    async def run(ctx: Any, args: Args) -> Args:
        return args

    with pytest.raises(ValueError, match="must declare its lab_cost"):
        Tool("dispense_things", "A physical test tool.", Args, Args, run, effect="physical")
    tool = Tool("dispense_things", "A physical test tool.", Args, Args, run, effect="physical", lab_cost=lambda args: args.n)
    assert tool.molecules_sent_to_lab(Args(n=7)) == 7


# -- run ids -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["../../x", "/tmp/abs-run", "a/b", "..", "", "x" * 129, "run id", "run\x00id", "-rf"])
def test_a_run_id_is_a_name_not_a_path(runner: CliRunner, _isolated_home: Path, run_id: str) -> None:
    result = runner.invoke(cli, ["ask", "--offline", "--run-id", run_id, "predict logS of CCO"])
    assert result.exit_code == 2, result.output
    assert "invalid run id" in result.output
    with build_app().store.session() as session:
        assert session.exec(select(Run)).all() == []
    assert not (_isolated_home / "reports").exists()
    assert not Path("/tmp/abs-run.md").exists()


@pytest.mark.parametrize("request_text", ["", "   \n"])
def test_an_empty_request_is_refused_before_a_run_exists(runner: CliRunner, request_text: str) -> None:
    result = runner.invoke(cli, ["ask", "--offline", request_text])
    assert result.exit_code == 2 and "the request is empty" in result.output
    with build_app().store.session() as session:
        assert session.exec(select(Run)).all() == []


def test_a_run_id_names_one_request(runner: CliRunner) -> None:
    code, first = _invoke(runner, "ask", "--offline", "--run-id", "named", "predict logS of CCO")
    assert code == 0
    result = runner.invoke(cli, ["ask", "--offline", "--run-id", "named", "predict logS of caffeine"])
    assert result.exit_code == 2
    assert "already names another request" in result.output
    # the same request again is the same run: its result, with nothing run twice
    code, again = _invoke(runner, "ask", "--offline", "--run-id", "named", "predict logS of CCO")
    assert code == 0 and again["answer"] == first["answer"]
    with build_app().store.session() as session:
        assert len(session.exec(select(ToolCall)).all()) == 1


# -- exit codes --------------------------------------------------------------------------------------------


def test_exit_codes_say_what_happened(_isolated_home: Path) -> None:
    from agent.cli_runs import exit_code
    from agent.runs import RunResult

    def result(status: str, failure: str | None = None, waiting: dict[str, Any] | None = None) -> RunResult:
        return RunResult(run_id="r", status=status, answer="", report_path=None, steps=[], waiting_for=waiting, failure=failure)

    assert exit_code(result("succeeded")) == 0
    assert exit_code(result("waiting_approval", waiting={"step": 0})) == 0
    assert exit_code(result("cancelled")) == 0
    assert exit_code(result("failed", "input")) == 2
    assert exit_code(result("failed", "setup")) == 3
    assert exit_code(result("failed", "run")) == 4
    assert exit_code(result("budget_exhausted", "run")) == 4


def test_a_step_that_fails_while_running_fails_the_run(_isolated_home: Path) -> None:
    """A lab step that cannot run (here: no lab) and a planner that gives up: failure "run", exit code 4."""
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="run_experiment", args={"smiles": ["CCO"]})])] * 3 + [Answer(text="gave up", supported=False)])
    app = _app()
    app.__dict__["lab"] = None  # what a real-mode app without instruments has
    result = RunManager(app, planner=planner).start("measure", run_id="no-lab")
    assert result.status == "failed" and result.failure == "run"
    assert {s.status for s in result.steps} == {"failed"}


def test_a_run_that_raises_is_marked_failed_not_left_running(_isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.errors import SafetyViolation

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise SafetyViolation("the deck's interlock is open")

    app = _app()
    monkeypatch.setattr(type(app.lab), "run_assays", refuse)
    planner = ScriptedPlanner([Plan(steps=[PlannedStep(tool="run_experiment", args={"smiles": ["CCO"]})]), Answer(text="x")])
    with pytest.raises(SafetyViolation):
        RunManager(app, planner=planner).start("measure", run_id="stopped")
    with app.store.session() as session:
        run = session.get(Run, "stopped")
    assert run is not None and run.status == "failed"
    assert "interlock" in (run.answer or "")


# -- one process per run -------------------------------------------------------------------------------------


_HOLDER = """
import sys, time
from pathlib import Path
from agent import leases
with leases.hold(Path(sys.argv[1]), "run", sys.argv[2]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_run_is_held_by_one_process_and_shown_interrupted_when_it_dies(runner: CliRunner, _isolated_home: Path) -> None:
    code, _ = _invoke(runner, "ask", "--offline", "--require-approval", "--run-id", "held", "measure the solubility of caffeine")
    assert code == 0
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(_isolated_home / "locks"), "held"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = runner.invoke(cli, ["runs", "approve", "held"])
        assert result.exit_code == 2
        assert f"already running in process {holder.pid}" in result.output
        assert _measurements() == []
    finally:
        holder.kill()
        holder.wait()
    # a stored "running" nobody holds is shown as interrupted
    def mark_running(writer: Any) -> None:
        run = writer.session.get(Run, "held")
        run.status = "running"
        writer.session.add(run)

    build_app().store.write(mark_running)
    code, runs = _invoke(runner, "runs", "list")
    assert [r["status"] for r in runs] == ["interrupted"]
    code, shown = _invoke(runner, "runs", "show", "held")
    assert shown["status"] == "interrupted"


# -- a real lab that is not configured --------------------------------------------------------------------


def test_a_real_lab_without_instruments_is_a_setup_error_that_writes_nothing(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never a silent simulated lab behind ATOMLOOP_LAB__MODE=real: ask and campaign run both refuse, exit 3."""
    from knowledge.models import Campaign

    pool = tmp_path / "pool.smi"
    pool.write_text("CCO\nc1ccccc1O\nCC(=O)Oc1ccccc1C(=O)O\n", encoding="utf-8")
    spec = tmp_path / "campaign.yaml"
    spec.write_text(
        f"name: real\nobjectives: [{{property: pIC50}}]\npool: {{file: {pool}}}\nbudget: {{experiments: 4, iterations: 1}}\n"
        "batch_size: 2\ninitial: {size: 2}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("ATOMLOOP_LAB__MODE", "real")
    for args in (["ask", "--offline", "measure the potency of CCO"], ["campaign", "run", str(spec)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 3, result.output
        assert "ATOMLOOP_LAB__MODE=real needs an instrument configuration" in result.output
    with build_app().store.session() as session:
        assert session.exec(select(Run)).all() == [] and session.exec(select(Campaign)).all() == []
    assert _measurements() == []


def test_a_file_the_offline_planner_cannot_use_is_an_input_error(runner: CliRunner, _isolated_home: Path) -> None:
    _isolated_home.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "binary.csv").write_bytes(b"\x00\x01\x02" * 50)
    for request in ("find the 3 most soluble among nothere.csv", f"find the 3 most soluble among {_isolated_home / 'binary.csv'}"):
        code, payload = _invoke(runner, "ask", "--offline", request)
        assert code == 2, payload
        assert payload["failure"] == "input"


@pytest.mark.parametrize("url", ["http://[::1", "notaurl", "ftp://host/v1", "http://user:hunter2@host:99999/v1"])
def test_a_malformed_llm_url_is_a_setup_error_that_keeps_secrets(_isolated_home: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("ATOMLOOP_LLM__BASE_URL", url)
    result = CliRunner().invoke(cli, ["ask", "hello"])
    assert result.exit_code == 3, result.output
    assert "ATOMLOOP_LLM__BASE_URL" in result.output and "hunter2" not in result.output
