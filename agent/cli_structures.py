"""``atomloop structures embed FILE --out OUT.sdf``: 3D conformers for a file of molecules, through compute jobs.

The molecules (a SMILES list, a CSV/TSV table with a SMILES column, or an SDF) are protonated at a pH (dimorphite-dl),
embedded (RDKit ETKDGv3 + MMFF94) and written to one SDF, one record per conformer, through the configured compute
executor (``ATOMLOOP_COMPUTE__EXECUTOR``): the same file embedded again reuses every job that finished before.

Exit codes follow the CLI's rule (``agent.cli_common``): 0 when at least one molecule was embedded (the entries that
are not molecules are listed with their line); 2 when the file cannot be read as SMILES, CSV or SDF, or when no
molecule of it could be embedded (with ``--json`` the payload is still printed). The path is the user's own choice,
so any readable file may be named.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli_common import (
    EXIT_INPUT,
    JsonOption,
    cells,
    console,
    emit_json,
    handles_errors,
    shown,
)

if TYPE_CHECKING:
    from tools.structures.embed import EmbedReport

structures_cli = typer.Typer(
    help="3D structures: conformers (ETKDGv3 + MMFF94) at a pH, written as SDF.", no_args_is_help=True
)

MAX_LISTED = 20  # skipped entries printed for people; --json lists them all


@structures_cli.command("embed")
@handles_errors
def embed(
    file: Annotated[Path, typer.Argument(help="Molecules: a SMILES list (.smi), a CSV/TSV with a SMILES column, or an SDF.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The SDF to write (one record per conformer).")],
    conformers: Annotated[int, typer.Option("--conformers", "-n", help="Conformers per molecule (at most; close ones are pruned).")] = 1,
    ph: Annotated[float | None, typer.Option(help="Protonate each molecule to its dominant state at this pH (default 7.4).")] = None,
    no_protonate: Annotated[bool, typer.Option("--no-protonate", help="Embed the molecules as written.")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed of the embedding (default 24301; the same seed gives the same geometries).")] = None,
    smiles_column: Annotated[str | None, typer.Option(help="The SMILES column of a table (default: one named smiles).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Embed molecules in 3D: protonate at a pH, make conformers, write them to an SDF.

    Exits 0 when at least one molecule was embedded, 2 when none could be or the file is not SMILES, CSV or SDF."""
    from pydantic import ValidationError
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from agent.app import build_app
    from tools.base import validation_problems
    from tools.errors import ToolInputError
    from tools.structures.embed import EmbedOptions, embed_file
    from tools.structures.protonation import DEFAULT_PH

    if no_protonate and ph is not None:
        raise ToolInputError("give --ph or --no-protonate, not both")
    if conformers < 1:
        raise ToolInputError(f"--conformers must be at least 1, not {conformers}")
    fields: dict[str, object] = {"n_conformers": conformers, "ph": None if no_protonate else (DEFAULT_PH if ph is None else ph)}
    if seed is not None:
        fields["seed"] = seed
    try:
        options = EmbedOptions.model_validate(fields)
    except ValidationError as error:  # a pH outside 0-14, a negative seed
        raise ToolInputError(f"invalid options: {validation_problems(error)}") from None
    with build_app() as app:
        executor = app.executor
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console(), disable=as_json, transient=True,
        ) as progress:
            task = progress.add_task(f"Embedding {shown(file.name)} (jobs)", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = embed_file(file.expanduser(), out.expanduser(), executor, options, smiles_column=smiles_column, on_progress=advance)
    problem = None if report.embedded else f"no molecule of {report.path} could be embedded; nothing was written"
    if as_json:
        emit_json({**report.model_dump(mode="json"), **({"error": problem} if problem else {})})
    else:
        _print(report)
    if problem is not None:
        sys.stderr.write(f"atomloop: input error: {problem}\n")
        raise typer.Exit(EXIT_INPUT)


def _print(report: EmbedReport) -> None:
    """The summary as a table, then the entries that were skipped (at most ``MAX_LISTED`` of them)."""
    from rich.table import Table

    out = console()
    table = Table(title=f"Embedded {shown(Path(report.path).name)}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    invalid_lines = ", ".join(str(entry.line) for entry in report.invalid[:MAX_LISTED])
    if len(report.invalid) > MAX_LISTED:
        invalid_lines += ", ..."
    rows = [
        ("molecules in", f"{report.molecules:,} ({report.format})"),
        ("embedded", f"{report.embedded:,}"),
        ("conformers written", f"{report.conformers:,} (up to {report.n_conformers} per molecule)"),
        ("invalid", f"{len(report.invalid):,}" + (f" (lines {invalid_lines})" if report.invalid else "")),
        ("failed", f"{len(report.failed):,}"),
        ("protonated at", "as written" if report.ph is None else f"pH {report.ph:g}"),
        ("jobs", f"{report.jobs:,} on {report.executor}, {report.reused_jobs:,} reused"),
        ("time", f"{report.seconds:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(*cells(name, value))
    out.print(table)
    skipped = [("invalid", entry) for entry in report.invalid] + [("failed", entry) for entry in report.failed]
    if skipped:
        listed = Table(title=f"Skipped {len(skipped)} entries" + (f" (the first {MAX_LISTED})" if len(skipped) > MAX_LISTED else ""))
        for column in ("line", "entry", "why"):
            listed.add_column(column)
        for kind, entry in skipped[:MAX_LISTED]:
            listed.add_row(*cells(entry.line, entry.label if entry.label != f"line {entry.line}" else entry.text[:40], f"{kind}: {entry.reason}"))
        out.print(listed)
    if report.out:
        out.print(f"[green]Wrote[/] {report.conformers:,} conformers of {report.embedded:,} molecules to {shown(report.out)}")
