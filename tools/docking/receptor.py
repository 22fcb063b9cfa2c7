"""Receptor preparation: a PDB file to the rigid PDBQT Vina docks into, offline, with a report of what was kept.

Real PDB files are untidy: residues interrupted by other records, alternate locations, waters, buffer molecules,
the co-crystallised ligand in the site, cofactors, metals, selenomethionine, missing hydrogens. The steps:

1. Read the first model's ATOM/HETATM records into residues (in order of first appearance, so an interrupted
   residue is whole again), keeping the first alternate location of every atom; MSE becomes MET (Se -> S), and
   CHARMM/GROMACS histidine names (HSD, HSE, ...) their Amber ones.
2. Sort each residue: standard and modified amino acids that meeko has templates for go to meeko's ``Polymer``,
   which adds the hydrogens that are missing and types the atoms; waters are removed unless kept; the metals Vina
   has types for (Zn, Mg, Mn, Ca, Fe) and known cofactors (heme, NAD(P), FAD, SAM, ATP, ...) are kept; every other
   hetero group (the ligand of the crystal, sulfate, glycerol, other ions) is removed. ``keep``/``remove`` name
   residues that override that choice.
3. Kept hetero groups are typed from their atoms: Vina's X-Score types depend only on the element, on whether a
   carbon bonds a heteroatom, on whether a nitrogen can accept, and on polar hydrogens, so no residue template
   (which meeko would download from the PDB) is needed.
4. Residues meeko cannot match (most often a side chain the crystal did not resolve), or whose name it has no
   template for (it would try to download one), keep their atoms, typed as hetero groups are, and are listed.

A ``.pdbqt`` file is taken as a receptor prepared already and used as it is.

The prepared receptor is cached under ``cache_dir`` by the hash of the input file and the options, and its hash
names it in the knowledge store: the same file prepared the same way is the same receptor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from tools.docking.box import Box
from tools.docking.errors import ReceptorError
from tools.structures.io import write_atomically

log = logging.getLogger(__name__)

# Part of every receptor's hash: bumped whenever the preparation changes what it writes.
RECEPTOR_METHOD = "atomloop-receptor-3"

WATERS = frozenset({"HOH", "WAT", "DOD", "H2O", "TIP", "TIP3", "SOL"})
# Metals with Vina atom types (its X-Score metal donor type), by element symbol.
VINA_METALS = {"ZN": "Zn", "MG": "Mg", "MN": "Mn", "CA": "Ca", "FE": "Fe"}
# Cofactors kept in the receptor by default: removing them opens a cavity the ligand never sees in the cell.
COFACTORS = frozenset(
    {
        "HEM", "HEC", "HEA", "HEB", "HDD", "SRM", "CLA", "BCL", "F43",
        "NAD", "NAI", "NAP", "NDP", "NDO", "FAD", "FDA", "FMN", "RBF",
        "SAM", "SAH", "SFG", "COA", "ACO", "PLP", "PMP", "TPP", "TDP", "BTN", "H4B", "THB", "MGD", "PQQ", "CYC",
        "ATP", "ADP", "AMP", "ANP", "ACP", "GTP", "GDP", "GNP", "GSP", "UDP", "UPG", "CTP", "FES", "SF4", "F3S",
        "FPP", "GPP", "GRG", "DST", "IPE",  # isoprenoid diphosphates, substrates bound with the inhibitor
    }
)
_HYDROGENS = frozenset({"H", "D"})
# Other force fields' names for protonation states, to the Amber names meeko's templates use.
RESIDUE_ALIASES = {"HSD": "HID", "HSE": "HIE", "HSP": "HIP", "LSN": "LYN"}
_HISTIDINES = frozenset({"HIS", "HID", "HIE", "HIP", "HSD", "HSE", "HSP"})


class ReceptorOptions(BaseModel):
    """How a receptor is prepared: whether waters stay, and residue names that override the default choice."""

    model_config = ConfigDict(frozen=True)

    keep_waters: bool = False
    keep: tuple[str, ...] = ()  # hetero residue names kept although not known cofactors
    remove: tuple[str, ...] = ()  # residue names removed although they would be kept


class RemovedGroup(BaseModel):
    model_config = ConfigDict(frozen=True)

    residue: str  # e.g. "VTI A:401"
    atoms: int
    reason: str


class PreparedReceptor(BaseModel):
    """A receptor ready for docking: its PDBQT file, its hash, and what the preparation did to the input."""

    model_config = ConfigDict(frozen=True)

    source: str
    receptor_hash: str
    pdbqt_path: str
    atoms: int
    residues: int
    hydrogens_added: int
    typed_from_atoms: tuple[str, ...]  # residues meeko had no template for (incomplete side chains), typed atom by atom
    kept_hetero: tuple[str, ...]
    removed: tuple[RemovedGroup, ...]
    waters_removed: int
    method: str = RECEPTOR_METHOD

    def coordinates(self) -> np.ndarray:
        """The heavy atoms' coordinates (n x 3), read back from the PDBQT."""
        from tools.docking.box import heavy_atom_coordinates

        return np.asarray(heavy_atom_coordinates(Path(self.pdbqt_path).read_text(encoding="utf-8")), dtype=float).reshape(-1, 3)

    def atoms_in(self, box: Box) -> int:
        return int(box.contains(self.coordinates()).sum())

    def check_box(self, box: Box) -> None:
        """Raises ``ReceptorError`` when no heavy atom of the receptor lies in ``box`` (a box away from the site)."""
        if self.atoms_in(box) == 0:
            centre = ", ".join(f"{value:g}" for value in box.center)
            raise ReceptorError(
                self.source,
                f"no receptor atom lies in the box (centre {centre}, size {' x '.join(f'{v:g}' for v in box.size)} Angstrom): "
                "is the box at the binding site, in this file's coordinates?",
            )


@dataclass
class _Residue:
    chain: str
    number: str  # residue sequence number with the insertion code, as written
    name: str
    hetero: bool = False
    lines: list[str] = field(default_factory=list)
    atom_names: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"{self.name} {self.chain.strip() or '_'}:{self.number.strip()}"

    def elements(self) -> list[str]:
        return [_element(line) for line in self.lines]


def prepare_receptor(path: Path | str, cache_dir: Path, options: ReceptorOptions | None = None) -> PreparedReceptor:
    """The receptor of PDB file ``path`` prepared for Vina (from the cache when this file was prepared so before).

    Raises:
        ReceptorError: the file cannot be read, holds no protein atoms, or meeko cannot type what remains.
    """
    options = options or ReceptorOptions()
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ReceptorError(path, f"cannot be read ({error.strerror or error.__class__.__name__})") from None
    if raw[:2] == b"\x1f\x8b":  # a gzip file, as the PDB distributes them (1abc.pdb.gz, pdb1abc.ent.gz)
        import gzip

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ReceptorError(path, f"is a damaged gzip file ({error})") from None
    text = _pdb_text(path, raw)
    if path.suffix.lower() == ".pdbqt" or path.name.lower().endswith(".pdbqt.gz"):
        return _prepared_pdbqt(path, raw, text, cache_dir)
    key = receptor_key(raw, options)
    cached = cache_dir / f"{key}.json"
    if cached.exists() and (cache_dir / f"{key}.pdbqt").exists():
        report = PreparedReceptor.model_validate_json(cached.read_text(encoding="utf-8"))
        return report.model_copy(update={"source": str(path), "pdbqt_path": str(cache_dir / f"{key}.pdbqt")})
    residues = _read_residues(text)
    if not residues:
        raise ReceptorError(path, "no ATOM or HETATM records: not a PDB file of a structure")
    rigid, summary = _prepare(path, residues, options)
    cache_dir.mkdir(parents=True, exist_ok=True)
    pdbqt_path = cache_dir / f"{key}.pdbqt"
    write_atomically(pdbqt_path, [rigid])
    prepared = PreparedReceptor.model_validate({"source": str(path), "receptor_hash": key, "pdbqt_path": str(pdbqt_path), **summary})
    write_atomically(cached, [prepared.model_dump_json(indent=1)])
    return prepared


def _prepared_pdbqt(path: Path, raw: bytes, text: str, cache_dir: Path) -> PreparedReceptor:
    """A receptor that is already a rigid PDBQT (prepared elsewhere, as the AD-GPU and DUD-E sets ship): used as it
    is, named by the hash of its bytes; the preparation options do not apply."""
    lines = [line for line in text.splitlines() if line.startswith(("ATOM  ", "HETATM"))]
    if not lines:
        raise ReceptorError(path, "no ATOM or HETATM records: not a PDBQT file of a receptor")
    if any(line.startswith(("ROOT", "BRANCH", "TORSDOF")) for line in text.splitlines()):
        raise ReceptorError(path, "is a ligand PDBQT (it has a torsion tree), not a rigid receptor")
    untyped = [number for number, line in enumerate(lines, start=1) if len(line) < 78 or not line[77:79].strip()]
    if untyped:
        raise ReceptorError(path, f"atom {untyped[0]} has no AutoDock type in columns 78-79: prepare the receptor from its PDB file instead")
    digest = hashlib.sha256(raw)
    digest.update(b"prepared-pdbqt")
    key = digest.hexdigest()[:32]
    cache_dir.mkdir(parents=True, exist_ok=True)
    pdbqt_path = cache_dir / f"{key}.pdbqt"
    if not pdbqt_path.exists():
        write_atomically(pdbqt_path, ["\n".join(lines) + "\n"])
    residues = {(line[21], line[22:27]) for line in lines}
    return PreparedReceptor(
        source=str(path), receptor_hash=key, pdbqt_path=str(pdbqt_path), atoms=len(lines), residues=len(residues),
        hydrogens_added=0, typed_from_atoms=(), kept_hetero=(), removed=(), waters_removed=0, method="prepared-pdbqt",
    )


def receptor_key(raw: bytes, options: ReceptorOptions) -> str:
    """The hash of a receptor: the input file's bytes, the options and the preparation's version."""
    import meeko

    digest = hashlib.sha256(raw)
    digest.update(json.dumps({"options": options.model_dump(mode="json"), "method": RECEPTOR_METHOD, "meeko": meeko.__version__}, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _pdb_text(path: Path, raw: bytes) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:4096]:
        raise ReceptorError(path, "is binary or UTF-16, not a PDB text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_residues(text: str) -> list[_Residue]:
    """The first model's residues in order of first appearance, one alternate location per atom."""
    residues: dict[tuple[str, str, str], _Residue] = {}
    for line in text.splitlines():
        record = line[:6]
        if record.startswith("ENDMDL"):
            break
        if record not in ("ATOM  ", "HETATM") or len(line) < 54:
            continue
        line = line.rstrip("\n").ljust(80)
        name, chain, number, atom = line[17:20].strip(), line[21], line[22:27], line[12:16].strip()
        residue = residues.setdefault((chain, number, name), _Residue(chain, number, name))
        if atom in residue.atom_names:  # a second alternate location (or a duplicate record)
            continue
        residue.atom_names.add(atom)
        residue.hetero = residue.hetero or record == "HETATM"
        residue.lines.append(line[:16] + " " + line[17:])
    for residue in residues.values():
        if residue.name == "MSE":
            _selenomethionine_to_methionine(residue)
        elif residue.name in RESIDUE_ALIASES:
            residue.name = RESIDUE_ALIASES[residue.name]
            residue.lines = [line[:17] + f"{residue.name:>3}" + line[20:] for line in residue.lines]
    return list(residues.values())


def _selenomethionine_to_methionine(residue: _Residue) -> None:
    lines = []
    for line in residue.lines:
        if line[12:16].strip() == "SE":
            line = line[:12] + " SD " + line[16:76] + " S" + line[78:]
        lines.append("ATOM  " + line[6:17] + "MET" + line[20:])
    residue.name, residue.hetero, residue.lines = "MET", False, lines


def _prepare(path: Path, residues: list[_Residue], options: ReceptorOptions) -> tuple[str, dict[str, object]]:
    from meeko import ResidueChemTemplates

    templates = ResidueChemTemplates.create_from_defaults()
    known = set(templates.residue_templates) | set(templates.ambiguous)
    keep, remove = {name.upper() for name in options.keep}, {name.upper() for name in options.remove}
    polymer_residues: list[_Residue] = []
    untemplated: list[_Residue] = []
    hetero_kept: list[_Residue] = []
    removed: list[RemovedGroup] = []
    waters_removed = 0
    for residue in residues:
        name = residue.name.upper()
        if name in remove:
            removed.append(RemovedGroup(residue=residue.label, atoms=len(residue.lines), reason="removed as asked"))
        elif name in WATERS:
            if options.keep_waters:
                hetero_kept.append(residue)
            else:
                waters_removed += 1
        elif name in known and (not residue.hetero or (name not in VINA_METALS and len(residue.lines) > 1)):
            polymer_residues.append(residue)
        elif not residue.hetero:
            # a residue name meeko has no template for: meeko would try to download one, so type it from its atoms
            untemplated.append(residue)
        elif len(residue.lines) == 1 and _element(residue.lines[0]).upper() in VINA_METALS:
            hetero_kept.append(residue)
        elif name in COFACTORS or name in keep:
            hetero_kept.append(residue)
        else:
            reason = "an ion Vina has no type for" if len(residue.lines) == 1 else "a hetero group (ligand, buffer or additive)"
            removed.append(RemovedGroup(residue=residue.label, atoms=len(residue.lines), reason=reason))
    if not polymer_residues:
        raise ReceptorError(path, "no protein or nucleic-acid residues (only hetero groups or waters)")
    heavy_before = sum(1 for residue in polymer_residues for element in residue.elements() if element.upper() not in _HYDROGENS)
    hydrogens_before = sum(1 for residue in polymer_residues for element in residue.elements() if element.upper() in _HYDROGENS)
    polymer, rigid, broken = _build_polymer(path, polymer_residues, templates)
    rigid_lines = [line for line in rigid.splitlines() if line.startswith(("ATOM  ", "HETATM"))]
    if not rigid_lines:
        raise ReceptorError(path, "meeko matched no residue of the file")
    # A residue meeko has no template for (most often a side chain the crystal did not resolve) keeps its atoms,
    # typed from them as hetero groups are: dropping it would open a hole in the surface.
    by_id = {_residue_id(residue): residue for residue in polymer_residues}
    unmatched = untemplated + broken + [by_id[residue_id] for residue_id in sorted(polymer.get_ignored_monomers()) if residue_id in by_id]
    partial = tuple(residue.label for residue in unmatched)
    hydrogens_after = sum(1 for line in rigid_lines if line[77:79].strip() == "HD")
    hetero_lines = list(_typed_hetero_lines([*unmatched, *hetero_kept], start=len(rigid_lines) + 1))
    pdbqt = "\n".join(rigid_lines + hetero_lines) + "\n"
    heavy_after = sum(1 for line in rigid_lines if line[77:79].strip() not in {"HD", "H"})
    if heavy_after < 0.5 * heavy_before:
        log.warning("receptor %s: meeko kept %d of %d heavy atoms", path, heavy_after, heavy_before)
    report: dict[str, object] = {
        "atoms": len(rigid_lines) + len(hetero_lines),
        "residues": len(polymer_residues) + len(untemplated),
        "typed_from_atoms": partial,
        # Vina keeps polar hydrogens only: count those added beyond the ones the file had (an estimate when it had all)
        "hydrogens_added": max(0, hydrogens_after - hydrogens_before) if hydrogens_before == 0 else 0,
        "kept_hetero": tuple(residue.label for residue in hetero_kept if residue.name.upper() not in WATERS),
        "removed": tuple(removed),
        "waters_removed": waters_removed,
    }
    return pdbqt, report


MAX_BROKEN_RESIDUES = 50
_MEEKO_RESIDUE_KEY = re.compile(r"\bkey ['\"]?([A-Za-z0-9]?:-?\d+[A-Za-z]?)\b")


def _residue_id(residue: _Residue) -> str:
    return f"{residue.chain.strip()}:{residue.number.strip()}"


def _build_polymer(path: Path, residues: list[_Residue], templates: Any) -> tuple[Any, str, list[_Residue]]:
    """meeko's Polymer of ``residues`` and its rigid PDBQT, and the residues it could not build at all (a side chain
    so distorted that its bonds make no molecule): each is taken out, to be typed from its atoms, and meeko tried
    again."""
    from meeko import MoleculePreparation, PDBQTWriterLegacy, Polymer
    from rdkit import rdBase

    from tools.docking.meeko_logs import quiet_meeko

    broken: list[_Residue] = []
    remaining = list(residues)
    with quiet_meeko():  # its per-residue template reports are summarised in ``removed`` instead
        while True:
            pdb = "\n".join(line for residue in remaining for line in residue.lines) + "\nEND\n"
            try:
                with rdBase.BlockLogs():
                    polymer = Polymer.from_pdb_string(pdb, templates, MoleculePreparation(), allow_bad_res=True)
                    rigid, _flexible = PDBQTWriterLegacy.write_from_polymer(polymer)
                return polymer, rigid, broken
            except Exception as error:  # meeko raises bare Exceptions and PolymerCreationError with advice
                text = str(error).strip()
                match = _MEEKO_RESIDUE_KEY.search(text)
                culprit = next((r for r in remaining if match and _residue_id(r) == match.group(1)), None)
                if culprit is None or len(broken) >= MAX_BROKEN_RESIDUES:
                    first_line = text.splitlines()[0] if text else error.__class__.__name__
                    raise ReceptorError(path, f"meeko could not build the receptor: {first_line}") from None
                log.info("receptor %s: meeko cannot build %s (%s); typing it from its atoms", path, culprit.label, text.splitlines()[0])
                broken.append(culprit)
                remaining.remove(culprit)


def _element(line: str) -> str:
    element = line[76:78].strip()
    if element:
        return element.capitalize()
    name = line[12:16]
    return (name[:2].strip() if name[0] != " " and not name[0].isdigit() else name[1:2].strip()).capitalize()


_COVALENT_RADIUS = {"H": 0.31, "C": 0.76, "N": 0.71, "O": 0.66, "S": 1.05, "P": 1.07, "F": 0.57, "Cl": 1.02, "Br": 1.20, "I": 1.39, "Se": 1.20}


def _typed_hetero_lines(residues: Iterable[_Residue], start: int) -> Iterable[str]:
    """PDBQT lines of kept hetero groups and of residues meeko could not match, typed from their atoms (Vina's
    X-Score types need no templates). Without hydrogens a nitrogen cannot be a donor for Vina, so the typing only
    decides acceptors: a hetero group's nitrogen with fewer than three neighbours, an amino acid's histidine ring."""
    serial = start
    for residue in residues:
        elements = residue.elements()
        xyz = np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])] for line in residue.lines])
        radii = np.array([_COVALENT_RADIUS.get(element, 0.0) for element in elements])
        distances = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=2)
        bonded = (distances < radii[:, None] + radii[None, :] + 0.45) & (radii[:, None] > 0) & (radii[None, :] > 0)
        np.fill_diagonal(bonded, False)
        for index, line in enumerate(residue.lines):
            element = elements[index]
            neighbours = [elements[other] for other in np.flatnonzero(bonded[index])]
            heavy_neighbours = [other for other in neighbours if other not in _HYDROGENS]
            if element in _HYDROGENS:
                if not any(other in {"N", "O"} for other in neighbours):
                    continue  # Vina keeps polar hydrogens only
                ad_type = "HD"
            elif element.upper() in VINA_METALS:
                ad_type = VINA_METALS[element.upper()]
            elif element == "C":
                ad_type = "C"
            elif element == "N" and not residue.hetero:
                # an amino acid's nitrogens donate (backbone, Lys, Arg, Asn, Gln, Trp) except histidine's ring ones
                ad_type = "NA" if residue.name.upper() in _HISTIDINES and line[12:16].strip() in {"ND1", "NE2"} else "N"
            elif element == "N":
                ad_type = "N" if len(heavy_neighbours) >= 3 or "H" in neighbours and len(neighbours) >= 4 else "NA"
            elif element == "O":
                ad_type = "OA"
            elif element == "S":
                ad_type = "SA"
            elif element in {"P", "F", "Cl", "Br", "I"}:
                ad_type = element
            else:
                log.warning("hetero group %s: atom %s (%s) has no Vina type; left out", residue.label, line[12:16].strip(), element)
                continue
            record = "HETATM" if residue.hetero else "ATOM  "
            yield f"{record}{serial % 100000:5d} {line[12:16]} {residue.name[:3]:>3} {line[21]}{line[22:26]}    {line[30:54]}  1.00  0.00    +0.000 {ad_type:<2}"
            serial += 1

