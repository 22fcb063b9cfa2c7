"""``atomloop jobs ...``: the compute jobs in the store: list them, show one, cancel one."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli_common import (
    JsonOption,
    cells,
    console,
    emit_json,
    handles_errors,
    shown,
)

if TYPE_CHECKING:
    from agent.app import App
    from knowledge.jobs import JobRecord

jobs_cli = typer.Typer(help="Compute jobs: list, show, cancel.", no_args_is_help=True)

_STYLE = {"succeeded": "green", "failed": "red", "timed_out": "red", "cancelled": "yellow", "running": "cyan",
          "queued": "blue"}


def _app() -> App:
    from agent.app import build_app

    return build_app()


def _ledger(app: App) -> Any:
    """The job ledger on the configured database (checked to be migrated; no need for the whole store)."""
    from knowledge.database import check_schema, make_engine
    from knowledge.jobs import JobLedger

    engine = make_engine(app.settings.resolved_database_url)
    check_schema(engine)
    return JobLedger(engine)


def _state(job: JobRecord) -> str:
    """The status, with a note when nothing is working on a job the store says is active."""
    if job.active and job.client_alive is False:
        return f"{job.status} (client gone)"
    if job.active and job.cancel_requested:
        return f"{job.status} (cancel requested)"
    return job.status


def _payload(job: JobRecord) -> dict[str, Any]:
    return job.model_dump(mode="json") | {"duration_s": job.duration_s, "state": _state(job)}


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@jobs_cli.command("list")
@handles_errors
def jobs_list(
    status: Annotated[str | None, typer.Option("--status", "-s", help="Only jobs of this status.")] = None,
    group: Annotated[str | None, typer.Option("--group", "-g", help="Only jobs of this batch.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Compute jobs, newest first."""
    jobs = _ledger(_app()).list(status=status, group=group, limit=limit)
    if as_json:
        emit_json([_payload(job) for job in jobs])
        return
    if not jobs:
        console().print("No compute jobs" + (f" with status {shown(status)}" if status else "") + ".")
        return
    from rich.table import Table

    table = Table(title="Compute jobs")
    for column in ("id", "key", "status", "label", "group", "worker", "tries", "seconds", "submitted"):
        table.add_column(column, no_wrap=column in ("id", "key", "status"), justify="right" if column in ("id", "tries", "seconds") else "left")
    for job in jobs:
        row = cells(job.id, job.key[:12], _state(job), job.label or job.kind, job.group, job.worker or "",
                    job.attempts, f"{job.duration_s:.1f}" if job.duration_s is not None else "", _when(job.submitted_at))
        row[2].stylize(_STYLE.get(job.status, ""))
        table.add_row(*row)
    console().print(table)


@jobs_cli.command("show")
@handles_errors
def jobs_show(job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id or a prefix of its key.")],
              as_json: JsonOption = False) -> None:
    """One job: what it computes, where and how it ran, its error or its result."""
    from tools.compute.results import ResultFiles

    app = _app()
    job = _ledger(app).get(job_id)
    stored = ResultFiles(app.settings.home_dir / "jobs").read(job.key) if job.status == "succeeded" else None
    result = stored.get("result") if stored else None
    if as_json:
        emit_json(_payload(job) | {"result": result})
        return
    import json

    lines = [
        f"[bold]Job {job.id}[/] {shown(job.kind)}  [{_STYLE.get(job.status, 'white')}]{shown(_state(job))}[/]",
        f"key        {job.key}",
        f"label      {shown(job.label)}",
        f"group      {shown(job.group)}",
        f"inputs     {shown(json.dumps(job.inputs)[:400])}",
        f"executor   {shown(job.executor or '')}  worker {shown(job.worker or '')}  attempts {job.attempts}",
        f"client     {shown(job.client or '')}",
        f"submitted  {_when(job.submitted_at)}  started {_when(job.started_at)}  finished {_when(job.finished_at)}",
    ]
    if job.timeout_s is not None:
        lines.append(f"timeout    {job.timeout_s:g} s")
    if job.progress is not None and job.status != "succeeded":
        lines.append(f"progress   {job.progress:.0%}")
    if job.error:
        lines.append(f"error      {shown(job.error)}")
    if job.status == "succeeded":
        text = json.dumps(result)
        lines.append(f"result     {shown(text[:400] + (' ...' if len(text) > 400 else ''))}  ({shown(job.result_ref or '')})")
    console().print("\n".join(lines))


@jobs_cli.command("cancel")
@handles_errors
def jobs_cancel(job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id or a prefix of its key.")],
                as_json: JsonOption = False) -> None:
    """Ask for a queued or running job to be stopped (the process running its batch kills its work)."""
    job = _ledger(_app()).request_cancel(job_id)
    if as_json:
        emit_json(_payload(job))
        return
    if job.status == "cancelled":
        console().print(f"Cancelled job {job.id} ({shown(job.label or job.kind)}): its client had already stopped.")
    else:
        console().print(f"Asked to cancel job {job.id} ({shown(job.label or job.kind)}); its client stops it shortly.")
