"""Structure files in and out: input lists of molecules (SMILES, CSV, SDF), and SDF, PDB and XYZ for 3D structures.

Reading input (``read_molecules``): every entry of the file becomes an ``InputMolecule`` with its line number, a
label, and either an RDKit molecule or the reason there is none, so a caller can report bad lines and go on. The
file itself must be readable text in one of the three formats; if it is not, ``StructureFileError`` says why.

Reading 3D structures (``read_sdf``, ``read_pdb``, ``read_xyz``) is strict: the first record that is not a valid
structure is a ``StructureFileError`` naming its line. Writing (``write_sdf``, ``write_pdb``, ``write_xyz``) goes to a
staging file that is renamed into place, so a reader never sees half a file. Coordinates are in Angstrom; SDF holds
them to 1e-4, PDB to 1e-3, XYZ to 1e-6. Hydrogens are kept as the molecule has them.

Bytes become text through ``knowledge.textfiles`` (UTF-8, or UTF-16/32 with a byte-order mark), as for every file
users hand AtomLoop. RDKit is imported inside the functions.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tools.structures.errors import StructureFileError

if TYPE_CHECKING:
    from rdkit import Chem

    from tools.structures.conformers import ConformerSet

InputFormat = Literal["smiles", "csv", "sdf"]
PropertyValue = str | int | float | bool | None

_SUFFIXES: dict[str, InputFormat] = {
    ".smi": "smiles", ".smiles": "smiles", ".ism": "smiles", ".can": "smiles", ".txt": "smiles",
    ".csv": "csv", ".tsv": "csv",
    ".sdf": "sdf", ".sd": "sdf", ".mol": "sdf", ".sdfile": "sdf",
}
_3D_ONLY = {".pdb": "PDB", ".ent": "PDB", ".xyz": "XYZ", ".cif": "CIF", ".mol2": "MOL2"}
SMILES_COLUMNS = ("smiles", "canonical_smiles", "smi", "isomeric_smiles")
LABEL_COLUMNS = ("name", "id", "title", "label", "compound", "compound_id", "molecule")


# -- input lists of molecules ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class InputMolecule:
    """One entry of an input file: where it starts (1-based ``line``), what it is called (``label``: the name the
    file gives it, else ``line N``), the text it was read from (a SMILES, or an SDF record's title), and either its
    RDKit molecule or the ``error`` that says why there is none."""

    line: int
    label: str
    text: str
    mol: Chem.Mol | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.mol is not None


@dataclass(frozen=True)
class MoleculeFile:
    """An input file read entry by entry, in file order."""

    path: str
    format: InputFormat
    entries: tuple[InputMolecule, ...]

    @property
    def valid(self) -> list[InputMolecule]:
        return [entry for entry in self.entries if entry.ok]

    @property
    def invalid(self) -> list[InputMolecule]:
        return [entry for entry in self.entries if not entry.ok]


def input_format(path: Path | str, text: str | None = None) -> InputFormat:
    """The format of an input file, by its suffix, else by its content (an ``M  END`` line makes it an SDF, a header
    with a SMILES column a CSV, anything else a SMILES list). PDB, XYZ and other one-structure formats are refused:
    they hold atoms, not lists of molecules to embed."""
    suffix = Path(path).suffix.lower()
    if suffix in _3D_ONLY:
        raise StructureFileError(
            path, f"a {_3D_ONLY[suffix]} file is one 3D structure, not a list of molecules: give SMILES, CSV or SDF"
        )
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if text is None:
        return "smiles"
    lines = text.splitlines()
    if any(line.rstrip() == "M  END" for line in lines):
        return "sdf"
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), "")
    if _smiles_column(_split_header(first), None) is not None:
        return "csv"
    return "smiles"


def read_molecules(path: Path | str, *, smiles_column: str | None = None) -> MoleculeFile:
    """Every molecule of a SMILES list, CSV/TSV table or SDF file, in file order, bad entries included (with why).

    A SMILES list has one SMILES per line, a name after the first white space; blank lines, ``#`` comments and a
    ``smiles`` header are skipped. A table needs a SMILES column (``smiles_column``, else one named like
    ``SMILES_COLUMNS``) and takes its label from a column named like ``LABEL_COLUMNS``. An SDF record's label is its
    title line.

    Raises:
        StructureFileError: the file cannot be read as text, is a one-structure format, a table without a SMILES
            column, an SDF without a single mol block, or holds no entry at all.
    """
    from knowledge.textfiles import UnreadableFile, read_text

    input_format(path)  # a PDB or XYZ is refused before it is read
    try:
        text = read_text(path, what="structure file")
    except UnreadableFile as error:
        raise StructureFileError(path, error.reason) from None
    fmt = input_format(path, text)
    if fmt == "sdf":
        entries = _sdf_entries(path, text)
    elif fmt == "csv":
        entries = _table_entries(path, text, smiles_column)
    else:
        entries = _smiles_entries(text)
    if not entries:
        raise StructureFileError(path, f"the {fmt.upper() if fmt != 'smiles' else 'SMILES'} file holds no molecule")
    return MoleculeFile(str(path), fmt, tuple(entries))


def parse_smiles(text: str) -> tuple[Chem.Mol | None, str | None]:
    """``(molecule, None)`` for a valid SMILES, ``(None, why not)`` otherwise."""
    from rdkit import Chem, rdBase

    text = text.strip()
    if not text:
        return None, "empty"
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(text, sanitize=False)
        if mol is None:
            return None, "not a valid SMILES (RDKit cannot parse it)"
        if mol.GetNumAtoms() == 0:
            return None, "no atoms"
        try:
            Chem.SanitizeMol(mol)
        except (ValueError, RuntimeError) as error:
            return None, f"not a valid molecule: {_first_line(error)}"
    return mol, None


def _smiles_entries(text: str) -> list[InputMolecule]:
    entries: list[InputMolecule] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        smiles, *rest = stripped.split(None, 1)
        name = rest[0].strip() if rest else ""
        if not entries and smiles.lower() in SMILES_COLUMNS:
            continue  # a header line
        mol, error = parse_smiles(smiles)
        entries.append(InputMolecule(number, name or f"line {number}", smiles, mol, error))
    return entries


def _split_header(line: str) -> list[str]:
    delimiter = "\t" if "\t" in line else ","
    return [cell.strip().strip('"').lower() for cell in line.split(delimiter)]


def _smiles_column(header: Sequence[str], wanted: str | None) -> int | None:
    names = [wanted.lower()] if wanted else list(SMILES_COLUMNS)
    for name in names:
        if name in header:
            return header.index(name)
    return None


def _table_entries(path: Path | str, text: str, smiles_column: str | None) -> list[InputMolecule]:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), None)
    if start is None:
        return []
    delimiter = "\t" if "\t" in lines[start] or Path(path).suffix.lower() == ".tsv" else ","
    reader = csv.reader(lines[start:], delimiter=delimiter)
    header = [cell.strip().lower() for cell in next(reader)]
    column = _smiles_column(header, smiles_column)
    if column is None:
        wanted = repr(smiles_column) if smiles_column else "named " + " or ".join(repr(c) for c in SMILES_COLUMNS)
        raise StructureFileError(path, f"the table has no SMILES column {wanted} (its columns: {', '.join(header)})", line=start + 1)
    label_column = next((header.index(name) for name in LABEL_COLUMNS if name in header), None)
    entries: list[InputMolecule] = []
    previous_end = start + 1  # physical line of the header's end (1-based)
    for row in reader:
        number = previous_end + 1
        previous_end = start + reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        smiles = row[column].strip() if column < len(row) else ""
        name = row[label_column].strip() if label_column is not None and label_column < len(row) else ""
        mol, error = parse_smiles(smiles)
        entries.append(InputMolecule(number, name or f"line {number}", smiles, mol, error))
    return entries


# -- SDF -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SdfMolecule:
    """One SDF record: its molecule (hydrogens as the file has them, coordinates as conformer 0), its title, its
    data fields as text, and the line its record starts on."""

    mol: Chem.Mol
    name: str
    properties: dict[str, str]
    line: int


@dataclass(frozen=True)
class _SdfRecord:
    line: int
    molblock: str
    properties: dict[str, str]


def _sdf_records(text: str) -> list[_SdfRecord]:
    """The records of an SDF: mol block, data fields and first line, split at ``$$$$`` lines."""
    records: list[_SdfRecord] = []
    lines = text.splitlines()
    start = 0
    for index in range(len(lines) + 1):
        at_end = index == len(lines)
        if not at_end and lines[index].rstrip() != "$$$$":
            continue
        chunk = lines[start:index]
        if any(line.strip() for line in chunk):
            end = next((i for i, line in enumerate(chunk) if line.rstrip() == "M  END"), None)
            block = chunk if end is None else chunk[: end + 1]
            records.append(_SdfRecord(start + 1, "\n".join(block) + "\n", _data_fields(chunk[end + 1 :] if end is not None else [])))
        start = index + 1
    return records


def _data_fields(lines: Sequence[str]) -> dict[str, str]:
    """SDF data items (``> <name>`` then value lines up to a blank line) as name -> text."""
    fields: dict[str, str] = {}
    name: str | None = None
    value: list[str] = []
    for line in [*lines, ""]:
        if name is None:
            if line.startswith(">") and "<" in line and ">" in line[line.index("<") :]:
                name = line[line.index("<") + 1 : line.index(">", line.index("<"))]
                value = []
        elif line.strip():
            value.append(line)
        else:
            fields[name] = "\n".join(value)
            name = None
    return fields


def _parse_molblock(block: str) -> tuple[Chem.Mol | None, str | None]:
    from rdkit import Chem, rdBase

    if "M  END" not in block:
        return None, "not a mol block (no 'M  END' line)"
    with rdBase.BlockLogs():
        mol = Chem.MolFromMolBlock(block, removeHs=False, strictParsing=True)
        if mol is not None:
            return (mol, None) if mol.GetNumAtoms() else (None, "no atoms")
        # why not: read it again without sanitising, then sanitise to get RDKit's reason
        raw = Chem.MolFromMolBlock(block, sanitize=False, removeHs=False, strictParsing=True)
        if raw is None:
            return None, "not a valid mol block (RDKit cannot read its counts, atom or bond lines)"
        try:
            Chem.SanitizeMol(raw)
        except (ValueError, RuntimeError) as error:
            return None, f"not a valid molecule: {_first_line(error)}"
    return None, "not a valid molecule"


def _sdf_entries(path: Path | str, text: str) -> list[InputMolecule]:
    records = _sdf_records(text)
    if records and not any("M  END" in record.molblock for record in records):
        raise StructureFileError(path, "not an SDF file: no record ends its mol block with an 'M  END' line", line=1)
    entries = []
    for number, record in enumerate(records, start=1):
        title = record.molblock.splitlines()[0].strip() if record.molblock.strip() else ""
        mol, error = _parse_molblock(record.molblock)
        entries.append(InputMolecule(record.line, title or f"record {number}", title, mol, error))
    return entries


def read_sdf(path: Path | str) -> list[SdfMolecule]:
    """Every record of an SDF file, hydrogens kept, or a ``StructureFileError`` at the first bad record."""
    text = _read_structure_text(path, "SDF file")
    molecules = []
    for number, record in enumerate(_sdf_records(text), start=1):
        mol, error = _parse_molblock(record.molblock)
        if mol is None:
            raise StructureFileError(path, f"SDF record {number}: {error}", line=record.line)
        title = record.molblock.splitlines()[0].strip()
        molecules.append(SdfMolecule(mol, title, record.properties, record.line))
    if not molecules:
        raise StructureFileError(path, "the SDF file holds no molecule")
    return molecules


@dataclass(frozen=True, eq=False)
class SdfEntry:
    """What one SDF record is made of: a molecule, which of its conformers (``-1``: its only or first one), a title
    and data fields (written in the order given; ``None`` values are left out)."""

    mol: Chem.Mol
    name: str = ""
    properties: Mapping[str, PropertyValue] = field(default_factory=dict)
    conformer_id: int = -1


def conformer_entries(
    conformers: ConformerSet, name: str, properties: Mapping[str, PropertyValue] | None = None
) -> list[SdfEntry]:
    """One SDF entry per conformer of ``conformers``: ``properties`` plus ``conformer`` (its index), ``method``,
    ``seed`` and, where there is one, the force-field energy (``energy_kcal_per_mol``, ``force_field``)."""
    entries = []
    for index in range(conformers.n_conformers):
        fields: dict[str, PropertyValue] = dict(properties or {})
        fields.update({"conformer": index, "conformers": conformers.n_conformers, "method": conformers.method,
                       "seed": conformers.seed})
        energy = conformers.energies[index]
        if energy is not None:
            fields.update({"energy_kcal_per_mol": round(energy, 6), "force_field": conformers.force_field})
        entries.append(SdfEntry(conformers.mol, name, fields, index))
    return entries


def sdf_record(entry: SdfEntry) -> str:
    """The text of one SDF record: the mol block of the entry's conformer, its data fields, ``$$$$``."""
    from rdkit import Chem

    mol = Chem.Mol(entry.mol)
    mol.SetProp("_Name", _one_line(entry.name))
    parts = [Chem.MolToMolBlock(mol, confId=entry.conformer_id, kekulize=True)]
    for key, value in entry.properties.items():
        if value is None:
            continue
        if not key or any(ch in key for ch in "<>\n\r"):
            raise ValueError(f"an SDF field name must be one line without '<' or '>', not {key!r}")
        parts.append(f"> <{key}>\n{_one_line(_field_text(value))}\n\n")
    parts.append("$$$$\n")
    return "".join(parts)


def write_sdf(path: Path | str, entries: Iterable[SdfEntry]) -> int:
    """Write ``entries`` as an SDF file (replacing any file there); the number of records written."""
    count = 0

    def records() -> Iterable[str]:
        nonlocal count
        for entry in entries:
            count += 1
            yield sdf_record(entry)

    write_atomically(Path(path), records())
    return count


# -- PDB -------------------------------------------------------------------------------------------------


def pdb_block(mol: Chem.Mol, name: str = "", conformer_ids: Sequence[int] | None = None) -> str:
    """PDB text of ``mol``: one ``MODEL`` per conformer (all of them unless ``conformer_ids``), ``HETATM`` records
    with formal charges, then ``CONECT`` records (a double bond as a repeated partner)."""
    from rdkit import Chem

    ids = list(conformer_ids) if conformer_ids is not None else [c.GetId() for c in mol.GetConformers()]
    if not ids:
        raise ValueError("the molecule has no coordinates (no conformer)")
    lines = [f"COMPND    {_one_line(name)[:70]}"] if name else []
    connections: list[str] = []
    for model, conformer_id in enumerate(ids, start=1):
        block = Chem.MolToPDBBlock(mol, confId=conformer_id).splitlines()
        if len(ids) > 1:
            lines.append(f"MODEL     {model:4d}")
        lines.extend(line for line in block if line.startswith(("ATOM", "HETATM")))
        if len(ids) > 1:
            lines.append("ENDMDL")
        connections = [line for line in block if line.startswith("CONECT")]
    lines.extend(connections)
    lines.append("END")
    return "\n".join(lines) + "\n"


def write_pdb(path: Path | str, mol: Chem.Mol, name: str = "", conformer_ids: Sequence[int] | None = None) -> None:
    """Write ``pdb_block`` to ``path``."""
    write_atomically(Path(path), [pdb_block(mol, name, conformer_ids)])


def read_pdb(path: Path | str, *, template_smiles: str | None = None) -> Chem.Mol:
    """The molecule of a PDB file, hydrogens kept, each ``MODEL`` a conformer. PDB records connectivity but not
    bond orders reliably: give ``template_smiles`` to take the bond orders (and so aromaticity) from it.

    Raises:
        StructureFileError: not readable, no ``ATOM``/``HETATM`` record, a record RDKit refuses, or a template
            that does not match.
    """
    from rdkit import Chem, rdBase

    text = _read_structure_text(path, "PDB file")
    atom_lines = [i for i, line in enumerate(text.splitlines(), start=1) if line.startswith(("ATOM", "HETATM"))]
    if not atom_lines:
        raise StructureFileError(path, "not a PDB file: no ATOM or HETATM record", line=1)
    for number in atom_lines:
        line = text.splitlines()[number - 1]
        try:
            [float(line[30:38]), float(line[38:46]), float(line[46:54])]
        except ValueError:
            raise StructureFileError(path, "the coordinates of this atom record are not numbers (columns 31-54)", line=number) from None
    with rdBase.BlockLogs():
        mol = Chem.MolFromPDBBlock(text, removeHs=False, sanitize=True)
    if mol is None:
        raise StructureFileError(path, "RDKit cannot read the PDB records as a molecule (bad valences or connectivity)")
    if template_smiles is None:
        return mol
    from rdkit.Chem import AllChem

    with rdBase.BlockLogs():
        template = Chem.MolFromSmiles(template_smiles)
        if template is None:
            raise StructureFileError(path, f"the template SMILES {template_smiles!r} is not valid")
        if any(atom.GetAtomicNum() == 1 for atom in mol.GetAtoms()):
            template = Chem.AddHs(template)  # atom for atom, as the file has them
        try:
            return AllChem.AssignBondOrdersFromTemplate(template, mol)
        except (ValueError, RuntimeError) as error:
            raise StructureFileError(path, f"the template {template_smiles!r} does not match the PDB's atoms: {_first_line(error)}") from None


# -- XYZ -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XyzFrame:
    """One frame of an XYZ file: element symbols, coordinates in Angstrom, and the comment line."""

    symbols: tuple[str, ...]
    coordinates: tuple[tuple[float, float, float], ...]
    comment: str = ""

    def to_mol(self, charge: int = 0) -> Chem.Mol:
        """An RDKit molecule with bonds and bond orders perceived from the geometry (``rdDetermineBonds``), for a
        molecule of total ``charge``. Raises ``ValueError`` when no valid bonding fits."""
        from rdkit import Chem, rdBase
        from rdkit.Chem import rdDetermineBonds

        lines = [str(len(self.symbols)), ""] + [f"{s} {x:.8f} {y:.8f} {z:.8f}" for s, (x, y, z) in zip(self.symbols, self.coordinates, strict=True)]
        with rdBase.BlockLogs():
            mol = Chem.MolFromXYZBlock("\n".join(lines) + "\n")
            if mol is None:
                raise ValueError("RDKit cannot read the frame")
            try:
                rdDetermineBonds.DetermineBonds(mol, charge=charge)
            except (ValueError, RuntimeError) as error:
                raise ValueError(f"no bonding fits the geometry with charge {charge}: {_first_line(error)}") from None
        return mol


def xyz_frames(mol: Chem.Mol, comments: Sequence[str] | None = None, conformer_ids: Sequence[int] | None = None) -> str:
    """XYZ text of ``mol``: one frame per conformer (all unless ``conformer_ids``), coordinates to 1e-6 Angstrom."""
    ids = list(conformer_ids) if conformer_ids is not None else [c.GetId() for c in mol.GetConformers()]
    if not ids:
        raise ValueError("the molecule has no coordinates (no conformer)")
    if comments is not None and len(comments) != len(ids):
        raise ValueError(f"{len(comments)} comments for {len(ids)} frames")
    symbols = [atom.GetSymbol() for atom in mol.GetAtoms()]
    out: list[str] = []
    for frame, conformer_id in enumerate(ids):
        out.append(str(len(symbols)))
        out.append(_one_line(comments[frame]) if comments is not None else "")
        positions = mol.GetConformer(conformer_id).GetPositions()
        out.extend(f"{s:<2} {x:14.6f} {y:14.6f} {z:14.6f}" for s, (x, y, z) in zip(symbols, positions, strict=True))
    return "\n".join(out) + "\n"


def write_xyz(path: Path | str, mol: Chem.Mol, comments: Sequence[str] | None = None, conformer_ids: Sequence[int] | None = None) -> None:
    """Write ``xyz_frames`` to ``path``."""
    write_atomically(Path(path), [xyz_frames(mol, comments, conformer_ids)])


def read_xyz(path: Path | str) -> list[XyzFrame]:
    """Every frame of an XYZ file (an atom count, a comment line, then one ``symbol x y z`` line per atom).

    Raises:
        StructureFileError: not readable, an atom count that is not a positive integer, too few atom lines, an
            unknown element, or coordinates that are not finite numbers (the message names the line).
    """
    from rdkit import Chem

    text = _read_structure_text(path, "XYZ file")
    lines = text.splitlines()
    table = Chem.GetPeriodicTable()
    frames: list[XyzFrame] = []
    index = 0
    while index < len(lines):
        if not lines[index].strip():
            index += 1
            continue
        count_text = lines[index].strip()
        if not count_text.isdigit() or int(count_text) < 1:
            raise StructureFileError(path, f"expected the number of atoms of a frame, found {count_text[:40]!r}", line=index + 1)
        count = int(count_text)
        if index + 1 + count >= len(lines):  # the comment line and ``count`` atom lines must follow
            raise StructureFileError(path, f"the frame announces {count} atoms but the file ends first", line=index + 1)
        comment = lines[index + 1]
        symbols: list[str] = []
        coordinates: list[tuple[float, float, float]] = []
        for number in range(index + 2, index + 2 + count):
            cells = lines[number].split()
            if len(cells) < 4:
                raise StructureFileError(path, "an atom line needs an element and three coordinates", line=number + 1)
            symbol = cells[0].capitalize()
            try:
                if table.GetAtomicNumber(symbol) < 1:
                    raise ValueError(symbol)
            except (ValueError, RuntimeError):
                raise StructureFileError(path, f"unknown element {cells[0]!r}", line=number + 1) from None
            try:
                x, y, z = (float(cell) for cell in cells[1:4])
            except ValueError:
                raise StructureFileError(path, "the coordinates are not numbers", line=number + 1) from None
            if not all(math.isfinite(v) for v in (x, y, z)):
                raise StructureFileError(path, "the coordinates are not finite", line=number + 1)
            symbols.append(symbol)
            coordinates.append((x, y, z))
        frames.append(XyzFrame(tuple(symbols), tuple(coordinates), comment.strip()))
        index += 2 + count
    if not frames:
        raise StructureFileError(path, "the XYZ file holds no frame")
    return frames


# -- shared ----------------------------------------------------------------------------------------------


def _read_structure_text(path: Path | str, what: str) -> str:
    from knowledge.textfiles import UnreadableFile, read_text

    try:
        return read_text(path, what=what)
    except UnreadableFile as error:
        raise StructureFileError(path, error.reason) from None


def write_atomically(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` to a staging file beside ``path`` and rename it into place (nothing left on failure)."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with staging.open("w", encoding="utf-8", newline="\n") as handle:
            for chunk in chunks:
                handle.write(chunk)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def _field_text(value: PropertyValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
