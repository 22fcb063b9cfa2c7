"""Reading single pages into ``RawPage`` data. Runs in the calling process, in worker processes or as compute jobs
(``read_pages_job``); each worker or job opens the document itself (PyMuPDF documents are not thread-safe and do
not pickle).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Literal

from tools.literature.layout import order_blocks, remove_line_numbers
from tools.literature.raw import RawBlock, RawLine, RawPage, RawTable, as_bbox, center_inside, page_to_json
from tools.literature.tables import TABLE_CAPTION_RE, find_tables

if TYPE_CHECKING:
    import pymupdf

logger = logging.getLogger(__name__)

TableMode = Literal["auto", "all", "none"]

IMAGE_ONLY = "image-only page: no text layer (OCR is off)"
BLANK = "blank page: no text and no images"
SCANNED = "scanned page: page image with an invisible OCR text layer (text may contain OCR errors)"
FAILED = "failed: "  # the prefix of the flag of a page that could not be read at all
PAGES_JOB_KIND = "tools.literature.pages:read_pages_job"


def read_page(page: pymupdf.Page, *, tables: TableMode = "auto", force_tables: bool = False) -> RawPage:
    """Text blocks in reading order, tables and flags of one page."""
    number = page.number + 1
    width, height = float(page.rect.width), float(page.rect.height)
    flags: list[str] = []
    blocks = _text_blocks(page)
    n_chars = sum(len(line.text.strip()) for block in blocks for line in block.lines)
    if n_chars == 0:
        images = page.get_image_info()
        flags.append(IMAGE_ONLY if images else BLANK)
        logger.info("page %d: %s", number, flags[-1])
        return RawPage(number, width, height, (), (), tuple(flags), tables_scanned=False)
    if _is_scanned(page, width * height):
        flags.append(SCANNED)

    scan = force_tables or tables == "all" or (tables == "auto" and _mentions_table(blocks))
    found: list[RawTable] = find_tables(page, number, blocks) if scan else []
    if found:
        blocks = [
            RawBlock(block.bbox, kept)
            for block in blocks
            if (kept := tuple(ln for ln in block.lines if not any(center_inside(ln.bbox, t.bbox) for t in found)))
        ]
    blocks = remove_line_numbers(blocks)
    blocks = order_blocks(blocks)
    return RawPage(number, width, height, tuple(blocks), tuple(found), tuple(flags), tables_scanned=scan)


def _text_blocks(page: pymupdf.Page) -> list[RawBlock]:
    import pymupdf

    flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_PRESERVE_LIGATURES | pymupdf.TEXT_MEDIABOX_CLIP
    data = page.get_text("dict", flags=flags)
    blocks: list[RawBlock] = []
    for block in data.get("blocks", []):
        if block.get("type", 0) != 0:
            continue
        lines: list[RawLine] = []
        for line in block.get("lines", []):
            spans = [s for s in line.get("spans", []) if s.get("text")]
            text = re.sub(r"\s+", " ", "".join(s["text"] for s in spans)).strip()
            if not text:
                continue
            main = max(spans, key=lambda s: len(s["text"].strip()))
            visible = [s for s in spans if s["text"].strip()]
            bold = bool(visible) and all(
                (s["flags"] & 16) or "bold" in s.get("font", "").lower() or "black" in s.get("font", "").lower()
                for s in visible
            )
            lines.append(RawLine(text=text, bbox=as_bbox(line["bbox"]), size=float(main["size"]), bold=bold))
        if lines:
            blocks.append(RawBlock(bbox=as_bbox(block["bbox"]), lines=tuple(lines)))
    return blocks


def _mentions_table(blocks: list[RawBlock]) -> bool:
    return any(TABLE_CAPTION_RE.match(block.text) for block in blocks)


def _is_scanned(page: pymupdf.Page, area: float) -> bool:
    """A page image covering most of the page, with all text drawn invisibly (render mode 3: an OCR layer)."""
    big = False
    for info in page.get_image_info():
        x0, y0, x1, y1 = info["bbox"]
        if (x1 - x0) * (y1 - y0) >= 0.7 * area:
            big = True
            break
    if not big:
        return False
    traces = page.get_texttrace()
    return bool(traces) and all(trace.get("type") == 3 for trace in traces)


def read_page_range(path: str, numbers: list[int], tables: TableMode) -> list[RawPage]:
    """Worker entry point: open the document and read the given 0-based pages, one failure per page."""
    import pymupdf

    doc = pymupdf.open(path)
    try:
        return [safe_read_page(doc, index, tables) for index in numbers]
    finally:
        doc.close()


def safe_read_page(doc: pymupdf.Document, index: int, tables: TableMode, *, force_tables: bool = False) -> RawPage:
    """The page, or an empty page flagged ``FAILED`` when MuPDF or the reader raised on it."""
    try:
        page = doc.load_page(index)
        return read_page(page, tables=tables, force_tables=force_tables)
    except Exception as error:  # one bad page must not lose the document: record it and go on
        logger.warning("page %d could not be read: %s: %s", index + 1, type(error).__name__, error)
        return RawPage(
            number=index + 1,
            width=0.0,
            height=0.0,
            blocks=(),
            tables=(),
            flags=(f"{FAILED}{type(error).__name__}: {error}",),
            tables_scanned=False,
        )


def reader_software() -> dict[str, str]:
    """What a page's reading depends on besides the file: AtomLoop's and PyMuPDF's versions (part of a page job's
    key, so pages read by another version are not reused)."""
    from tools.compute.fanout import package_versions

    return package_versions("atomloop", "pymupdf")


def read_pages_job(
    path: str, sha256: str, numbers: list[int], tables: TableMode, software: dict[str, str]
) -> list[dict[str, Any]]:
    """A compute job: open ``path`` and read its 0-based pages ``numbers`` (``raw.page_to_json`` of each, one
    failure per page as in ``safe_read_page``).

    Raises:
        ValueError: ``path`` is not the file ``sha256`` names (it changed since the job was made), or this worker's
            AtomLoop or PyMuPDF is not the one ``software`` names.
    """
    from tools.compute.fanout import check_file

    here = reader_software()
    if here != software:
        raise ValueError(f"this worker reads with {here}, the job was made for {software}")
    return [page_to_json(page) for page in read_page_range(str(check_file(path, sha256)), numbers, tables)]
