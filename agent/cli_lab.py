"""``atomloop lab ...``: the simulated lab, its instruments, and SiLA 2 serving."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli_common import JsonOption, cells, console, emit_json, handles_errors, shown

log = logging.getLogger(__name__)

lab_cli = typer.Typer(help="The lab: simulate assays, show instruments, serve instruments over SiLA 2.", no_args_is_help=True)

INSTRUMENT_NAMES = {
    "plate-reader": "plate_reader",
    "solubility-meter": "solubility_meter",
    "liquid-handler": "liquid_handler",
    "synthesizer": "synthesizer",
    "lcms": "lcms",
    "balance": "balance",
}


@lab_cli.command("simulate")
@handles_errors
def lab_simulate(
    smiles_file: Annotated[Path, typer.Option(help="SMILES per line, or a CSV with a 'smiles' column.")],
    assay: Annotated[list[str], typer.Option(help="potency and/or solubility (repeat the option for both).")] = ["potency"],  # noqa: B006
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulated world: same seed, same readings.")] = 0,
    transport: Annotated[str, typer.Option(help="in-process, or sila2 (reader and solubility meter over SiLA 2 on loopback).")] = "in-process",
    record: Annotated[bool, typer.Option(help="Also record the measurements in the knowledge store (source = simulated).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Synthesize -> LC-MS -> assay each molecule on the simulated lab; print measurements and the makespan."""
    from knowledge.textfiles import read_smiles_file
    from lab.errors import InvalidRequest
    from lab.recipes import ASSAYS, Assay
    from simulators.lab import SimLab, SimLabConfig
    from simulators.runner import Transport, simulate_assays
    from simulators.world import WorldConfig

    known_assays: dict[str, Assay] = {a: a for a in ASSAYS}
    requested = list(dict.fromkeys(assay))  # an assay named twice is run once
    unknown = [a for a in requested if a not in known_assays]
    if unknown:
        raise InvalidRequest(f"unknown assay {unknown[0]!r}; choose from {', '.join(ASSAYS)}")
    assays = [known_assays[a] for a in requested]
    transports: dict[str, Transport] = {"in-process": "in-process", "sila2": "sila2"}
    if transport not in transports:
        raise InvalidRequest(f"--transport must be in-process or sila2, not {transport!r}")
    smiles = read_smiles_file(smiles_file, what="SMILES file")
    out = console()
    with out.status(f"Setting up the simulated lab (seed {seed}) ...", spinner="dots") if not as_json else nullcontext():
        lab = SimLab(SimLabConfig.sized_for(len(smiles), world=WorldConfig(seed=seed)))
    from rich.progress import Progress

    with Progress(console=out, disable=as_json, transient=True) as progress:
        task = progress.add_task("Running protocols", total=len(smiles))
        report = asyncio.run(
            simulate_assays(
                lab,
                smiles,
                assays,
                transport=transports[transport],
                protocol_prefix=f"sim-{seed}",
                on_progress=lambda done, total: progress.update(task, completed=done),
            )
        )
    if record:
        from agent.app import build_app

        store = build_app().store
        provenance = {"command": "atomloop lab simulate", "seed": seed, "transport": transport}
        store.record_measurements(
            [
                m.to_new_measurement(source="simulated", provenance=provenance)
                for m in report.measurements
            ]
        )
    payload: dict[str, Any] = {
        "makespan_s": report.makespan_s,
        "transport": report.transport,
        "measurements": [
            {k: getattr(m, k) for k in ("smiles", "property", "value", "uncertainty", "unit", "status", "op_id")}
            for m in report.measurements
        ],
        "failures": [f.model_dump() for f in report.failures],
        "utilisation": report.schedule.utilisation(),
    }
    if as_json:
        emit_json(payload)
        return
    from rich.table import Table

    table = Table(title=f"Simulated measurements ({len(smiles)} molecules, seed {seed}, {shown(transport)})")
    for column in ("molecule", "property", "value", "± σ", "unit", "status"):
        table.add_column(column, justify="right" if column in ("value", "± σ") else "left")
    for m in report.measurements:
        sigma = "" if m.uncertainty is None else f"{m.uncertainty:.2f}"
        style = None if m.status == "ok" else "yellow"
        molecule = m.smiles if len(m.smiles) <= 48 else m.smiles[:47] + "…"
        table.add_row(*cells(molecule, m.property, f"{m.value:.2f}", sigma, m.unit, m.status), style=style)
    out.print(table)
    if report.failures:
        failures = Table(title=f"{len(report.failures)} protocols failed")
        failures.add_column("molecule")
        failures.add_column("error")
        for f in report.failures:
            failures.add_row(*cells(f.smiles if len(f.smiles) <= 48 else f.smiles[:47] + "…", f"{f.error_type}: {f.error}"[:120]))
        out.print(failures)
    hours = report.makespan_s / 3600
    busy = ", ".join(f"{shown(name)} {fraction:.0%}" for name, fraction in payload["utilisation"].items())
    out.print(f"Makespan: [bold]{hours:.1f} h[/] of simulated lab time (instrument busy time: {busy})")


@lab_cli.command("status")
@handles_errors
def lab_status(
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulated world.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List the instruments and the inventory of the (simulated) lab."""
    from simulators.lab import SimLab, SimLabConfig
    from simulators.world import WorldConfig

    lab = SimLab(SimLabConfig(world=WorldConfig(seed=seed)))
    instruments = [i.describe() for i in lab.instruments.all()]
    labware: list[dict[str, Any]] = []
    for labware_id, kind in lab.inventory.labware().items():
        wells = lab.inventory.wells(labware_id)
        labware.append(
            {
                "id": labware_id,
                "type": kind.name,
                "wells": len(wells),
                "filled_wells": sum(1 for w in wells if w.volume_ul > 0),
                "volume_ul": sum(w.volume_ul for w in wells),
            }
        )
    if as_json:
        emit_json({"mode": "sim", "instruments": [d.model_dump() for d in instruments], "labware": labware})
        return
    from rich.table import Table

    table = Table(title="Instruments (simulated lab)")
    for column in ("name", "kind", "model", "serial", "parallel", "operations (typical duration)"):
        table.add_column(column)
    for d in instruments:
        ops = ", ".join(f"{op} ({seconds / 60:g} min)" for op, seconds in d.durations_s.items())
        table.add_row(*cells(d.name, d.kind, d.model, d.serial, d.parallel_slots, ops))
    out = console()
    out.print(table)
    summary = Table(title="Inventory")
    for column in ("labware", "type", "count", "filled wells", "liquid"):
        summary.add_column(column)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in labware:
        groups.setdefault((item["id"].rstrip("0123456789").rstrip("-"), item["type"]), []).append(item)
    for (stem, kind_name), items in groups.items():
        volume = sum(i["volume_ul"] for i in items)
        summary.add_row(*cells(stem, kind_name, len(items), sum(i["filled_wells"] for i in items), f"{volume / 1000:g} mL"))
    out.print(summary)


@lab_cli.command("serve")
@handles_errors
def lab_serve(
    instrument: Annotated[str, typer.Option(help=f"One of: {', '.join(INSTRUMENT_NAMES)}.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port on 127.0.0.1 (1-65535).")] = 50052,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulated world behind the instrument.")] = 0,
) -> None:
    """Serve one simulated instrument as a SiLA 2 server on loopback until interrupted (Ctrl-C).

    A port that is taken (or that we may not bind) is a setup error (exit 3), found before the server says it serves.
    """
    from lab.errors import InvalidRequest
    from lab.sila import SilaInstrumentServer
    from simulators.lab import SimLab, SimLabConfig
    from simulators.world import WorldConfig

    if instrument not in INSTRUMENT_NAMES:
        raise InvalidRequest(f"unknown instrument {instrument!r}; choose from {', '.join(INSTRUMENT_NAMES)}")
    lab = SimLab(SimLabConfig(world=WorldConfig(seed=seed)))
    served = getattr(lab.instruments, INSTRUMENT_NAMES[instrument])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SilaInstrumentServer(served, port=port):
        console().print(f"Serving the simulated {shown(instrument)} over SiLA 2 on 127.0.0.1:{port} (Ctrl-C to stop)")
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
