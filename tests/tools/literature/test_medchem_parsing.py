"""The pieces the med-chem tables need, one by one: conditions beside values and in headers, thousands written
with a space, header levels of merged cells, and columns classified from their header parts."""

from __future__ import annotations

import pytest

from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter
from tools.literature.facts import classify_columns
from tools.literature.quantities import parse_quantity, read_conditions
from tools.literature.raw import RawCell, RawTable
from tools.literature.tables import structure


@pytest.mark.parametrize(
    ("text", "qualifier", "value", "conditions"),
    [
        ("<5 (pH 7.4)", "<", 5.0, (("pH", "7.4"),)),
        ("33 (pH 6.8)", "=", 33.0, (("pH", "6.8"),)),
        ("12 (human)", "=", 12.0, (("species", "human"),)),
        ("3.1 (n = 2)", "=", 3.1, (("n", "2"),)),
    ],
)
def test_a_condition_in_brackets_after_a_value_is_read_apart(text: str, qualifier: str, value: float, conditions: tuple[tuple[str, str], ...]) -> None:
    parsed = parse_quantity(text)
    assert parsed is not None
    assert (parsed.qualifier, parsed.value, parsed.unit, parsed.conditions) == (qualifier, value, None, conditions)


def test_brackets_that_are_not_a_condition_stay_with_the_value() -> None:
    parsed = parse_quantity("5 (foo)")
    assert parsed is not None and parsed.conditions == () and parsed.unit == "(foo)"


@pytest.mark.parametrize(
    ("text", "qualifier", "value", "uncertainty"),
    [("> 10 000", ">", 10000.0, None), ("1 250 ± 180", "=", 1250.0, 180.0), ("10\u2009000", "=", 10000.0, None), ("10,000", "=", 10000.0, None)],
)
def test_thousands_separated_by_a_space(text: str, qualifier: str, value: float, uncertainty: float | None) -> None:
    parsed = parse_quantity(text)
    assert parsed is not None and (parsed.qualifier, parsed.value, parsed.uncertainty) == (qualifier, value, uncertainty)


def test_glued_footnote_letters_and_ranges() -> None:
    glued = parse_quantity("142b")
    assert glued is not None and (glued.value, glued.footnotes) == (142.0, ("b",))
    span = parse_quantity("1.2-3.4")
    assert span is not None and (span.qualifier, span.value, span.value_high) == ("range", 1.2, 3.4)


@pytest.mark.parametrize(
    ("header", "conditions", "rest"),
    [
        ("logD7.4", {"pH": "7.4"}, "logD"),
        ("Solubility pH 7.4", {"pH": "7.4"}, "Solubility"),
        ("RLM CLint", {"species": "rat"}, "CLint"),
        ("CLint HLM", {"species": "human"}, "CLint"),
        ("hERG pIC50", {}, "hERG pIC50"),
    ],
)
def test_conditions_in_headers(header: str, conditions: dict[str, str], rest: str) -> None:
    assert read_conditions(header) == (conditions, rest)


def _columns(headers: list[list[str]], registry: PropertyRegistry, units: UnitConverter) -> list[tuple[str | None, str | None, dict[str, str], str]]:
    return [(c.property, c.unit, dict(c.conditions), c.role) for c in classify_columns(headers, registry, units)]


def test_columns_from_their_header_levels(registry: PropertyRegistry, units: UnitConverter) -> None:
    headers = [
        ["Compound"], ["Ki (uM)", "JAK1"], ["CLint (uL/min/mg)", "MLM"], ["EGFR IC50 (uM)"], ["logD (pH 7.4)"],
        ["Papp (10-6 cm/s)"], ["Solubility pH 7.4 (µM)"], ["Thermo. sol. (uM)"], ["PPB (% bound)"], ["fu,p"], ["LE"],
    ]
    assert _columns(headers, registry, units) == [
        (None, None, {}, "label"),
        ("Ki", "uM", {"target": "JAK1"}, "value"),
        ("clearance", "uL/min/mg", {"species": "mouse"}, "value"),
        ("IC50", "uM", {"target": "EGFR"}, "value"),
        ("logD", None, {"pH": "7.4"}, "value"),
        ("permeability", "10-6 cm/s", {}, "value"),
        ("kinetic_solubility", "µM", {"pH": "7.4"}, "value"),
        ("thermodynamic_solubility", "uM", {}, "value"),
        ("ppb", None, {}, "value"),
        ("fu", None, {}, "value"),
        (None, None, {}, "other"),
    ]


def test_a_scaled_unit_written_with_exponents_is_a_header_unit(registry: PropertyRegistry, units: UnitConverter) -> None:
    assert _columns([["Caco-2 Papp A→B (×10−6 cm s−1)"]], registry, units) == [("permeability", "×10-6 cm s-1", {}, "value")]


def test_a_log_solubility_header_stays_logs(registry: PropertyRegistry, units: UnitConverter) -> None:
    assert _columns([["log solubility (mol/L)"], ["Solubility"]], registry, units) == [
        ("logS", "mol/L", {}, "value"),
        ("logS", None, {}, "value"),
    ]


def _cell(text: str, x0: float, y0: float, x1: float, y1: float) -> RawCell:
    return RawCell(text=text, value_text=text, marks=(), bbox=(x0, y0, x1, y1))


def test_a_header_cell_merged_down_names_its_column_once_and_a_spanning_one_each_column() -> None:
    top = (_cell("Cmpd", 0, 0, 50, 30), _cell("CLint (uL/min/mg)", 50, 0, 150, 15), None, _cell("t1/2 (min)", 150, 0, 200, 30))
    lower = (None, _cell("HLM", 50, 15, 100, 30), _cell("MLM", 100, 15, 150, 30), None)
    body = (_cell("1", 0, 30, 50, 45), _cell("12", 50, 30, 100, 45), _cell("35", 100, 30, 150, 45), _cell("48", 150, 30, 200, 45))
    table = structure(RawTable(page=1, bbox=(0, 0, 200, 45), rows=(top, lower, body), caption="Table 1.", page_height=842))
    assert table.column_header_parts() == [["Cmpd"], ["CLint (uL/min/mg)", "HLM"], ["CLint (uL/min/mg)", "MLM"], ["t1/2 (min)"]]
