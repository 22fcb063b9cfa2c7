"""Frozen request and result models of lab operations. Every physical operation carries an ``op_id``.

Volumes are in µL, amounts in µmol or nmol, concentrations in mM or µM, as the field names say.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PositiveVolume = Annotated[float, Field(gt=0, description="Volume in µL")]
OpId = Annotated[str, Field(min_length=1, max_length=200, description="Idempotency key of the operation")]

_WELL = re.compile(r"^([A-P])([1-9]|1[0-9]|2[0-4])$")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WellRef(Frozen):
    """A well of a plate, or the single position of a vial or reservoir ('A1')."""

    labware: str = Field(min_length=1)
    well: str = "A1"

    @field_validator("well")
    @classmethod
    def _valid_well(cls, well: str) -> str:
        well = well.strip().upper()
        if not _WELL.match(well):
            raise ValueError(f"{well!r} is not a well name like 'A1' or 'H12'")
        return well

    @classmethod
    def parse(cls, text: str) -> WellRef:
        """'plate-1:B3' -> WellRef(labware='plate-1', well='B3'); 'vial-7' -> WellRef('vial-7', 'A1')."""
        labware, _, well = text.partition(":")
        return cls(labware=labware, well=well or "A1")

    def __str__(self) -> str:
        return f"{self.labware}:{self.well}"


class Operation(Frozen):
    """Base of every physical operation request."""

    op_id: OpId

    def fingerprint(self) -> str:
        """What the operation asks for, so a reused op_id with different content is caught."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


# -- liquid handling -----------------------------------------------------------------------------------


class AspirateRequest(Operation):
    source: WellRef
    volume_ul: PositiveVolume


class DispenseRequest(Operation):
    destination: WellRef
    volume_ul: PositiveVolume


class TransferRequest(Operation):
    source: WellRef
    destination: WellRef
    volume_ul: PositiveVolume
    reagent: str | None = Field(default=None, description="What is moved, checked against the allow-list")


class SerialDilutionRequest(Operation):
    """Fill each destination with diluent, then carry ``transfer_volume_ul`` down the series.

    The last well gives its carry-over to waste, so every well ends with ``diluent_volume_ul``.
    Dilution factor per step: (diluent + transfer) / transfer.
    """

    source: WellRef
    destinations: tuple[WellRef, ...] = Field(min_length=1)
    diluent: WellRef
    transfer_volume_ul: PositiveVolume
    diluent_volume_ul: PositiveVolume

    @property
    def dilution_factor(self) -> float:
        return (self.diluent_volume_ul + self.transfer_volume_ul) / self.transfer_volume_ul


class LiquidResult(Frozen):
    op_id: str
    moved_ul: float
    wells: tuple[str, ...] = Field(description="Wells touched, in order")


# -- synthesis, analysis, assays ----------------------------------------------------------------------------


class SynthesisRequest(Operation):
    smiles: str
    scale_umol: float = Field(default=10.0, gt=0, le=10_000)
    destination: WellRef = Field(description="An empty vial that receives the product dissolved in solvent")
    solvent: str = "DMSO"
    volume_ul: PositiveVolume = 1000.0
    temperature_c: float = 25.0


class LabSample(Frozen):
    """A physical amount of a compound at a place."""

    smiles: str
    location: WellRef
    amount_umol: float
    volume_ul: float
    purity: float = Field(ge=0, le=1)

    @property
    def concentration_mm(self) -> float:
        return 1000.0 * self.amount_umol / self.volume_ul if self.volume_ul else 0.0


class SynthesisResult(Frozen):
    op_id: str
    sample: LabSample
    yield_pct: float


class LCMSRequest(Operation):
    sample: WellRef
    expected_smiles: str
    volume_ul: PositiveVolume = 2.0


class LCMSResult(Frozen):
    op_id: str
    purity_pct: float
    identity_confirmed: bool
    observed_mz: float | None


ReadingStatus = Literal["ok", "below_range", "above_range"]


class DoseResponseRequest(Operation):
    """Read a prepared dilution series: one well per concentration of one compound."""

    smiles: str = Field(description="The compound in the wells (for the record and the simulator)")
    target: str = "BACE1"
    wells: tuple[WellRef, ...] = Field(min_length=4)
    concentrations_um: tuple[float, ...] = Field(min_length=4, description="Nominal concentration per well")

    @field_validator("concentrations_um")
    @classmethod
    def _positive(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if any(v <= 0 for v in values):
            raise ValueError("concentrations must be positive")
        return values


class WellSignal(Frozen):
    well: str
    concentration_um: float
    signal: float = Field(description="Percent activity remaining (0 = fully inhibited, 100 = no inhibition)")


class DoseResponseResult(Frozen):
    op_id: str
    smiles: str
    target: str
    signals: tuple[WellSignal, ...]
    ic50_um: float
    pic50: float
    pic50_sd: float
    hill: float
    status: ReadingStatus


class SolubilityRequest(Operation):
    sample: WellRef
    smiles: str
    volume_ul: PositiveVolume = 10.0


class SolubilityResult(Frozen):
    op_id: str
    smiles: str
    log_s: float = Field(description="log10(mol/L)")
    log_s_sd: float
    status: ReadingStatus


class WeighRequest(Operation):
    labware: str


class WeighResult(Frozen):
    op_id: str
    labware: str
    mass_mg: float


# -- instrument descriptions -----------------------------------------------------------------------


InstrumentKind = Literal["liquid_handler", "synthesizer", "plate_reader", "solubility_meter", "lcms", "balance"]


class InstrumentDescription(Frozen):
    name: str
    kind: InstrumentKind
    model: str
    serial: str
    capabilities: tuple[str, ...]
    simulated: bool
    durations_s: dict[str, float] = Field(description="Typical duration of each operation, for scheduling")
    parallel_slots: int = Field(default=1, ge=1, description="Jobs it runs at once (reactors, plate positions)")
    transport: str = "in-process"
