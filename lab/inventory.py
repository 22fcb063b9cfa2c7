"""Labware, wells and what is in them. Volume is conserved: liquid only enters through ``add_liquid`` and
only leaves into the waste account, so ``total_added_ul == volume in wells + in tips + waste`` always.

Every operation changes the inventory speculatively inside ``speculative()``; the change commits when the
instrument call succeeds and rolls back (to the exact prior state) when it raises.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from lab.errors import PhysicalLimitError, SetupError
from lab.models import WellRef

_VOLUME_EPSILON_UL = 1e-9


class LabwareType(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    rows: int = Field(ge=1, le=16)
    columns: int = Field(ge=1, le=24)
    well_capacity_ul: float = Field(gt=0)
    dead_volume_ul: float = Field(default=0.0, ge=0, description="Liquid a tip cannot reach")
    empty_mass_mg: float = Field(default=0.0, ge=0)

    def well_names(self) -> list[str]:
        return [f"{chr(ord('A') + r)}{c + 1}" for r in range(self.rows) for c in range(self.columns)]

    def is_edge(self, well: str) -> bool:
        row, column = ord(well[0]) - ord("A"), int(well[1:]) - 1
        return self.rows > 2 and (row in (0, self.rows - 1) or column in (0, self.columns - 1))


def plate_96() -> LabwareType:
    return LabwareType(name="96-well plate", rows=8, columns=12, well_capacity_ul=300.0, empty_mass_mg=25_000.0)


def plate_384() -> LabwareType:
    return LabwareType(name="384-well plate", rows=16, columns=24, well_capacity_ul=110.0, empty_mass_mg=28_000.0)


def vial_4ml() -> LabwareType:
    return LabwareType(name="4 mL vial", rows=1, columns=1, well_capacity_ul=4000.0, dead_volume_ul=20.0, empty_mass_mg=8_000.0)


def reservoir_300ml() -> LabwareType:
    return LabwareType(name="300 mL reservoir", rows=1, columns=1, well_capacity_ul=300_000.0, dead_volume_ul=5000.0, empty_mass_mg=60_000.0)


LABWARE_TYPES = {"plate96": plate_96, "plate384": plate_384, "vial4ml": vial_4ml, "reservoir300ml": reservoir_300ml}


@dataclass
class _SavedState:
    wells: dict[tuple[str, str], WellState]
    tips: dict[str, WellState | None]
    waste_ul: float
    total_added_ul: float


@dataclass
class WellState:
    volume_ul: float = 0.0
    solutes_nmol: dict[str, float] = field(default_factory=dict)
    solvent: str | None = None

    def concentration_mm(self, solute: str) -> float:
        """nmol / µL = mM."""
        return self.solutes_nmol.get(solute, 0.0) / self.volume_ul if self.volume_ul > 0 else 0.0


class WellView(BaseModel):
    """A read-only copy of a well's state."""

    model_config = ConfigDict(frozen=True)

    ref: str
    volume_ul: float
    capacity_ul: float
    solvent: str | None
    solutes_nmol: dict[str, float]

    def concentration_mm(self, solute: str) -> float:
        return self.solutes_nmol.get(solute, 0.0) / self.volume_ul if self.volume_ul > 0 else 0.0


class Inventory:
    """Labware and well contents of one lab."""

    def __init__(self) -> None:
        self._labware: dict[str, LabwareType] = {}
        self._wells: dict[tuple[str, str], WellState] = {}
        self._tips: dict[str, WellState] = {}
        self.waste_ul = 0.0
        self.total_added_ul = 0.0
        self._saved: _SavedState | None = None  # set while a speculative change is open

    # -- set-up --------------------------------------------------------------------------------------

    def add_labware(self, labware_id: str, kind: LabwareType | str) -> None:
        if labware_id in self._labware:
            raise SetupError(f"labware {labware_id!r} is already on the deck")
        if isinstance(kind, str):
            if kind not in LABWARE_TYPES:
                raise SetupError(f"unknown labware type {kind!r}; known: {', '.join(LABWARE_TYPES)}")
            kind = LABWARE_TYPES[kind]()
        self._labware[labware_id] = kind
        for well in kind.well_names():
            self._wells[(labware_id, well)] = WellState()

    def add_liquid(self, ref: WellRef, volume_ul: float, *, solvent: str, solutes_nmol: dict[str, float] | None = None) -> None:
        """Put liquid into a well from outside the system (a stock bottle, a synthesis product)."""
        state = self._mutable(ref)
        self._check_fits(ref, state, volume_ul)
        state.volume_ul += volume_ul
        state.solvent = solvent if state.solvent in (None, solvent) else "mixture"
        for solute, amount in (solutes_nmol or {}).items():
            state.solutes_nmol[solute] = state.solutes_nmol.get(solute, 0.0) + amount
        self.total_added_ul += volume_ul

    # -- reading ---------------------------------------------------------------------------------------

    def labware(self) -> dict[str, LabwareType]:
        return dict(self._labware)

    def labware_type(self, labware_id: str) -> LabwareType:
        try:
            return self._labware[labware_id]
        except KeyError:
            raise SetupError(f"no labware {labware_id!r} on the deck") from None

    def well(self, ref: WellRef) -> WellView:
        state = self._state(ref)
        return WellView(
            ref=str(ref),
            volume_ul=state.volume_ul,
            capacity_ul=self.labware_type(ref.labware).well_capacity_ul,
            solvent=state.solvent,
            solutes_nmol=dict(state.solutes_nmol),
        )

    def wells(self, labware_id: str) -> list[WellView]:
        kind = self.labware_type(labware_id)
        return [self.well(WellRef(labware=labware_id, well=w)) for w in kind.well_names()]

    def free_wells(self, labware_id: str) -> list[WellRef]:
        kind = self.labware_type(labware_id)
        return [
            WellRef(labware=labware_id, well=w)
            for w in kind.well_names()
            if self._wells[(labware_id, w)].volume_ul <= _VOLUME_EPSILON_UL
        ]

    def volume_in_system_ul(self) -> float:
        return sum(s.volume_ul for s in self._wells.values()) + sum(t.volume_ul for t in self._tips.values())

    def tip_volume_ul(self, channel: str) -> float:
        return self._tips.get(channel, WellState()).volume_ul

    # -- moving liquid -----------------------------------------------------------------------------------

    def aspirate(self, ref: WellRef, volume_ul: float, channel: str = "tip-1", tip_capacity_ul: float = 1000.0) -> None:
        state = self._mutable(ref)
        tip = self._mutable_tip(channel)
        reachable = state.volume_ul - self.labware_type(ref.labware).dead_volume_ul
        if volume_ul > reachable + _VOLUME_EPSILON_UL:
            raise PhysicalLimitError(
                f"cannot aspirate {volume_ul:g} µL from {ref}: it holds {state.volume_ul:g} µL "
                f"({max(reachable, 0):g} µL reachable above the dead volume)"
            )
        if tip.volume_ul + volume_ul > tip_capacity_ul + _VOLUME_EPSILON_UL:
            raise PhysicalLimitError(f"the {channel} holds at most {tip_capacity_ul:g} µL")
        self._move(state, tip, volume_ul)

    def dispense(self, ref: WellRef, volume_ul: float, channel: str = "tip-1") -> None:
        state = self._mutable(ref)
        held = self._tips[channel].volume_ul if channel in self._tips else 0.0
        if volume_ul > held + _VOLUME_EPSILON_UL:
            raise PhysicalLimitError(f"cannot dispense {volume_ul:g} µL: the {channel} holds {held:g} µL")
        tip = self._mutable_tip(channel)
        self._check_fits(ref, state, volume_ul)
        self._move(tip, state, volume_ul)

    def transfer(self, source: WellRef, destination: WellRef, volume_ul: float) -> None:
        self._check_fits(destination, self._state(destination), volume_ul)
        self.aspirate(source, volume_ul, channel="transfer")
        self.dispense(destination, volume_ul, channel="transfer")

    def discard(self, ref: WellRef, volume_ul: float) -> None:
        """Take liquid out of a well into waste (consumed by an analysis, or a carry-over)."""
        state = self._mutable(ref)
        if volume_ul > state.volume_ul + _VOLUME_EPSILON_UL:
            raise PhysicalLimitError(f"cannot take {volume_ul:g} µL from {ref}: it holds {state.volume_ul:g} µL")
        sink = WellState()
        self._move(state, sink, volume_ul)
        self.waste_ul += sink.volume_ul

    def empty_tip(self, channel: str = "tip-1") -> None:
        if channel in self._tips:
            self.waste_ul += self._mutable_tip(channel).volume_ul
            del self._tips[channel]

    # -- speculative changes -----------------------------------------------------------------------------

    @contextmanager
    def speculative(self) -> Iterator[None]:
        """Apply changes now; restore the exact previous state if the block raises.

        Copy-on-write: a well's state is saved the first time the block changes it.
        """
        if self._saved is not None:
            raise SetupError("speculative changes do not nest")
        self._saved = _SavedState(wells={}, tips={}, waste_ul=self.waste_ul, total_added_ul=self.total_added_ul)
        try:
            yield
        except BaseException:
            saved = self._saved
            for key, state in saved.wells.items():
                self._wells[key] = state
            for channel, tip in saved.tips.items():
                if tip is None:
                    self._tips.pop(channel, None)
                else:
                    self._tips[channel] = tip
            self.waste_ul, self.total_added_ul = saved.waste_ul, saved.total_added_ul
            raise
        finally:
            self._saved = None

    # -- internals --------------------------------------------------------------------------------------

    def _state(self, ref: WellRef) -> WellState:
        kind = self.labware_type(ref.labware)
        state = self._wells.get((ref.labware, ref.well))
        if state is None:
            raise SetupError(f"{kind.name} {ref.labware!r} has no well {ref.well}")
        return state

    def _mutable(self, ref: WellRef) -> WellState:
        """The well's state, saved first if a speculative change is open."""
        state = self._state(ref)
        key = (ref.labware, ref.well)
        if self._saved is not None and key not in self._saved.wells:
            self._saved.wells[key] = copy.deepcopy(state)
        return state

    def _mutable_tip(self, channel: str) -> WellState:
        if self._saved is not None and channel not in self._saved.tips:
            existing = self._tips.get(channel)
            self._saved.tips[channel] = None if existing is None else copy.deepcopy(existing)
        return self._tips.setdefault(channel, WellState())

    def _check_fits(self, ref: WellRef, state: WellState, volume_ul: float) -> None:
        capacity = self.labware_type(ref.labware).well_capacity_ul
        if state.volume_ul + volume_ul > capacity + _VOLUME_EPSILON_UL:
            raise PhysicalLimitError(
                f"{volume_ul:g} µL does not fit into {ref}: it holds {state.volume_ul:g} µL of at most {capacity:g} µL"
            )

    @staticmethod
    def _move(source: WellState, destination: WellState, volume_ul: float) -> None:
        if volume_ul <= 0:
            raise PhysicalLimitError(f"a volume must be positive, got {volume_ul!r} µL")
        fraction = min(volume_ul / source.volume_ul, 1.0) if source.volume_ul > 0 else 0.0
        for solute, amount in list(source.solutes_nmol.items()):
            moved = amount * fraction
            source.solutes_nmol[solute] = amount - moved
            destination.solutes_nmol[solute] = destination.solutes_nmol.get(solute, 0.0) + moved
            if source.solutes_nmol[solute] <= 1e-15:
                del source.solutes_nmol[solute]
        source.volume_ul = max(source.volume_ul - volume_ul, 0.0)
        destination.volume_ul += volume_ul
        if source.solvent is not None:
            destination.solvent = source.solvent if destination.solvent in (None, source.solvent) else "mixture"
        if source.volume_ul <= _VOLUME_EPSILON_UL:
            source.volume_ul = 0.0
            source.solvent = None
