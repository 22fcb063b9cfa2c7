"""The registry's medicinal-chemistry properties: names, aliases and canonical units, and values converted into them."""

from __future__ import annotations

import pytest

from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter, split_scale


@pytest.fixture(scope="module")
def registry() -> PropertyRegistry:
    return PropertyRegistry.default()


@pytest.fixture(scope="module")
def units() -> UnitConverter:
    return UnitConverter()


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("Kd", "nM"), ("pEC50", "-log10(mol/L)"), ("pKi", "-log10(mol/L)"), ("clearance", "uL/min/mg"), ("half_life", "h"),
        ("kinetic_solubility", "uM"), ("thermodynamic_solubility", "uM"), ("permeability", "1e-6 cm/s"), ("ppb", "%"), ("fu", ""),
    ],
)
def test_medchem_properties_and_their_canonical_units(registry: PropertyRegistry, name: str, canonical: str) -> None:
    assert registry.get(name).canonical_unit == canonical


def test_aliases(registry: PropertyRegistry) -> None:
    assert registry.get("Papp").name == "permeability"
    assert registry.get("plasma_protein_binding").name == "ppb"
    assert registry.get("fraction_unbound").name == "fu"
    assert registry.get("CLint").name == "clearance"
    assert registry.get("solubility").name == "logS"  # the plain word stays the log solubility


@pytest.mark.parametrize(
    ("prop", "value", "unit", "expected"),
    [
        ("permeability", 1.2e-5, "cm/s", 12.0),
        ("permeability", 12.5, "10-6 cm/s", 12.5),
        ("permeability", 12.5, "×10−6 cm/s", 12.5),
        ("permeability", 125.0, "nm/s", 12.5),
        ("kinetic_solubility", 0.05, "mM", 50.0),
        ("clearance", 12.0, "uL/min/mg", 12.0),
        ("clearance", 0.012, "mL/min/mg", 12.0),
        ("half_life", 30.0, "min", 0.5),
        ("pEC50", 10.0, "nM", 8.0),
        ("Kd", 1.5, "uM", 1500.0),
    ],
)
def test_conversions(registry: PropertyRegistry, units: UnitConverter, prop: str, value: float, unit: str, expected: float) -> None:
    assert units.to_canonical(registry.get(prop), value, unit) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "factor", "rest"),
    [("10-6 cm/s", 1e-6, "cm/s"), ("10^-6 cm/s", 1e-6, "cm/s"), ("1e-6 cm/s", 1e-6, "cm/s"), ("(10−6 cm/s)", 1e-6, "cm/s"),
     ("x10 6 cells", 1e6, "cells"), ("×10-6*cm*s^-1", 1e-6, "cm*s^-1"), ("102 K", 1.0, "102 K"), ("cm/s", 1.0, "cm/s")],
)
def test_a_power_of_ten_before_a_unit(text: str, factor: float, rest: str) -> None:
    assert split_scale(text) == (pytest.approx(factor), rest)


def test_a_scaled_unit_converts_both_ways(units: UnitConverter) -> None:
    assert units.convert(12.5, "10-6 cm/s", "cm/s") == pytest.approx(1.25e-5)
    assert units.convert(1.25e-5, "cm/s", "1e-6 cm/s") == pytest.approx(12.5)
