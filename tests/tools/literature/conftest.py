"""Fixtures for the literature reader: the registry, a unit converter, and a small PDF builder.

The table generators (``pka_tables.py``, ``medchem_tables.py``) and their drawing helpers (``pdf_drawing.py``) live
next to this file: put this folder on ``sys.path`` so the tests import them by name (the tests folder is not a
package and pytest runs in importlib mode)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
)
_NEEDED_GLYPHS = "−–±µμ×≤≥∼°"


@pytest.fixture(scope="session")
def registry() -> PropertyRegistry:
    return PropertyRegistry.default()


@pytest.fixture(scope="session")
def units() -> UnitConverter:
    return UnitConverter()


@pytest.fixture(scope="session")
def unicode_font() -> str:
    """A TrueType font with the minus sign, µ, μ, ±, × ... (the base-14 PDF fonts cannot encode them)."""
    pymupdf = pytest.importorskip("pymupdf")
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            font = pymupdf.Font(fontfile=candidate)
            if all(font.has_glyph(ord(ch)) for ch in _NEEDED_GLYPHS):
                return candidate
    pytest.skip("no TrueType font with the needed glyphs on this machine")


class PageWriter:
    """Writes text and ruled tables on one PyMuPDF page with a unicode font."""

    def __init__(self, page: object, font_file: str) -> None:
        self.page = page
        self.font_file = font_file
        page.insert_font(fontname="uni", fontfile=font_file)  # type: ignore[attr-defined]

    def text(self, x: float, y: float, text: str, size: float = 10) -> None:
        self.page.insert_text((x, y), text, fontsize=size, fontname="uni")  # type: ignore[attr-defined]

    def paragraph(self, rect: tuple[float, float, float, float], text: str, size: float = 10) -> None:
        import pymupdf

        spare = self.page.insert_textbox(pymupdf.Rect(rect), text, fontsize=size, fontname="uni")  # type: ignore[attr-defined]
        assert spare >= 0, "paragraph does not fit its box"

    def table(
        self,
        x0: float,
        y0: float,
        widths: Sequence[float],
        rows: Sequence[Sequence[str]],
        row_height: float = 18,
        size: float = 9,
        superscripts: dict[tuple[int, int], str] | None = None,
    ) -> tuple[float, float, float, float]:
        """A fully ruled grid; ``superscripts[(row, col)]`` is drawn small and raised after the cell text."""
        import pymupdf

        superscripts = superscripts or {}
        y = y0
        for r, row in enumerate(rows):
            x = x0
            for c, cell in enumerate(row):
                rect = pymupdf.Rect(x, y, x + widths[c], y + row_height)
                self.page.draw_rect(rect, color=(0, 0, 0), width=0.6)  # type: ignore[attr-defined]
                baseline = y + row_height - 5
                self.text(x + 3, baseline, cell, size)
                if (r, c) in superscripts:
                    advance = pymupdf.Font(fontfile=self.font_file).text_length(cell, fontsize=size)
                    self.text(x + 3 + advance + 0.5, baseline - size * 0.4, superscripts[(r, c)], size * 0.6)
                x += widths[c]
            y += row_height
        return (x0, y0, x0 + sum(widths), y)


@pytest.fixture()
def new_pdf(unicode_font: str, tmp_path: Path) -> Callable[..., tuple[object, Callable[[], PageWriter], Callable[[str], Path]]]:
    """``doc, add_page, save = new_pdf()``: build a PDF page by page, then save it under tmp_path."""
    pymupdf = pytest.importorskip("pymupdf")

    def make() -> tuple[object, Callable[[], PageWriter], Callable[[str], Path]]:
        doc = pymupdf.open()

        def add_page() -> PageWriter:
            return PageWriter(doc.new_page(width=595, height=842), unicode_font)

        def save(name: str, **options: object) -> Path:
            path = tmp_path / name
            doc.save(path, **options)
            return path

        return doc, add_page, save

    return make


TABLE_HEADER = ["Compound", "pKa", "IC50 (µM)", "Ki (μM)", "EC50 (M)", "logD", "mp (°C)"]
TABLE_WIDTHS = [62, 72, 70, 70, 78, 56, 72]
TABLE_ROWS = [
    ["SM01", "9.53 ± 0.01", "12.5–25", "0.023(2)", "1.2 × 10−6", "−1.2", "123–125"],
    ["SM02", "4.21a", "<1.6", ">100", "2.5e-7", "0.5", "~80"],
    ["SM03", "nd", "0.8", "≤ 2", "3x10^-9", "ND", "150"],
    ["SM04", "6.10", "–", "", "", "", ""],
]
TABLE_PARAGRAPH = (
    "The pKa of SM07 was 4.23 ± 0.02 in water. Compound 12 showed an IC50 of 12 nM against the kinase. "
    "The melting point was 123–125 °C and the product was isolated in 85% yield. "
    "An IC50 of 7 zorks was also reported. For LiFeAs, Tc ≈ 17 K. "
    "Aspirin is CC(=O)Oc1ccccc1C(=O)O while C1CC(N is not a molecule."
)


@pytest.fixture(scope="module")
def table_pdf(tmp_path_factory: pytest.TempPathFactory, unicode_font: str) -> Path:
    """One page: title, authors, 'Table 1.' with a ruled grid of values in many printed forms, a paragraph."""
    pymupdf = pytest.importorskip("pymupdf")
    doc = pymupdf.open()
    page = PageWriter(doc.new_page(width=595, height=842), unicode_font)
    page.text(40, 50, "Synthetic acidity study", size=16)
    page.text(40, 72, "Ada Lovelace and Alan M. Turing", size=10)
    page.text(40, 100, "Table 1. Measured properties.", size=9)
    page.table(40, 110, TABLE_WIDTHS, [TABLE_HEADER, *TABLE_ROWS], superscripts={(4, 1): "b"})
    page.paragraph((40, 230, 555, 400), TABLE_PARAGRAPH)
    path = tmp_path_factory.mktemp("pdf") / "table.pdf"
    doc.save(path)
    return path
