"""``atomloop fe``: free energies with OpenMM, computed as compute jobs (one per λ window) and recorded in the store.

Exit codes: 0 when the free energy was computed (its warnings, e.g. a poor overlap, are printed and in the JSON);
2 for input to fix (a SMILES or file that cannot be read, a molecule the force field does not cover, an unknown
protocol); 3 when a package or the OpenMM platform is missing; 4 when a window failed while running.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli_common import EXIT_RUN_FAILED, JsonOption, cells, console, emit_json, handles_errors, progress_bar, shown

if TYPE_CHECKING:
    from tools.freeenergy.hydration import HydrationResult

fe_cli = typer.Typer(help="Free energies with OpenMM and MBAR (hydration free energies).", no_args_is_help=True)


@fe_cli.command("hydration")
@handles_errors
def hydration(
    molecule: Annotated[str, typer.Argument(help="A SMILES, or an SDF/MOL/MOL2 file with 3D coordinates (first record).")],
    forcefield: Annotated[str, typer.Option(help="gaff-2.11 (AM1-BCC charges) or mmff94.")] = "gaff-2.11",
    solvent: Annotated[str, typer.Option(help="obc2 (implicit, OpenMM's GBSAOBCForce; seconds) or tip3p (explicit water, PME; tens of minutes).")] = "obc2",
    protocol: Annotated[str, typer.Option(help="quick (obc2: 5 λ windows x 100 ps; tip3p: 15 + 5 x 100 ps) or standard (obc2: 11 x 1 ns; tip3p: 26 + 11 x 1 ns).")] = "quick",
    seed: Annotated[int, typer.Option(help="Seed of the thermostats (each window's is derived from it).")] = 0,
    name: Annotated[str | None, typer.Option(help="A name for the molecule in reports (default: the SMILES or file stem).")] = None,
    as_json: JsonOption = False,
) -> None:
    """The hydration free energy of a molecule (kcal/mol, 298.15 K) with its statistical error: the solvent coupled
    over λ windows (independent Langevin runs, compute jobs), MBAR with correlated samples removed, overlap checked."""
    from pydantic import ValidationError

    from agent.app import build_app
    from agent.freeenergy import record_hydration
    from tools.compute.fanout import threads_per_job
    from tools.errors import ToolInputError
    from tools.freeenergy.errors import FreeEnergyFailed
    from tools.freeenergy.hydration import HydrationOptions, compute_hydration, window_count
    from tools.freeenergy.solute import read_solute

    try:
        options = HydrationOptions(forcefield=forcefield, solvent=solvent, protocol=protocol, seed=seed)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = "; ".join(f"--{item['loc'][0]}: {item['msg']}" for item in error.errors())
        raise ToolInputError(problems) from None
    windows = window_count(options)
    solute = read_solute(molecule, name=name)
    with build_app() as app:
        options = options.model_copy(update={"platform": app.settings.fe.platform})
        home = app.settings.home_dir
        try:
            with progress_bar(f"ΔG hydration of {solute.name} ({options.forcefield}, {options.solvent})", windows, as_json, "windows") as advance:
                threads = threads_per_job(app.executor, windows)
                result = compute_hydration(solute, options, app.executor, home, threads=threads, on_progress=advance)
        except FreeEnergyFailed as error:
            sys.stderr.write(f"atomloop: run error: {error}\n")
            if as_json:
                emit_json({"error": str(error), "type": type(error).__name__})
            raise typer.Exit(EXIT_RUN_FAILED) from None
        measurement, new = record_hydration(app.store, result, home)
    payload = _payload(result, measurement, new)
    if as_json:
        emit_json(payload)
    else:
        _print(result, payload)


def _payload(result: HydrationResult, measurement: int | None, new: bool) -> dict[str, Any]:
    return {
        "smiles": result.smiles, "name": result.name, "value": round(result.value_kcal, 3), "uncertainty": round(result.uncertainty_kcal, 3),
        "unit": result.unit, "property": "hydration_free_energy", "forcefield": result.forcefield, "charge_method": result.charge_method,
        "solvent": result.solvent, "protocol": result.protocol_name, "temperature_k": result.temperature_k,
        "legs": [{"name": leg.name, "value": round(leg.delta_g_kcal, 3), "uncertainty": round(leg.error_kcal, 3), "states": leg.states, "sign": leg.sign,
                  "min_overlap": round(leg.min_overlap, 4), "samples": leg.samples} for leg in result.legs],
        "min_overlap": round(result.min_overlap, 4), "warnings": result.warnings,
        "runtime_s": round(result.wall_seconds, 1), "cpu_seconds": round(result.cpu_seconds, 1), "platform": result.platform,
        "windows": result.windows, "reused_windows": result.reused_windows,
        "convergence": [{"fraction": f, "value": round(v, 3), "uncertainty": round(e, 3)} for f, v, e in result.convergence_kcal],
        "mbar_input": result.mbar_input, "plot": result.plot, "measurement": measurement, "recorded": new, "key": result.key,
    }


def _print(result: HydrationResult, payload: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    out.print(f"[b]ΔG hydration[/b] of {shown(result.name)} ({shown(result.smiles)}): "
              f"[b]{result.value_kcal:.2f} ± {result.uncertainty_kcal:.2f} kcal/mol[/b] "
              f"({shown(result.forcefield)}/{shown(result.charge_method)}, {shown(result.solvent)}, {result.temperature_k:g} K)")
    table = Table(title="Legs")
    for column in ("leg", "ΔG (kcal/mol)", "±", "λ states", "smallest overlap", "samples kept"):
        table.add_column(column)
    for leg in result.legs:
        table.add_row(*cells(leg.name, f"{leg.delta_g_kcal:.3f}", f"{leg.error_kcal:.3f}", len(leg.states), f"{leg.min_overlap:.3f}", sum(leg.samples)))
    out.print(table)
    reused = f", {result.reused_windows} of {result.windows} windows from earlier runs" if result.reused_windows else ""
    out.print(f"{result.windows} windows on {shown(result.platform)}: {result.cpu_seconds:.0f} s of sampling, {result.wall_seconds:.0f} s in all{reused}")
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/yellow] {shown(warning)}")
    if result.plot:
        out.print(f"convergence and overlap plot: {shown(result.plot)}")
    recorded = "recorded as" if payload["recorded"] else "already recorded as"
    out.print(f"{recorded} measurement {payload['measurement']} (hydration_free_energy, computed)")
