"""The issue's "outside-paper pKa table" check: pKa tables laid out unlike SAMPL6 (see ``pka_tables.py``),
read as a new user would (``read_pdf`` with the defaults), give at least 90% of their facts right with their
compound labels, and nothing spurious.

The expected facts below are written out by hand from the printed tables, not computed from the generator's
data: (compound label, property, qualifier, value, uncertainty).
"""

from __future__ import annotations

from pathlib import Path

import pka_tables  # beside this file (conftest.py puts this folder on sys.path)
import pytest

from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter
from tools.literature.models import ReadDocument
from tools.literature.pdf import read_pdf

pymupdf = pytest.importorskip("pymupdf")

EXPECTED: dict[str, list[tuple[str, str, str, float | None, float | None]]] = {
    "two_column_ruled": [
        ("3a", "pKa", "=", 4.52, 0.03),
        ("3b", "pKa", "=", 4.87, 0.02),
        ("3b", "pKa", "=", 9.10, 0.05),
        ("4b", "pKa", "=", 9.1, 0.1),
        ("compound 12", "pKa", "=", 7.25, 0.02),
        ("OSM-S-201", "pKa", "=", 6.08, 0.02),
        ("OSM-S-201", "pKa", "=", 10.31, 0.04),
        ("OSM-S-218", "pKa", "=", 3.95, 0.04),
        ("OSM-S-218", "pKa", "=", 8.42, 0.03),
    ],
    "html_story": [
        ("1", "pKa", "=", 5.53, 0.02),
        ("2a", "pKa", "=", 4.61, 0.03),
        ("2b", "pKa", "=", 3.05, 0.05),
        ("2c", "pKa", "=", 5.98, 0.01),
        ("6", "pKa", "=", -1.20, 0.10),
        ("7", "pKa", "=", 7.51, 0.04),
    ],
    "continued": [
        ("8a", "pKa", "=", 3.12, 0.02),
        ("8b", "pKa", "=", 3.47, 0.03),
        ("8c", "pKa", "=", 3.90, 0.02),
        ("8d", "pKa", "=", 4.05, 0.01),
        ("8e", "pKa", "=", 4.33, 0.04),
        ("8f", "pKa", "=", 4.71, 0.02),
        ("8g", "pKa", "=", 5.02, 0.03),
        ("8h", "pKa", "=", 5.26, 0.02),
        ("8i", "pKa", "=", 5.58, 0.05),
        ("8j", "pKa", "=", 5.84, 0.02),
        ("9a", "pKa", "=", 6.11, 0.01),
        ("9b", "pKa", "=", 6.37, 0.03),
        ("9c", "pKa", "=", 6.69, 0.02),
        ("9d", "pKa", "=", 6.95, 0.04),
        ("9e", "pKa", "=", 7.20, 0.02),
        ("9f", "pKa", "=", 7.48, 0.03),
        ("9g", "pKa", "=", 7.73, 0.02),
        ("9h", "pKa", "=", 8.06, 0.06),
        ("9i", "pKa", "=", 8.31, 0.02),
        ("9j", "pKa", "=", 8.64, 0.03),
        ("10a", "pKa", "=", 8.92, 0.02),
        ("10b", "pKa", "=", 9.25, 0.04),
        ("10c", "pKa", "=", 9.57, 0.03),
        ("10d", "pKa", "=", 9.88, 0.02),
    ],
    "whitespace": [
        ("P-1", "pKa", "=", 9.98, 0.02),
        ("P-2", "pKa", "=", 7.15, 0.03),
        ("P-3", "pKa", "=", 5.40, None),
        ("P-4", "pKa", "=", 8.36, 0.01),
        ("P-5", "pKa", ">", 12.0, None),
        ("P-6", "pKa", "=", 10.21, 0.05),
    ],
    "spanning_header": [
        ("12a", "pKa", "=", 4.52, 0.03),
        ("12a", "pKa", "=", 5.10, 0.02),
        ("12b", "pKa", "=", 6.31, 0.01),
        ("12b", "pKa", "=", 6.95, 0.04),
        ("13", "pKa", "=", 8.02, 0.05),
        ("13", "pKa", "=", 8.66, 0.03),
        ("14", "pKa", "=", 3.38, 0.02),
        ("15", "pKa", "=", 11.20, 0.10),
        ("15", "pKa", "=", 11.87, 0.06),
    ],
}
# footnote marks printed on values: (layout, compound) -> marks
EXPECTED_FOOTNOTES = {
    ("two_column_ruled", "compound 12"): ("a",),
    ("html_story", "2b"): ("b",),
    ("continued", "9h"): ("1",),
    ("whitespace", "P-3"): ("b",),
}
LAYOUT_NAMES = [layout.name for layout in pka_tables.LAYOUTS]


def read_layout(name: str, folder: Path, font_file: str, registry: PropertyRegistry, units: UnitConverter) -> ReadDocument:
    layout = next(layout for layout in pka_tables.LAYOUTS if layout.name == name)
    return read_pdf(layout.build(folder, font_file), properties=registry, units=units)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory, unicode_font: str, registry: PropertyRegistry, units: UnitConverter) -> dict[str, ReadDocument]:
    folder = tmp_path_factory.mktemp("pka_tables")
    return {name: read_layout(name, folder, unicode_font, registry, units) for name in LAYOUT_NAMES}


def _keys(document: ReadDocument) -> list[tuple[str | None, str, str, float | None, float | None]]:
    return [pka_tables.fact_key(f.compound, f.property, f.qualifier, f.value, f.uncertainty) for f in document.facts]


def test_every_layout_has_hand_written_expectations() -> None:
    assert sorted(EXPECTED) == sorted(LAYOUT_NAMES)


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_at_least_90_percent_of_the_table_facts_are_right(documents: dict[str, ReadDocument], name: str) -> None:
    expected = [pka_tables.fact_key(*fact) for fact in EXPECTED[name]]
    result = pka_tables.score(name, _keys(documents[name]), expected)
    assert result.share_right >= 0.9, (name, result.missed, result.spurious)


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_nothing_spurious(documents: dict[str, ReadDocument], name: str) -> None:
    """No pKa fact that is not in the table: no footnote digit glued into a value, no caption or footnote
    line read as a row, no value of one compound under another's label, none from the running text."""
    expected = [pka_tables.fact_key(*fact) for fact in EXPECTED[name]]
    result = pka_tables.score(name, _keys(documents[name]), expected)
    assert result.spurious == ()


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_facts_come_from_one_table_with_its_caption(documents: dict[str, ReadDocument], name: str) -> None:
    document = documents[name]
    assert len(document.tables) == 1
    table = document.tables[0]
    assert table.caption is not None and table.caption.startswith("Table")
    assert all(f.source == "table" for f in document.facts if f.property == "pKa")


def test_footnote_marks_are_kept_apart(documents: dict[str, ReadDocument]) -> None:
    for (name, compound), marks in EXPECTED_FOOTNOTES.items():
        facts = [f for f in documents[name].facts if f.compound == compound and f.property == "pKa"]
        assert facts and all(f.footnotes == marks for f in facts), (name, compound, [f.footnotes for f in facts])
    unmarked = [f for f in documents["continued"].facts if f.compound != "9h"]
    assert unmarked and all(f.footnotes == () for f in unmarked)


def test_continued_table_spans_both_pages_with_one_header(documents: dict[str, ReadDocument]) -> None:
    table = documents["continued"].tables[0]
    assert table.pages == [1, 2]
    assert table.header_rows == [["Compound", "pKa", "± SEM"]]
    assert len(table.rows) == 24
    pages = {f.compound: f.page for f in documents["continued"].facts}
    assert pages["8a"] == 1 and pages["10d"] == 2


def test_caption_printed_inside_the_grid_is_not_a_header_row(documents: dict[str, ReadDocument]) -> None:
    table = documents["html_story"].tables[0]
    assert table.header_rows == [["Entry", "Substituent", "pKa", "SEM"]]
    assert table.caption is not None and table.caption.startswith("Table 1. pKa values determined")


def test_spanning_header_names_both_columns(documents: dict[str, ReadDocument]) -> None:
    headers = {f.header for f in documents["spanning_header"].facts}
    assert headers == {"pKa water", "pKa 30% DMSO"}
