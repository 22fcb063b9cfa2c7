"""Run assay recipes on a simulated lab, in-process or with instruments behind SiLA 2 servers on loopback."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack, ExitStack
from dataclasses import replace
from typing import Any, Literal

from pydantic import ConfigDict

from lab.access import AssayReport, run_assay_batch
from lab.recipes import Assay, RecipeSettings
from lab.scheduler import ScheduleReport
from simulators.lab import SimLab

Transport = Literal["in-process", "sila2"]
SILA_SERVED = ("plate_reader", "solubility_meter")


class SimulationReport(AssayReport):
    """An assay report of the simulated lab, with the scheduler's timings and the transport used."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

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
                # A SiLA client gains its kind's Protocol methods at runtime (setattr), which mypy cannot see.
                remote: dict[str, Any] = {}
                for kind in SILA_SERVED:
                    port = free_loopback_port()
                    servers.enter_context(SilaInstrumentServer(getattr(lab.instruments, kind), port=port))
                    remote[kind] = await connections.enter_async_context(SilaInstrumentClient(kind, port=port))
                instruments = replace(lab.instruments, **remote)
            report, schedule = await run_assay_batch(
                instruments,
                lab.scheduler(),
                lab.allocator,
                lab.buffer,
                smiles,
                assays,
                settings=settings,
                protocol_prefix=protocol_prefix,
                on_progress=on_progress,
            )
    return SimulationReport(**dict(report), schedule=schedule, transport=transport)
