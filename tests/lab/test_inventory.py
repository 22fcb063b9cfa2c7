from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.errors import PhysicalLimitError, SetupError
from lab.inventory import Inventory
from lab.models import WellRef

A1, A2, B1 = WellRef(labware="p", well="A1"), WellRef(labware="p", well="A2"), WellRef(labware="p", well="B1")


def _inventory() -> Inventory:
    inventory = Inventory()
    inventory.add_labware("p", "plate96")
    inventory.add_labware("v", "vial4ml")
    return inventory


def test_overfilling_a_well_is_refused_and_changes_nothing() -> None:
    inventory = _inventory()
    inventory.add_liquid(WellRef(labware="v"), 3000, solvent="DMSO", solutes_nmol={"X": 30_000})
    before = inventory.wells("p"), inventory.well(WellRef(labware="v"))
    with pytest.raises(PhysicalLimitError, match="does not fit"):
        inventory.transfer(WellRef(labware="v"), A1, 400)
    assert (inventory.wells("p"), inventory.well(WellRef(labware="v"))) == before


def test_overdraw_and_dead_volume_are_refused() -> None:
    inventory = _inventory()
    inventory.add_liquid(WellRef(labware="v"), 100, solvent="DMSO")
    with pytest.raises(PhysicalLimitError, match="reachable"):
        inventory.transfer(WellRef(labware="v"), A1, 90)  # 20 µL dead volume in a vial
    inventory.transfer(WellRef(labware="v"), A1, 80)
    assert inventory.well(A1).volume_ul == pytest.approx(80)


def test_concentrations_follow_the_liquid() -> None:
    inventory = _inventory()
    inventory.add_liquid(A1, 100, solvent="DMSO", solutes_nmol={"X": 1000})  # 10 mM
    inventory.add_liquid(A2, 150, solvent="buffer")
    inventory.transfer(A1, A2, 50)
    assert inventory.well(A1).concentration_mm("X") == pytest.approx(10.0)
    assert inventory.well(A2).concentration_mm("X") == pytest.approx(500 / 200)
    assert inventory.well(A2).solvent == "mixture"


def test_speculative_change_rolls_back_exactly() -> None:
    inventory = _inventory()
    inventory.add_liquid(A1, 200, solvent="DMSO", solutes_nmol={"X": 1000})
    before = (inventory.wells("p"), inventory.waste_ul, inventory.total_added_ul)
    with pytest.raises(RuntimeError):
        with inventory.speculative():
            inventory.transfer(A1, A2, 50)
            inventory.discard(A2, 10)
            inventory.add_liquid(B1, 20, solvent="water")
            raise RuntimeError("the instrument failed")
    assert (inventory.wells("p"), inventory.waste_ul, inventory.total_added_ul) == before
    with inventory.speculative():
        inventory.transfer(A1, A2, 50)
    assert inventory.well(A2).volume_ul == pytest.approx(50)


def test_unknown_labware_and_wells_are_setup_errors() -> None:
    inventory = _inventory()
    with pytest.raises(SetupError):
        inventory.well(WellRef(labware="nope"))
    with pytest.raises(SetupError):
        inventory.well(WellRef(labware="v", well="B2"))
    with pytest.raises(SetupError):
        inventory.add_labware("p", "plate96")


_WELLS = [WellRef(labware="p", well=f"{r}{c}") for r in "ABC" for c in (1, 2, 3)] + [WellRef(labware="v")]
_OPS = st.lists(
    st.tuples(st.sampled_from(["add", "transfer", "discard", "aspirate", "dispense"]), st.sampled_from(_WELLS), st.sampled_from(_WELLS), st.floats(0.5, 400)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=_OPS)
def test_volume_is_conserved_and_never_negative(ops: list[tuple[str, WellRef, WellRef, float]]) -> None:
    inventory = _inventory()
    for kind, first, second, volume in ops:
        try:
            with inventory.speculative():
                if kind == "add":
                    inventory.add_liquid(first, volume, solvent="DMSO", solutes_nmol={"X": volume})
                elif kind == "transfer":
                    inventory.transfer(first, second, volume)
                elif kind == "discard":
                    inventory.discard(first, volume)
                elif kind == "aspirate":
                    inventory.aspirate(first, volume, channel="c1", tip_capacity_ul=300)
                else:
                    inventory.dispense(first, volume, channel="c1")
        except PhysicalLimitError:
            pass
        in_system = inventory.volume_in_system_ul()
        assert in_system + inventory.waste_ul == pytest.approx(inventory.total_added_ul, abs=1e-6)
        for view in inventory.wells("p") + inventory.wells("v"):
            assert view.volume_ul >= 0
            assert view.volume_ul <= view.capacity_ul + 1e-9
            assert all(amount >= 0 for amount in view.solutes_nmol.values())
