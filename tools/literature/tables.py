"""Tables: find cell grids with PyMuPDF, read each cell through a clipped text extraction, identify header
rows, keep footnote marks apart from values, and join tables continued on the next page.

``Table.extract()`` in PyMuPDF 2.0 loses decimal points ('9.53 ± 0.01' -> '953±001'), so only the grid is
taken from ``find_tables``; every cell's text is read with ``page.get_text("dict", clip=cell)`` (the
span-level form of ``get_text("text", clip=cell)``, which also tells superscript marks apart).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tools.literature.quantities import LABEL_HEADER_CELL_RE, parse_quantity
from tools.literature.raw import BBox, RawBlock, RawCell, RawTable, as_bbox, union

if TYPE_CHECKING:
    import pymupdf

logger = logging.getLogger(__name__)

TABLE_CAPTION_RE = re.compile(r"^\s*(?:Table|TABLE)\s+(?:[A-Z]{1,3}\s*)?(?:\d+|[IVXL]+)\b", re.MULTILINE)
_MARK_TEXT_RE = re.compile(r"(?:[a-z]|\*+|[†‡§¶#])(?:\s?,\s?(?:[a-z]|\*+|[†‡§¶#]))*")
_EXPONENT_RE = re.compile(r"[-−–+]?\d{1,3}")
_SUPERSCRIPT_DIGITS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_DIGIT_MARK_RE = re.compile(r"\d{1,2}(?:\s?,\s?\d{1,2})*")
_TEXT_FLAGS = 0  # set lazily from pymupdf
CONTINUATION_BOTTOM = 0.7  # a table can run on to the next page only if it reaches this far down its page


def _text_flags() -> int:
    global _TEXT_FLAGS
    if not _TEXT_FLAGS:
        import pymupdf

        _TEXT_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_PRESERVE_LIGATURES | pymupdf.TEXT_MEDIABOX_CLIP
    return _TEXT_FLAGS


# --- worker side: find and read ---------------------------------------------------------------------------


def find_tables(page: pymupdf.Page, number: int, blocks: Sequence[RawBlock]) -> list[RawTable]:
    """Tables on one page, cells read through clipped text extraction."""
    found = _find(page)
    tables: list[RawTable] = []
    for table in found:
        rows: list[tuple[RawCell | None, ...]] = []
        external = 0
        header = getattr(table, "header", None)
        if header is not None and getattr(header, "external", False) and header.cells:
            rows.append(tuple(_read_cell(page, cell) if cell else None for cell in header.cells))
            external = 1
        for row in table.rows:
            rows.append(tuple(_read_cell(page, cell) if cell else None for cell in row.cells))
        rows = [row for row in rows if any(cell is not None and cell.text for cell in row)]
        bbox = as_bbox(table.bbox)
        if external:
            cells = [c.bbox for c in rows[0] if c is not None]
            bbox = union([bbox, *cells]) if cells else bbox
        rows, bbox = _drop_caption_rows(rows, bbox, blocks)
        if len(rows) < 2 or max(len(row) for row in rows) < 2:
            continue
        tables.append(
            RawTable(
                page=number,
                bbox=bbox,
                rows=tuple(rows),
                caption=_caption(bbox, blocks),
                external_header_rows=external,
                page_height=float(page.rect.height),
            )
        )
    return tables


def _find(page: pymupdf.Page) -> list[Any]:
    """``find_tables`` with PyMuPDF's layout model (when installed) gating the ruled-line finder; when that
    finds nothing, the ruled-line finder alone, keeping only grids of at least 3 rows and 2 columns."""
    finder = None
    for options in ({"refine": True}, {}):  # refine splits rows a layout-only grid merged
        try:
            finder = page.find_tables(**options)
            break
        except TypeError:  # an older PyMuPDF without the option
            continue
        except Exception as error:  # PyMuPDF raises plain RuntimeError/ValueError on odd pages
            logger.warning("page %d: find_tables%s failed: %s", page.number + 1, options or "", error)
    tables = list(finder.tables) if finder is not None else []
    if tables:
        return tables
    try:
        finder = page.find_tables(use_layout=False)
    except TypeError:  # PyMuPDF without the layout option
        return []
    except Exception as error:
        logger.warning("page %d: find_tables failed: %s", page.number + 1, error)
        return []
    if finder is None:
        return []
    return [t for t in finder.tables if t.row_count >= 3 and t.col_count >= 2]


def _row_middle(row: Sequence[RawCell | None]) -> float | None:
    middles = sorted((c.bbox[1] + c.bbox[3]) / 2 for c in row if c is not None and c.text)
    return middles[len(middles) // 2] if middles else None


def _drop_caption_rows(
    rows: list[tuple[RawCell | None, ...]], bbox: BBox, blocks: Sequence[RawBlock]
) -> tuple[list[tuple[RawCell | None, ...]], BBox]:
    """Leading grid rows that are the table's caption ('Table 1. pKa values ...' printed just above the
    header and taken into the grid by the table finder, its words cut across the columns): removed, and
    the box shrunk to the rows left, so the caption stays in the text and is found as the caption."""
    for block in blocks:
        x0, y0, x1, y1 = block.bbox
        inside = bbox[1] - 2 <= y0 < bbox[3] and x0 < bbox[2] and x1 > bbox[0]
        if not inside or not TABLE_CAPTION_RE.match(block.text.strip()):
            continue
        kept = list(rows)
        while kept and (middle := _row_middle(kept[0])) is not None and y0 - 1 <= middle <= y1 + 1:
            kept.pop(0)
        if len(kept) == len(rows) or not kept:
            continue
        boxes = [c.bbox for row in kept for c in row if c is not None]
        top = min(b[1] for b in boxes) if boxes else bbox[1]
        logger.debug("dropped %d caption row(s) from a table at y=%.0f", len(rows) - len(kept), bbox[1])
        return kept, (bbox[0], top, bbox[2], bbox[3])
    return rows, bbox


def _read_cell(page: pymupdf.Page, rect: Sequence[float]) -> RawCell:
    """One cell's text, read from the page inside the cell's box. Superscript letters and symbols become
    footnote marks; a superscript number after '10' becomes an exponent ('10^-3'), after any other number
    a footnote mark ('8.06¹')."""
    import pymupdf

    clip = pymupdf.Rect(rect)
    data = page.get_text("dict", clip=clip, flags=_text_flags())
    pieces: list[str] = []
    marks: list[str] = []
    for block in data.get("blocks", []):
        for line in block.get("lines", []):
            spans = [s for s in line.get("spans", []) if s.get("text")]
            if not spans:
                continue
            main = max(spans, key=lambda s: (len(s["text"].strip()), s["size"]))
            main_size = main["size"]
            baseline = main["origin"][1]
            text = ""
            for span in spans:
                piece = span["text"]
                stripped = piece.strip()
                raised = bool(span["flags"] & 1) or (
                    span["size"] < 0.85 * main_size and span["origin"][1] < baseline - 0.2 * main_size
                )
                if raised and stripped and span is not main:
                    if _EXPONENT_RE.fullmatch(stripped) and re.search(r"(?:^|[×xX·⋅*]\s?)10\s?$", text):
                        text += "^" + stripped
                        continue
                    if _MARK_TEXT_RE.fullmatch(stripped):
                        marks.extend(m.strip() for m in stripped.split(",") if m.strip())
                        continue
                    if _DIGIT_MARK_RE.fullmatch(stripped) and re.search(r"[\d)]\s?$", text):
                        # a raised number after a value ('8.06¹', '0.02¹²') is a footnote mark, not more digits
                        marks.extend(m.strip() for m in stripped.split(",") if m.strip())
                        continue
                text += piece
            text = text.strip()
            if text:
                pieces.append(text)
    value_text = ""
    for piece in pieces:
        if value_text.endswith("-") and not value_text.endswith(" -"):
            value_text += piece
        else:
            value_text = f"{value_text} {piece}" if value_text else piece
    value_text = re.sub(r"\s+", " ", value_text).strip()
    # marks shown after the value; numeric ones as superscript digits so '8.06¹' does not read as '8.061'
    as_written = value_text + ",".join(m.translate(_SUPERSCRIPT_DIGITS) for m in marks) if marks else value_text
    return RawCell(
        text=as_written,
        value_text=value_text,
        marks=tuple(marks),
        bbox=(float(clip.x0), float(clip.y0), float(clip.x1), float(clip.y1)),
    )


def _caption(bbox: BBox, blocks: Sequence[RawBlock]) -> str | None:
    """The nearest block starting above the table (or just below it) whose text starts like a table caption."""
    best: tuple[float, str] | None = None
    for block in blocks:
        text = block.text.strip()
        if not block.lines or not TABLE_CAPTION_RE.match(text):
            continue
        first = block.lines[0].bbox
        above = bbox[1] - first[3]
        below = first[1] - bbox[3]
        if above >= -2:
            distance = above
        elif 0 <= below < 40:
            distance = below
        else:
            continue
        if distance > 250:
            continue
        if best is None or distance < best[0]:
            best = (distance, text[:400])
    return best[1] if best else None


# --- main side: structure and continuation ------------------------------------------------------------


@dataclass
class TableRow:
    page: int
    cells: list[RawCell | None]


@dataclass
class StructuredTable:
    """A table with its header rows identified; continuations on later pages appended."""

    page: int
    bbox: BBox
    caption: str | None
    header_rows: list[list[RawCell | None]]
    rows: list[TableRow]
    pages: list[int] = field(default_factory=list)
    bottom: float = 0.0  # bottom of the table on its last page, as a fraction of the page height

    @property
    def n_columns(self) -> int:
        return max(len(r) for r in [*self.header_rows, *(row.cells for row in self.rows)])

    def column_headers(self) -> list[str]:
        """One header string per column: the texts of ``column_header_parts`` joined top to bottom."""
        return [" ".join(parts).strip() for parts in self.column_header_parts()]

    def column_header_parts(self) -> list[list[str]]:
        """Each column's header texts, one per header level, top to bottom ('CLint (uL/min/mg)' over 'HLM'); a
        header cell spanning several columns (None to its right) names each of them; one merged down over several
        rows (None below it) names its column once. In a header row above the last one, an empty cell right of a
        filled one is spanned too when the last row heads that column (a 'pKa' centred over 'water | 30% DMSO' in a
        table without vertical rules)."""
        columns = self.n_columns
        names: list[list[str]] = [[] for _ in range(columns)]
        last = self.header_rows[-1] if self.header_rows else []
        for number, row in enumerate(self.header_rows):
            upper = number < len(self.header_rows) - 1
            above_row = self.header_rows[number - 1] if number else []
            carried = ""
            for index in range(columns):
                cell = row[index] if index < len(row) else None
                below = last[index] if index < len(last) else None
                above = above_row[index] if index < len(above_row) else None
                if cell is None and above is not None and above.value_text:
                    text = carried = ""  # covered by the header cell above, merged down ('t1/2 (min)' over two rows)
                elif cell is None:
                    text = carried
                elif not cell.value_text and upper and carried and below is not None and below.value_text:
                    text = carried
                else:
                    text = cell.value_text
                    carried = text
                if text and (not names[index] or names[index][-1] != text):
                    names[index].append(text)
        return names


def _is_numeric(cell: RawCell | None) -> bool:
    if cell is None or not cell.value_text:
        return False
    parsed = parse_quantity(cell.value_text)
    return parsed is not None and (parsed.value is not None or parsed.qualifier == "nd")


def _names_label_column(row: Sequence[RawCell | None]) -> bool:
    """The row's first filled cell is a label-column name ('Compound', 'Molecule ID', 'Entry')."""
    first = next((cell for cell in row if cell is not None and cell.value_text), None)
    return first is not None and bool(LABEL_HEADER_CELL_RE.fullmatch(first.value_text.strip()))


def _header_row_count(rows: Sequence[Sequence[RawCell | None]], external: int) -> int:
    """Leading rows with no value in any column after the first (the first column often holds numeric
    labels such as '12'), or whose first cell names the label column ('Compound | water | 30% DMSO': the
    '30%' there heads a column, it is not a value); at most 3, and never the whole table."""
    count = 0
    for row in rows[: min(3, len(rows) - 1)]:
        if any(_is_numeric(cell) for cell in row[1:]) and not _names_label_column(row):
            break
        count += 1
    return max(count, external, 1 if len(rows) > 1 else 0)


def structure(table: RawTable) -> StructuredTable:
    rows = [list(row) for row in table.rows]
    width = max(len(row) for row in rows)
    rows = [row + [None] * (width - len(row)) for row in rows]
    n_header = _header_row_count(rows, table.external_header_rows)
    return StructuredTable(
        page=table.page,
        bbox=table.bbox,
        caption=table.caption,
        header_rows=rows[:n_header],
        rows=[TableRow(page=table.page, cells=row) for row in rows[n_header:]],
        pages=[table.page],
        bottom=reaches_bottom(table),
    )


def reaches_bottom(table: RawTable) -> float:
    return table.bbox[3] / table.page_height if table.page_height else 1.0


def _norm(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text.lower())


def _column_edges(table: StructuredTable) -> list[float]:
    sample = table.rows[0].cells if table.rows else table.header_rows[0]
    return [cell.bbox[0] for cell in sample if cell is not None]


def join_continued(tables: Sequence[RawTable]) -> list[StructuredTable]:
    """Structure each table and append a table on page p+1 to the last table of page p when it continues it:
    the same number of columns and either the same header (repeated header rows are dropped) or no
    header of its own with column edges that line up."""
    structured = [structure(t) for t in sorted(tables, key=lambda t: (t.page, t.bbox[1]))]
    merged: list[StructuredTable] = []
    for table in structured:
        previous = merged[-1] if merged else None
        if previous is not None and _continues(previous, table):
            same_header = _norm(" ".join(previous.column_headers())) == _norm(" ".join(table.column_headers()))
            if not same_header:
                # its "header" rows were data rows (no numbers in them): keep them as data
                previous.rows.extend(TableRow(page=table.page, cells=row) for row in table.header_rows)
            previous.rows.extend(table.rows)
            previous.pages.append(table.page)
            previous.bottom = table.bottom
            logger.debug("table on page %d continues the table of page %d", table.page, previous.page)
            continue
        merged.append(table)
    return merged


def _continues(previous: StructuredTable, table: StructuredTable) -> bool:
    if table.page != previous.pages[-1] + 1 or table.n_columns != previous.n_columns:
        return False
    if table.caption:  # 'Table 3. Continued.' continues; any other caption starts a new table
        return bool(re.search(r"(?i)\bcont(?:inued|\.|'d)", table.caption))
    if previous.bottom < CONTINUATION_BOTTOM:  # the table ended well above the foot of its page
        return False
    if _norm(" ".join(previous.column_headers())) == _norm(" ".join(table.column_headers())):
        return True
    edges_a, edges_b = _column_edges(previous), _column_edges(table)
    return len(edges_a) == len(edges_b) and all(abs(a - b) <= 12 for a, b in zip(edges_a, edges_b, strict=True))


def table_text_rows(table: StructuredTable) -> tuple[list[list[str]], list[list[str]]]:
    header = [[cell.text if cell is not None else "" for cell in row] for row in table.header_rows]
    body = [[cell.text if cell is not None else "" for cell in row.cells] for row in table.rows]
    return header, body
