from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.errors import IncompatibleUnit, InvalidValue, UnknownUnit
from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter, normalize_unit_text


@pytest.fixture(scope="module")
def units() -> UnitConverter:
    return UnitConverter()


@pytest.fixture(scope="module")
def registry() -> PropertyRegistry:
    return PropertyRegistry.default()


def test_both_micro_signs_mean_micro(units: UnitConverter) -> None:
    assert normalize_unit_text("\u00b5M") == "uM"
    assert normalize_unit_text("\u03bcM") == "uM"
    assert units.convert(1.0, "\u00b5M", "nM") == pytest.approx(1000.0)
    assert units.convert(1.0, "\u03bcM", "nM") == pytest.approx(1000.0)


@pytest.mark.parametrize(
    ("prop", "value", "unit", "expected"),
    [
        ("pIC50", 40.0, "nM", 7.39794),
        ("pIC50", 1.0, "\u00b5M", 6.0),
        ("pIC50", 6.5, None, 6.5),
        ("IC50", 0.04, "\u00b5M", 40.0),
        ("logS", 1e-3, "mol/L", -3.0),
        ("logS", -2.5, "log10(mol/L)", -2.5),
        ("melting_point", 25.0, "\u00b0C", 298.15),
        ("melting_point", 25.0, "degC", 298.15),
        ("hydration_free_energy", -4.184, "kJ/mol", -1.0),
        ("yield", 0.85, "dimensionless", 85.0),
        ("clearance", 12.0, "\u00b5L/min/mg", 12.0),
        ("half_life", 90.0, "min", 1.5),
    ],
)
def test_converts_onto_the_canonical_unit(
    units: UnitConverter, registry: PropertyRegistry, prop: str, value: float, unit: str | None, expected: float
) -> None:
    assert units.to_canonical(registry.get(prop), value, unit) == pytest.approx(expected, rel=1e-5)


def test_mass_concentration_needs_molar_mass(units: UnitConverter, registry: PropertyRegistry) -> None:
    spec = registry.get("logS")
    # caffeine, 194.19 g/mol: 21.6 mg/mL = 0.1112 mol/L
    assert units.to_canonical(spec, 21.6, "mg/mL", 194.19) == pytest.approx(math.log10(21.6 / 194.19), rel=1e-9)
    with pytest.raises(IncompatibleUnit, match="molar mass"):
        units.to_canonical(spec, 21.6, "mg/mL", None)


def test_unknown_unit_is_typed(units: UnitConverter, registry: PropertyRegistry) -> None:
    with pytest.raises(UnknownUnit):
        units.to_canonical(registry.get("IC50"), 1.0, "furlongs per blorp")


@pytest.mark.parametrize(("prop", "unit"), [("logS", "K"), ("IC50", "kcal/mol"), ("melting_point", "nM")])
def test_dimension_mismatch_is_typed(units: UnitConverter, registry: PropertyRegistry, prop: str, unit: str) -> None:
    with pytest.raises(IncompatibleUnit):
        units.to_canonical(registry.get(prop), 1.0, unit)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_rejected(units: UnitConverter, registry: PropertyRegistry, bad: float) -> None:
    with pytest.raises(InvalidValue):
        units.to_canonical(registry.get("logS"), bad, None)


def test_log_of_non_positive_concentration_is_rejected(units: UnitConverter, registry: PropertyRegistry) -> None:
    with pytest.raises(InvalidValue):
        units.to_canonical(registry.get("pIC50"), 0.0, "nM")


_CONCENTRATIONS = ["M", "mM", "uM", "\u00b5M", "\u03bcM", "nM", "pM", "mol/L", "mmol/L"]


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False),
    source=st.sampled_from(_CONCENTRATIONS),
    target=st.sampled_from(_CONCENTRATIONS),
)
def test_concentration_round_trip(units: UnitConverter, value: float, source: str, target: str) -> None:
    there = units.convert(value, source, target)
    back = units.convert(there, target, source)
    assert back == pytest.approx(value, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    kelvin=st.floats(min_value=0.0, max_value=5000.0, allow_nan=False),
    unit=st.sampled_from(["degC", "\u00b0C", "degF", "K", "kelvin"]),
)
def test_temperature_round_trip(units: UnitConverter, kelvin: float, unit: str) -> None:
    there = units.convert(kelvin, "K", unit)
    assert units.convert(there, unit, "K") == pytest.approx(kelvin, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(molar=st.floats(min_value=1e-14, max_value=10.0, allow_nan=False), unit=st.sampled_from(_CONCENTRATIONS))
def test_pic50_of_a_concentration_is_minus_log10_molar(units: UnitConverter, registry: PropertyRegistry, molar: float, unit: str) -> None:
    in_unit = units.convert(molar, "M", unit)
    assert units.to_canonical(registry.get("pIC50"), in_unit, unit) == pytest.approx(-math.log10(molar), abs=1e-9)
