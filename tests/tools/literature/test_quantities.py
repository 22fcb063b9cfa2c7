"""Value strings and property mentions as papers print them."""

from __future__ import annotations

import pytest

from knowledge.errors import UnitError
from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter
from tools.literature.facts import convert
from tools.literature.quantities import (
    find_mentions,
    mention_quantity,
    normalize_text,
    parse_quantity,
    unit_candidates,
)

# text, value, value_high, qualifier, uncertainty, unit, footnotes
CASES = [
    ("4.23", 4.23, None, "=", None, None, ()),
    ("9.53 ± 0.01", 9.53, None, "=", 0.01, None, ()),
    ("9.53±0.01", 9.53, None, "=", 0.01, None, ()),
    ("9.53 +/- 0.01", 9.53, None, "=", 0.01, None, ()),
    ("\u22121.2", -1.2, None, "=", None, None, ()),  # U+2212 MINUS SIGN
    ("\u2013 0.0356(3)", -0.0356, None, "=", 0.0003, None, ()),  # en dash as minus, as OCR/typesetters do
    ("1.2 \u00d7 10\u22123", 0.0012, None, "=", None, None, ()),
    ("1.2 × 10^-3", 0.0012, None, "=", None, None, ()),
    ("1.2x10^-3", 0.0012, None, "=", None, None, ()),
    ("1.2e-3", 0.0012, None, "=", None, None, ()),
    ("1.2E−3", 0.0012, None, "=", None, None, ()),
    ("(1.2 ± 0.1) × 10−3", 0.0012, None, "=", 0.0001, None, ()),
    ("0.023(2)", 0.023, None, "=", 0.002, None, ()),
    ("0.36111(4)", 0.36111, None, "=", 0.00004, None, ()),
    ("2.7417(3)", 2.7417, None, "=", 0.0003, None, ()),
    ("123(4)", 123.0, None, "=", 4.0, None, ()),
    ("12.5 - 25", 12.5, 25.0, "range", None, None, ()),
    ("12.5–25", 12.5, 25.0, "range", None, None, ()),
    ("12.5 to 25", 12.5, 25.0, "range", None, None, ()),
    ("−5 – −3", -5.0, -3.0, "range", None, None, ()),
    ("<1.6", 1.6, None, "<", None, None, ()),
    ("> 100", 100.0, None, ">", None, None, ()),
    ("≤ 5", 5.0, None, "<=", None, None, ()),
    ("≥5", 5.0, None, ">=", None, None, ()),
    ("<=0.1", 0.1, None, "<=", None, None, ()),
    ("~3", 3.0, None, "~", None, None, ()),
    ("\u223c17 K", 17.0, None, "~", None, "K", ()),  # U+223C TILDE OPERATOR
    ("≈ 1.44 K", 1.44, None, "~", None, "K", ()),
    ("ca. 5 h", 5.0, None, "~", None, "h", ()),
    ("4.21a", 4.21, None, "=", None, None, ("a",)),
    ("4.21a,b", 4.21, None, "=", None, None, ("a", "b")),
    ("3.2*", 3.2, None, "=", None, None, ("*",)),
    ("5.0†", 5.0, None, "=", None, None, ("†",)),
    ("12 nM*", 12.0, None, "=", None, "nM", ("*",)),
    ("12 nM", 12.0, None, "=", None, "nM", ()),
    ("3.4 \u00b5M", 3.4, None, "=", None, "\u00b5M", ()),  # MICRO SIGN
    ("3.4 \u03bcM", 3.4, None, "=", None, "\u03bcM", ()),  # GREEK SMALL LETTER MU
    ("85%", 85.0, None, "=", None, "%", ()),
    ("123–125 °C", 123.0, 125.0, "range", None, "°C", ()),
    ("−3.2 kcal/mol", -3.2, None, "=", None, "kcal/mol", ()),
    ("5.1 µL/min/mg", 5.1, None, "=", None, "µL/min/mg", ()),
    ("0.5 mg/mL", 0.5, None, "=", None, "mg/mL", ()),
    ("1,193", 1193.0, None, "=", None, None, ()),
    (".5", 0.5, None, "=", None, None, ()),
]


@pytest.mark.parametrize(("text", "value", "high", "qualifier", "uncertainty", "unit", "footnotes"), CASES)
def test_parse_quantity(
    text: str,
    value: float,
    high: float | None,
    qualifier: str,
    uncertainty: float | None,
    unit: str | None,
    footnotes: tuple[str, ...],
) -> None:
    parsed = parse_quantity(text)
    assert parsed is not None, text
    assert parsed.value == pytest.approx(value)
    assert parsed.value_high == (pytest.approx(high) if high is not None else None)
    assert parsed.qualifier == qualifier
    assert parsed.uncertainty == (pytest.approx(uncertainty) if uncertainty is not None else None)
    assert parsed.unit == unit
    assert parsed.footnotes == footnotes
    assert parsed.text == text


@pytest.mark.parametrize("text", ["nd", "n.d.", "ND", "N.D.", "n.d", "not determined", "nda"])
def test_not_determined_has_no_value(text: str) -> None:
    parsed = parse_quantity(text)
    assert parsed is not None
    assert parsed.qualifier == "nd"
    assert parsed.value is None and parsed.uncertainty is None


@pytest.mark.parametrize("text", ["", " ", "–", "-", "n/a", "NA", "SM01", "pKa1", "UV-metric pKa", "1.2, 3.4", "10−3"])
def test_non_quantities_are_none(text: str) -> None:
    assert parse_quantity(text) is None


def test_normalize_text_unifies_signs_and_spaces() -> None:
    assert normalize_text("\u22121.2\u00a0\u00b1\u20090.1 \u223c") == "-1.2 ± 0.1 ~"


# text, property, qualifier, value, high, uncertainty, unit text (first candidate)
MENTIONS = [
    ("The pKa = 4.23 ± 0.02 was measured.", "pKa", "=", 4.23, None, 0.02, None),
    ("with an IC50 of 12 nM against the kinase", "IC50", "=", 12.0, None, None, "nM"),
    ("an IC50 of 3.4 \u00b5M", "IC50", "=", 3.4, None, None, "\u00b5M"),
    ("an IC50 of 3.4 \u03bcM", "IC50", "=", 3.4, None, None, "\u03bcM"),
    ("EC50 values below 10 nM", "EC50", "<", 10.0, None, None, "nM"),
    ("bulk superconductivity with Tc \u223c16 K, defined by", "Tc", "~", 16.0, None, None, "K"),
    ("Tc ≈ 17 K", "Tc", "~", 17.0, None, None, "K"),
    ("a superconducting transition temperature (Tc) of about 3 K and", "Tc", "~", 3.0, None, None, "K"),
    ("critical temperature Tc from 1.4 to 3.5 K [26]", "Tc", "range", 1.4, 3.5, None, "K"),
    ("the melting point 123–125 °C.", "melting_point", "range", 123.0, 125.0, None, "°C"),
    ("m.p. 88 °C", "melting_point", "=", 88.0, None, None, "°C"),
    ("isolated in 85% yield", "yield", "=", 85.0, None, None, "%"),
    ("Yield: 72%", "yield", "=", 72.0, None, None, "%"),
    ("a hydration free energy of −3.2 kcal mol−1", "hydration_free_energy", "=", -3.2, None, None, "kcal"),
    ("half-life of 2.5 h in plasma", "half_life", "=", 2.5, None, None, "h"),
    ("CLint was 12 µL/min/mg", "clearance", "=", 12.0, None, None, "µL/min/mg"),
    ("logD7.4 of −0.5", "logD", "=", -0.5, None, None, None),
    ("IC50 values between 12 and 25 µM", "IC50", "range", 12.0, 25.0, None, "µM"),
]


@pytest.mark.parametrize(("text", "prop", "qualifier", "value", "high", "uncertainty", "unit"), MENTIONS)
def test_find_mentions(
    registry: PropertyRegistry,
    text: str,
    prop: str,
    qualifier: str,
    value: float,
    high: float | None,
    uncertainty: float | None,
    unit: str | None,
) -> None:
    mentions = find_mentions(text, registry)
    assert [m.property for m in mentions] == [prop]
    quantity = mention_quantity(mentions[0])
    assert quantity is not None
    assert quantity.qualifier == qualifier
    assert quantity.value == pytest.approx(value)
    assert quantity.value_high == (pytest.approx(high) if high is not None else None)
    assert quantity.uncertainty == (pytest.approx(uncertainty) if uncertainty is not None else None)
    if unit is not None:  # the shortest unit candidate; later words ('was measured') are tried only if needed
        assert unit_candidates(mentions[0].unit_text)[0] == unit


def test_mentions_ignore_unknown_property_names(registry: PropertyRegistry) -> None:
    assert find_mentions("The flux capacitor rating of 1.21 GW was reached.", registry) == []


@pytest.mark.parametrize(
    ("prop", "text", "expected", "unit"),
    [
        ("IC50", "3.4 \u00b5M", 3400.0, "nM"),
        ("IC50", "3.4 \u03bcM", 3400.0, "nM"),
        ("IC50", "0.5 nM", 0.5, "nM"),
        ("melting_point", "100 °C", 373.15, "K"),
        ("Tc", "∼17 K", 17.0, "K"),
        ("yield", "85%", 85.0, "%"),
        ("hydration_free_energy", "−4.184 kJ/mol", -1.0, "kcal/mol"),
        ("clearance", "5.1 µL/min/mg", 5.1, "uL/min/mg"),
        ("half_life", "30 min", 0.5, "h"),
        ("pIC50", "100 nM", 7.0, "-log10(mol/L)"),
        ("EC50", "1.2 × 10−6 M", 1200.0, "nM"),
    ],
)
def test_convert_to_canonical_units(registry: PropertyRegistry, units: UnitConverter, prop: str, text: str, expected: float, unit: str) -> None:
    spec = registry.get(prop)
    parsed = parse_quantity(text)
    assert parsed is not None
    converted, written = convert(spec, parsed, parsed.unit, units)
    assert converted.value == pytest.approx(expected)
    assert spec.canonical_unit == unit
    assert written == parsed.unit


def test_convert_uncertainty_scales_without_offset(registry: PropertyRegistry, units: UnitConverter) -> None:
    parsed = parse_quantity("25.0 ± 0.5 °C")
    assert parsed is not None
    converted, _ = convert(registry.get("melting_point"), parsed, parsed.unit, units)
    assert converted.value == pytest.approx(298.15)
    assert converted.uncertainty == pytest.approx(0.5)


def test_convert_pic50_from_a_linear_bound_flips_the_qualifier(registry: PropertyRegistry, units: UnitConverter) -> None:
    parsed = parse_quantity("<100 nM")
    assert parsed is not None
    converted, _ = convert(registry.get("pIC50"), parsed, parsed.unit, units)
    assert (converted.qualifier, converted.value) == (">", pytest.approx(7.0))


def test_convert_unknown_unit_raises_a_unit_error(registry: PropertyRegistry, units: UnitConverter) -> None:
    parsed = parse_quantity("12 zorks")
    assert parsed is not None
    with pytest.raises(UnitError):
        convert(registry.get("IC50"), parsed, parsed.unit, units)
