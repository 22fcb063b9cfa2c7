"""Reading molecules from files a user hands us: a SMILES per line (with an optional name after it), or a
CSV/TSV with a SMILES column."""

from __future__ import annotations

import csv
from pathlib import Path

from knowledge.errors import StoreInputError


def read_smiles_file(path: Path, smiles_column: str = "smiles") -> list[str]:
    """The SMILES in ``path``, in file order. Blank lines and lines starting with '#' are skipped."""
    if not path.is_file():
        raise StoreInputError(f"no such file: {path}")
    text = path.read_text(encoding="utf-8-sig")
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    delimiter = "\t" if "\t" in first else ","
    header = [cell.strip().lower() for cell in first.split(delimiter)]
    if smiles_column.lower() in header:
        reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
        column = next(name for name in reader.fieldnames or [] if name.strip().lower() == smiles_column.lower())
        found = [row[column].strip() for row in reader if (row.get(column) or "").strip()]
    else:
        found = [line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not found:
        raise StoreInputError(f"{path} holds no SMILES")
    return found
