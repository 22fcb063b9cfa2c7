"""``atomloop ask`` and ``atomloop runs ...``: agent runs from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli_common import EXIT_INPUT, EXIT_OK, EXIT_RUN_FAILED, EXIT_SETUP, JsonOption, cells, console, emit_json, handles_errors, shown

if TYPE_CHECKING:
    from rich.console import Console

    from agent.runs import RunResult

runs_cli = typer.Typer(help="Agent runs: list, show, approve, resume, cancel.", no_args_is_help=True)


def _progress_printer(out: Console) -> Any:
    def on_event(event: str, payload: dict[str, Any]) -> None:
        if event == "plan":
            out.print(f"[dim]plan:[/] {shown(' -> '.join(payload['steps']))}")
        elif event == "execute":
            out.print(f"[cyan]step {shown(payload['index'])}[/] {shown(payload['tool'])} ...")
        elif event == "record":
            colour = {"succeeded": "green", "failed": "red", "rejected": "yellow"}.get(payload["status"], "white")
            out.print(f"[cyan]step {shown(payload['index'])}[/] {shown(payload['tool'])}: [{colour}]{shown(payload['status'])}[/]")

    return on_event


def exit_code(result: RunResult) -> int:
    """0 when the run served its request (or waits for the approval it was asked to wait for, or was cancelled
    as asked); 2 when the request or its arguments must be fixed; 3 when the set-up must be (the planner's
    endpoint); 4 when it failed while running."""
    if result.waiting_for is not None or result.status in ("succeeded", "cancelled", "waiting_approval"):
        return EXIT_OK
    return {"input": EXIT_INPUT, "setup": EXIT_SETUP}.get(result.failure or "run", EXIT_RUN_FAILED)


def _finish(result: RunResult, as_json: bool) -> None:
    """Print the result for people or machines, and exit with the code the result deserves."""
    if as_json:
        emit_json(_result_payload(result))
    else:
        _show_result(console(), result)
    code = exit_code(result)
    if code != EXIT_OK:
        raise typer.Exit(code)


def _result_payload(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "failure": result.failure,
        "answer": result.answer,
        "report_path": result.report_path,
        "steps": [{"tool": s.tool, "status": s.status, "args": s.args, "result": s.result, "error": s.error} for s in result.steps],
        "waiting_for": result.waiting_for,
    }


def _show_result(out: Console, result: RunResult) -> None:
    if result.waiting_for:
        out.print(
            f"[yellow]Waiting for approval[/] of step {shown(result.waiting_for.get('step'))} "
            f"({shown(result.waiting_for.get('tool'))}) with {shown(result.waiting_for.get('args'))}.\n"
            f"Approve with `atomloop runs approve {shown(result.run_id)}` or cancel with "
            f"`atomloop runs cancel {shown(result.run_id)}`."
        )
        return
    from rich.panel import Panel

    colour = "green" if result.status == "succeeded" else "red"
    title = f"[{colour}]{shown(result.status)}[/] · run {shown(result.run_id)}"
    out.print(Panel(shown(result.answer or "(no answer)"), title=title, expand=False))
    if result.report_path:
        out.print(f"Report: {shown(result.report_path)}")


AllowPathOption = Annotated[
    list[Path] | None,
    typer.Option("--allow-path", help="A folder the run's tools may read files under (repeatable); the working directory and ATOMLOOP_HOME always are."),
]


def _manager(offline: bool, quiet: bool, *, require_approval: bool = False, no_approval: bool = False, allow_paths: list[Path] | None = None) -> Any:
    from agent.app import build_app
    from agent.runs import RunManager

    app = build_app()
    planner = app.planner(offline=True) if offline else None
    return RunManager(
        app,
        planner=planner,
        require_approval=require_approval,
        no_approval=no_approval,
        on_event=None if quiet else _progress_printer(console()),
        allowed_paths=tuple(allow_paths or ()),
    )


def register(cli: typer.Typer) -> None:
    @cli.command("ask")
    @handles_errors
    def ask(
        request: Annotated[str, typer.Argument(help="What you want, in plain language.")],
        offline: Annotated[bool, typer.Option(help="Use the offline planner even if an LLM endpoint is configured.")] = False,
        require_approval: Annotated[bool, typer.Option(help="Stop before every physical step until `atomloop runs approve`.")] = False,
        no_approval: Annotated[
            bool, typer.Option(help="Simulated lab only: let an LLM planner's physical steps run without waiting for approval.")
        ] = False,
        run_id: Annotated[str | None, typer.Option(help="Name the run (default: a new random id). Op ids derive from it.")] = None,
        allow_path: AllowPathOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Plan and run a request with typed tools; answer with evidence, a run id and a report.

        Exit code 0 when the request was served (or waits for approval), 2 when the request must be fixed,
        3 when the set-up must be, 4 when the run failed while running."""
        manager = _manager(offline, as_json, require_approval=require_approval, no_approval=no_approval, allow_paths=allow_path)
        _finish(manager.start(request, run_id=run_id), as_json)

    cli.add_typer(runs_cli, name="runs")


@runs_cli.command("list")
@handles_errors
def runs_list(limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20, as_json: JsonOption = False) -> None:
    """The newest runs."""
    from sqlmodel import col, select

    from agent.app import build_app
    from agent.leases import shown_status
    from knowledge.models import Run

    app = build_app()
    with app.store.session() as session:
        runs = list(session.exec(select(Run).order_by(col(Run.created_at).desc()).limit(limit)))
    locks = app.settings.home_dir / "locks"
    status = {r.id: shown_status(locks, "run", r.id, r.status) for r in runs}
    if as_json:
        emit_json([{"run_id": r.id, "status": status[r.id], "request": r.request, "planner": r.planner, "created_at": r.created_at} for r in runs])
        return
    from rich.table import Table

    table = Table(title="Runs")
    for column in ("run", "status", "planner", "created", "request"):
        table.add_column(column)
    for r in runs:
        table.add_row(*cells(r.id, status[r.id], r.planner, r.created_at.strftime("%Y-%m-%d %H:%M"), r.request[:70]))
    console().print(table)


@runs_cli.command("show")
@handles_errors
def runs_show(run_id: str, as_json: JsonOption = False) -> None:
    """A run's steps, tool calls and answer."""
    from sqlmodel import col, select

    from agent.app import build_app
    from agent.identifiers import checked_id
    from agent.leases import shown_status
    from knowledge.errors import NotFoundError
    from knowledge.models import Run, Step, ToolCall

    run_id = checked_id(run_id)
    app = build_app()
    with app.store.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id!r}: see `atomloop runs list`")
        calls = list(session.exec(select(Step, ToolCall).join(ToolCall, col(ToolCall.step_id) == col(Step.id)).where(Step.run_id == run_id).order_by(col(Step.index))))
    status = shown_status(app.settings.home_dir / "locks", "run", run.id, run.status)
    payload = {
        "run_id": run.id,
        "status": status,
        "request": run.request,
        "answer": run.answer,
        "report_path": run.report_path,
        "steps": [{"index": s.index, "tool": s.tool, "status": c.status, "args": c.args, "error": c.error, "duration_s": c.duration_s} for s, c in calls],
    }
    if as_json:
        emit_json(payload)
        return
    from rich.table import Table

    out = console()
    out.print(f"[bold]{shown(run.id)}[/] ({shown(status)}): {shown(run.request)}")
    table = Table()
    for column in ("#", "tool", "status", "duration", "args / error"):
        table.add_column(column)
    for s, c in calls:
        table.add_row(*cells(s.index, s.tool, c.status, f"{c.duration_s or 0:.1f} s", (c.error or str(c.args))[:90]))
    out.print(table)
    if run.answer:
        out.print(shown(run.answer))


@runs_cli.command("approve")
@handles_errors
def runs_approve(run_id: str, as_json: JsonOption = False) -> None:
    """Approve the physical step a run is waiting on, and continue the run."""
    _finish(_manager(False, as_json).approve(run_id, approved=True), as_json)


@runs_cli.command("cancel")
@handles_errors
def runs_cancel(run_id: str, as_json: JsonOption = False) -> None:
    """Refuse the step a run is waiting on; the run ends without running it."""
    _finish(_manager(False, as_json).approve(run_id, approved=False), as_json)


@runs_cli.command("resume")
@handles_errors
def runs_resume(run_id: str, as_json: JsonOption = False) -> None:
    """Continue a run that stopped (killed, crashed) from its last checkpoint. Nothing physical runs twice, and a
    run that waits for approval keeps waiting (approve it with `runs approve`)."""
    _finish(_manager(False, as_json).resume(run_id), as_json)
