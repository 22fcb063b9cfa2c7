"""Simulated instruments that behave like hardware: they implement ``lab``'s Protocols, track volumes in a
shared ``Inventory``, refuse impossible or unsafe operations before anything moves, fail the way instruments
fail (injected faults roll the inventory back), and measure the ``SimWorld``'s hidden truth with noise.

Every call is appended to ``SimInstrument.calls`` so tests can assert on what happened.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from knowledge.chem import CanonicalStructure, canonicalize
from knowledge.errors import InvalidStructure
from lab.analysis import fit_dose_response, hill_activity
from lab.errors import (
    ConnectionLost,
    InstrumentBusy,
    InstrumentError,
    InstrumentFault,
    InstrumentTimeout,
    InvalidRequest,
    NotReady,
    PhysicalLimitError,
    SetupError,
    SynthesisFailed,
)
from lab.inventory import Inventory
from lab.journal import MemoryOpJournal, OpJournal
from lab.models import (
    AspirateRequest,
    DispenseRequest,
    DoseResponseRequest,
    DoseResponseResult,
    InstrumentDescription,
    InstrumentKind,
    LabSample,
    LCMSRequest,
    LCMSResult,
    LiquidResult,
    Operation,
    ReadingStatus,
    SerialDilutionRequest,
    SolubilityRequest,
    SolubilityResult,
    SynthesisRequest,
    SynthesisResult,
    TransferRequest,
    WeighRequest,
    WeighResult,
    WellSignal,
)
from lab.safety import ApprovalHook, SafetyGate, SafetyLimits
from lab.scheduler import SimClock
from simulators.world import SimWorld, stable_int

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)

FAULT_KINDS = ("timeout", "clog", "busy", "connection_lost")
_FAULT_ERRORS: dict[str, type[InstrumentError]] = {
    "timeout": InstrumentTimeout,
    "clog": InstrumentFault,
    "busy": InstrumentBusy,
    "connection_lost": ConnectionLost,
}
READER_MIN_VOLUME_UL = 20.0
PROTON_MASS = 1.007276


class FaultConfig(BaseModel):
    """Probability of each fault per operation, per instrument name ('*' = every instrument)."""

    model_config = ConfigDict(frozen=True)

    rates: dict[str, dict[str, float]] = Field(default_factory=dict, description="instrument -> fault kind -> p")

    def rate(self, instrument: str, kind: str) -> float:
        return self.rates.get(instrument, {}).get(kind, self.rates.get("*", {}).get(kind, 0.0))


class CallRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    instrument: str
    operation: str
    op_id: str
    status: str  # "ok", "replayed", or the error type
    at_s: float
    detail: str = ""


class SimInstrument:
    """What every simulated instrument shares: set-up guard, journal, safety gate, faults, call log."""

    kind: InstrumentKind  # set by each instrument class
    model: str = ""
    capabilities: tuple[str, ...] = ()
    durations_s: dict[str, float] = {}
    parallel_slots: int = 1

    def __init__(
        self,
        name: str,
        *,
        world: SimWorld,
        inventory: Inventory,
        clock: SimClock,
        limits: SafetyLimits | None = None,
        approval: ApprovalHook | None = None,
        journal: OpJournal | None = None,
        faults: FaultConfig | None = None,
    ) -> None:
        self.name = name
        self.world = world
        self.inventory = inventory
        self.clock = clock
        self.gate = SafetyGate(limits or SafetyLimits(), approval)
        self.journal = journal or MemoryOpJournal()
        self.faults = faults or FaultConfig()
        self.calls: list[CallRecord] = []
        self._ready = False
        self._call_index = 0
        self._forced_faults: list[str] = []

    async def __aenter__(self) -> Self:
        self._ready = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._ready = False

    def describe(self) -> InstrumentDescription:
        return InstrumentDescription(
            name=self.name,
            kind=self.kind,
            model=self.model,
            serial=f"SIM-{stable_int(self.name, self.world.config.seed) % 10**6:06d}",
            capabilities=self.capabilities,
            simulated=True,
            durations_s=dict(self.durations_s),
            parallel_slots=self.parallel_slots,
        )

    def fail_next(self, kind: str) -> None:
        """Make the next operation fail with an injected fault of ``kind`` (for tests)."""
        if kind not in _FAULT_ERRORS:
            raise SetupError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        self._forced_faults.append(kind)

    async def _run(
        self,
        operation_name: str,
        request: Operation,
        result_type: type[R],
        check: Callable[[], None],
        act: Callable[[], R],
    ) -> R:
        """Guard, replay, check safety, approve, then act inside a speculative inventory change."""
        if not self._ready:
            raise NotReady(f"{self.name} is not set up: use it inside `async with`")
        replay = self.journal.get(request)
        if replay is not None:
            self._record(operation_name, request, "replayed")
            return result_type.model_validate(replay)
        self._call_index += 1
        try:
            check()
            await self.gate.approve(self.name, request)
            with self.inventory.speculative():
                result = act()
                self._maybe_fault(operation_name)
        except Exception as error:
            self._record(operation_name, request, type(error).__name__, str(error))
            raise
        self.journal.put(request, result)
        self._record(operation_name, request, "ok")
        return result

    def _maybe_fault(self, operation_name: str) -> None:
        if self._forced_faults:
            kind = self._forced_faults.pop(0)
            raise _FAULT_ERRORS[kind](self.name, f"injected {kind} during {operation_name}")
        rng = self.world.rng("fault", self.name, self._call_index)
        for kind in FAULT_KINDS:
            if rng.random() < self.faults.rate(self.name, kind):
                raise _FAULT_ERRORS[kind](self.name, f"{kind} during {operation_name}")

    def _record(self, operation: str, request: Operation, status: str, detail: str = "") -> None:
        self.calls.append(
            CallRecord(
                instrument=self.name, operation=operation, op_id=request.op_id, status=status, at_s=self.clock.now(), detail=detail
            )
        )

    def _op_rng(self, request: Operation) -> Any:
        return self.world.rng("reading", self.name, request.op_id)


class SimLiquidHandler(SimInstrument):
    kind = "liquid_handler"
    model = "SimLiquidHandler 8-channel"
    capabilities = ("aspirate", "dispense", "transfer", "serial_dilution")
    durations_s = {"aspirate": 10.0, "dispense": 10.0, "transfer": 20.0, "serial_dilution": 240.0}
    tip_capacity_ul = 1000.0

    async def aspirate(self, request: AspirateRequest) -> LiquidResult:
        def check() -> None:
            self.gate.limits.check_volume(request.volume_ul, f"{self.name} aspirate")

        def act() -> LiquidResult:
            self.inventory.aspirate(request.source, request.volume_ul, channel=self.name, tip_capacity_ul=self.tip_capacity_ul)
            return LiquidResult(op_id=request.op_id, moved_ul=request.volume_ul, wells=(str(request.source),))

        return await self._run("aspirate", request, LiquidResult, check, act)

    async def dispense(self, request: DispenseRequest) -> LiquidResult:
        def check() -> None:
            self.gate.limits.check_volume(request.volume_ul, f"{self.name} dispense")

        def act() -> LiquidResult:
            self.inventory.dispense(request.destination, request.volume_ul, channel=self.name)
            return LiquidResult(op_id=request.op_id, moved_ul=request.volume_ul, wells=(str(request.destination),))

        return await self._run("dispense", request, LiquidResult, check, act)

    async def transfer(self, request: TransferRequest) -> LiquidResult:
        def check() -> None:
            self.gate.limits.check_volume(request.volume_ul, f"{self.name} transfer")
            self.gate.limits.check_reagent(request.reagent, f"{self.name} transfer")

        def act() -> LiquidResult:
            self.inventory.transfer(request.source, request.destination, request.volume_ul)
            return LiquidResult(
                op_id=request.op_id, moved_ul=request.volume_ul, wells=(str(request.source), str(request.destination))
            )

        return await self._run("transfer", request, LiquidResult, check, act)

    async def serial_dilution(self, request: SerialDilutionRequest) -> LiquidResult:
        def check() -> None:
            self.gate.limits.check_volume(request.transfer_volume_ul, f"{self.name} serial dilution transfer")
            self.gate.limits.check_volume(request.diluent_volume_ul, f"{self.name} serial dilution diluent")
            diluent = self.inventory.well(request.diluent)
            self.gate.limits.check_reagent(diluent.solvent, f"{self.name} serial dilution diluent")

        def act() -> LiquidResult:
            moved = 0.0
            for well in request.destinations:
                self.inventory.transfer(request.diluent, well, request.diluent_volume_ul)
                moved += request.diluent_volume_ul
            previous = request.source
            for well in request.destinations:
                self.inventory.transfer(previous, well, request.transfer_volume_ul)
                moved += request.transfer_volume_ul
                previous = well
            self.inventory.discard(previous, request.transfer_volume_ul)  # carry-over of the last well to waste
            wells = (str(request.source), *(str(w) for w in request.destinations))
            return LiquidResult(op_id=request.op_id, moved_ul=moved, wells=wells)

        return await self._run("serial_dilution", request, LiquidResult, check, act)


class SimSynthesizer(SimInstrument):
    """Makes a compound: fails with a probability that grows with the synthetic accessibility score."""

    kind = "synthesizer"
    model = "SimSynth flow reactor"
    capabilities = ("synthesize",)
    durations_s = {"synthesize": 4 * 3600.0}
    parallel_slots = 8  # reactors

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        structure = structure_of(request.smiles)

        def check() -> None:
            self.gate.limits.check_temperature(request.temperature_c, f"{self.name} synthesis")
            self.gate.limits.check_reagent(request.solvent, f"{self.name} synthesis solvent")
            self.gate.limits.check_volume(request.volume_ul, f"{self.name} product solution")
            well = self.inventory.well(request.destination)
            if well.volume_ul > 0:
                raise PhysicalLimitError(f"{request.destination} is not empty ({well.volume_ul:g} µL)")
            if request.volume_ul > well.capacity_ul:
                raise PhysicalLimitError(f"{request.volume_ul:g} µL does not fit into {request.destination} ({well.capacity_ul:g} µL)")

        def act() -> SynthesisResult:
            rng = self._op_rng(request)
            difficulty = synthetic_accessibility(structure.smiles)
            p_fail = synthesis_failure_probability(difficulty)
            if rng.random() < p_fail:
                raise SynthesisFailed(structure.smiles, f"no product isolated (synthetic accessibility {difficulty:.1f})")
            yield_fraction = float(min(max(rng.normal(0.75 - 0.08 * (difficulty - 2.0), 0.12), 0.02), 0.98))
            purity = float(min(max(rng.normal(0.97 - 0.02 * (difficulty - 2.0), 0.02), 0.5), 1.0))
            product_nmol = request.scale_umol * 1000.0 * yield_fraction
            impurity_nmol = product_nmol * (1.0 - purity) / purity
            self.inventory.add_liquid(
                request.destination,
                request.volume_ul,
                solvent=request.solvent,
                solutes_nmol={structure.inchikey: product_nmol, f"impurity:{structure.inchikey}": impurity_nmol},
            )
            sample = LabSample(
                smiles=structure.smiles,
                location=request.destination,
                amount_umol=product_nmol / 1000.0,
                volume_ul=request.volume_ul,
                purity=purity,
            )
            return SynthesisResult(op_id=request.op_id, sample=sample, yield_pct=100.0 * yield_fraction)

        return await self._run("synthesize", request, SynthesisResult, check, act)


class SimLCMS(SimInstrument):
    kind = "lcms"
    model = "SimLCMS single quad"
    capabilities = ("analyze",)
    durations_s = {"analyze": 600.0}

    async def analyze(self, request: LCMSRequest) -> LCMSResult:
        expected = structure_of(request.expected_smiles)

        def check() -> None:
            self.gate.limits.check_volume(request.volume_ul, f"{self.name} injection")

        def act() -> LCMSResult:
            well = self.inventory.well(request.sample)
            self.inventory.discard(request.sample, request.volume_ul)
            rng = self._op_rng(request)
            product = well.solutes_nmol.get(expected.inchikey, 0.0)
            total = sum(well.solutes_nmol.values())
            if total <= 0:
                return LCMSResult(op_id=request.op_id, purity_pct=0.0, identity_confirmed=False, observed_mz=None)
            purity = float(min(max(100.0 * product / total + rng.normal(0.0, 1.0), 0.0), 100.0))
            found = product > 0
            mz = expected.monoisotopic_mass + PROTON_MASS + float(rng.normal(0.0, 0.05)) if found else None
            return LCMSResult(op_id=request.op_id, purity_pct=purity, identity_confirmed=found, observed_mz=mz)

        return await self._run("analyze", request, LCMSResult, check, act)


class SimPlateReader(SimInstrument):
    """Reads % activity per well of a dilution series and fits the IC50 (BACE-1 potency from the world)."""

    kind = "plate_reader"
    model = "SimReader fluorescence"
    capabilities = ("read_dose_response",)
    durations_s = {"read_dose_response": 1800.0}

    async def read_dose_response(self, request: DoseResponseRequest) -> DoseResponseResult:
        compound = structure_of(request.smiles)

        def check() -> None:
            if len(request.wells) != len(request.concentrations_um):
                raise SetupError("one nominal concentration per well is needed")
            for ref in request.wells:
                well = self.inventory.well(ref)
                if well.volume_ul < READER_MIN_VOLUME_UL:
                    raise PhysicalLimitError(f"{ref} holds {well.volume_ul:g} µL; the reader needs {READER_MIN_VOLUME_UL:g} µL")

        def act() -> DoseResponseResult:
            rng = self._op_rng(request)
            config = self.world.config
            true_pic50 = self.world.true_value(compound.smiles, "pIC50")
            # one assay's potency: truth + biological/assay noise + drift; the curve fit adds its own small error
            assay_pic50 = true_pic50 + rng.normal(0.0, 0.97 * self.world.noise_sd("pIC50")) + self.world.drift("pIC50", self.clock.now())
            ic50_um = 10.0 ** (6.0 - assay_pic50)
            signals = []
            for ref, nominal in zip(request.wells, request.concentrations_um, strict=True):
                well = self.inventory.well(ref)
                actual_um = 1000.0 * well.concentration_mm(compound.inchikey)  # what is really in the well
                activity = hill_activity(actual_um, ic50_um, 1.0) if actual_um > 0 else 100.0
                if self.inventory.labware_type(ref.labware).is_edge(ref.well):
                    activity *= 1.0 - config.edge_effect_pct / 100.0
                activity += rng.normal(0.0, config.plate_signal_noise_pct)
                signals.append(WellSignal(well=str(ref), concentration_um=nominal, signal=float(min(max(activity, -5.0), 110.0))))
            fit = fit_dose_response(request.concentrations_um, [s.signal for s in signals])
            return DoseResponseResult(
                op_id=request.op_id,
                smiles=compound.smiles,
                target=request.target,
                signals=tuple(signals),
                ic50_um=fit.ic50_um,
                pic50=fit.pic50,
                pic50_sd=math.hypot(fit.pic50_sd, self.world.noise_sd("pIC50")),
                hill=fit.hill,
                status=fit.status,
            )

        return await self._run("read_dose_response", request, DoseResponseResult, check, act)


class SimSolubilityMeter(SimInstrument):
    """Kinetic solubility by nephelometry: the stock is diluted 1:20 into buffer, so the highest logS it can
    report is the log of that concentration (status ``above_range``); below 0.1 µM it reports ``below_range``."""

    kind = "solubility_meter"
    model = "SimNephelometer"
    capabilities = ("measure_solubility",)
    durations_s = {"measure_solubility": 2 * 3600.0}
    parallel_slots = 4  # plate positions
    stock_dilution = 20.0
    detection_limit_log_s = math.log10(1e-7)

    async def measure_solubility(self, request: SolubilityRequest) -> SolubilityResult:
        compound = structure_of(request.smiles)

        def check() -> None:
            self.gate.limits.check_volume(request.volume_ul, f"{self.name} sample")
            well = self.inventory.well(request.sample)
            if well.volume_ul < request.volume_ul:
                raise PhysicalLimitError(f"{request.sample} holds {well.volume_ul:g} µL; the assay takes {request.volume_ul:g} µL")

        def act() -> SolubilityResult:
            well = self.inventory.well(request.sample)
            self.inventory.discard(request.sample, request.volume_ul)
            rng = self._op_rng(request)
            sd = self.world.noise_sd("logS")
            reading = self.world.true_value(compound.smiles, "logS") + rng.normal(0.0, sd) + self.world.drift("logS", self.clock.now())
            stock_m = well.concentration_mm(compound.inchikey) / 1000.0
            if stock_m <= 0:
                return SolubilityResult(op_id=request.op_id, smiles=compound.smiles, log_s=self.detection_limit_log_s, log_s_sd=sd, status="below_range")
            ceiling = math.log10(stock_m / self.stock_dilution)
            status: ReadingStatus = "ok"
            if reading >= ceiling:
                reading, status = ceiling, "above_range"
            elif reading <= self.detection_limit_log_s:
                reading, status = self.detection_limit_log_s, "below_range"
            return SolubilityResult(op_id=request.op_id, smiles=compound.smiles, log_s=float(reading), log_s_sd=sd, status=status)

        return await self._run("measure_solubility", request, SolubilityResult, check, act)


class SimBalance(SimInstrument):
    kind = "balance"
    model = "SimBalance 0.01 mg"
    capabilities = ("weigh",)
    durations_s = {"weigh": 30.0}
    density_mg_per_ul = {"DMSO": 1.10, "water": 1.0, "buffer": 1.0}

    async def weigh(self, request: WeighRequest) -> WeighResult:
        def check() -> None:
            self.inventory.labware_type(request.labware)

        def act() -> WeighResult:
            kind = self.inventory.labware_type(request.labware)
            liquid = sum(w.volume_ul * self.density_mg_per_ul.get(w.solvent or "water", 1.0) for w in self.inventory.wells(request.labware))
            mass = kind.empty_mass_mg + liquid + float(self._op_rng(request).normal(0.0, 0.01))
            return WeighResult(op_id=request.op_id, labware=request.labware, mass_mg=mass)

        return await self._run("weigh", request, WeighResult, check, act)


def synthesis_failure_probability(sa_score: float) -> float:
    """2 % for easy molecules, rising steeply past SA 6 (about 5 % at 5, 18 % at 6, 46 % at 7, 60 % at most)."""
    return 0.02 + 0.6 / (1.0 + math.exp(-(sa_score - 6.5) / 0.5))


def structure_of(smiles: str) -> CanonicalStructure:
    """The request's structure, or ``InvalidRequest`` (the same error on every transport)."""
    try:
        return canonicalize(smiles)
    except InvalidStructure as error:
        raise InvalidRequest(str(error)) from error


def synthetic_accessibility(smiles: str) -> float:
    """Ertl & Schuffenhauer's SA score (1 easy .. 10 hard), from RDKit's Contrib."""
    import os
    import sys

    from rdkit import Chem, RDConfig

    contrib = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if contrib not in sys.path:
        sys.path.append(contrib)
    import sascorer

    return float(sascorer.calculateScore(Chem.MolFromSmiles(smiles)))


__all__ = [
    "CallRecord",
    "FaultConfig",
    "SimBalance",
    "SimInstrument",
    "SimLCMS",
    "SimLiquidHandler",
    "SimPlateReader",
    "SimSolubilityMeter",
    "SimSynthesizer",
    "synthetic_accessibility",
]
