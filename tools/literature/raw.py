"""Plain per-page data handed from the page readers (possibly other processes) to the document assembler.

Frozen slotted dataclasses: cheap to build, cheap to pickle, and turned into JSON and back without loss
(``page_to_json``, ``page_from_json``: floats keep every bit through JSON) for pages read by compute jobs.
Coordinates are PDF points, top-left origin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

BBox = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class RawLine:
    text: str
    bbox: BBox
    size: float
    bold: bool


@dataclass(frozen=True, slots=True)
class RawBlock:
    bbox: BBox
    lines: tuple[RawLine, ...]

    @property
    def text(self) -> str:
        return " ".join(line.text for line in self.lines)


@dataclass(frozen=True, slots=True)
class RawCell:
    text: str  # as written, footnote marks included ('4.21a')
    value_text: str  # superscript footnote marks removed
    marks: tuple[str, ...]  # superscript footnote marks
    bbox: BBox


@dataclass(frozen=True, slots=True)
class RawTable:
    page: int
    bbox: BBox
    rows: tuple[tuple[RawCell | None, ...], ...]  # None: a cell covered by a spanning neighbour
    caption: str | None
    external_header_rows: int = 0  # leading rows PyMuPDF found above the ruled grid
    page_height: float = 0.0


@dataclass(frozen=True, slots=True)
class RawPage:
    number: int  # 1-based
    width: float
    height: float
    blocks: tuple[RawBlock, ...]  # in reading order; table text and margin line numbers removed
    tables: tuple[RawTable, ...]
    flags: tuple[str, ...]
    tables_scanned: bool


def as_bbox(values: Iterable[float]) -> BBox:
    """A box from the four coordinates PyMuPDF reports (a ``Rect`` or a list), as floats."""
    x0, y0, x1, y1 = (float(v) for v in values)
    return (x0, y0, x1, y1)


def union(boxes: list[BBox]) -> BBox:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def center_inside(box: BBox, outer: BBox, margin: float = 2.0) -> bool:
    cx = (box[0] + box[2]) / 2
    cy = (box[1] + box[3]) / 2
    return outer[0] - margin <= cx <= outer[2] + margin and outer[1] - margin <= cy <= outer[3] + margin


def page_to_json(page: RawPage) -> dict[str, Any]:
    """The page as JSON-able data (``page_from_json`` makes the same page of it)."""
    return {
        "number": page.number,
        "width": page.width,
        "height": page.height,
        "blocks": [_block_to_json(block) for block in page.blocks],
        "tables": [
            {"page": table.page, "bbox": list(table.bbox), "caption": table.caption,
             "external_header_rows": table.external_header_rows, "page_height": table.page_height,
             "rows": [[None if cell is None else {"text": cell.text, "value_text": cell.value_text,
                                                   "marks": list(cell.marks), "bbox": list(cell.bbox)}
                       for cell in row] for row in table.rows]}
            for table in page.tables
        ],
        "flags": list(page.flags),
        "tables_scanned": page.tables_scanned,
    }


def _block_to_json(block: RawBlock) -> dict[str, Any]:
    return {"bbox": list(block.bbox),
            "lines": [{"text": line.text, "bbox": list(line.bbox), "size": line.size, "bold": line.bold}
                      for line in block.lines]}


def page_from_json(data: dict[str, Any]) -> RawPage:
    """The page ``page_to_json`` wrote (raises KeyError, TypeError or ValueError for anything else)."""
    blocks = tuple(
        RawBlock(bbox=as_bbox(block["bbox"]),
                 lines=tuple(RawLine(text=str(line["text"]), bbox=as_bbox(line["bbox"]), size=float(line["size"]),
                                     bold=bool(line["bold"])) for line in block["lines"]))
        for block in data["blocks"]
    )
    tables = tuple(
        RawTable(
            page=int(table["page"]),
            bbox=as_bbox(table["bbox"]),
            rows=tuple(
                tuple(None if cell is None else RawCell(text=str(cell["text"]), value_text=str(cell["value_text"]),
                                                        marks=tuple(str(m) for m in cell["marks"]),
                                                        bbox=as_bbox(cell["bbox"]))
                      for cell in row)
                for row in table["rows"]
            ),
            caption=table["caption"],
            external_header_rows=int(table["external_header_rows"]),
            page_height=float(table["page_height"]),
        )
        for table in data["tables"]
    )
    return RawPage(number=int(data["number"]), width=float(data["width"]), height=float(data["height"]),
                   blocks=blocks, tables=tables, flags=tuple(str(f) for f in data["flags"]),
                   tables_scanned=bool(data["tables_scanned"]))
