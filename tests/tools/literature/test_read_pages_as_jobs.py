"""A long document's pages read as compute jobs give the document the serial reader gives (text, sections, tables
continued across pages, facts, flags); a chunk whose job fails is read in process; short documents and executors
of one slot read as before; the read_literature path passes its executor down."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tools.literature.pages as pages
import tools.literature.pdf as pdf
from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter
from tools.compute.inline import InlineExecutor
from tools.compute.local import LocalExecutor
from tools.literature.raw import page_from_json, page_to_json
from tools.literature.read_literature import read_one_document

pymupdf = pytest.importorskip("pymupdf")

NewPdf = Callable[..., tuple[Any, Callable[[], Any], Callable[..., Path]]]



@pytest.fixture(scope="module")
def local_pool() -> Iterator[LocalExecutor]:
    executor = LocalExecutor(None, workers=2)
    yield executor
    executor.close()


@pytest.fixture()
def long_pdf(new_pdf: NewPdf) -> Path:
    """Ten pages: a title, a table that runs on from page 3 to page 4, a pKa sentence on each page, a blank page."""
    doc, add_page, save = new_pdf()
    first = add_page()
    first.text(40, 50, "Acidity of ten synthetic compounds", size=16)
    first.text(40, 72, "Ada Lovelace and Alan M. Turing", size=10)
    for number in range(1, 11):
        page = first if number == 1 else add_page()
        if number == 3:
            page.text(40, 560, "Table 1. Measured pKa values.", size=9)
            page.table(40, 570, [80, 80], [["Compound", "pKa"], *[[f"SM{i:02d}", f"{3 + i / 10:.2f}"] for i in range(12)]])
        if number == 4:
            page.table(40, 40, [80, 80], [[f"SM{i:02d}", f"{3 + i / 10:.2f}"] for i in range(12, 20)])
        if number == 7:
            continue  # blank: flagged
        page.paragraph((60, 300, 500, 400), f"The pKa of compound {number} was {4 + number / 100:.2f} in water.")
    return save("long.pdf")


def read(path: Path, registry: PropertyRegistry, units: UnitConverter, **options: Any) -> dict[str, Any]:
    return pdf.read_pdf(path, properties=registry, units=units, **options).model_dump()


def test_pages_read_as_jobs_give_the_serial_document(
    long_pdf: Path, registry: PropertyRegistry, units: UnitConverter, local_pool: LocalExecutor,
    monkeypatch: pytest.MonkeyPatch, two_slot_inline: Callable[[], Any],
) -> None:
    serial = read(long_pdf, registry, units)
    assert serial["pages"] == 10 and [page for page, _ in serial["flagged_pages"]] == [7]
    assert serial["tables"][0]["pages"] == [3, 4] and len(serial["facts"]) >= 9
    inline = two_slot_inline()
    assert read(long_pdf, registry, units, executor=inline) == serial
    assert [job.inputs["numbers"] for job in inline.jobs] == [[i] for i in range(10)]  # 8 jobs a slot at most
    monkeypatch.setattr(pdf, "JOBS_PER_SLOT", 2)
    inline = two_slot_inline()
    assert read(long_pdf, registry, units, executor=inline) == serial
    assert [job.inputs["numbers"] for job in inline.jobs] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert {job.kind for job in inline.jobs} == {pages.PAGES_JOB_KIND}
    assert read(long_pdf, registry, units, executor=local_pool) == serial


def test_a_chunk_whose_job_fails_is_read_in_process(
    long_pdf: Path, registry: PropertyRegistry, units: UnitConverter, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, two_slot_inline: Callable[[], Any],
) -> None:
    serial = read(long_pdf, registry, units)
    real_job = pages.read_pages_job

    def second_chunk_fails(**inputs: Any) -> list[dict[str, Any]]:
        if inputs["numbers"] == [3]:
            raise MemoryError("out of memory")
        return real_job(**inputs)

    monkeypatch.setattr(pages, "read_pages_job", second_chunk_fails)
    with caplog.at_level(logging.WARNING, logger="tools.compute.fanout"):
        assert read(long_pdf, registry, units, executor=two_slot_inline()) == serial
    assert [r.getMessage() for r in caplog.records] == [
        "read long.pdf: job long.pdf: page 4 failed (MemoryError: out of memory); doing its part in this process"
    ]


def test_a_job_refuses_a_file_that_changed(long_pdf: Path) -> None:
    with pytest.raises(ValueError, match="not the file this job was made for"):
        pages.read_pages_job(str(long_pdf), "0" * 64, [0], "auto", pages.reader_software())


def test_short_documents_and_single_slots_read_in_process(
    long_pdf: Path, new_pdf: NewPdf, registry: PropertyRegistry, units: UnitConverter, two_slot_inline: Callable[[], Any],
) -> None:
    doc, add_page, save = new_pdf()
    for value in ("3.10", "4.20"):
        add_page().paragraph((60, 300, 500, 400), f"The pKa of SM11 was {value} in water.")
    short = save("short.pdf")
    executor = two_slot_inline()
    assert read(short, registry, units, executor=executor) == read(short, registry, units)
    one_slot = InlineExecutor(None)
    one_slot.run = lambda *a, **k: pytest.fail("no job may be sent")  # type: ignore[method-assign]
    read(long_pdf, registry, units, executor=one_slot)
    assert executor.jobs == []


def test_read_one_document_passes_its_executor(long_pdf: Path, registry: PropertyRegistry, units: UnitConverter, two_slot_inline: Callable[[], Any]) -> None:
    executor = two_slot_inline()
    through_jobs = read_one_document(long_pdf, registry, units, executor)
    assert through_jobs == read_one_document(long_pdf, registry, units) and len(executor.jobs) == 10


def test_raw_pages_survive_json(long_pdf: Path) -> None:
    document = pymupdf.open(long_pdf)
    try:
        for index in range(document.page_count):
            page = pages.safe_read_page(document, index, "auto", force_tables=True)
            assert page_from_json(page_to_json(page)) == page
    finally:
        document.close()


def test_atomloop_read_sends_a_long_documents_pages_to_the_configured_executor(
    long_pdf: Path, registry: PropertyRegistry, units: UnitConverter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from agent.cli import cli

    monkeypatch.setenv("ATOMLOOP_COMPUTE__EXECUTOR", "local")
    monkeypatch.setenv("ATOMLOOP_COMPUTE__WORKERS", "2")
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "init"]).exit_code == 0
    result = runner.invoke(cli, ["read", str(long_pdf), "--json"])
    assert result.exit_code == 0, result.output
    (document,) = json.loads(result.stdout)["documents"]
    assert len(document["facts"]) == len(read(long_pdf, registry, units)["facts"])
    listed = json.loads(runner.invoke(cli, ["jobs", "list", "--json"]).stdout)
    assert len(listed) == 10 and {job["status"] for job in listed} == {"succeeded"}
    assert {job["group"] for job in listed} == {"read long.pdf"} and {job["executor"] for job in listed} == {"local"}
