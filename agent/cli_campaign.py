"""``atomloop campaign ...``: closed-loop campaigns on the (simulated) lab."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli_common import JsonOption, console, emit_json, handles_errors

if TYPE_CHECKING:
    from rich.console import Console

    from agent.campaign import CampaignRunner, CampaignStatus

campaign_cli = typer.Typer(help="Closed-loop campaigns: run, list, status, resume.", no_args_is_help=True)


def status_payload(runner: CampaignRunner, status: CampaignStatus) -> dict[str, Any]:
    payload = status.model_dump()
    if runner.app.settings.lab.mode == "sim":
        payload["world_eval"] = runner.world_eval()
    return payload


def show_status(out: Console, runner: CampaignRunner, status: CampaignStatus, world_eval: dict[str, Any] | None) -> None:
    from rich.table import Table

    objective = runner.spec.objectives[0]
    table = Table(title=f"Campaign {status.id}: {status.name} ({status.status}, {status.experiments} molecules measured)")
    props = runner.spec.properties()
    table.add_column("#", justify="right")
    table.add_column("molecule")
    for prop in props:
        table.add_column(prop, justify="right")
    table.add_column("meets constraints")
    for rank, entry in enumerate(status.best, start=1):
        smiles = entry["smiles"] if len(entry["smiles"]) <= 60 else entry["smiles"][:59] + "…"
        table.add_row(str(rank), smiles, *(f"{entry[p]:.2f}" if p in entry else "" for p in props), "yes" if entry.get("feasible") else "no")
    out.print(table)
    curve = " → ".join("—" if it.best_feasible is None else f"{it.best_feasible:.2f}" for it in status.iterations)
    out.print(f"best feasible {objective.property} by iteration: {curve}")
    if world_eval:
        enrichment = world_eval["top2pct_found"] / world_eval["random_expected"] if world_eval["random_expected"] else float("nan")
        out.print(
            f"[dim]after the fact, from the simulated world's truth:[/] {world_eval['top2pct_found']} of the "
            f"{world_eval['top2pct_total']} true top-2% molecules found; random choice would find "
            f"{world_eval['random_expected']:.1f} on average ({enrichment:.1f}x)"
        )
        if "target_found" in world_eval:
            expected = world_eval["target_random_expected"]
            ratio = world_eval["target_found"] / expected if expected else float("nan")
            goal = ("≥ " if objective.direction == "maximize" else "≤ ") + f"{objective.target:g}"
            out.print(
                f"[dim]and:[/] {world_eval['target_found']} of the {world_eval['target_total']} molecules whose"
                f" true {objective.property} is {goal} (constraints met) found; random choice would find"
                f" {expected:.1f} ({ratio:.1f}x)"
            )
    if status.report_path:
        out.print(f"Report: {status.report_path}")


def run_campaign(spec_path: Path | None, spec: Any, as_json: bool, resume_id: str | None = None) -> None:
    from agent.app import build_app
    from agent.campaign import CampaignRunner, CampaignSpec

    app = build_app()
    out = console()
    progress = None if as_json else (lambda message: out.print(f"[cyan]•[/] {message}"))
    if resume_id is not None:
        runner = CampaignRunner.load(app, resume_id, progress)
    else:
        spec = spec or CampaignSpec.from_yaml(spec_path)  # type: ignore[arg-type]
        runner = CampaignRunner.create(app, spec, progress)
        if not as_json:
            out.print(f"Campaign [bold]{runner.id}[/]: {spec.name} (resume with `atomloop campaign resume {runner.id}`)")
    status = runner.run()
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
    """Continue a campaign that stopped; finished experiments are not repeated."""
    run_campaign(None, None, as_json, resume_id=campaign_id)


@campaign_cli.command("list")
@handles_errors
def campaign_list(as_json: JsonOption = False) -> None:
    """Campaigns, newest first."""
    from sqlmodel import select

    from agent.app import build_app
    from knowledge.models import Campaign, Iteration

    app = build_app()
    with app.store.session() as session:
        rows = list(session.exec(select(Campaign).order_by(Campaign.created_at.desc())))  # type: ignore[attr-defined]
        counts = {r.id: len(session.exec(select(Iteration).where(Iteration.campaign_id == r.id, Iteration.status == "done")).all()) for r in rows}
    if as_json:
        emit_json([{"id": r.id, "name": r.name, "status": r.status, "iterations_done": counts[r.id], "created_at": r.created_at} for r in rows])
        return
    from rich.table import Table

    table = Table(title="Campaigns")
    for column in ("id", "name", "status", "iterations done", "created"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.id, r.name, r.status, str(counts[r.id]), r.created_at.strftime("%Y-%m-%d %H:%M"))
    console().print(table)


@campaign_cli.command("status")
@handles_errors
def campaign_status(campaign_id: str, as_json: JsonOption = False) -> None:
    """Where a campaign stands: best molecules, the best-so-far curve, and (simulated lab) the world's verdict."""
    from agent.app import build_app
    from agent.campaign import CampaignRunner

    runner = CampaignRunner.load(build_app(), campaign_id)
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
    """Store a recurring campaign in the database; it survives restarts. Run `atomloop campaign scheduler` to serve it."""
    from agent.campaign import CampaignSpec
    from agent.scheduling import parse_interval

    spec = CampaignSpec.from_yaml(file)
    job = _scheduler().add(file, parse_interval(every), spec.name)
    if as_json:
        emit_json(job)
    else:
        console().print(f"Scheduled [bold]{job['job_id']}[/] every {every}; next run {job['next_run']:%Y-%m-%d %H:%M %Z}.")
    if start:
        _scheduler().run()


@campaign_cli.command("scheduler")
@handles_errors
def campaign_scheduler(
    run_for: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: run until Ctrl-C).")] = None,
) -> None:
    """Run the stored campaign schedules: each campaign starts when it is due."""
    jobs = _scheduler().jobs()
    console().print(f"Serving {len(jobs)} scheduled campaign(s): " + ", ".join(j["job_id"] for j in jobs))
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
        table.add_row(job["job_id"], f"{job['every_s'] / 3600:g} h", f"{job['next_run']:%Y-%m-%d %H:%M %Z}")
    console().print(table)


@campaign_cli.command("unschedule")
@handles_errors
def campaign_unschedule(job_id: str) -> None:
    """Remove a stored schedule."""
    _scheduler().remove(job_id)
    console().print(f"Removed {job_id}.")
