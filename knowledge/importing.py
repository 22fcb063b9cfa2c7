"""Importing measurements from CSV/TSV files.

By default an import is atomic: every row is validated first, and one bad row stops the import with its
line number and writes nothing. With ``skip_invalid`` the valid rows are imported and each skipped line is
reported with its reason. Each row's idempotency key is the file's hash and the row's line, so importing
the same file twice adds nothing.

The file is decoded by ``knowledge.textfiles`` (UTF-8 with or without a byte-order mark, UTF-16/32 with one): a
binary file or one in another encoding is an ``UnreadableFile`` input error before anything is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from knowledge.errors import ImportFailed, StoreInputError
from knowledge.models import MeasurementSource
from knowledge.store import KnowledgeStore, NewMeasurement, PreparedMeasurement
from knowledge.textfiles import decode_text, read_bytes


class SkippedRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    line: int
    reason: str


class ImportReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    property: str
    unit: str
    smiles_column: str
    value_column: str
    rows_read: int
    imported: int
    already_present: int
    skipped: list[SkippedRow]


def _pick_column(requested: str | None, columns: list[str], what: str) -> str:
    if requested is None:
        raise AssertionError("caller resolves defaults")
    for column in columns:
        if column == requested:
            return column
    for column in columns:
        if column.strip().lower() == requested.strip().lower():
            return column
    raise StoreInputError(f"no {what} column {requested!r}; the file's columns are: {', '.join(columns)}")


def resolve_columns(
    columns: list[str],
    property_names: set[str],
    smiles_col: str | None,
    value_col: str | None,
    taken: tuple[str, ...] = (),
) -> tuple[str, str]:
    """The SMILES column (default 'smiles') and the value column (default: the only other column not
    ``taken``, or the one named like the property)."""
    smiles = _pick_column(smiles_col or "smiles", columns, "SMILES")
    if value_col is not None:
        return smiles, _pick_column(value_col, columns, "value")
    others = [c for c in columns if c != smiles and c not in taken]
    if len(others) == 1:
        return smiles, others[0]
    named = [c for c in others if c.strip().lower() in property_names]
    if len(named) == 1:
        return smiles, named[0]
    raise StoreInputError(
        f"cannot tell which column holds the values among {', '.join(others)}: pass --value-col"
    )


def import_measurements_csv(
    store: KnowledgeStore,
    path: Path,
    property: str,
    *,
    unit: str | None = None,
    smiles_col: str | None = None,
    value_col: str | None = None,
    uncertainty_col: str | None = None,
    source: MeasurementSource = "literature",
    skip_invalid: bool = False,
) -> ImportReport:
    spec = store.properties.get(property)
    unit = unit or spec.canonical_unit
    data = read_bytes(path, what="table")
    sha = hashlib.sha256(data).hexdigest()  # of the bytes that are decoded below, read once
    text = decode_text(data, path, what="table")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    preparer = store.preparer()
    prepared: list[PreparedMeasurement] = []
    problems: list[tuple[int, str]] = []
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        with _csv_errors_as_input(path, reader):
            fieldnames = reader.fieldnames
        if not fieldnames:
            raise StoreInputError(f"{path} is empty (no header line)")
        columns = list(fieldnames)
        aliases = {spec.name.lower(), *(a.lower() for a in spec.aliases)}
        if uncertainty_col is not None:
            uncertainty_col = _pick_column(uncertainty_col, columns, "uncertainty")
        taken = (uncertainty_col,) if uncertainty_col else ()
        smiles_column, value_column = resolve_columns(columns, aliases, smiles_col, value_col, taken)
        rows_read = 0
        line = reader.line_num
        for row in _checked_rows(path, reader):
            line_of_row, line = line + 1, reader.line_num
            rows_read += 1
            raw_value = (row.get(value_column) or "").strip()
            if not raw_value:
                problems.append((line_of_row, f"empty {value_column!r} value"))
                continue
            try:
                raw_uncertainty = (row.get(uncertainty_col) or "").strip() if uncertainty_col else ""
                # The raw text goes through NewMeasurement's validators into finite floats.
                new = NewMeasurement.model_validate(
                    {
                        "smiles": row.get(smiles_column) or "",
                        "property": spec.name,
                        "value": raw_value,
                        "unit": unit,
                        "uncertainty": raw_uncertainty or None,
                        "source": source,
                        "op_id": f"import:{sha[:16]}:{line_of_row}",
                        "provenance": {"file": path.name, "sha256": sha, "line": line_of_row},
                    }
                )
                prepared.append(preparer.prepare(new))
            except (StoreInputError, ValueError) as error:
                problems.append((line_of_row, _reason(error)))
    if problems and not skip_invalid:
        raise ImportFailed(str(path), problems)
    imported = store.write(lambda writer: writer.add_measurements(prepared))
    return ImportReport(
        path=str(path),
        property=spec.name,
        unit=spec.canonical_unit,
        smiles_column=smiles_column,
        value_column=value_column,
        rows_read=rows_read,
        imported=imported,
        already_present=len(prepared) - imported,
        skipped=[SkippedRow(line=line, reason=reason) for line, reason in problems],
    )


@contextmanager
def _csv_errors_as_input(path: Path, reader: csv.DictReader[str]) -> Iterator[None]:
    """A ``csv.Error`` (a field over the size limit, a stray quote under strict rules) as an input error with
    its line: the file is not a table we can read, and nothing was written."""
    try:
        yield
    except csv.Error as error:
        raise StoreInputError(f"{path}, after line {reader.line_num}: not a readable CSV table ({error})") from None


def _checked_rows(path: Path, reader: csv.DictReader[str]) -> Iterator[dict[str, str]]:
    """The rows of ``reader``, with ``csv.Error`` turned into an input error (``_csv_errors_as_input``)."""
    while True:
        with _csv_errors_as_input(path, reader):
            row = next(reader, None)
        if row is None:
            return
        yield row


def _reason(error: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return "; ".join(str(e.get("ctx", {}).get("error", e["msg"])) for e in error.errors())
    return str(error)
