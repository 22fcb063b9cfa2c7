"""How the rest of AtomLoop reaches a lab: the ``LabAccess`` Protocol, its typed report, and the generic part of
running assays (build each molecule's characterisation protocol, let the scheduler overlap them on the
instruments, collect readings and failures), which any lab with instruments and a scheduler shares.

The composition root decides what stands behind ``LabAccess`` (the simulated lab in sim mode); tools and campaigns
only see this Protocol, and the source a measurement is stored with comes from the lab that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from lab.recipes import Assay, LabMeasurement, RecipeSettings, characterize_protocol, measurements_of

if TYPE_CHECKING:
    from lab.models import WellRef
    from lab.recipes import LabInstruments, WellAllocator
    from lab.scheduler import Scheduler, ScheduleReport

MeasurementSource = Literal["measured", "simulated"]


class AssayFailure(BaseModel):
    """A molecule whose protocol failed (synthesis, purity, an instrument fault): nothing of it was measured."""

    model_config = ConfigDict(frozen=True)

    smiles: str
    protocol: str
    error_type: str
    error: str


class AssayReport(BaseModel):
    """What one batch of assays gave: readings, failures, and the lab time it took."""

    model_config = ConfigDict(frozen=True)

    makespan_s: float
    measurements: list[LabMeasurement]
    failures: list[AssayFailure]


@runtime_checkable
class LabAccess(Protocol):
    """A lab that makes molecules and measures them. ``source`` is what its readings are stored as ("simulated" for
    a simulated lab, "measured" for a real one). Operation ids start with ``op_prefix``: a batch repeated with the
    same prefix (a resumed step) replays its readings instead of repeating the experiments."""

    @property
    def source(self) -> MeasurementSource: ...

    async def run_assays(self, smiles: list[str], assays: Sequence[Assay], op_prefix: str) -> AssayReport: ...


async def run_assay_batch(
    instruments: LabInstruments,
    scheduler: Scheduler,
    allocator: WellAllocator,
    diluent: WellRef,
    smiles: Sequence[str],
    assays: Sequence[Assay],
    *,
    settings: RecipeSettings | None = None,
    protocol_prefix: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[AssayReport, ScheduleReport]:
    """Make and measure each molecule on ``instruments``; the scheduler overlaps the protocols. Returns the report
    and the scheduler's own report (timings per instrument)."""
    protocols = {}
    for index, molecule in enumerate(smiles):
        protocol = characterize_protocol(f"{protocol_prefix}-{index:04d}", molecule, assays, instruments, allocator, diluent, settings)
        protocols[protocol.name] = molecule
        scheduler.submit(protocol)
    schedule = await scheduler.run()
    measurements: list[LabMeasurement] = []
    failures: list[AssayFailure] = []
    for done, outcome in enumerate(sorted(schedule.outcomes, key=lambda o: o.protocol), start=1):
        if outcome.status == "succeeded":
            measurements.extend(measurements_of(outcome.results, instruments))
        else:
            failures.append(
                AssayFailure(smiles=protocols[outcome.protocol], protocol=outcome.protocol, error_type=outcome.error_type or "", error=outcome.error or "")
            )
        if on_progress is not None:
            on_progress(done, len(schedule.outcomes))
    return AssayReport(makespan_s=schedule.makespan_s, measurements=measurements, failures=failures), schedule
