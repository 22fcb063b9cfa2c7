"""Run assay recipes on a simulated lab, in-process or with instruments behind SiLA 2 servers on loopback."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack, ExitStack
from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, ConfigDict

from lab.recipes import Assay, LabMeasurement, RecipeSettings, characterize_protocol, measurements_of
from lab.scheduler import ScheduleReport
from simulators.lab import SimLab

Transport = Literal["in-process", "sila2"]
SILA_SERVED = ("plate_reader", "solubility_meter")


class ProtocolFailure(BaseModel):
    model_config = ConfigDict(frozen=True)

    smiles: str
    protocol: str
    error_type: str
    error: str


class SimulationReport(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    makespan_s: float
    measurements: list[LabMeasurement]
    failures: list[ProtocolFailure]
    schedule: ScheduleReport
    transport: Transport


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def simulate_assays(
    lab: SimLab,
    smiles: Sequence[str],
    assays: Sequence[Assay],
    *,
    transport: Transport = "in-process",
    settings: RecipeSettings | None = None,
    protocol_prefix: str = "sim",
    on_progress: Callable[[int, int], None] | None = None,
) -> SimulationReport:
    """Make and measure each molecule; the scheduler overlaps the protocols on the lab's instruments.

    With ``transport="sila2"`` the plate reader and the solubility meter are served as SiLA 2 servers on
    loopback and driven through SiLA 2 clients; the other instruments stay in-process.
    """
    from lab.sila import SilaInstrumentClient, SilaInstrumentServer

    with ExitStack() as servers:
        async with AsyncExitStack() as connections:
            await connections.enter_async_context(lab)
            instruments = lab.instruments
            if transport == "sila2":
                remote = {}
                for kind in SILA_SERVED:
                    port = free_loopback_port()
                    servers.enter_context(SilaInstrumentServer(getattr(lab.instruments, kind), port=port))
                    remote[kind] = await connections.enter_async_context(SilaInstrumentClient(kind, port=port))
                instruments = replace(lab.instruments, **remote)
            scheduler = lab.scheduler()
            protocols = {}
            for index, molecule in enumerate(smiles):
                protocol = characterize_protocol(
                    f"{protocol_prefix}-{index:04d}", molecule, assays, instruments, lab.allocator, lab.buffer, settings
                )
                protocols[protocol.name] = molecule
                scheduler.submit(protocol)
            report = await scheduler.run()
    measurements: list[LabMeasurement] = []
    failures: list[ProtocolFailure] = []
    for done, outcome in enumerate(sorted(report.outcomes, key=lambda o: o.protocol), start=1):
        if outcome.status == "succeeded":
            measurements.extend(measurements_of(outcome.results, instruments))
        else:
            failures.append(
                ProtocolFailure(
                    smiles=protocols[outcome.protocol],
                    protocol=outcome.protocol,
                    error_type=outcome.error_type or "",
                    error=outcome.error or "",
                )
            )
        if on_progress is not None:
            on_progress(done, len(report.outcomes))
    return SimulationReport(
        makespan_s=report.makespan_s, measurements=measurements, failures=failures, schedule=report, transport=transport
    )
