"""A whole simulated lab: deck, instruments, clock and world, ready to run recipes."""

from __future__ import annotations

from pathlib import Path
from typing import Self, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from lab.inventory import Inventory, LabwareType
from lab.journal import FileOpJournal, MemoryOpJournal, OpJournal
from lab.models import WellRef
from lab.recipes import LabInstruments, WellAllocator
from lab.safety import ApprovalHook, SafetyLimits
from lab.scheduler import Scheduler, SimClock
from simulators.instruments import (
    FaultConfig,
    SimBalance,
    SimLCMS,
    SimLiquidHandler,
    SimPlateReader,
    SimSolubilityMeter,
    SimSynthesizer,
)
from simulators.world import SimWorld, WorldConfig


class SimLabConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    @classmethod
    def sized_for(cls, molecules: int, **overrides: object) -> SimLabConfig:
        """A deck with room for ``molecules`` potency and solubility assays (vials, plates, buffer)."""
        sizes: dict[str, object] = {
            "plates": max(12, molecules // 8 + 1),
            "vials": max(200, molecules),
            "buffer_ul": max(250_000.0, 2_000.0 * molecules + 50_000.0),
        }
        return cls.model_validate({**sizes, **overrides})

    world: WorldConfig = WorldConfig()
    faults: FaultConfig = FaultConfig()
    limits: SafetyLimits = SafetyLimits()
    plates: int = Field(default=12, ge=1)
    vials: int = Field(default=200, ge=1)
    buffer_ul: float = Field(default=250_000.0, description="Assay buffer in the reservoir (a potency assay uses 1.7 mL)")


class _SharedParts(TypedDict):
    """What every simulated instrument of one lab shares: its world, deck, clock, limits and journal."""

    world: SimWorld
    inventory: Inventory
    clock: SimClock
    limits: SafetyLimits | None
    approval: ApprovalHook | None
    journal: OpJournal | None
    faults: FaultConfig | None


class SimLab:
    """The deck (reservoir of assay buffer, 96-well plates, vials) and one of each simulated instrument."""

    def __init__(
        self,
        config: SimLabConfig | None = None,
        *,
        world: SimWorld | None = None,
        journal: OpJournal | None = None,
        journal_path: Path | None = None,
        approval: ApprovalHook | None = None,
    ) -> None:
        self.config = config or SimLabConfig()
        self.world = world or SimWorld(self.config.world)
        self.clock = SimClock()
        self.inventory = Inventory()
        self.inventory.add_labware(
            "buffer",
            LabwareType(
                name="assay buffer reservoir",
                rows=1,
                columns=1,
                well_capacity_ul=max(300_000.0, self.config.buffer_ul),
                dead_volume_ul=5000.0,
                empty_mass_mg=60_000.0,
            ),
        )
        self.inventory.add_liquid(self.buffer, self.config.buffer_ul, solvent="assay buffer")
        for index in range(1, self.config.plates + 1):
            self.inventory.add_labware(f"plate-{index}", "plate96")
        for index in range(1, self.config.vials + 1):
            self.inventory.add_labware(f"vial-{index}", "vial4ml")
        self.journal = journal or (FileOpJournal(journal_path) if journal_path else MemoryOpJournal())
        shared: _SharedParts = {
            "world": self.world,
            "inventory": self.inventory,
            "clock": self.clock,
            "limits": self.config.limits,
            "approval": approval,
            "journal": self.journal,
            "faults": self.config.faults,
        }
        self.instruments = LabInstruments(
            liquid_handler=SimLiquidHandler("liquid-handler", **shared),
            synthesizer=SimSynthesizer("synthesizer", **shared),
            plate_reader=SimPlateReader("plate-reader", **shared),
            solubility_meter=SimSolubilityMeter("solubility-meter", **shared),
            lcms=SimLCMS("lcms", **shared),
            balance=SimBalance("balance", **shared),
        )
        self.allocator = WellAllocator(self.inventory)

    @property
    def buffer(self) -> WellRef:
        return WellRef(labware="buffer", well="A1")

    def scheduler(self) -> Scheduler:
        return Scheduler(self.clock, self.instruments.durations(), slots=self.instruments.slots())

    def save_state(self, path: Path) -> None:
        """Write the lab's physical state (inventory, allocations, clock, operation journal) atomically.

        Together with ``load_state`` this makes the simulated lab crash-consistent at the points where it is
        saved: a run killed between two saves resumes from the first, and re-runs the same operations with the
        same op_ids and the same readings.
        """
        import pickle

        journal = self.journal
        state = {
            "inventory": self.inventory,
            "allocator_taken": self.allocator._taken,
            "allocator_by_key": self.allocator.by_key,
            "allocator_cursors": (self.allocator._vial_cursor, self.allocator._plate_cursor),
            "clock_s": self.clock.now(),
            "journal": getattr(journal, "_entries", {}),
            "call_index": {i.name: i._call_index for i in self.instruments.all()},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(pickle.dumps(state))
        temporary.replace(path)

    def load_state(self, path: Path) -> None:
        """Restore what ``save_state`` wrote (trusted file: it is the lab's own pickle)."""
        import pickle

        state = pickle.loads(path.read_bytes())  # noqa: S301 - written by save_state in the data directory
        self.inventory = state["inventory"]
        for instrument in self.instruments.all():
            instrument.inventory = self.inventory
            instrument._call_index = state["call_index"].get(instrument.name, 0)
        self.allocator = WellAllocator(self.inventory)
        self.allocator._taken = set(state["allocator_taken"])
        self.allocator.by_key = dict(state["allocator_by_key"])
        self.allocator._vial_cursor, self.allocator._plate_cursor = state["allocator_cursors"]
        self.clock.advance_to(state["clock_s"])
        if hasattr(self.journal, "_entries"):
            self.journal._entries.update(state["journal"])

    async def __aenter__(self) -> Self:
        for instrument in self.instruments.all():
            await instrument.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for instrument in self.instruments.all():
            await instrument.__aexit__(*exc_info)
