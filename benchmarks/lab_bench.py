"""Simulated-lab throughput and scheduling: in-process instruments against the same instruments over SiLA 2.

Measures, in wall-clock time on this machine (``time.perf_counter``):

1. Simulated measurements per wall-second, in-process vs over SiLA 2 on loopback:
   a. raw instrument calls: ``--n-calls`` ``measure_solubility`` calls (distinct op_ids, 1 µL each) on one
      stock, straight on the simulated solubility meter, then through a ``SilaInstrumentClient`` connected to a
      ``SilaInstrumentServer`` serving that same meter (stocks are synthesised beforehand, not timed);
   b. whole protocols: ``simulate_assays`` of the potency recipe on the first ``--molecules`` BACE molecules,
      with ``transport="in-process"`` and ``transport="sila2"`` (the sila2 wall time includes starting the
      two servers and connecting their clients).
2. The simulated makespan of that potency campaign, its succeeded/failed protocols, per-instrument utilisation,
   and the speed-up of the scheduler over running every step strictly one after another.

One ``SimWorld`` is shared by every run (creating it takes seconds; not timed), and each transport is warmed up
once before it is timed (imports, the SiLA feature build, RDKit's SA-score tables).

    .venv/bin/python benchmarks/lab_bench.py [--n-calls 500] [--molecules 96] [--data ../shared/data] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import math
import os
import platform
import shlex
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version
from pathlib import Path

from lab.errors import SynthesisFailed
from lab.models import SolubilityRequest, SynthesisRequest, WellRef
from lab.protocols import SolubilityMeter
from lab.sila import SilaInstrumentClient, SilaInstrumentServer
from simulators.lab import SimLab, SimLabConfig
from simulators.runner import SimulationReport, Transport, free_loopback_port, simulate_assays
from simulators.world import SimWorld, WorldConfig

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_BACE = ROOT / "knowledge" / "bundled" / "bace_pic50.csv"
STOCK_VOLUME_UL = 1000.0
VIAL_DEAD_UL = 20.0
WARMUP_CALLS = 20
WARMUP_MOLECULES = 4
SYNTHESIS_ATTEMPTS = 10


@dataclass(frozen=True)
class CallTiming:
    transport: Transport
    calls: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds


@dataclass(frozen=True)
class RawBench:
    in_process: CallTiming
    sila2: CallTiming
    sila_setup_s: float  # server start + client connect


@dataclass(frozen=True)
class CampaignRun:
    transport: Transport
    wall_s: float
    report: SimulationReport

    @property
    def measurements_per_s(self) -> float:
        return len(self.report.measurements) / self.wall_s


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_bace(data: Path, count: int) -> tuple[list[str], Path]:
    """The first ``count`` SMILES of the BACE set, from ``data`` or else the bundled copy."""
    path = data / "bace" / "bace_pic50.csv"
    if not path.exists():
        path = BUNDLED_BACE
    with path.open(newline="", encoding="utf-8") as handle:
        smiles = [row["smiles"] for row in csv.DictReader(handle)]
    if count > len(smiles):
        raise SystemExit(f"{path} has {len(smiles)} molecules; asked for {count}")
    return smiles[:count], path


def make_lab(world: SimWorld, molecules: int = 0, vials: int = 0) -> SimLab:
    """A fresh deck on the shared world, with room for ``molecules`` protocols and ``vials`` extra stocks."""
    return SimLab(SimLabConfig.sized_for(molecules + vials, world=world.config), world=world)


# -- 1a: raw instrument calls -------------------------------------------------------------------------------


async def synthesize_stock(lab: SimLab, smiles: str, tag: str) -> WellRef:
    """One vial of ``smiles`` stock; a failed synthesis leaves the vial empty, so it is retried in place."""
    vial = lab.allocator.vial()
    for attempt in range(SYNTHESIS_ATTEMPTS):
        request = SynthesisRequest(op_id=f"bench-stock-{tag}-{attempt}", smiles=smiles, destination=vial, volume_ul=STOCK_VOLUME_UL)
        try:
            await lab.instruments.synthesizer.synthesize(request)
        except SynthesisFailed:
            continue
        return vial
    raise RuntimeError(f"could not synthesise a stock of {smiles} in {SYNTHESIS_ATTEMPTS} attempts")


async def solubility_requests(lab: SimLab, smiles: str, count: int, volume_ul: float, prefix: str) -> list[SolubilityRequest]:
    """``count`` requests with distinct op_ids, spread over as many stock vials as their volume needs."""
    per_vial = int((STOCK_VOLUME_UL - VIAL_DEAD_UL) // volume_ul)
    stocks = [await synthesize_stock(lab, smiles, f"{prefix}-{k}") for k in range(math.ceil(count / per_vial))]
    return [
        SolubilityRequest(op_id=f"{prefix}-{i}", sample=stocks[i // per_vial], smiles=smiles, volume_ul=volume_ul)
        for i in range(count)
    ]


async def time_calls(meter: SolubilityMeter, requests: Sequence[SolubilityRequest]) -> float:
    start = time.perf_counter()
    for request in requests:
        await meter.measure_solubility(request)
    return time.perf_counter() - start


async def connect_once(meter: SolubilityMeter) -> None:
    port = free_loopback_port()
    with SilaInstrumentServer(meter, port=port):
        async with SilaInstrumentClient("solubility_meter", port=port):
            pass


async def bench_raw_calls(world: SimWorld, smiles: str, n_calls: int, volume_ul: float) -> RawBench:
    lab = make_lab(world, vials=2 * math.ceil((n_calls + WARMUP_CALLS) * volume_ul / (STOCK_VOLUME_UL - VIAL_DEAD_UL)))
    async with lab:
        meter = lab.instruments.solubility_meter
        local = await solubility_requests(lab, smiles, WARMUP_CALLS + n_calls, volume_ul, "bench-local")
        remote = await solubility_requests(lab, smiles, WARMUP_CALLS + n_calls, volume_ul, "bench-sila")
        await time_calls(meter, local[:WARMUP_CALLS])
        progress(f"raw calls: {n_calls} in-process")
        in_process_s = await time_calls(meter, local[WARMUP_CALLS:])
        progress(f"raw calls: {n_calls} over SiLA 2")
        await connect_once(meter)  # first-use costs: importing sila2 and grpc, building the feature
        port = free_loopback_port()
        start = time.perf_counter()
        with SilaInstrumentServer(meter, port=port):
            async with SilaInstrumentClient("solubility_meter", port=port) as client:
                setup_s = time.perf_counter() - start
                await time_calls(client, remote[:WARMUP_CALLS])
                sila_s = await time_calls(client, remote[WARMUP_CALLS:])
    return RawBench(
        in_process=CallTiming("in-process", n_calls, in_process_s),
        sila2=CallTiming("sila2", n_calls, sila_s),
        sila_setup_s=setup_s,
    )


# -- 1b and 2: whole protocols --------------------------------------------------------------------------------


async def run_campaign(world: SimWorld, smiles: Sequence[str], transport: Transport) -> CampaignRun:
    lab = make_lab(world, molecules=len(smiles))
    start = time.perf_counter()
    report = await simulate_assays(lab, smiles, ["potency"], transport=transport)
    return CampaignRun(transport, time.perf_counter() - start, report)


async def bench_campaigns(world: SimWorld, smiles: Sequence[str]) -> dict[Transport, CampaignRun]:
    runs: dict[Transport, CampaignRun] = {}
    for transport in ("in-process", "sila2"):
        progress(f"protocols: warm-up on {transport}")
        await run_campaign(world, smiles[:WARMUP_MOLECULES], transport)
        progress(f"protocols: {len(smiles)} potency protocols on {transport}")
        runs[transport] = await run_campaign(world, smiles, transport)
    return runs


def same_results(a: SimulationReport, b: SimulationReport) -> bool:
    def key(report: SimulationReport) -> list[tuple[str, str, str, float]]:
        return sorted((m.op_id, m.smiles, m.property, m.value) for m in report.measurements)

    return key(a) == key(b) and a.makespan_s == b.makespan_s and len(a.failures) == len(b.failures)


def serial_seconds(report: SimulationReport) -> float:
    return math.fsum(step.end_s - step.start_s for step in report.schedule.steps)


# -- output ---------------------------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def raw_table(raw: RawBench) -> str:
    ratio = raw.sila2.per_second / raw.in_process.per_second
    rows = [
        [t.transport, f"{t.calls:,}", f"{t.seconds:.3f}", f"{t.per_second:,.0f}", f"{1000 * t.seconds / t.calls:.2f}", r]
        for t, r in ((raw.in_process, "1.00"), (raw.sila2, f"{ratio:.2f}"))
    ]
    return table(["transport", "calls", "wall s", "calls/s", "ms/call", "ratio to in-process"], rows)


def campaign_table(runs: dict[Transport, CampaignRun]) -> str:
    base = runs["in-process"].measurements_per_s
    rows = []
    for run in runs.values():
        report = run.report
        succeeded = len(report.schedule.outcomes) - len(report.failures)
        rows.append(
            [
                run.transport,
                f"{succeeded}/{len(report.schedule.outcomes)}",
                str(len(report.measurements)),
                f"{run.wall_s:.2f}",
                f"{run.measurements_per_s:,.1f}",
                f"{run.measurements_per_s / base:.2f}",
            ]
        )
    header = ["transport", "protocols succeeded", "measurements (pIC50 + purity)", "wall s", "measurements/s", "ratio to in-process"]
    return table(header, rows)


def makespan_table(report: SimulationReport) -> str:
    serial = serial_seconds(report)
    failures = Counter(f.error_type for f in report.failures)
    failed = ", ".join(f"{kind} {count}" for kind, count in failures.most_common()) or "-"
    row = [
        f"{report.makespan_s / 3600:.2f}",
        str(len(report.schedule.outcomes) - len(report.failures)),
        f"{len(report.failures)} ({failed})",
        str(len(report.schedule.steps)),
        f"{serial / 3600:.2f}",
        f"{serial / report.makespan_s:.1f}x",
    ]
    header = ["makespan h", "succeeded", "failed (by error)", "steps run", "serial h (sum of steps)", "speed-up over serial"]
    return table(header, [row])


def utilisation_table(report: SimulationReport, slots: dict[str, int]) -> str:
    rows = []
    for instrument, share in report.schedule.utilisation().items():
        count = slots.get(instrument, 1)
        busy_h = share * report.makespan_s / 3600
        rows.append([instrument, str(count), f"{busy_h:.2f}", f"{share:.2f}", f"{100 * share / count:.0f}%"])
    return table(["instrument", "slots", "busy h", "utilisation (busy / makespan)", "per slot"], rows)


def command_line() -> str:
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    return shlex.join([python, *sys.argv])


def environment() -> str:
    versions = ", ".join(f"{name} {version(name)}" for name in ("sila2", "grpcio", "rdkit", "pydantic"))
    return f"Python {platform.python_version()}, {os.cpu_count()} cores; {versions}; {date.today().isoformat()}"


# -- main -----------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n-calls", type=int, default=500, help="timed measure_solubility calls per transport")
    parser.add_argument("--volume-ul", type=float, default=1.0, help="sample volume of each raw call")
    parser.add_argument("--molecules", type=int, default=96, help="first N BACE molecules for the potency campaign")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data directory")
    parser.add_argument("--seed", type=int, default=0, help="world seed")
    args = parser.parse_args(argv)
    if args.n_calls < 1 or args.molecules < 1:
        parser.error("--n-calls and --molecules must be at least 1")
    return args


async def run(args: argparse.Namespace) -> str:
    smiles, source = load_bace(args.data, args.molecules)
    progress("creating the simulated world (not timed)")
    world = SimWorld(WorldConfig(seed=args.seed))
    raw = await bench_raw_calls(world, smiles[0], args.n_calls, args.volume_ul)
    runs = await bench_campaigns(world, smiles)
    campaign = runs["in-process"].report
    consistent = "yes" if same_results(campaign, runs["sila2"].report) else "NO"
    slots = make_lab(world).instruments.slots()
    try:
        shown_source = source.relative_to(ROOT.parent)
    except ValueError:
        shown_source = source
    return "\n\n".join(
        [
            f"Command: `{command_line()}`",
            f"Environment: {environment()}",
            f"### 1a. Raw `measure_solubility` calls ({args.volume_ul:g} µL, one stock, sequential awaits)",
            raw_table(raw),
            f"SiLA 2 server start + client connect, after a first warm-up connection (not in the table): {raw.sila_setup_s:.3f} s",
            f"### 1b. Whole potency protocols (`simulate_assays`, first {args.molecules} BACE molecules from {shown_source}, seed {args.seed})",
            campaign_table(runs),
            "The sila2 wall time includes starting, connecting and stopping the plate-reader and solubility-meter"
            " servers.",
            f"Same measurements, failures and makespan on both transports: {consistent}",
            f"### 2. Simulated {args.molecules}-compound potency campaign (seed {args.seed})",
            makespan_table(campaign),
            utilisation_table(campaign, slots),
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
