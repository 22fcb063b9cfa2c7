"""``atomloop campaign ...``: closed-loop campaigns on the (simulated) lab."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli_common import EXIT_RUN_FAILED, JsonOption, cells, console, emit_json, handles_errors, shown

if TYPE_CHECKING:
    from rich.console import Console

    from agent.campaign import CampaignRunner, CampaignStatus

log = logging.getLogger(__name__)

campaign_cli = typer.Typer(help="Closed-loop campaigns: run, list, status, resume.", no_args_is_help=True)


def status_payload(runner: CampaignRunner, status: CampaignStatus) -> dict[str, Any]:
    """The status as JSON, with the simulated world's verdict in sim mode (none when the pool file is gone: the
    campaign's own rows still say where it stands)."""
    from agent.campaign_spec import InvalidCampaign

    payload = status.model_dump()
    if runner.app.settings.lab.mode == "sim":
        try:
            payload["world_eval"] = runner.world_eval()
        except InvalidCampaign as error:
            log.warning("campaign %s: no verdict from the simulated world: %s", runner.id, error)
    return payload


def show_status(out: Console, runner: CampaignRunner, status: CampaignStatus, world_eval: dict[str, Any] | None) -> None:
    from rich.table import Table

    objective = runner.spec.objectives[0]
    table = Table(
        title=f"Campaign {shown(status.id)}: {shown(status.name)} ({shown(status.status)}, {status.experiments} molecules measured)"
    )
    props = runner.spec.properties()
    table.add_column("#", justify="right")
    table.add_column("molecule")
    for prop in props:
        table.add_column(shown(prop), justify="right")
    table.add_column("meets constraints")
    for rank, entry in enumerate(status.best, start=1):
        smiles = entry["smiles"] if len(entry["smiles"]) <= 60 else entry["smiles"][:59] + "…"
        table.add_row(*cells(rank, smiles, *(f"{entry[p]:.2f}" if p in entry else "" for p in props), "yes" if entry.get("feasible") else "no"))
    out.print(table)
    curve = " → ".join("—" if it.best_feasible is None else f"{it.best_feasible:.2f}" for it in status.iterations)
    out.print(f"best feasible {shown(objective.property)} by iteration: {shown(curve)}")
    if world_eval:
        out.print(
            f"[dim]after the fact, from the simulated world's truth:[/] {world_eval['top2pct_found']} of the "
            f"{world_eval['top2pct_total']} true top-2% molecules found; random choice would find "
            f"{world_eval['random_expected']:.1f} on average{_ratio(world_eval['top2pct_found'], world_eval['random_expected'])}"
        )
        if "target_found" in world_eval:
            expected = world_eval["target_random_expected"]
            goal = ("≥ " if objective.direction == "maximize" else "≤ ") + f"{objective.target:g}"
            out.print(
                f"[dim]and:[/] {world_eval['target_found']} of the {world_eval['target_total']} molecules whose"
                f" true {shown(objective.property)} is {shown(goal)} (constraints met) found; random choice would find"
                f" {expected:.1f}{_ratio(world_eval['target_found'], expected)}"
            )
    if status.report_path:
        out.print(f"Report: {shown(status.report_path)}")


def _ratio(found: float, expected: float) -> str:
    """" (4.2x)", or nothing when random choice would find none (nothing measured, or nothing to find)."""
    return f" ({found / expected:.1f}x)" if expected else ""


def _failed_while_running(runner: CampaignRunner, error: Exception, as_json: bool) -> typer.Exit:
    """Say that the campaign failed while running (the runner marked it failed) and how to continue; exit 4."""
    message = f"campaign {runner.id} failed while running: {type(error).__name__}: {error}"
    if as_json:
        emit_json({"error": message, "type": type(error).__name__, "campaign_id": runner.id, "status": "failed"})
    sys.stderr.write(f"atomloop: {message}\n(fix the cause, then continue with `atomloop campaign resume {runner.id}`)\n")
    return typer.Exit(EXIT_RUN_FAILED)


def _typed(error: Exception) -> bool:
    """Whether ``error`` is one the code raises on purpose (the lab, a tool, the store), not a bug."""
    from knowledge.errors import StoreError
    from lab.errors import LabError
    from tools.errors import ToolError

    return isinstance(error, StoreError | ToolError | LabError)


def run_campaign(spec_path: Path | None, spec: Any, as_json: bool, resume_id: str | None = None) -> None:
    """Run a new campaign (from ``spec_path`` or ``spec``) or resume ``resume_id``, and show where it ended.

    Input errors (the file, the pool, the model kind, an id, a campaign already running elsewhere) raise before
    anything is written; a campaign that fails while running is marked failed and exits 4 (``EXIT_RUN_FAILED``).
    """
    from agent.app import build_app
    from agent.campaign import CampaignRunner
    from agent.campaign_spec import CampaignSpec

    app = build_app()
    out = console()
    progress = None if as_json else (lambda message: out.print(f"[cyan]•[/] {shown(message)}"))
    if resume_id is not None:
        runner = CampaignRunner.load(app, resume_id, progress)
    else:
        if spec is None:
            assert spec_path is not None  # callers give a spec or the file it is in
            spec = CampaignSpec.from_yaml(spec_path)
        runner = CampaignRunner.create(app, spec, progress)
        if not as_json:
            out.print(
                f"Campaign [bold]{shown(runner.id)}[/]: {shown(spec.name)} (resume with `atomloop campaign resume {shown(runner.id)}`)"
            )
    try:
        status = runner.run()
    except Exception as error:
        if runner.failure is error and _typed(error):
            raise _failed_while_running(runner, error, as_json) from None
        raise
    payload = status_payload(runner, status)
    if as_json:
        emit_json(payload)
        return
    show_status(out, runner, status, payload.get("world_eval"))


@campaign_cli.command("run")
@handles_errors
def campaign_run(file: Annotated[Path, typer.Argument(help="The campaign YAML file.")], as_json: JsonOption = False) -> None:
    """Run a campaign to its budget (or target) with no human in the loop."""
    run_campaign(file, None, as_json)


@campaign_cli.command("resume")
@handles_errors
def campaign_resume(campaign_id: str, as_json: JsonOption = False) -> None:
    """Continue a campaign that stopped (interrupted or failed); finished experiments are not repeated."""
    from agent.identifiers import checked_id

    run_campaign(None, None, as_json, resume_id=checked_id(campaign_id, "campaign id"))


@campaign_cli.command("list")
@handles_errors
def campaign_list(as_json: JsonOption = False) -> None:
    """Campaigns, newest first ("interrupted": stored as running, but no live process holds it)."""
    from sqlmodel import col, select

    from agent.app import build_app
    from agent.leases import shown_status
    from knowledge.models import Campaign, Iteration

    app = build_app()
    with app.store.session() as session:
        rows = list(session.exec(select(Campaign).order_by(col(Campaign.created_at).desc())))
        counts = {r.id: len(session.exec(select(Iteration).where(Iteration.campaign_id == r.id, Iteration.status == "done")).all()) for r in rows}
    locks_dir = app.settings.home_dir / "locks"
    status = {r.id: shown_status(locks_dir, "campaign", r.id, r.status) for r in rows}
    if as_json:
        emit_json([{"id": r.id, "name": r.name, "status": status[r.id], "iterations_done": counts[r.id], "created_at": r.created_at} for r in rows])
        return
    from rich.table import Table

    table = Table(title="Campaigns")
    for column in ("id", "name", "status", "iterations done", "created"):
        table.add_column(column)
    for r in rows:
        table.add_row(*cells(r.id, r.name, status[r.id], counts[r.id], r.created_at.strftime("%Y-%m-%d %H:%M")))
    console().print(table)


@campaign_cli.command("status")
@handles_errors
def campaign_status(campaign_id: str, as_json: JsonOption = False) -> None:
    """Where a campaign stands: best molecules, the best-so-far curve, and (simulated lab) the world's verdict."""
    from agent.app import build_app
    from agent.campaign import CampaignRunner
    from agent.identifiers import checked_id

    runner = CampaignRunner.load(build_app(), checked_id(campaign_id, "campaign id"))
    status = runner.status()
    payload = status_payload(runner, status)
    if as_json:
        emit_json(payload)
        return
    show_status(console(), runner, status, payload.get("world_eval"))


def _scheduler() -> Any:
    from agent.scheduling import CampaignScheduler
    from agent.settings import AtomLoopSettings

    settings = AtomLoopSettings()
    return CampaignScheduler(settings.resolved_database_url, settings.home_dir, settings.database_url)


@campaign_cli.command("schedule")
@handles_errors
def campaign_schedule(
    file: Annotated[Path, typer.Argument(help="The campaign YAML file.")],
    every: Annotated[str, typer.Option(help="How often: 6h, 30m, 1d, 1h30m ...")],
    start: Annotated[bool, typer.Option(help="Then run the scheduler in the foreground (Ctrl-C stops it).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Store a recurring campaign in the database; it survives restarts. Run `atomloop campaign scheduler` to serve it.

    The campaign is checked as `campaign run` checks it (the file, the pool, the model kind) before it is stored.
    """
    from agent.app import build_app
    from agent.campaign import CampaignRunner
    from agent.campaign_spec import CampaignSpec
    from agent.scheduling import parse_interval

    interval = parse_interval(every)
    spec = CampaignSpec.from_yaml(file)
    CampaignRunner.check(build_app(), spec)
    job = _scheduler().add(spec, interval)
    if as_json:
        emit_json(job)
    else:
        console().print(
            f"Scheduled [bold]{shown(job['job_id'])}[/] every {shown(every)}; next run {job['next_run']:%Y-%m-%d %H:%M %Z}."
        )
    if start:
        _scheduler().run()


@campaign_cli.command("scheduler")
@handles_errors
def campaign_scheduler(
    run_for: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: run until Ctrl-C).")] = None,
) -> None:
    """Run the stored campaign schedules: each campaign starts when it is due."""
    from agent.scheduling import checked_run_for

    checked_run_for(run_for)
    jobs = _scheduler().jobs()
    console().print(f"Serving {len(jobs)} scheduled campaign(s): " + ", ".join(shown(j["job_id"]) for j in jobs))
    try:
        _scheduler().run(run_for_s=run_for)
    except KeyboardInterrupt:
        pass


@campaign_cli.command("scheduled")
@handles_errors
def campaign_scheduled(as_json: JsonOption = False) -> None:
    """The stored schedules."""
    jobs = _scheduler().jobs()
    if as_json:
        emit_json(jobs)
        return
    from rich.table import Table

    table = Table(title="Scheduled campaigns")
    for column in ("job", "every", "next run"):
        table.add_column(column)
    for job in jobs:
        table.add_row(*cells(job["job_id"], f"{job['every_s'] / 3600:g} h", f"{job['next_run']:%Y-%m-%d %H:%M %Z}"))
    console().print(table)


@campaign_cli.command("unschedule")
@handles_errors
def campaign_unschedule(job_id: str) -> None:
    """Remove a stored schedule."""
    _scheduler().remove(job_id)
    console().print(f"Removed {shown(job_id)}.")
