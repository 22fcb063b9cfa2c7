"""Regression tests for reader bugs found by the literature benchmark and the outside-paper pKa tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter
from tools.literature.facts import _pair_uncertainties, _unit_spellings, classify_columns, convert, unit_known
from tools.literature.pdf import read_pdf
from tools.literature.quantities import find_mentions, mention_quantity, parse_quantity, unit_candidates
from tools.literature.raw import RawBlock, RawCell, RawLine, RawTable
from tools.literature.tables import _drop_caption_rows, structure

NewPdf = Callable[..., tuple[Any, Callable[[], Any], Callable[..., Path]]]


def _cell(text: str, x0: float, y0: float, x1: float, y1: float) -> RawCell:
    return RawCell(text=text, value_text=text, marks=(), bbox=(x0, y0, x1, y1))


def _row(texts: list[str], y: float, width: float = 80, height: float = 14) -> tuple[RawCell, ...]:
    return tuple(_cell(text, 50 + i * width, y, 50 + (i + 1) * width, y + height) for i, text in enumerate(texts))


# --- tables.py ---------------------------------------------------------------------------------------------


def test_caption_rows_inside_the_grid_are_dropped_and_the_box_shrinks() -> None:
    caption = RawBlock(
        bbox=(50, 100, 400, 126),
        lines=(
            RawLine("Table 1. pKa values determined by potentiometric", (50, 100, 400, 112), 9, False),
            RawLine("titration (mean of three runs).", (50, 114, 250, 126), 9, False),
        ),
    )
    rows = [_row(["Table 1. p", "Ka values", "determined"], 100), _row(["titration", "(mean of", ""], 114), _row(["Entry", "pKa", "SEM"], 130), _row(["1", "5.53", "0.02"], 144)]
    kept, bbox = _drop_caption_rows(rows, (50, 100, 290, 158), [caption])
    assert [[c.text for c in row if c] for row in kept] == [["Entry", "pKa", "SEM"], ["1", "5.53", "0.02"]]
    assert bbox == (50, 130, 290, 158)


def test_a_table_without_a_caption_inside_is_left_alone() -> None:
    above = RawBlock(bbox=(50, 80, 400, 92), lines=(RawLine("Table 1. pKa values.", (50, 80, 400, 92), 9, False),))
    rows = [_row(["Entry", "pKa"], 100), _row(["1", "5.53"], 114)]
    assert _drop_caption_rows(rows, (50, 100, 210, 128), [above]) == (rows, (50, 100, 210, 128))


def test_a_label_header_row_with_a_percentage_is_a_header_and_a_spanning_header_names_both_columns() -> None:
    rows = (
        (_cell("", 50, 100, 130, 114), _cell("pKa", 130, 100, 210, 114), _cell("", 210, 100, 290, 114)),
        _row(["Compound", "water", "30% DMSO"], 114),
        _row(["12a", "4.52 ± 0.03", "5.10 ± 0.02"], 128),
        _row(["13", "8.02 ± 0.05", "8.66 ± 0.03"], 142),
    )
    table = structure(RawTable(page=1, bbox=(50, 100, 290, 156), rows=rows, caption="Table 4.", page_height=842))
    assert len(table.header_rows) == 2 and len(table.rows) == 2
    assert table.column_headers() == ["Compound", "pKa water", "pKa 30% DMSO"]


def test_an_empty_upper_header_cell_is_not_carried_over_an_empty_column() -> None:
    rows = (
        _row(["Compound", "pKa", ""], 100),
        _row(["12a", "4.52", ""], 114),
        _row(["13", "8.02", "x"], 128),
    )
    table = structure(RawTable(page=1, bbox=(50, 100, 290, 142), rows=rows, caption=None, page_height=842))
    assert table.column_headers() == ["Compound", "pKa", ""]


def test_raised_digits_after_a_value_are_footnote_marks_and_after_times_ten_an_exponent(
    new_pdf: NewPdf, registry: PropertyRegistry, units: UnitConverter
) -> None:
    _, add_page, save = new_pdf()
    page = add_page()
    page.text(40, 60, "Table 1. Measured values.", size=9)
    rows = [["Compound", "pKa", "IC50 (µM)"], ["A-1", "8.06", "2.5 × 10"], ["A-2", "2.10", "3.0"], ["A-3", "4.4", "1.5"]]
    page.table(40, 70, [80, 80, 90], rows, superscripts={(1, 1): "1", (1, 2): "−3", (2, 1): "2", (3, 2): "12"})
    document = read_pdf(save("marks.pdf"), properties=registry, units=units)
    facts = {(f.compound, f.property): f for f in document.facts}
    assert (facts["A-1", "pKa"].value, facts["A-1", "pKa"].footnotes) == (8.06, ("1",))
    assert facts["A-1", "IC50"].value == pytest.approx(2.5)  # 2.5 × 10⁻³ µM = 2.5 nM
    assert (facts["A-2", "pKa"].value, facts["A-2", "pKa"].footnotes) == (2.1, ("2",))  # '2.10' then a mark, not 2.10^2
    assert (facts["A-3", "IC50"].value, facts["A-3", "IC50"].footnotes) == (1500.0, ("12",))
    assert document.tables[0].rows[0][1] == "8.06¹"


# --- facts.py: columns -------------------------------------------------------------------------------------


def _roles(headers: list[str], registry: PropertyRegistry, units: UnitConverter) -> list[tuple[str, str | None]]:
    return [(c.role, c.property) for c in classify_columns(headers, registry, units)]


def test_a_value_header_naming_its_spread_is_a_value_column(registry: PropertyRegistry, units: UnitConverter) -> None:
    roles = _roles(["Cmpd", "pKa ± SD", "pKa (mean ± SEM)", "pKa mean water", "pKa SEM water", "SD of logD"], registry, units)
    assert roles[1:] == [("value", "pKa"), ("value", "pKa"), ("value", "pKa"), ("uncertainty", "pKa"), ("uncertainty", "logD")]


def test_a_bare_statistic_column_pairs_with_the_value_column_on_its_left(registry: PropertyRegistry, units: UnitConverter) -> None:
    columns = classify_columns(["Compound", "pKa", "± SEM", "logP", "SD", "Error (%)"], registry, units)
    assert [c.role for c in columns] == ["label", "value", "uncertainty", "value", "uncertainty", "other"]
    assert _pair_uncertainties(columns) == {1: 2, 3: 4}


# --- facts.py: units ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "spelling"),
    [("wt%", "%"), ("wt.%", "%"), ("vol%", "%"), ("mol %", "%"), ("% w/w", "%"), ("Torr", "torr"), ("cm− 1", "cm^-1"), ("mg cm− 2", "mg*cm^-2")],
)
def test_unit_spellings(units: UnitConverter, unit: str, spelling: str) -> None:
    assert _unit_spellings(unit)[-1] == spelling
    assert unit_known(units, unit)


def test_a_capitalised_prefixed_unit_is_not_lower_cased(units: UnitConverter) -> None:
    assert _unit_spellings("Mbar") == ["Mbar"]  # megabar; 'mbar' would be a millibar


def test_purity_in_weight_percent_converts(registry: PropertyRegistry, units: UnitConverter) -> None:
    parsed = parse_quantity("98.5 wt%")
    assert parsed is not None and parsed.unit == "wt%"
    converted, written = convert(registry.get("purity"), parsed, parsed.unit, units)
    assert (converted.value, written) == (98.5, "wt%")


# --- quantities.py -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "qualifier", "value", "high", "unit"),
    [
        ("123 °C–125 °C", "range", 123.0, 125.0, "°C"),
        ("9.9%–16.2%", "range", 9.9, 16.2, "%"),
        ("28 K to 40 K", "range", 28.0, 40.0, "K"),
        ("1.5 mg/mL–2.5 mg/mL", "range", 1.5, 2.5, "mg/mL"),
        ("5 nM – 3 nM", "=", 5.0, None, "nM – 3 nM"),  # falling: not a range (the unit then fails to convert)
        ("3 mg to 5 mg/L", "=", 3.0, None, "mg to 5 mg/L"),  # different units: not a range
    ],
)
def test_range_with_the_unit_after_both_ends(text: str, qualifier: str, value: float, high: float | None, unit: str) -> None:
    parsed = parse_quantity(text)
    assert parsed is not None
    assert (parsed.qualifier, parsed.value, parsed.value_high, parsed.unit) == (qualifier, value, high, unit)


@pytest.mark.parametrize(
    ("text", "prop", "qualifier", "value", "high", "unit"),
    [
        ("La2CuO4 becomes superconducting with Tc's between 28 K and 40 K either by", "Tc", "range", 28.0, 40.0, "K"),
        ("Tc ranges from 1.4 K to 3.5 K.", "Tc", "range", 1.4, 3.5, "K"),
        ("T_c = 3 K", "Tc", "=", 3.0, None, "K"),
        ("Tc decreased from 9 K to 3 K", "Tc", "=", 9.0, None, "K"),  # a change, not a range
        ("an IC50 of 5 nM and 3 µM", "IC50", "=", 5.0, None, "nM"),  # the unit of the first value
    ],
)
def test_tc_mentions_with_repeated_units_and_plural(
    registry: PropertyRegistry, text: str, prop: str, qualifier: str, value: float, high: float | None, unit: str
) -> None:
    mentions = find_mentions(text, registry)
    assert [m.property for m in mentions] == [prop]
    quantity = mention_quantity(mentions[0])
    assert quantity is not None
    assert (quantity.qualifier, quantity.value, quantity.value_high) == (qualifier, value, high)
    assert unit_candidates(mentions[0].unit_text)[0] == unit


def test_impurity_is_not_a_purity_mention(registry: PropertyRegistry) -> None:
    assert find_mentions("a small impurity of 1 was always observed", registry) == []
    assert [m.property for m in find_mentions("the purity was 98.5%", registry)] == ["purity"]
