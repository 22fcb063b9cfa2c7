"""Plain per-page data handed from the page readers (possibly other processes) to the document assembler.

Frozen slotted dataclasses: cheap to build, cheap to pickle. Coordinates are PDF points, top-left origin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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
