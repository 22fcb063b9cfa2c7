"""read_pdf on small PDFs built here with PyMuPDF: tables, text facts, layout, typed errors, flagged pages."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter
from tools.errors import ToolInputError
from tools.literature.errors import DocumentEncrypted, DocumentUnreadable
from tools.literature.models import ExtractedFact, ReadDocument
from tools.literature.pdf import read_pdf

pymupdf = pytest.importorskip("pymupdf")

NewPdf = Callable[..., tuple[Any, Callable[[], Any], Callable[..., Path]]]

HEADER = ["Compound", "pKa", "IC50 (µM)", "Ki (μM)", "EC50 (M)", "logD", "mp (°C)"]
def _read(path: Path, registry: PropertyRegistry, units: UnitConverter, **options: Any) -> ReadDocument:
    return read_pdf(path, properties=registry, units=units, **options)


def _key(fact: ExtractedFact) -> tuple[Any, ...]:
    def r(x: float | None) -> float | None:
        return None if x is None else float(f"{x:.9g}")

    return (fact.compound, fact.property, fact.qualifier, r(fact.value), r(fact.value_high), r(fact.uncertainty), fact.unit, fact.unit_as_written)


@pytest.fixture(scope="module")
def table_doc(table_pdf: Path, registry: PropertyRegistry, units: UnitConverter) -> ReadDocument:
    return _read(table_pdf, registry, units)


def test_table_cells_become_facts_in_canonical_units(table_doc: ReadDocument) -> None:
    facts = sorted(_key(f) for f in table_doc.facts if f.source == "table")
    expected = sorted(
        [
            ("SM01", "pKa", "=", 9.53, None, 0.01, "pH units", None),
            ("SM01", "IC50", "range", 12500.0, 25000.0, None, "nM", "µM"),
            ("SM01", "Ki", "=", 23.0, None, 2.0, "nM", "μM"),
            ("SM01", "EC50", "=", 1200.0, None, None, "nM", "M"),
            ("SM01", "logD", "=", -1.2, None, None, "log10(D)", None),
            ("SM01", "melting_point", "range", 396.15, 398.15, None, "K", "°C"),
            ("SM02", "pKa", "=", 4.21, None, None, "pH units", None),
            ("SM02", "IC50", "<", 1600.0, None, None, "nM", "µM"),
            ("SM02", "Ki", ">", 100000.0, None, None, "nM", "μM"),
            ("SM02", "EC50", "=", 250.0, None, None, "nM", "M"),
            ("SM02", "logD", "=", 0.5, None, None, "log10(D)", None),
            ("SM02", "melting_point", "~", 353.15, None, None, "K", "°C"),
            ("SM03", "pKa", "nd", None, None, None, "pH units", None),
            ("SM03", "IC50", "=", 800.0, None, None, "nM", "µM"),
            ("SM03", "Ki", "<=", 2000.0, None, None, "nM", "μM"),
            ("SM03", "EC50", "=", 3.0, None, None, "nM", "M"),
            ("SM03", "logD", "nd", None, None, None, "log10(D)", None),
            ("SM03", "melting_point", "=", 423.15, None, None, "K", "°C"),
            ("SM04", "pKa", "=", 6.1, None, None, "pH units", None),
        ]
    )
    assert facts == expected


def test_table_footnote_marks_are_kept_apart(table_doc: ReadDocument) -> None:
    by_compound = {f.compound: f for f in table_doc.facts if f.property == "pKa" and f.source == "table"}
    assert by_compound["SM02"].footnotes == ("a",)  # written inline: '4.21a'
    assert by_compound["SM04"].footnotes == ("b",)  # drawn as a raised superscript
    assert by_compound["SM01"].footnotes == ()


def test_table_structure_header_and_provenance(table_doc: ReadDocument) -> None:
    assert len(table_doc.tables) == 1
    table = table_doc.tables[0]
    assert table.page == 1 and table.pages == [1]
    assert table.header_rows == [HEADER]
    assert [row[0] for row in table.rows] == ["SM01", "SM02", "SM03", "SM04"]
    assert table.rows[0][1] == "9.53 ± 0.01"  # decimals intact (Table.extract() would give '953±001')
    assert table.caption is not None and table.caption.startswith("Table 1.")
    fact = next(f for f in table_doc.facts if f.compound == "SM01" and f.property == "pKa")
    assert fact.page == 1 and fact.source == "table" and fact.header == "pKa"
    assert fact.bbox is not None
    x0, y0, x1, y1 = fact.bbox
    assert x0 < x1 and y0 < y1 and y0 >= table.bbox[1] - 1
    assert "9.53 ± 0.01" in fact.snippet


def test_text_mentions_become_facts(table_doc: ReadDocument) -> None:
    facts = sorted((_key(f) for f in table_doc.facts if f.source == "text"), key=repr)
    assert facts == sorted(
        [
            ("SM07", "pKa", "=", 4.23, None, 0.02, "pH units", None),
            ("12", "IC50", "=", 12.0, None, None, "nM", "nM"),
            (None, "melting_point", "range", 396.15, 398.15, None, "K", "°C"),
            (None, "yield", "=", 85.0, None, None, "%", "%"),
            ("LiFeAs", "Tc", "~", 17.0, None, None, "K", "K"),
        ],
        key=repr,
    )
    pka = next(f for f in table_doc.facts if f.source == "text" and f.property == "pKa")
    assert pka.snippet == "The pKa of SM07 was 4.23 ± 0.02 in water."
    assert pka.page == 1 and pka.bbox is not None


def test_unknown_unit_is_skipped_and_counted(table_doc: ReadDocument) -> None:
    assert table_doc.skipped.get("unknown_unit") == 1
    assert not any("zorks" in f.snippet for f in table_doc.facts)


def test_only_valid_smiles_are_kept(table_doc: ReadDocument) -> None:
    assert [s.smiles for s in table_doc.structures] == ["CC(=O)Oc1ccccc1C(=O)O"]


def test_document_identity(table_pdf: Path, table_doc: ReadDocument) -> None:
    assert table_doc.sha256 == hashlib.sha256(table_pdf.read_bytes()).hexdigest()
    assert table_doc.pages == 1 and table_doc.flagged_pages == []
    assert table_doc.title == "Synthetic acidity study"
    assert table_doc.authors == ["Ada Lovelace", "Alan M. Turing"]


def test_models_are_frozen(table_doc: ReadDocument) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        table_doc.facts[0].value = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError):
        table_doc.title = "x"  # type: ignore[misc]


def test_table_continued_on_next_page_is_joined(new_pdf: NewPdf, registry: PropertyRegistry, units: UnitConverter) -> None:
    doc, add_page, save = new_pdf()
    header = ["Molecule ID", "pKa1", "pKa2"]
    first = add_page()
    first.text(60, 60, "Table 2. Replicate pKa measurements.")
    rows = [header] + [[f"SM{i:02d}", f"{3 + i / 10:.2f}", ""] for i in range(1, 37)]
    bbox = first.table(60, 70, [90, 80, 80], rows)
    assert bbox[3] > 0.75 * 842  # runs to the foot of the page
    second = add_page()
    second.table(60, 60, [90, 80, 80], [header, ["SM37", "4.50", "9.10 ± 0.05"], ["SM38", "5.25", ""]])
    read = _read(save("continued.pdf"), registry, units)
    assert len(read.tables) == 1
    table = read.tables[0]
    assert table.pages == [1, 2]
    assert len(table.rows) == 38 and table.rows[-1][0] == "SM38"
    assert table.header_rows == [header]
    last = [f for f in read.facts if f.compound in ("SM37", "SM38")]
    assert sorted(_key(f) for f in last) == [
        ("SM37", "pKa", "=", 4.5, None, None, "pH units", None),
        ("SM37", "pKa", "=", 9.1, None, 0.05, "pH units", None),
        ("SM38", "pKa", "=", 5.25, None, None, "pH units", None),
    ]
    assert {f.page for f in last} == {2}
    assert len([f for f in read.facts if f.property == "pKa"]) == 39


def test_two_columns_read_left_column_first(new_pdf: NewPdf, registry: PropertyRegistry, units: UnitConverter) -> None:
    doc, add_page, save = new_pdf()
    page = add_page()
    page.text(60, 60, "A two column page", size=16)
    page.paragraph((50, 100, 285, 200), "Alpha one begins the left column and keeps going for a while.")
    page.paragraph((50, 420, 285, 520), "Alpha two ends the left column near the bottom of the page.")
    page.paragraph((310, 100, 545, 200), "Beta one opens the right column next to alpha one.")
    page.paragraph((310, 300, 545, 400), "Beta two sits higher than alpha two but comes after it.")
    read = _read(save("columns.pdf"), registry, units)
    text = " ".join(section.text for section in read.sections)
    positions = [text.index(word) for word in ("Alpha one", "Alpha two", "Beta one", "Beta two")]
    assert positions == sorted(positions)


def test_running_header_footer_and_line_numbers_are_removed(new_pdf: NewPdf, registry: PropertyRegistry, units: UnitConverter) -> None:
    doc, add_page, save = new_pdf()
    for number in range(1, 4):
        page = add_page()
        page.text(60, 40, "Journal of Synthetic Tests 12 (2024) 100-110")
        page.text(280, 815, f"Page {number}")
        for line in range(12):
            y = 120 + line * 14
            page.text(30, y, str((number - 1) * 12 + line + 1), size=7)  # margin line numbers
            page.text(60, y, f"Body text of page {number}, line {line + 1} of the article.")
    read = _read(save("headers.pdf"), registry, units)
    text = " ".join(section.text for section in read.sections)
    assert "Journal of Synthetic Tests" not in text
    assert "Page 2" not in text
    assert "Body text of page 1, line 1 of the article." in text
    assert "Body text of page 3, line 12 of the article." in text
    assert " 13 " not in f" {text} "  # no stray margin numbers


def test_image_only_page_is_flagged_and_the_rest_kept(new_pdf: NewPdf, registry: PropertyRegistry, units: UnitConverter) -> None:
    doc, add_page, save = new_pdf()
    add_page().paragraph((60, 60, 500, 200), "The pKa of SM09 was 7.25 in water.")
    scan = add_page()
    pixmap = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 60), False)
    pixmap.clear_with(200)
    scan.page.insert_image(scan.page.rect, pixmap=pixmap)
    read = _read(save("image.pdf"), registry, units)
    assert read.pages == 2
    assert read.flagged_pages == [(2, "image-only page: no text layer (OCR is off)")]
    assert [(f.compound, f.property, f.value) for f in read.facts] == [("SM09", "pKa", 7.25)]


def test_a_page_that_raises_is_flagged_and_the_rest_kept(
    new_pdf: NewPdf, registry: PropertyRegistry, units: UnitConverter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tools.literature.pages as pages

    doc, add_page, save = new_pdf()
    for value in ("3.10", "4.20", "5.30"):
        add_page().paragraph((60, 300, 500, 400), f"The pKa of SM10 was {value} in water.")
    path = save("broken.pdf")
    real = pages.read_page

    def flaky(page: Any, **options: Any) -> Any:
        if page.number == 1:
            raise RuntimeError("boom")
        return real(page, **options)

    monkeypatch.setattr(pages, "read_page", flaky)
    read = _read(path, registry, units)
    assert read.flagged_pages == [(2, "failed: RuntimeError: boom")]
    assert [(f.page, f.value) for f in read.facts] == [(1, 3.1), (3, 5.3)]


def test_parallel_workers_give_the_same_result(
    registry: PropertyRegistry,
    units: UnitConverter,
    monkeypatch: pytest.MonkeyPatch,
    new_pdf: NewPdf,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import tools.literature.pdf as pdf_module

    doc, add_page, save = new_pdf()
    for value in ("3.10", "4.20", "5.30", "6.40"):
        add_page().paragraph((60, 300, 500, 400), f"The pKa of SM11 was {value} in water.")
    path = save("parallel.pdf")
    sequential = _read(path, registry, units, max_workers=1)
    monkeypatch.setattr(pdf_module, "PAGES_PER_WORKER", 1)
    with caplog.at_level(logging.WARNING, logger="tools.literature"):
        parallel = _read(path, registry, units, max_workers=2)
    assert not [r for r in caplog.records if "worker" in r.getMessage()]  # the pool ran; no in-process fallback
    assert [f.model_dump() for f in parallel.facts] == [f.model_dump() for f in sequential.facts]
    assert [(f.page, f.value) for f in parallel.facts] == [(1, 3.1), (2, 4.2), (3, 5.3), (4, 6.4)]


def test_corrupt_bytes_are_unreadable(tmp_path: Path, registry: PropertyRegistry, units: UnitConverter) -> None:
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    with pytest.raises(DocumentUnreadable) as raised:
        _read(garbage, registry, units)
    assert isinstance(raised.value, ToolInputError)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.pdf", b"", "empty file"),
        ("notes.pdf", b"just some text, not a PDF", "not a PDF"),
        ("image.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a PDF"),
    ],
)
def test_non_pdfs_are_unreadable(tmp_path: Path, registry: PropertyRegistry, units: UnitConverter, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentUnreadable, match=reason):
        _read(path, registry, units)


def test_missing_file_is_unreadable(tmp_path: Path, registry: PropertyRegistry, units: UnitConverter) -> None:
    with pytest.raises(DocumentUnreadable, match="no such file"):
        _read(tmp_path / "absent.pdf", registry, units)


def test_truncated_pdf_is_unreadable(table_pdf: Path, tmp_path: Path, registry: PropertyRegistry, units: UnitConverter) -> None:
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(table_pdf.read_bytes()[:300])
    with pytest.raises(DocumentUnreadable):
        _read(truncated, registry, units)


def test_encrypted_pdf_raises_document_encrypted(new_pdf: NewPdf, registry: PropertyRegistry, units: UnitConverter) -> None:
    doc, add_page, save = new_pdf()
    add_page().text(60, 60, "secret pKa = 4.2")
    path = save("locked.pdf", encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", user_pw="user")
    with pytest.raises(DocumentEncrypted) as raised:
        _read(path, registry, units)
    assert isinstance(raised.value, ToolInputError)
