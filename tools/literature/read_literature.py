"""read_literature: PDFs to titles, tables and property values with units, compound labels and page provenance."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from tools.base import Tool, ToolContext
from tools.errors import ToolFailed, ToolInputError
from tools.paths import AllowedPaths
from tools.records import Records
from tools.schemas import InvalidInput, ToolInput, ToolOutput

if TYPE_CHECKING:
    from knowledge.properties import PropertyRegistry
    from knowledge.units import UnitConverter
    from tools.compute.jobs import ComputeExecutor


class ReadLiteratureInput(ToolInput):
    paths: list[str] = Field(min_length=1, max_length=200, description="PDF files or folders of PDFs")


class LiteratureFact(ToolOutput):
    compound: str | None
    property: str
    value: float | None
    value_high: float | None
    qualifier: str
    uncertainty: float | None
    unit: str
    page: int
    bbox: tuple[float, float, float, float] | None
    snippet: str
    source: str
    smiles: str | None
    conditions: dict[str, str] = Field(default_factory=dict, description="target, species, pH ... the value was measured under")
    registered: bool = Field(default=True, description="False: a table column the property registry does not know")


class ReadDocumentOutput(ToolOutput):
    path: str
    sha256: str
    title: str | None
    authors: list[str]
    pages: int
    flagged_pages: list[tuple[int, str]]
    facts: list[LiteratureFact]
    skipped: dict[str, int]


class ReadLiteratureOutput(ToolOutput):
    documents: list[ReadDocumentOutput]
    unreadable: list[InvalidInput]


def literature_files(paths: list[str], allowed: AllowedPaths | None = None) -> list[Path]:
    """The PDF files ``paths`` name (files, or folders searched recursively). With ``allowed`` (paths a planner
    chose), every path and every file found in a folder must lie under the allowed folders, symlinks followed;
    without it (paths the user typed), any readable path will do."""
    files: list[Path] = []
    for text in paths:
        path = allowed.resolve(text, what="document path") if allowed is not None else Path(text).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())
            files += [allowed.resolve(str(p), what="document") for p in found] if allowed is not None else found
        elif path.exists():
            files.append(path)
        else:
            raise ToolInputError(f"no such file or folder: {text}")
    return files


def read_one_document(
    path: Path, properties: PropertyRegistry, units: UnitConverter, executor: ComputeExecutor | None = None
) -> ReadDocumentOutput:
    """One PDF read into the tool's output form (facts with units in the registry's canonical terms); its pages as
    compute jobs on ``executor`` where that pays (``read_pdf``)."""
    from tools.literature.pdf import read_pdf

    document = read_pdf(path, properties=properties, units=units, executor=executor)
    data = document.model_dump(mode="json")
    data["path"] = str(path)
    data["facts"] = [{k: f[k] for k in LiteratureFact.model_fields} for f in data["facts"]]
    return ReadDocumentOutput(**{k: data[k] for k in ReadDocumentOutput.model_fields})


async def read_literature(ctx: ToolContext, args: ReadLiteratureInput) -> ReadLiteratureOutput:
    """Text from documents is returned as data; nothing in it is executed or followed."""
    import asyncio

    documents, unreadable = [], []
    for path in literature_files(args.paths, ctx.paths):
        try:
            documents.append(
                await asyncio.to_thread(read_one_document, path, ctx.store.properties, ctx.store.units, ctx.executor)
            )
        except ToolInputError as error:
            unreadable.append(InvalidInput(input=str(path), error=str(error)))
    if not documents:
        raise ToolFailed(f"no document could be read: {'; '.join(u.error for u in unreadable)[:500]}")
    return ReadLiteratureOutput(documents=documents, unreadable=unreadable)



def records(output: ReadLiteratureOutput) -> Records:
    return Records(documents=tuple(document.model_dump(mode="json") for document in output.documents))


TOOL = Tool(
    "read_literature",
    "Read PDFs (files or folders): title, tables and property values with units, compound labels, page and snippet for each value.",
    ReadLiteratureInput,
    ReadLiteratureOutput,
    read_literature,
    effect="read",
    timeout_s=3600,
    records=records,
)
