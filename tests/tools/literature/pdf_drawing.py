"""PyMuPDF drawing helpers shared by the table generators (``pka_tables.py``, ``medchem_tables.py``): text, rules,
boxes and rows of table cells on a page with a unicode font. ``conftest.py`` puts this folder on ``sys.path`` (the
tests folder is not a package), so the generators import this module by name.

Pure PyMuPDF drawing, no reader code.
"""

from __future__ import annotations

from collections.abc import Sequence

A4 = (595.0, 842.0)

Cell = str | tuple[str, str]  # text, or (text, raised footnote mark)


class Page:
    """Text, rules and boxes on one page with a unicode font (the base-14 fonts cannot encode ±, −, °)."""

    def __init__(self, page: object, font_file: str) -> None:
        import pymupdf

        self.page = page
        self.font = pymupdf.Font(fontfile=font_file)
        page.insert_font(fontname="uni", fontfile=font_file)  # type: ignore[attr-defined]

    def text(self, x: float, y: float, text: str, size: float = 9.0) -> float:
        """Write ``text`` with its baseline at ``y``; returns the x where it ends."""
        self.page.insert_text((x, y), text, fontsize=size, fontname="uni")  # type: ignore[attr-defined]
        return x + self.font.text_length(text, fontsize=size)

    def superscript(self, x: float, y: float, mark: str, size: float = 9.0) -> None:
        self.text(x + 0.4, y - 0.38 * size, mark, size * 0.62)

    def rule(self, x0: float, x1: float, y: float, width: float = 0.6) -> None:
        self.page.draw_line((x0, y), (x1, y), color=(0, 0, 0), width=width)  # type: ignore[attr-defined]

    def box(self, rect: tuple[float, float, float, float], width: float = 0.5) -> None:
        import pymupdf

        self.page.draw_rect(pymupdf.Rect(rect), color=(0, 0, 0), width=width)  # type: ignore[attr-defined]

    def lines_in_box(self, rect: tuple[float, float, float, float], lines: Sequence[str], size: float) -> None:
        """Lines of text stacked from the top-left of ``rect`` (a wrapped header cell)."""
        x0, y0, _, _ = rect
        for number, line in enumerate(lines):
            self.text(x0 + 3, y0 + 3 + size * (number + 1) * 1.15, line, size)

    def paragraph(self, rect: tuple[float, float, float, float], text: str, size: float = 9.0) -> None:
        import pymupdf

        spare = self.page.insert_textbox(pymupdf.Rect(rect), text, fontsize=size, fontname="uni")  # type: ignore[attr-defined]
        if spare < 0:
            raise ValueError(f"paragraph does not fit in {rect}")


def cell_text(page: Page, x: float, y: float, cell: Cell, size: float) -> None:
    """One cell's text with its baseline at ``y``, and its footnote mark raised after it."""
    text, mark = (cell, "") if isinstance(cell, str) else cell
    end = page.text(x, y, text, size)
    if mark:
        page.superscript(end, y, mark, size)


def unruled_row(page: Page, xs: Sequence[float], y: float, row: Sequence[Cell], size: float) -> None:
    """One row of cells starting at the x positions ``xs``, baseline ``y``, no rules (booktabs, whitespace)."""
    for x, cell in zip(xs, row, strict=True):
        cell_text(page, x, y, cell, size)


def ruled_rows(
    page: Page, x0: float, y0: float, widths: Sequence[float], rows: Sequence[Sequence[Cell]], height: float, size: float, inset: float
) -> float:
    """Rows of boxed cells from ``(x0, y0)`` down, each cell's text ``inset`` from its left edge; returns the y
    below the last row."""
    y = y0
    for row in rows:
        x = x0
        for width, cell in zip(widths, row, strict=True):
            page.box((x, y, x + width, y + height))
            cell_text(page, x + inset, y + height - 5, cell, size)
            x += width
        y += height
    return y
