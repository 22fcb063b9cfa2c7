"""What the reader returns: a document's text structure, its tables and the facts read from them.

Everything is a frozen pydantic model. Values in ``ExtractedFact`` are already in the property's canonical
unit (``unit``); what the paper printed is kept in ``unit_as_written`` and ``snippet``. A table column whose
property the registry does not know gives facts with ``registered=False``: the header text as property and the
value and unit as printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Qualifier = Literal["=", "<", ">", "<=", ">=", "~", "range", "nd"]
BBox = tuple[float, float, float, float]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ExtractedFact(_Frozen):
    """One property value read from a table cell or a sentence."""

    compound: str | None = Field(description="Compound label or name as written (e.g. 'SM07'), if linked")
    property: str = Field(description="Canonical property name from the PropertyRegistry (the header text when not registered)")
    value: float | None = Field(description="Value (low end of a range) in the canonical unit; None for 'nd'")
    value_high: float | None = Field(default=None, description="High end of a range, canonical unit")
    qualifier: Qualifier = "="
    uncertainty: float | None = Field(default=None, description="± uncertainty in the canonical unit")
    unit: str = Field(description="The property's canonical unit (values were converted into it); as printed when not registered")
    unit_as_written: str | None = Field(default=None, description="The unit printed in the paper, if any")
    page: int = Field(description="1-based page number")
    bbox: BBox | None = Field(default=None, description="(x0, y0, x1, y1) in PDF points, top-left origin")
    snippet: str = Field(description="The text the value was read from")
    source: Literal["table", "text"]
    header: str | None = Field(default=None, description="Column header as written (tables only)")
    footnotes: tuple[str, ...] = Field(default=(), description="Footnote marks attached to the value ('a', '*')")
    smiles: str | None = Field(default=None, description="Canonical SMILES linked to the compound, if found")
    conditions: dict[str, str] = Field(
        default_factory=dict,
        description="What the value was measured under, as the header or the cell says: 'target' ('EGFR', 'hERG'), "
        "'species' ('human' for HLM), 'pH' ('7.4'), 'n' (replicates)",
    )
    registered: bool = Field(
        default=True,
        description="Whether ``property`` is in the PropertyRegistry; False for a table column the registry does not "
        "know, kept with its header text as property and the unit as printed (no conversion)",
    )


class Section(_Frozen):
    heading: str
    page: int
    text: str


class ExtractedTable(_Frozen):
    page: int = Field(description="1-based page where the table starts")
    bbox: BBox = Field(description="Bounding box on its first page")
    pages: list[int] = Field(description="Every page the table spans (continuations joined)")
    caption: str | None = None
    header_rows: list[list[str]]
    rows: list[list[str]] = Field(description="Body rows; cells as written, footnote marks included")


class FoundStructure(_Frozen):
    """A SMILES string found in the document that RDKit accepted."""

    text: str = Field(description="As written")
    smiles: str = Field(description="Canonical SMILES")
    inchikey: str
    page: int
    compound: str | None = Field(default=None, description="A label printed next to it, if any")


class ReadDocument(_Frozen):
    path: Path
    sha256: str
    title: str | None
    authors: list[str]
    pages: int
    flagged_pages: list[tuple[int, str]] = Field(description="(1-based page, reason) for pages read badly or not at all")
    sections: list[Section]
    tables: list[ExtractedTable]
    facts: list[ExtractedFact]
    structures: list[FoundStructure] = Field(default_factory=list)
    skipped: dict[str, int] = Field(
        default_factory=dict, description="Values seen but not turned into facts, by reason (e.g. 'unknown_unit')"
    )
