"""Assay recipes: the protocols a campaign runs, built from steps on the instruments of a ``LabInstruments``.

    potency:    synthesize -> LC-MS QC -> intermediate dilution -> serial dilution -> dose-response read
    solubility: synthesize -> LC-MS QC -> kinetic solubility

Recipes work through the ``lab`` Protocols only, so the same recipe drives simulated instruments, instruments
behind SiLA 2, or real ones. Every operation's ``op_id`` is derived from the protocol's id and the step, so a
resumed run replays instead of repeating.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from knowledge.store import NewMeasurement
from lab.errors import MeasurementRejected, PhysicalLimitError
from lab.inventory import Inventory
from lab.models import (
    DoseResponseRequest,
    DoseResponseResult,
    LCMSRequest,
    LCMSResult,
    SerialDilutionRequest,
    SolubilityRequest,
    SolubilityResult,
    SynthesisRequest,
    SynthesisResult,
    TransferRequest,
    WellRef,
)
from lab.protocols import LCMS, Balance, LiquidHandler, PlateReader, SolubilityMeter, Synthesizer
from lab.scheduler import LabProtocol, ProtocolStep

Assay = Literal["potency", "solubility"]
ASSAYS: tuple[Assay, ...] = ("potency", "solubility")


@dataclass(frozen=True)
class LabInstruments:
    """The instruments a recipe may use, typed by Protocol."""

    liquid_handler: LiquidHandler
    synthesizer: Synthesizer
    plate_reader: PlateReader
    solubility_meter: SolubilityMeter
    lcms: LCMS
    balance: Balance

    def all(self) -> list[Any]:
        return [self.liquid_handler, self.synthesizer, self.plate_reader, self.solubility_meter, self.lcms, self.balance]

    def durations(self) -> dict[str, dict[str, float]]:
        return {d.name: d.durations_s for d in (i.describe() for i in self.all())}

    def slots(self) -> dict[str, int]:
        return {d.name: d.parallel_slots for d in (i.describe() for i in self.all())}


class RecipeSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    scale_umol: float = 10.0
    stock_volume_ul: float = 1000.0
    min_purity_pct: float = Field(default=80.0, description="LC-MS purity below this fails QC")
    intermediate_stock_ul: float = 12.0
    intermediate_total_ul: float = 300.0
    dilution_points: int = 11
    transfer_volume_ul: float = 60.0
    diluent_volume_ul: float = 130.0
    target: str = "BACE1"


class LabMeasurement(BaseModel):
    """One value a recipe measured, ready to be recorded in the knowledge store."""

    model_config = ConfigDict(frozen=True)

    smiles: str
    property: Literal["pIC50", "logS", "purity"]
    value: float
    uncertainty: float | None
    unit: str
    status: str = Field(description="ok, below_range, above_range")
    op_id: str
    instrument: str
    conditions: dict[str, Any] = Field(default_factory=dict)

    def to_new_measurement(
        self,
        *,
        source: Literal["measured", "simulated"],
        provenance: dict[str, Any],
        prediction_id: int | None = None,
        tool_call_id: int | None = None,
        campaign_id: str | None = None,
    ) -> NewMeasurement:
        """The knowledge store's input for this reading: censored readings are stored, QC-flagged."""
        return NewMeasurement(
            smiles=self.smiles,
            property=self.property,
            value=self.value,
            uncertainty=self.uncertainty,
            source=source,
            qc_status="passed" if self.status == "ok" else "flagged",
            instrument=self.instrument,
            conditions={**self.conditions, "status": self.status},
            provenance=provenance,
            op_id=self.op_id,
            prediction_id=prediction_id,
            tool_call_id=tool_call_id,
            campaign_id=campaign_id,
        )


class WellAllocator:
    """Hands out empty vials and plate wells, never the same one twice.

    Labware is used in natural order (plate-2 before plate-10); a cursor skips labware already used up, so
    allocation stays cheap on a large deck.
    """

    def __init__(self, inventory: Inventory, vial_prefix: str = "vial-", plate_prefix: str = "plate-") -> None:
        self._inventory = inventory
        names = sorted(inventory.labware(), key=_natural)
        self._vials = [name for name in names if name.startswith(vial_prefix)]
        self._plates = [name for name in names if name.startswith(plate_prefix)]
        self._vial_cursor = 0
        self._plate_cursor = 0
        self._taken: set[str] = set()
        self.by_key: dict[str, list[WellRef]] = {}  # what each key was given: asking again gives the same

    def vial(self, key: str | None = None) -> WellRef:
        """An empty vial; with ``key``, the same vial every time that key asks (a re-run protocol replays)."""
        if key is not None and key in self.by_key:
            return self.by_key[key][0]
        while self._vial_cursor < len(self._vials):
            ref = WellRef(labware=self._vials[self._vial_cursor], well="A1")
            self._vial_cursor += 1
            if str(ref) not in self._taken and self._inventory.well(ref).volume_ul == 0:
                self._taken.add(str(ref))
                if key is not None:
                    self.by_key[key] = [ref]
                return ref
        raise PhysicalLimitError("no empty vial left on the deck")

    def wells(self, count: int, key: str | None = None) -> list[WellRef]:
        """``count`` empty wells of one plate, in row order (one dilution series stays on one plate)."""
        if key is not None and key in self.by_key:
            return list(self.by_key[key])
        for index in range(self._plate_cursor, len(self._plates)):
            free = [w for w in self._inventory.free_wells(self._plates[index]) if str(w) not in self._taken]
            if not free and index == self._plate_cursor:
                self._plate_cursor += 1
            if len(free) >= count:
                chosen = free[:count]
                self._taken.update(str(w) for w in chosen)
                if key is not None:
                    self.by_key[key] = list(chosen)
                return chosen
        raise PhysicalLimitError(f"no plate on the deck has {count} empty wells left")


def _natural(name: str) -> tuple[str, int]:
    stem = name.rstrip("0123456789")
    digits = name[len(stem):]
    return stem, int(digits) if digits else 0


def characterize_protocol(
    protocol_id: str,
    smiles: str,
    assays: Sequence[Assay],
    instruments: LabInstruments,
    allocator: WellAllocator,
    diluent: WellRef,
    settings: RecipeSettings | None = None,
    priority: int = 0,
) -> LabProtocol:
    """Make ``smiles``, check it by LC-MS, and run the requested assays on it.

    The step results hold the instrument results; ``measurements_of(outcome.results)`` turns them into
    ``LabMeasurement``s.
    """
    settings = settings or RecipeSettings()
    names = {i: i.describe().name for i in instruments.all()}
    vial = allocator.vial(key=f"{protocol_id}:vial")
    steps: list[ProtocolStep] = []

    async def synthesize(_: dict[str, Any]) -> SynthesisResult:
        return await instruments.synthesizer.synthesize(
            SynthesisRequest(
                op_id=f"{protocol_id}:synthesize",
                smiles=smiles,
                scale_umol=settings.scale_umol,
                destination=vial,
                volume_ul=settings.stock_volume_ul,
            )
        )

    async def qc(results: dict[str, Any]) -> LCMSResult:
        result = await instruments.lcms.analyze(
            LCMSRequest(op_id=f"{protocol_id}:lcms", sample=vial, expected_smiles=results["synthesize"].sample.smiles)
        )
        if not result.identity_confirmed or result.purity_pct < settings.min_purity_pct:
            raise MeasurementRejected(
                f"{smiles}: LC-MS QC failed (identity {'confirmed' if result.identity_confirmed else 'not found'}, "
                f"purity {result.purity_pct:.0f}% < {settings.min_purity_pct:.0f}%)"
            )
        return result

    steps.append(ProtocolStep("synthesize", names[instruments.synthesizer], "synthesize", synthesize))
    steps.append(ProtocolStep("lcms", names[instruments.lcms], "analyze", qc))

    if "potency" in assays:
        wells = allocator.wells(settings.dilution_points + 1, key=f"{protocol_id}:plate")
        intermediate, series = wells[0], tuple(wells[1:])
        dilution = SerialDilutionRequest(
            op_id=f"{protocol_id}:serial-dilution",
            source=intermediate,
            destinations=series,
            diluent=diluent,
            transfer_volume_ul=settings.transfer_volume_ul,
            diluent_volume_ul=settings.diluent_volume_ul,
        )

        async def prepare(_: dict[str, Any]) -> Any:
            await instruments.liquid_handler.transfer(
                TransferRequest(
                    op_id=f"{protocol_id}:intermediate-buffer",
                    source=diluent,
                    destination=intermediate,
                    volume_ul=settings.intermediate_total_ul - settings.intermediate_stock_ul,
                    reagent="assay buffer",
                )
            )
            await instruments.liquid_handler.transfer(
                TransferRequest(
                    op_id=f"{protocol_id}:intermediate-stock",
                    source=vial,
                    destination=intermediate,
                    volume_ul=settings.intermediate_stock_ul,
                )
            )
            return await instruments.liquid_handler.serial_dilution(dilution)

        async def read(results: dict[str, Any]) -> DoseResponseResult:
            stock_um = 1000.0 * results["synthesize"].sample.concentration_mm
            top = stock_um * settings.intermediate_stock_ul / settings.intermediate_total_ul
            concentrations = tuple(top / dilution.dilution_factor ** (k + 1) for k in range(len(series)))
            return await instruments.plate_reader.read_dose_response(
                DoseResponseRequest(
                    op_id=f"{protocol_id}:dose-response",
                    smiles=results["synthesize"].sample.smiles,
                    target=settings.target,
                    wells=series,
                    concentrations_um=concentrations,
                )
            )

        steps.append(ProtocolStep("dilute", names[instruments.liquid_handler], "serial_dilution", prepare))
        steps.append(ProtocolStep("potency", names[instruments.plate_reader], "read_dose_response", read))

    if "solubility" in assays:

        async def solubility(results: dict[str, Any]) -> SolubilityResult:
            return await instruments.solubility_meter.measure_solubility(
                SolubilityRequest(op_id=f"{protocol_id}:solubility", sample=vial, smiles=results["synthesize"].sample.smiles)
            )

        steps.append(ProtocolStep("solubility", names[instruments.solubility_meter], "measure_solubility", solubility))

    return LabProtocol(name=protocol_id, steps=tuple(steps), priority=priority)


def measurements_of(results: dict[str, Any], instruments: LabInstruments) -> list[LabMeasurement]:
    """The measured values in a protocol's step results."""
    out: list[LabMeasurement] = []
    lcms: LCMSResult | None = results.get("lcms")
    synthesis: SynthesisResult | None = results.get("synthesize")
    if lcms is not None and synthesis is not None:
        out.append(
            LabMeasurement(
                smiles=synthesis.sample.smiles,
                property="purity",
                value=lcms.purity_pct,
                uncertainty=1.0,
                unit="%",
                status="ok",
                op_id=lcms.op_id,
                instrument=instruments.lcms.describe().name,
            )
        )
    potency: DoseResponseResult | None = results.get("potency")
    if potency is not None:
        out.append(
            LabMeasurement(
                smiles=potency.smiles,
                property="pIC50",
                value=potency.pic50,
                uncertainty=potency.pic50_sd,
                unit="-log10(mol/L)",
                status=potency.status,
                op_id=potency.op_id,
                instrument=instruments.plate_reader.describe().name,
                conditions={"target": potency.target, "hill": round(potency.hill, 3), "ic50_um": potency.ic50_um},
            )
        )
    solubility: SolubilityResult | None = results.get("solubility")
    if solubility is not None:
        out.append(
            LabMeasurement(
                smiles=solubility.smiles,
                property="logS",
                value=solubility.log_s,
                uncertainty=solubility.log_s_sd,
                unit="log10(mol/L)",
                status=solubility.status,
                op_id=solubility.op_id,
                instrument=instruments.solubility_meter.describe().name,
                conditions={"method": "kinetic, nephelometry"},
            )
        )
    return out
