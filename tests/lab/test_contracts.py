"""One contract suite per instrument Protocol, run against the in-process simulator and over SiLA 2."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from lab.errors import ConnectionLost, InstrumentBusy, InstrumentFault, InstrumentTimeout, InvalidRequest, NotReady, PhysicalLimitError, SafetyViolation
from lab.models import (
    AspirateRequest,
    DispenseRequest,
    DoseResponseRequest,
    LCMSRequest,
    SerialDilutionRequest,
    SolubilityRequest,
    SynthesisRequest,
    TransferRequest,
    WeighRequest,
    WellRef,
)
from lab.protocols import LCMS, Balance, LiquidHandler, PlateReader, SolubilityMeter, Synthesizer
from lab.recipes import LabInstruments
from simulators.lab import SimLab
from simulators.runner import free_loopback_port
from simulators.world import SimWorld

KINDS = ("liquid_handler", "synthesizer", "plate_reader", "solubility_meter", "lcms", "balance")
VIAL, PLATE = WellRef(labware="vial-1"), "plate-1"
BACE_POTENT = "Cc1ccccc1-c1ccc2nc(N)c(C[C@@H](C)C(=O)N[C@@H]3CCOC(C)(C)C3)cc2c1"  # BACE_1, pIC50 9.15


@dataclass
class LabUnderTest:
    lab: SimLab
    instruments: LabInstruments  # what the test drives: in-process or SiLA 2 clients
    transport: str

    def run(self, coroutine: Any) -> Any:
        return asyncio.run(coroutine)

    def make_stock(self, smiles: str = BACE_POTENT, vial: WellRef = VIAL) -> Any:
        """A synthesized stock, made in-process (the setup of a test, not what it tests)."""
        return self.run(self.lab.instruments.synthesizer.synthesize(SynthesisRequest(op_id=f"stock-{vial}", smiles=smiles, destination=vial)))


@pytest.fixture(params=["in-process", "sila2"])
def lut(request: pytest.FixtureRequest, world: SimWorld) -> Iterator[LabUnderTest]:
    from lab.sila import SilaInstrumentClient, SilaInstrumentServer

    lab = SimLab(world=world)
    asyncio.run(lab.__aenter__())
    if request.param == "in-process":
        yield LabUnderTest(lab, lab.instruments, "in-process")
        return
    servers, clients = [], {}
    try:
        for kind in KINDS:
            port = free_loopback_port()
            server = SilaInstrumentServer(getattr(lab.instruments, kind), port=port)
            server.start()
            servers.append(server)
            client = SilaInstrumentClient(kind, port=port)
            client.connect()
            clients[kind] = client
        yield LabUnderTest(lab, replace(lab.instruments, **clients), "sila2")
    finally:
        for client in clients.values():
            client.close()
        for server in servers:
            server.stop()


def _snapshot(lab: SimLab) -> Any:
    return [lab.inventory.wells(labware) for labware in ("buffer", PLATE, "vial-1", "vial-2")], lab.inventory.waste_ul


# -- every instrument ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_describes_itself_and_satisfies_its_protocol(lut: LabUnderTest, kind: str) -> None:
    instrument = getattr(lut.instruments, kind)
    protocol = {"liquid_handler": LiquidHandler, "synthesizer": Synthesizer, "plate_reader": PlateReader, "solubility_meter": SolubilityMeter, "lcms": LCMS, "balance": Balance}[kind]
    assert isinstance(instrument, protocol)
    description = instrument.describe()
    assert description.kind == kind
    assert description.simulated is True
    assert description.transport == lut.transport
    assert description.durations_s and all(v > 0 for v in description.durations_s.values())


def test_not_set_up_is_not_ready(world: SimWorld) -> None:
    lab = SimLab(world=world)
    with pytest.raises(NotReady):
        asyncio.run(lab.instruments.balance.weigh(WeighRequest(op_id="w", labware="vial-1")))


# -- liquid handler -----------------------------------------------------------------------------------


def test_transfer_moves_liquid_once_per_op_id(lut: LabUnderTest) -> None:
    handler = lut.instruments.liquid_handler
    request = TransferRequest(op_id="t1", source=lut.lab.buffer, destination=WellRef(labware=PLATE, well="A1"), volume_ul=150, reagent="assay buffer")
    first = lut.run(handler.transfer(request))
    again = lut.run(handler.transfer(request))
    assert first == again
    assert lut.lab.inventory.well(WellRef(labware=PLATE, well="A1")).volume_ul == pytest.approx(150)


@pytest.mark.parametrize("operation", ["dispense", "transfer"])
def test_five_ml_into_a_96_well_plate_is_refused_and_nothing_moves(lut: LabUnderTest, operation: str) -> None:
    handler = lut.instruments.liquid_handler
    lut.run(handler.aspirate(AspirateRequest(op_id="fill-tip", source=lut.lab.buffer, volume_ul=500)))
    before = _snapshot(lut.lab), lut.lab.inventory.tip_volume_ul("liquid-handler")
    well = WellRef(labware=PLATE, well="A1")
    with pytest.raises(SafetyViolation, match="5000 µL is above the hard limit"):
        if operation == "dispense":
            lut.run(handler.dispense(DispenseRequest(op_id="big", destination=well, volume_ul=5000)))
        else:
            lut.run(handler.transfer(TransferRequest(op_id="big", source=lut.lab.buffer, destination=well, volume_ul=5000)))
    assert (_snapshot(lut.lab), lut.lab.inventory.tip_volume_ul("liquid-handler")) == before
    assert lut.lab.inventory.well(well).volume_ul == 0


def test_overfilling_a_well_is_refused_and_nothing_moves(lut: LabUnderTest) -> None:
    handler = lut.instruments.liquid_handler
    lut.run(handler.transfer(TransferRequest(op_id="f1", source=lut.lab.buffer, destination=WellRef(labware=PLATE, well="A1"), volume_ul=250)))
    before = _snapshot(lut.lab)
    with pytest.raises(PhysicalLimitError, match="does not fit"):
        lut.run(handler.transfer(TransferRequest(op_id="f2", source=lut.lab.buffer, destination=WellRef(labware=PLATE, well="A1"), volume_ul=100)))
    assert _snapshot(lut.lab) == before


def test_reagents_off_the_allow_list_are_refused(lut: LabUnderTest) -> None:
    with pytest.raises(SafetyViolation, match="allow-list"):
        lut.run(lut.instruments.liquid_handler.transfer(TransferRequest(op_id="acetone", source=lut.lab.buffer, destination=WellRef(labware=PLATE, well="A1"), volume_ul=10, reagent="acetone")))


def test_aspirate_then_dispense_and_dispensing_more_than_the_tip_holds(lut: LabUnderTest) -> None:
    handler = lut.instruments.liquid_handler
    lut.run(handler.aspirate(AspirateRequest(op_id="a1", source=lut.lab.buffer, volume_ul=100)))
    lut.run(handler.dispense(DispenseRequest(op_id="d1", destination=WellRef(labware=PLATE, well="B1"), volume_ul=60)))
    with pytest.raises(PhysicalLimitError, match="holds 40"):
        lut.run(handler.dispense(DispenseRequest(op_id="d2", destination=WellRef(labware=PLATE, well="B2"), volume_ul=60)))
    assert lut.lab.inventory.well(WellRef(labware=PLATE, well="B1")).volume_ul == pytest.approx(60)


def test_serial_dilution_gives_the_designed_concentrations(lut: LabUnderTest) -> None:
    stock = lut.make_stock()
    source = WellRef(labware=PLATE, well="A1")
    lut.run(lut.lab.instruments.liquid_handler.transfer(TransferRequest(op_id="s", source=VIAL, destination=source, volume_ul=200)))
    series = tuple(WellRef(labware=PLATE, well=f"A{k}") for k in range(2, 7))
    request = SerialDilutionRequest(op_id="sd", source=source, destinations=series, diluent=lut.lab.buffer, transfer_volume_ul=50, diluent_volume_ul=100)
    lut.run(lut.instruments.liquid_handler.serial_dilution(request))
    key = lut.lab.world.dataset("pIC50") and __import__("knowledge.chem", fromlist=["canonicalize"]).canonicalize(BACE_POTENT).inchikey
    for k, well in enumerate(series, start=1):
        view = lut.lab.inventory.well(well)
        assert view.volume_ul == pytest.approx(100)
        assert view.concentration_mm(key) == pytest.approx(stock.sample.concentration_mm / 3**k, rel=1e-9)


# -- synthesizer, LC-MS, balance -----------------------------------------------------------------------------


def test_synthesis_makes_a_sample_in_the_vial(lut: LabUnderTest) -> None:
    result = lut.run(lut.instruments.synthesizer.synthesize(SynthesisRequest(op_id="syn", smiles="OC(=O)c1ccccc1OC(C)=O", destination=VIAL)))
    assert result.sample.smiles == "CC(=O)Oc1ccccc1C(=O)O"
    assert 0 < result.sample.amount_umol <= 10
    assert 0.5 <= result.sample.purity <= 1
    assert result.yield_pct == pytest.approx(100 * result.sample.amount_umol / 10)
    assert lut.lab.inventory.well(VIAL).volume_ul == pytest.approx(1000)
    assert lut.run(lut.instruments.synthesizer.synthesize(SynthesisRequest(op_id="syn", smiles="OC(=O)c1ccccc1OC(C)=O", destination=VIAL))) == result


def test_synthesis_refuses_bad_input_before_anything_moves(lut: LabUnderTest) -> None:
    synthesizer = lut.instruments.synthesizer
    with pytest.raises(InvalidRequest):
        lut.run(synthesizer.synthesize(SynthesisRequest(op_id="bad", smiles="C1CC", destination=VIAL)))
    with pytest.raises(SafetyViolation, match="°C"):
        lut.run(synthesizer.synthesize(SynthesisRequest(op_id="hot", smiles="CCO", destination=VIAL, temperature_c=400)))
    lut.make_stock("CCO")
    with pytest.raises(PhysicalLimitError, match="not empty"):
        lut.run(synthesizer.synthesize(SynthesisRequest(op_id="full", smiles="CCO", destination=VIAL)))


def test_lcms_reports_purity_and_identity(lut: LabUnderTest) -> None:
    stock = lut.make_stock()
    result = lut.run(lut.instruments.lcms.analyze(LCMSRequest(op_id="ms", sample=VIAL, expected_smiles=BACE_POTENT)))
    assert result.identity_confirmed
    assert result.purity_pct == pytest.approx(100 * stock.sample.purity, abs=5)
    assert result.observed_mz == pytest.approx(432.2646, abs=0.2)  # [M+H]+ of C27H33N3O2, monoisotopic
    wrong = lut.run(lut.instruments.lcms.analyze(LCMSRequest(op_id="ms2", sample=VIAL, expected_smiles="CCO")))
    assert not wrong.identity_confirmed and wrong.observed_mz is None
    assert lut.lab.inventory.well(VIAL).volume_ul == pytest.approx(996)


def test_balance_weighs_the_liquid(lut: LabUnderTest) -> None:
    empty = lut.run(lut.instruments.balance.weigh(WeighRequest(op_id="w0", labware="vial-2")))
    lut.make_stock("CCO", vial=WellRef(labware="vial-2"))
    full = lut.run(lut.instruments.balance.weigh(WeighRequest(op_id="w1", labware="vial-2")))
    assert full.mass_mg - empty.mass_mg == pytest.approx(1000 * 1.10, abs=0.1)  # 1 mL of DMSO


# -- plate reader and solubility meter ------------------------------------------------------------------------


def _dilution_series(lut: LabUnderTest, op: str) -> tuple[tuple[WellRef, ...], tuple[float, ...]]:
    stock = lut.make_stock()
    wells = lut.lab.allocator.wells(12)
    handler = lut.lab.instruments.liquid_handler
    lut.run(handler.transfer(TransferRequest(op_id=f"{op}-b", source=lut.lab.buffer, destination=wells[0], volume_ul=288)))
    lut.run(handler.transfer(TransferRequest(op_id=f"{op}-s", source=VIAL, destination=wells[0], volume_ul=12)))
    request = SerialDilutionRequest(op_id=f"{op}-sd", source=wells[0], destinations=tuple(wells[1:]), diluent=lut.lab.buffer, transfer_volume_ul=60, diluent_volume_ul=130)
    lut.run(handler.serial_dilution(request))
    top = 1000 * stock.sample.concentration_mm * 12 / 300
    return tuple(wells[1:]), tuple(top / request.dilution_factor ** (k + 1) for k in range(11))


def test_dose_response_measures_the_truth_within_its_noise(lut: LabUnderTest) -> None:
    wells, concentrations = _dilution_series(lut, "dr")
    request = DoseResponseRequest(op_id="read", smiles=BACE_POTENT, wells=wells, concentrations_um=concentrations)
    result = lut.run(lut.instruments.plate_reader.read_dose_response(request))
    assert result.status == "ok"
    assert abs(result.pic50 - 9.1549015) < 4 * result.pic50_sd
    assert result.pic50_sd == pytest.approx(0.3, abs=0.1)
    assert len(result.signals) == 11
    assert result.signals[0].signal < 20 < 40 < result.signals[-1].signal  # inhibited at the top, much less at the bottom
    assert lut.run(lut.instruments.plate_reader.read_dose_response(request)) == result


def test_dose_response_needs_liquid_in_the_wells(lut: LabUnderTest) -> None:
    wells = tuple(WellRef(labware="plate-2", well=f"H{k}") for k in range(1, 7))
    with pytest.raises(PhysicalLimitError, match="the reader needs"):
        lut.run(lut.instruments.plate_reader.read_dose_response(DoseResponseRequest(op_id="empty", smiles=BACE_POTENT, wells=wells, concentrations_um=(1, 2, 3, 4, 5, 6))))


def test_solubility_consumes_sample_and_reports_a_log_value(lut: LabUnderTest) -> None:
    lut.make_stock("CCCCCCCCCCCCCCCC")  # hexadecane: logS far below the stock's ceiling
    result = lut.run(lut.instruments.solubility_meter.measure_solubility(SolubilityRequest(op_id="sol", sample=VIAL, smiles="CCCCCCCCCCCCCCCC")))
    truth = lut.lab.world.true_value("CCCCCCCCCCCCCCCC", "logS")
    assert result.status in ("ok", "below_range")
    assert abs(result.log_s - truth) < 4 * 0.5 or result.status == "below_range"
    assert result.log_s_sd == pytest.approx(0.5)
    assert lut.lab.inventory.well(VIAL).volume_ul == pytest.approx(990)


def test_solubility_reports_the_ceiling_for_very_soluble_compounds(lut: LabUnderTest) -> None:
    stock = lut.make_stock("OCC(O)CO")  # glycerol
    result = lut.run(lut.instruments.solubility_meter.measure_solubility(SolubilityRequest(op_id="sol", sample=VIAL, smiles="OCC(O)CO")))
    assert result.status == "above_range"
    assert result.log_s == pytest.approx(math.log10(stock.sample.concentration_mm / 1000 / 20))


# -- faults -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "error"), [("timeout", InstrumentTimeout), ("clog", InstrumentFault), ("busy", InstrumentBusy), ("connection_lost", ConnectionLost)])
def test_each_fault_is_typed_and_rolls_the_inventory_back(lut: LabUnderTest, fault: str, error: type[Exception]) -> None:
    lut.make_stock()
    before = _snapshot(lut.lab)
    lut.lab.instruments.liquid_handler.fail_next(fault)
    request = TransferRequest(op_id="faulty", source=VIAL, destination=WellRef(labware=PLATE, well="C3"), volume_ul=100)
    with pytest.raises(error) as caught:
        lut.run(lut.instruments.liquid_handler.transfer(request))
    assert caught.value.instrument == "liquid-handler"
    assert _snapshot(lut.lab) == before
    # the same op_id runs once the fault has cleared: nothing was journaled for the failed attempt
    lut.run(lut.instruments.liquid_handler.transfer(request))
    assert lut.lab.inventory.well(WellRef(labware=PLATE, well="C3")).volume_ul == pytest.approx(100)
    statuses = [c.status for c in lut.lab.instruments.liquid_handler.calls if c.op_id == "faulty"]
    assert statuses == [error.__name__, "ok"]
