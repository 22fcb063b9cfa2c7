"""``read_pdf``: one PDF in, a ``ReadDocument`` out (text in reading order, sections, tables, facts).

Pages are read one by one (in worker processes when ``max_workers > 1``, each opening the file itself, or as
compute jobs of a few pages each when an ``executor`` that runs several jobs at once is given and the document has
at least ``MIN_PAGES_FOR_JOBS`` pages); a page that fails is flagged and the rest is kept. Pages read elsewhere are
the pages read here (the same reader on the same file, checked by its sha256, and JSON that keeps every float), so
the document is the same whichever way it was read. Cross-page work (running headers, table continuations,
sections, facts) happens afterwards in the calling process. OCR is off: image-only pages are flagged.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import multiprocessing
import os
import stat
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter
from tools.literature.errors import DocumentEncrypted, DocumentUnreadable
from tools.literature.facts import Skips, find_structures, smiles_by_label, table_facts, text_facts
from tools.literature.layout import build_sections, guess_authors, guess_title, strip_running_lines
from tools.literature.models import ExtractedTable, ReadDocument
from tools.literature.pages import (
    FAILED,
    PAGES_JOB_KIND,
    TableMode,
    read_page_range,
    reader_software,
    safe_read_page,
)
from tools.literature.raw import RawPage, page_from_json
from tools.literature.tables import CONTINUATION_BOTTOM, join_continued, reaches_bottom, table_text_rows

if TYPE_CHECKING:
    import pymupdf

    from tools.compute.jobs import ComputeExecutor

logger = logging.getLogger(__name__)

_PDF_MAGIC = b"%PDF-"
PAGES_PER_WORKER = 20
MIN_PAGES_FOR_JOBS = 8  # the local executor's job processes outlive a batch, so even a short document pays
MIN_PAGES_PER_JOB = 1
# Jobs per slot: a few pages with tables take most of a document's time (PyMuPDF's table finder, ~2 s a page),
# so small jobs share them out between the workers better than one long run of pages per worker.
JOBS_PER_SLOT = 8


def read_pdf(
    path: Path,
    *,
    properties: PropertyRegistry,
    units: UnitConverter,
    max_workers: int = 1,
    tables: TableMode = "auto",
    executor: ComputeExecutor | None = None,
) -> ReadDocument:
    """Read ``path`` into a ``ReadDocument``.

    ``tables``: 'auto' looks for tables on pages with a table caption ('Table 2', 'TABLE I', 'Table S3')
    and on the page after a table (continuations); 'all' on every page (slow: PyMuPDF's layout model
    takes ~0.5 s a page); 'none' skips tables. ``executor``: read the pages as compute jobs when it runs several at
    once and the document has at least ``MIN_PAGES_FOR_JOBS`` pages (before ``max_workers`` is looked at).

    Raises:
        DocumentUnreadable: missing, not a regular file (a folder, a pipe, a device), a loop of symbolic links,
            not readable, empty, not a PDF, without pages, corrupt beyond repair, or no page could be read.
        DocumentEncrypted: the PDF needs a password.
    """
    started = time.perf_counter()
    path = Path(path)
    data = _read_bytes(path)
    sha256 = hashlib.sha256(data).hexdigest()
    doc = _open(path, data)
    try:
        n_pages = doc.page_count
        metadata = doc.metadata or {}
        raw_pages = _read_pages_as_jobs(executor, doc, path, sha256, n_pages, tables)
        if raw_pages is None:
            raw_pages = _read_pages(doc, path, n_pages, tables, max_workers)
        raw_pages = _scan_continuations(doc, raw_pages, tables)
    finally:
        doc.close()
    if all(any(flag.startswith(FAILED) for flag in page.flags) for page in raw_pages):
        # nothing of it was read: a failure of the document, not a document of flagged pages
        first = next(flag for flag in raw_pages[0].flags if flag.startswith(FAILED)).removeprefix(FAILED)
        raise DocumentUnreadable(path, f"corrupt PDF: none of its {n_pages} page(s) could be read ({first})")

    flagged = [(page.number, flag) for page in raw_pages for flag in page.flags]
    text_pages, removed = strip_running_lines(raw_pages)
    if removed:
        logger.debug("%s: removed %d running header/footer lines", path.name, removed)
    title, title_lines = guess_title(metadata.get("title"), text_pages)
    authors = guess_authors(metadata.get("author"), text_pages, title_lines)
    sections = build_sections(text_pages)

    structured = join_continued([table for page in raw_pages for table in page.tables])
    skipped = Skips()
    structures = find_structures(text_pages)
    labels_to_smiles = smiles_by_label(structures)
    facts = table_facts(structured, properties=properties, units=units, skipped=skipped, smiles_by_label=labels_to_smiles)
    facts += text_facts(text_pages, properties=properties, units=units, skipped=skipped)
    if labels_to_smiles:
        facts = [
            fact.model_copy(update={"smiles": labels_to_smiles[fact.compound]})
            if fact.smiles is None and fact.compound in labels_to_smiles
            else fact
            for fact in facts
        ]

    extracted_tables = []
    for table in structured:
        header, body = table_text_rows(table)
        extracted_tables.append(
            ExtractedTable(page=table.page, bbox=table.bbox, pages=table.pages, caption=table.caption, header_rows=header, rows=body)
        )
    elapsed = time.perf_counter() - started
    logger.info(
        "%s: %d pages in %.1f s, %d tables, %d facts, %d flagged pages, skipped %s",
        path.name,
        n_pages,
        elapsed,
        len(extracted_tables),
        len(facts),
        len({page for page, _ in flagged}),
        dict(skipped) or "nothing",
    )
    return ReadDocument(
        path=path,
        sha256=sha256,
        title=title,
        authors=authors,
        pages=n_pages,
        flagged_pages=flagged,
        sections=sections,
        tables=extracted_tables,
        facts=facts,
        structures=structures,
        skipped=dict(sorted(skipped.items())),
    )


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, checked to be a regular file first: reading a pipe or a device (``/dev/zero``) would
    block or never end."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise DocumentUnreadable(path, path_error_reason(path, error)) from error
    if stat.S_ISDIR(mode):
        raise DocumentUnreadable(path, "is a directory")
    if not stat.S_ISREG(mode):
        raise DocumentUnreadable(path, "not a regular file (a pipe, socket or device)")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DocumentUnreadable(path, path_error_reason(path, error)) from error
    if not data:
        raise DocumentUnreadable(path, "empty file")
    if _PDF_MAGIC not in data[:1024]:
        raise DocumentUnreadable(path, "not a PDF (no %PDF- header)")
    return data


def path_error_reason(path: Path, error: OSError) -> str:
    """Why ``path`` could not be used, in words: the ``OSError`` from stat or open, told apart by its errno."""
    if error.errno == errno.ELOOP:
        return "a loop of symbolic links"
    if error.errno == errno.ENOENT and path.is_symlink():
        return f"a broken symbolic link (to {os.readlink(path)})"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return "no such file or folder"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return f"cannot be read: {error.strerror or error}"


def _open(path: Path, data: bytes) -> pymupdf.Document:
    import pymupdf

    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as error:  # FileDataError, EmptyFileError, RuntimeError from MuPDF
        raise DocumentUnreadable(path, f"corrupt PDF: {error}") from error
    if doc.needs_pass:
        doc.close()
        raise DocumentEncrypted(path, "the PDF is encrypted and needs a password")
    if doc.page_count == 0:
        doc.close()
        raise DocumentUnreadable(path, "the PDF has no pages (empty or corrupt)")
    return doc


def _read_pages(doc: pymupdf.Document, path: Path, n_pages: int, tables: TableMode, max_workers: int) -> list[RawPage]:
    # a worker costs ~1.5-2 s to start (spawn, PyMuPDF and its layout model); below ~20 pages a worker
    # it does not pay for itself
    workers = max(1, min(max_workers, n_pages // PAGES_PER_WORKER))
    if workers == 1:
        return [safe_read_page(doc, index, tables) for index in range(n_pages)]
    # contiguous page ranges, one task per range; spawned workers (forking a process that has MuPDF and
    # onnxruntime threads running is not safe)
    chunk = -(-n_pages // (workers * 2))
    ranges = [list(range(start, min(start + chunk, n_pages))) for start in range(0, n_pages, chunk)]
    results: dict[int, RawPage] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(read_page_range, str(path), numbers, tables): numbers for numbers in ranges}
        for future, numbers in futures.items():
            try:
                for page in future.result():
                    results[page.number] = page
            except Exception as error:  # a worker died (BrokenProcessPool), e.g. a script without a __main__ guard
                logger.warning(
                    "%s: pages %d-%d failed in a worker (%s: %s); reading them in this process",
                    path.name,
                    numbers[0] + 1,
                    numbers[-1] + 1,
                    type(error).__name__,
                    error,
                )
                for index in numbers:
                    results[index + 1] = safe_read_page(doc, index, tables)
    return [results[number] for number in range(1, n_pages + 1)]


def _read_pages_as_jobs(
    executor: ComputeExecutor | None, doc: pymupdf.Document, path: Path, sha256: str, n_pages: int, tables: TableMode
) -> list[RawPage] | None:
    """The pages read by compute jobs of contiguous pages (``JOBS_PER_SLOT`` jobs per slot, at least
    ``MIN_PAGES_PER_JOB`` pages each), or None when the executor runs one job at a time or the document is
    short. Pages whose job gave nothing usable are read here."""
    from tools.compute.fanout import job_results, parallel_slots
    from tools.compute.jobs import JobRequest

    slots = parallel_slots(executor)
    if executor is None or slots < 2 or n_pages < MIN_PAGES_FOR_JOBS:
        return None
    size = max(MIN_PAGES_PER_JOB, -(-n_pages // (JOBS_PER_SLOT * slots)))
    ranges = [list(range(start, min(start + size, n_pages))) for start in range(0, n_pages, size)]
    software = reader_software()
    jobs = [
        JobRequest(kind=PAGES_JOB_KIND,
                   inputs={"path": str(path.resolve()), "sha256": sha256, "numbers": numbers, "tables": tables,
                           "software": software},
                   label=f"{path.name}: " + (f"pages {numbers[0] + 1}-{numbers[-1] + 1}" if len(numbers) > 1
                                             else f"page {numbers[0] + 1}"))
        for numbers in ranges
    ]
    pages: list[RawPage] = []
    for numbers, result in zip(ranges, job_results(executor, jobs, group=f"read {path.name}"), strict=True):
        read = _pages_of(result, numbers)
        pages.extend(read if read is not None else (safe_read_page(doc, index, tables) for index in numbers))
    return pages


def _pages_of(result: Any, numbers: list[int]) -> list[RawPage] | None:
    """The pages of a job's result, or None when it is not the pages ``numbers`` (1-based in the pages)."""
    if not isinstance(result, list) or len(result) != len(numbers):
        return None
    try:
        pages = [page_from_json(item) for item in result]
    except (KeyError, TypeError, ValueError):
        return None
    return pages if [page.number for page in pages] == [index + 1 for index in numbers] else None


def _scan_continuations(doc: pymupdf.Document, pages: list[RawPage], tables: TableMode) -> list[RawPage]:
    """In 'auto' mode a page is searched for tables only when it has a table caption; a table running on
    to the next page may have none there, so look at the page after every page that has a table."""
    if tables != "auto":
        return pages
    out = list(pages)
    for index in range(len(out) - 1):
        page = out[index]
        following = out[index + 1]
        runs_on = any(reaches_bottom(table) >= CONTINUATION_BOTTOM for table in page.tables)
        if runs_on and not following.tables_scanned and following.blocks:
            out[index + 1] = safe_read_page(doc, index + 1, tables, force_tables=True)
    return out
