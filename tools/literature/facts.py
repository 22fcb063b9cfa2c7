"""Turning tables and sentences into ``ExtractedFact``s: column roles from headers, compound labels,
unit conversion into the registry's canonical units, SMILES validation and (optionally) OPSIN names.

A value is only kept when its property is in the registry and its unit converts; everything else is
counted in ``skipped`` by reason. Text is treated as data throughout: it is matched, never evaluated.
"""

from __future__ import annotations

import logging
import re
import shutil
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from knowledge.chem import canonicalize
from knowledge.errors import IncompatibleUnit, InvalidStructure, InvalidValue, StoreInputError, UnitError
from knowledge.properties import PropertyRegistry, PropertySpec
from knowledge.units import UnitConverter
from tools.literature.layout import join_lines
from tools.literature.models import ExtractedFact, FoundStructure, Qualifier
from tools.literature.quantities import (
    _TEXT_SPELLINGS,
    LABEL_CELL_RE,
    LABEL_HEADER_WORDS,
    STRONG_LABEL_RE,
    Mention,
    ParsedQuantity,
    find_mentions,
    is_placeholder,
    mention_quantity,
    normalize_text,
    parse_quantity,
    read_conditions,
    unit_candidates,
)
from tools.literature.raw import BBox, RawCell, RawLine, RawPage, union
from tools.literature.tables import StructuredTable, TableRow

logger = logging.getLogger(__name__)


class Skips(Counter[str]):
    """Values seen but not kept, by reason."""


# --- units ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Converted:
    value: float | None
    value_high: float | None
    uncertainty: float | None
    qualifier: Qualifier


def _tidy(number: float) -> float:
    """Drop float noise from conversions (999.9999999999999 -> 1000.0)."""
    return float(f"{number:.12g}")


_CAPITALISED_UNIT_NAMES = {
    name: name
    for name in (
        "torr", "kelvin", "dalton", "debye", "gauss", "tesla", "pascal", "joule", "watt", "volt", "newton", "hertz",
        "siemens", "henry", "coulomb", "ohm", "becquerel", "gray", "sievert",
    )
} | {"celsius": "degC", "fahrenheit": "degF"}
_PERCENT_BY_RE = re.compile(r"(?i)(?:wt|w/w|vol|v/v|mol|at)\.?\s?%|%\s?(?:w/w|v/v|wt\.?|vol\.?|mol)")


def _unit_spellings(unit: str) -> list[str]:
    """The unit as written, then a pint-friendly spelling ('kcal mol−1' -> 'kcal*mol^-1'); percentages by
    weight, volume or amount ('wt%', 'wt.%', 'vol%', 'mol%', '% w/w') as '%'; a unit named after a person
    and written capitalised as pint's lower-case name ('Torr' -> 'torr', 'Kelvin' -> 'kelvin')."""
    spellings = [unit]
    text = normalize_text(unit).replace("\u2013", "-")
    if _PERCENT_BY_RE.fullmatch(text):
        return [unit, "%"]
    text = re.sub(r"(?<=[A-Za-zµμ])\s?\^?([-+]?)\s?(\d)\b", r"^\1\2", text)  # 'mol−1', 'cm− 1', 'm2'
    text = re.sub(r"\s*([/*·])\s*", r"\1", text)
    text = re.sub(r"\s+", "*", text.strip())
    if text and text != unit:
        spellings.append(text)
    if text[:1].isupper() and text.lower() in _CAPITALISED_UNIT_NAMES:
        spellings.append(_CAPITALISED_UNIT_NAMES[text.lower()])
    return spellings


def convert(
    spec: PropertySpec,
    quantity: ParsedQuantity,
    unit: str | None,
    units: UnitConverter,
    molar_mass: float | None = None,
) -> tuple[Converted, str | None]:
    """Express a parsed value in ``spec``'s canonical unit. Returns the converted value and the unit
    spelling that worked. Raises ``UnitError`` or ``InvalidValue``."""
    if quantity.qualifier == "nd" or quantity.value is None:
        return Converted(None, None, None, "nd"), unit
    last_error: StoreInputError | None = None
    for spelling in _unit_spellings(unit) if unit else [None]:
        try:
            return _convert(spec, quantity, spelling, units, molar_mass), unit
        except (UnitError, InvalidValue) as error:
            last_error = error
    assert last_error is not None
    raise last_error


def _convert(
    spec: PropertySpec, q: ParsedQuantity, unit: str | None, units: UnitConverter, molar_mass: float | None
) -> Converted:
    def f(x: float) -> float:
        return units.to_canonical(spec, x, unit, molar_mass)

    assert q.value is not None
    value = f(q.value)
    high = f(q.value_high) if q.value_high is not None else None
    uncertainty = None
    if q.uncertainty is not None:
        try:
            uncertainty = abs(f(q.value + q.uncertainty) - value)
        except (UnitError, InvalidValue):
            uncertainty = None
    qualifier = q.qualifier
    flips = spec.scale == "neg_log10" and unit is not None and unit.strip() not in spec.all_unit_spellings()
    if flips:
        flipped: dict[Qualifier, Qualifier] = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}
        qualifier = flipped.get(qualifier, qualifier)
    if high is not None and high < value:
        value, high = high, value
    for number in (value, high):
        if number is None:
            continue
        if (spec.minimum is not None and number < spec.minimum) or (spec.maximum is not None and number > spec.maximum):
            raise _OutOfRange(f"{spec.name} {number} is outside [{spec.minimum}, {spec.maximum}]")
    return Converted(
        value=_tidy(value),
        value_high=_tidy(high) if high is not None else None,
        uncertainty=_tidy(uncertainty) if uncertainty is not None else None,
        qualifier=qualifier,
    )


class _OutOfRange(InvalidValue):
    pass


def _needs_unit(spec: PropertySpec) -> bool:
    """Linear properties need a printed unit, except percentages (a 'Yield' column of plain numbers is %) and
    plain fractions (a fraction unbound)."""
    return spec.scale == "linear" and spec.canonical_unit not in ("%", "")


def _skip_reason(error: Exception) -> str:
    if isinstance(error, _OutOfRange):
        return "out_of_range"
    if isinstance(error, IncompatibleUnit):
        return "incompatible_unit"
    if isinstance(error, UnitError):
        return "unknown_unit"
    return "invalid_value"


_KNOWN_UNITS: weakref.WeakKeyDictionary[UnitConverter, dict[str, bool]] = weakref.WeakKeyDictionary()


def unit_known(units: UnitConverter, unit: str) -> bool:
    """Whether pint can parse ``unit`` (in any of its spellings), cached per converter."""
    cache = _KNOWN_UNITS.setdefault(units, {})
    if unit not in cache:
        known = False
        for spelling in _unit_spellings(unit):
            try:
                units.parse_scaled_unit(spelling)
                known = True
                break
            except UnitError:
                continue
        cache[unit] = known
    return cache[unit]


# --- table columns ----------------------------------------------------------------------------------------

_COMPOUND_HEADER_RE = re.compile(r"(?i)(?:^|\b)(?:" + LABEL_HEADER_WORDS + r")(?:\b|$)")
_UNCERTAINTY_HEADER_RE = re.compile(
    r"(?i)(?:\bSEM\b|\bS\.?E\.?M?\.?\b|\bSD\b|\bs\.d\.|\bstd\.?\b|\bst\.?\s?dev\b|\bstdev\b|\berror\b|\berr\.?\b|"
    r"\buncertainty\b|\bCI\b|±)"
)
_STAT_WORDS_RE = re.compile(
    r"(?i)\b(?:mean|average|avg\.?|median|values?|SEM|S\.?E\.?M?\.?|SD|s\.d\.|std\.?|st\.?\s?dev|stdev|error|err\.?|"
    r"uncertainty|CI)\b|±"
)
_SMILES_HEADER_RE = re.compile(r"(?i)\bsmiles\b")
_HEADER_UNIT_RE = re.compile(r"(?:\(([^()]{1,30})\)|\[([^\[\]]{1,30})\])\s*$|\s/\s?([^\s/][^\s]{0,20})$|,\s*([^\s,]{1,20})$")


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    property: str | None
    unit: str | None
    role: str  # 'value' | 'uncertainty' | 'label' | 'smiles' | 'other'
    key: str = ""  # header without statistics words, to pair a value column with its SEM/SD column
    conditions: tuple[tuple[str, str], ...] = ()  # target, species, pH named by the header
    name: str = ""  # the header without its unit: the property of a column the registry does not know


# Properties measured against a target, a cell line or an organism: the rest of their header names it.
_POTENCY_PROPERTIES = frozenset({"IC50", "EC50", "Ki", "Kd", "pIC50", "pEC50", "pKi"})
_BRACKETED_RE = re.compile(r"\(([^()]{1,30})\)|\[([^\[\]]{1,30})\]")


def _header_property(text: str, properties: PropertyRegistry) -> str | None:
    known = {spec.name for spec in properties}
    for name, spellings in _TEXT_SPELLINGS.items():
        if name in known and any(re.search(spelling, text) for spelling in spellings):
            return name
    for token in re.findall(r"[A-Za-z][\w./½-]*", text):
        for candidate in (token, re.sub(r"\d+$", "", token)):
            if candidate and candidate in properties:
                return properties.get(candidate).name
    return None


def _is_header_unit(candidate: str, units: UnitConverter) -> bool:
    return not re.match(r"(?i)pH\b", candidate) and unit_known(units, candidate)


def _header_unit(parts: Sequence[str], units: UnitConverter) -> tuple[str | None, list[str]]:
    """The unit printed in a column's header ('IC50 (nM)', 'Ki [nM]', 'CLint (uL/min/mg)' over 'HLM', 'Papp
    (10-6 cm/s)') and the header parts without it. A unit at the end of a part is preferred to one in brackets
    elsewhere; '(pH 7.4)' is a condition, not a unit."""
    for number, part in enumerate(parts):
        match = _HEADER_UNIT_RE.search(part)
        if match:
            candidate = next(g for g in match.groups() if g is not None).strip()
            if _is_header_unit(candidate, units):
                rest = [*parts[:number], part[: match.start()].strip(), *parts[number + 1 :]]
                return candidate, [p for p in rest if p]
    for number, part in enumerate(parts):
        for match in _BRACKETED_RE.finditer(part):
            candidate = next(g for g in match.groups() if g is not None).strip()
            if _is_header_unit(candidate, units):
                cut = re.sub(r"\s+", " ", part[: match.start()] + " " + part[match.end() :]).strip()
                rest = [*parts[:number], cut, *parts[number + 1 :]]
                return candidate, [p for p in rest if p]
    return None, list(parts)


def _is_concentration(units: UnitConverter, unit: str | None) -> bool:
    """A molar ('uM') or mass ('ug/mL') concentration."""
    if unit is None:
        return False
    for spelling in _unit_spellings(unit):
        try:
            dimensionality = units.parse_scaled_unit(spelling)[1].dimensionality
        except UnitError:
            continue
        return dimensionality in (units.parse_unit("mol/L").dimensionality, units.parse_unit("g/L").dimensionality)
    return False


def _target(name: str, prop: str) -> str | None:
    """What a potency column is measured against: the header's words besides the property, its statistics and
    footnote marks ('EGFR IC50' -> 'EGFR', 'hERG pIC50' -> 'hERG', 'MV4-11 EC50' -> 'MV4-11')."""
    rest = name
    for spelling in _TEXT_SPELLINGS.get(prop, ()):
        rest = re.sub(spelling, " ", rest)
    rest = _STAT_WORDS_RE.sub(" ", rest)
    rest = re.sub(r"[()\[\],;:]", " ", rest)
    rest = re.sub(r"\s+", " ", rest).strip(" .-–")
    return rest if re.search(r"[A-Za-z0-9]", rest) else None


def classify_columns(
    headers: Sequence[str | Sequence[str]], properties: PropertyRegistry, units: UnitConverter
) -> list[Column]:
    """Each column's role, property, unit and conditions, from its header: one string, or its texts per header
    level top to bottom (a spanning 'CLint (uL/min/mg)' over 'HLM' names the property and unit, 'HLM' the species)."""
    columns: list[Column] = []
    for index, raw_header in enumerate(headers):
        parts = [raw_header] if isinstance(raw_header, str) else list(raw_header)
        raw = " ".join(parts).strip()
        header = normalize_text(raw)
        if not header:
            columns.append(Column(index, raw, None, None, "other"))
            continue
        if _SMILES_HEADER_RE.search(header):
            columns.append(Column(index, raw, None, None, "smiles"))
            continue
        unit, name_parts = _header_unit([normalize_text(part) for part in parts if normalize_text(part)], units)
        name_part = " ".join(name_parts)
        found, rest = read_conditions(name_part)
        found.pop("n", None)  # 'n = 3' in a header is how often every value was measured, not a condition of one
        prop = _header_property(rest, properties) or _header_property(name_part, properties)
        if prop == "logS" and _is_concentration(units, unit) and "kinetic_solubility" in properties and not re.search(r"(?i)\blog", name_part):
            prop = "kinetic_solubility"  # 'Solubility (µM)' in a results table: the kinetic assay, not a logS
        conditions = dict(found)
        if prop is None:
            if _bare_uncertainty(name_part) and unit != "%":
                # '± SEM', 'SD', '±': the spread of the value column to its left (see _pair_uncertainties)
                columns.append(Column(index, raw, None, unit, "uncertainty"))
                continue
            role = "label" if _COMPOUND_HEADER_RE.search(header) else "other"
            columns.append(Column(index, raw, None, unit, role, conditions=tuple(sorted(conditions.items())), name=name_part))
            continue
        if prop in _POTENCY_PROPERTIES:
            target = _target(rest, prop)
            if target is not None:
                conditions["target"] = target
        role = "uncertainty" if _is_uncertainty_header(name_part) else "value"
        key = re.sub(r"\s+", " ", _STAT_WORDS_RE.sub(" ", name_part)).strip().lower()
        columns.append(Column(index, raw, prop, unit, role, key, tuple(sorted(conditions.items())), name_part))
    return columns


_VALUE_WITH_SPREAD_RE = re.compile(r"(?i)±|\+/-|\b(?:mean|average|avg\.?|median)\b")


def _is_uncertainty_header(header: str) -> bool:
    """'pKa SEM water', 'SD of logD': a column of uncertainties. 'pKa ± SD', 'pKa (mean ± SEM)' and
    'pKa mean' name value columns (with the spread written in the cells, or in another column)."""
    return bool(_UNCERTAINTY_HEADER_RE.search(header)) and not _VALUE_WITH_SPREAD_RE.search(header)


def _bare_uncertainty(header: str) -> bool:
    """A header that names only a statistic ('SEM', '± SD', 's.d.', '±', 'Error'), no property."""
    if not _UNCERTAINTY_HEADER_RE.search(header):
        return False
    rest = _STAT_WORDS_RE.sub(" ", header)
    return not re.search(r"[A-Za-z0-9]", rest)


def _pair_uncertainties(columns: Sequence[Column]) -> dict[int, int]:
    """value column index -> its uncertainty column (same property; same remaining header words if any).
    An uncertainty column that names no property ('± SEM') belongs to the nearest value column on its left."""
    pairs: dict[int, int] = {}
    values = [c for c in columns if c.role == "value"]
    for unc in (c for c in columns if c.role == "uncertainty" and c.property is not None):
        same = [v for v in values if v.property == unc.property and v.index not in pairs]
        if not same:
            continue
        exact = [v for v in same if v.key == unc.key]
        pool = exact or same
        left = [v for v in pool if v.index < unc.index]
        chosen = max(left, key=lambda v: v.index) if left else min(pool, key=lambda v: v.index)
        pairs[chosen.index] = unc.index
    for unc in (c for c in columns if c.role == "uncertainty" and c.property is None):
        left = [v for v in values if v.index < unc.index]
        if left:
            nearest = max(left, key=lambda v: v.index)
            if nearest.index not in pairs:
                pairs[nearest.index] = unc.index
    return pairs


_CODED_LABEL_RE = re.compile(r"[A-Z][A-Za-z]{0,6}(?:[-_][A-Z]{1,4})?[-_]?\d{1,6}[a-z]{0,2}")
_LABEL_MARKS_RE = re.compile(r"\s?([*†‡§¶#]+)$")


def clean_label(text: str) -> tuple[str, tuple[str, ...]]:
    """'SM01*' -> ('SM01', ('*',)): footnote symbols kept apart from the label."""
    match = _LABEL_MARKS_RE.search(text)
    if match is None or match.start() == 0:
        return text.strip(), ()
    return text[: match.start()].strip(), (match.group(1),)


def _label_column(table: StructuredTable, columns: Sequence[Column]) -> tuple[int, bool] | None:
    """The compound-label column and whether labels are the first word of its cells (a column the grid
    merged with its neighbour: 'SM01 95')."""

    def cells(index: int) -> list[str]:
        out = []
        for row in table.rows:
            cell = row.cells[index] if index < len(row.cells) else None
            if cell is not None and cell.value_text:
                out.append(clean_label(cell.value_text)[0])
        return out

    def short(values: list[str]) -> bool:
        return sum(1 for v in values if len(v) <= 40 and len(v.split()) <= 4) >= 0.6 * len(values)

    def label_like(values: list[str]) -> bool:
        good = [v for v in values if LABEL_CELL_RE.fullmatch(v) or (re.search(r"[A-Za-z]{2,}", v) and parse_quantity(v) is None)]
        return len(good) >= 0.6 * len(values)

    for column in columns:
        values = cells(column.index)
        if column.role == "label" and values and short(values) and label_like(values):
            return column.index, False
    for column in columns:
        if column.property is not None or column.role in ("smiles", "uncertainty"):
            continue
        values = cells(column.index)
        if not values:
            continue
        labels = [v for v in values if LABEL_CELL_RE.fullmatch(v)]
        if len(labels) >= 0.6 * len(values) and (column.index == 0 or any(not v.isdigit() for v in labels)):
            return column.index, False
    for column in columns:
        values = cells(column.index)
        firsts = [v.split()[0] for v in values if v.split()]
        coded = [v for v in firsts if _CODED_LABEL_RE.fullmatch(v) and not v.isdigit()]
        if values and len(coded) >= 0.6 * len(values) and _COMPOUND_HEADER_RE.search(column.header):
            return column.index, any(len(v.split()) > 1 for v in values)
    first = columns[0] if columns else None
    if first is not None and first.property is None and first.role == "other":
        values = cells(0)
        words = [v for v in values if re.search(r"[A-Za-z]{3,}", v) and parse_quantity(v) is None]
        if values and len(words) >= 0.6 * len(values) and short(values):
            return 0, False
    return None


# --- facts from tables ------------------------------------------------------------------------------------


@dataclass
class _Context:
    properties: PropertyRegistry
    units: UnitConverter
    skipped: Skips
    smiles_by_label: dict[str, str]
    resolve_name: Callable[[str], str | None] | None


def table_facts(
    tables: Sequence[StructuredTable],
    *,
    properties: PropertyRegistry,
    units: UnitConverter,
    skipped: Skips,
    smiles_by_label: dict[str, str],
) -> list[ExtractedFact]:
    ctx = _Context(properties, units, skipped, smiles_by_label, opsin_resolver())
    facts: list[ExtractedFact] = []
    for table in tables:
        facts.extend(_facts_of_table(table, ctx))
    return facts


def _molar_mass(smiles: str | None) -> float | None:
    if smiles is None:
        return None
    try:
        return canonicalize(smiles).molar_mass
    except InvalidStructure:
        return None


def _facts_of_table(table: StructuredTable, ctx: _Context) -> list[ExtractedFact]:
    columns = classify_columns(table.column_header_parts(), ctx.properties, ctx.units)
    value_columns = [c for c in columns if c.role == "value"]
    if not value_columns:
        return []
    pairs = _pair_uncertainties(columns)
    found_label = _label_column(table, columns)
    label_index, first_word = found_label if found_label is not None else (None, False)
    value_columns = [c for c in value_columns if c.index != label_index]
    unregistered = [c for c in columns if c.index != label_index and _unregistered_values(table, c)]
    smiles_index = next((c.index for c in columns if c.role == "smiles"), None)
    facts: list[ExtractedFact] = []
    numeric_share = {c.index: _numeric_share(table, c.index) for c in value_columns}
    label: str | None = None
    label_marks: tuple[str, ...] = ()
    for row in table.rows:
        cells = row.cells
        if label_index is not None:
            cell = cells[label_index] if label_index < len(cells) else None
            if cell is not None and cell.value_text:
                text = cell.value_text.split()[0] if first_word else cell.value_text
                label, label_marks = clean_label(text)
                label_marks = (*cell.marks, *label_marks) if not first_word else label_marks
            elif cell is not None:
                label, label_marks = None, ()  # an empty label cell: no compound (a spanned cell is None and carries on)
        smiles = None
        smiles_cell = cells[smiles_index] if smiles_index is not None and smiles_index < len(cells) else None
        if smiles_cell is not None:
            smiles = _valid_smiles(smiles_cell.value_text)
            if smiles and label:
                ctx.smiles_by_label.setdefault(label, smiles)
        if smiles is None and label:
            smiles = ctx.smiles_by_label.get(label)
            if smiles is None and ctx.resolve_name is not None and not LABEL_CELL_RE.fullmatch(label):
                smiles = ctx.resolve_name(label)
        row_text = " | ".join(c.text for c in cells if c is not None and c.text)
        for column in value_columns:
            cell = cells[column.index] if column.index < len(cells) else None
            if cell is None or not cell.value_text:
                continue
            quantity = parse_quantity(cell.value_text)
            if quantity is None:
                if numeric_share[column.index] >= 0.5 and not is_placeholder(cell.value_text):
                    ctx.skipped["unparsed_value"] += 1
                continue
            if quantity.uncertainty is None and column.index in pairs:
                unc_cell = cells[pairs[column.index]]
                unc = parse_quantity(unc_cell.value_text) if unc_cell is not None and unc_cell.value_text else None
                if unc is not None and unc.value is not None and unc.qualifier == "=":
                    quantity = quantity.model_copy(update={"uncertainty": abs(unc.value)})
            assert column.property is not None  # classify_columns names the property of every value column
            spec = ctx.properties.get(column.property)
            unit = quantity.unit or column.unit
            if unit is None and _needs_unit(spec) and quantity.qualifier != "nd":
                ctx.skipped["missing_unit"] += 1
                continue
            try:
                converted, unit_used = convert(spec, quantity, unit, ctx.units, _molar_mass(smiles))
            except (UnitError, InvalidValue) as error:
                ctx.skipped[_skip_reason(error)] += 1
                continue
            facts.append(
                ExtractedFact(
                    compound=label,
                    property=spec.name,
                    **_value_fields(converted, spec, unit_used),
                    **_cell_fields(column, cell, quantity, row, row_text, label_marks, smiles),
                )
            )
        for column in unregistered:
            fact = _unregistered_fact(column, cells, row, label, label_marks, smiles, row_text)
            if fact is not None:
                facts.append(fact)
    return facts


# Headers of numeric columns that are not properties of the compound: replicate counts, references, years.
_NOT_A_PROPERTY_RE = re.compile(r"(?i)(?:n|N|no\.?|#|refs?\.?|references?|year|page|row|entry|lit\.?|cas(?:\s?no\.?)?)")


def _unregistered_values(table: StructuredTable, column: Column) -> bool:
    """A column of numbers under a header the registry does not know ('LE', 'HepG2 CC50 (µM)', 'TPSA'): kept,
    with its header as the property, so what the table reports is not dropped."""
    if column.role != "other" or column.property is not None or not re.search(r"[A-Za-z]", column.name):
        return False
    if _NOT_A_PROPERTY_RE.fullmatch(column.name.strip()) or _COMPOUND_HEADER_RE.fullmatch(column.name.strip()):
        return False
    cells = [row.cells[column.index] for row in table.rows if column.index < len(row.cells)]
    texts = [cell.value_text for cell in cells if cell is not None and cell.value_text and not is_placeholder(cell.value_text)]
    numbers = [q for q in (parse_quantity(text) for text in texts) if q is not None and q.value is not None and q.unit is None]
    return len(numbers) >= 2 and len(numbers) >= 0.8 * len(texts)


def _unregistered_fact(
    column: Column,
    cells: Sequence[RawCell | None],
    row: TableRow,
    label: str | None,
    label_marks: tuple[str, ...],
    smiles: str | None,
    row_text: str,
) -> ExtractedFact | None:
    """One cell of an unregistered column as a fact: the value and unit as printed, the header as the property."""
    cell = cells[column.index] if column.index < len(cells) else None
    if cell is None or not cell.value_text:
        return None
    quantity = parse_quantity(cell.value_text)
    if quantity is None or quantity.value is None:
        return None
    unit = quantity.unit or column.unit or ""
    return ExtractedFact(
        compound=label,
        property=_LABEL_MARKS_RE.sub("", column.name).strip(),
        value=quantity.value,
        value_high=quantity.value_high,
        qualifier=quantity.qualifier,
        uncertainty=quantity.uncertainty,
        unit=unit,
        unit_as_written=unit or None,
        **_cell_fields(column, cell, quantity, row, row_text, label_marks, smiles),
        registered=False,
    )


def _cell_fields(
    column: Column,
    cell: RawCell,
    quantity: ParsedQuantity,
    row: TableRow,
    row_text: str,
    label_marks: tuple[str, ...],
    smiles: str | None,
) -> dict[str, Any]:
    """Where an ``ExtractedFact`` read from a table cell was read: page, box, snippet, header, footnote marks (the
    cell's, the value's, the label's), the compound's SMILES and the conditions the column and the cell name."""
    return {
        "page": row.page,
        "bbox": cell.bbox,
        "snippet": f"{column.header.strip()}: {cell.text} [row: {row_text}]"[:500],
        "source": "table",
        "header": column.header.strip() or None,
        "footnotes": tuple(dict.fromkeys((*cell.marks, *quantity.footnotes, *label_marks))),
        "smiles": smiles,
        "conditions": {**dict(column.conditions), **dict(quantity.conditions)},
    }


def _numeric_share(table: StructuredTable, index: int) -> float:
    cells = (row.cells[index] for row in table.rows if index < len(row.cells))
    texts = [cell for cell in cells if cell is not None and cell.value_text]
    if not texts:
        return 0.0
    numeric = sum(1 for cell in texts if parse_quantity(cell.value_text) is not None)
    return numeric / len(texts)


# --- facts from running text ------------------------------------------------------------------------------

_ELEMENTS = set(
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr "
    "Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir "
    "Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am".split()
)
_FORMULA_RE = re.compile(r"(?<![\w-])([A-Z][A-Za-z0-9()\u2212\-.δ]{1,40}?)(?=[\s,;:]|\.?$|\.\s)")


def _formula(token: str) -> bool:
    """'LiFeAs', 'La2CuO4.032', 'Sr2RuO4', 'CuxBi2Se3', 'Li(Fe1−xCux)As' (element symbols, counts, x/y/δ)."""
    bare = re.sub(r"[()]", "", token)
    bare = re.sub(r"\d*(?:\.\d+)?[\u2212\-+]?[xyzδ]", "", bare)  # doping variables: 1−x, x, δ
    if not re.fullmatch(r"(?:[A-Z][a-z]?\d*(?:\.\d+)?)+", bare):
        return False
    parts = re.findall(r"([A-Z][a-z]?)(\d*(?:\.\d+)?)", bare)
    if len(parts) < 2 or not all(symbol in _ELEMENTS for symbol, _ in parts):
        return False
    return any(count for _, count in parts) or len(parts) >= 3 or bare != token


_PROPERTY_TOKEN_RE = re.compile("|".join(f"(?:{p})" for spellings in _TEXT_SPELLINGS.values() for p in spellings))


def _names_a_property(token: str) -> bool:
    """'IC50', 'EC50', 'CYP3A4'-like tokens are not compound labels when they spell a property."""
    return bool(_PROPERTY_TOKEN_RE.fullmatch(token))


def _compound_before(sentence: str) -> str | None:
    """The last compound label (or, failing that, chemical formula) written before the value."""
    labels = [m for m in STRONG_LABEL_RE.finditer(sentence) if not (m.group("coded") and _names_a_property(m.group("coded")))]
    if labels:
        last = labels[-1]
        return (last.group("coded") or last.group("numbered")).strip()
    formulas = [m.group(1) for m in _FORMULA_RE.finditer(sentence) if _formula(m.group(1)) and not _names_a_property(m.group(1))]
    return formulas[-1] if formulas else None


_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z(\[]|\s*$)")


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    begin = 0
    for match in _SENTENCE_END.finditer(text, 0, start):
        begin = match.end()
    stop = _SENTENCE_END.search(text, end)
    finish = stop.end() if stop else len(text)
    if finish - begin > 400:
        begin = max(begin, start - 150)
        finish = min(finish, end + 150)
    return begin, finish


def text_facts(pages: Sequence[RawPage], *, properties: PropertyRegistry, units: UnitConverter, skipped: Skips) -> list[ExtractedFact]:
    facts: list[ExtractedFact] = []
    seen: set[tuple[object, ...]] = set()
    for page in pages:
        for block in page.blocks:
            paragraph, spans = join_lines(block.lines)
            if not paragraph or not re.search(r"\d", paragraph):
                continue
            for mention in find_mentions(paragraph, properties):
                fact = _text_fact(page.number, paragraph, spans, mention, properties, units, skipped)
                if fact is None:
                    continue
                key = (fact.page, fact.property, fact.value, fact.value_high, fact.qualifier, fact.compound, fact.snippet)
                if key not in seen:
                    seen.add(key)
                    facts.append(fact)
    return facts


def _text_fact(
    page: int,
    paragraph: str,
    spans: Sequence[tuple[int, int, RawLine]],
    mention: Mention,
    properties: PropertyRegistry,
    units: UnitConverter,
    skipped: Skips,
) -> ExtractedFact | None:
    quantity = mention_quantity(mention)
    if quantity is None:
        skipped["unparsed_value"] += 1
        return None
    spec = properties.get(mention.property)
    converted: Converted | None = None
    unit_used: str | None = None
    failure: Exception | None = None
    for candidate in unit_candidates(mention.unit_text):
        try:
            converted, unit_used = convert(spec, quantity, candidate, units)
            break
        except (UnitError, InvalidValue) as error:
            failure = failure if isinstance(failure, _OutOfRange) else error
    if converted is None:
        if isinstance(failure, _OutOfRange):
            skipped["out_of_range"] += 1
            return None
        if spec.scale == "linear":  # in running text a linear value needs its unit printed
            skipped[_missing_unit_reason(mention.unit_text, units)] += 1
            return None
        try:
            converted, unit_used = convert(spec, quantity, None, units)
        except (UnitError, InvalidValue) as error:
            skipped[_skip_reason(error)] += 1
            return None
    if unit_used and _is_rate(paragraph, mention.unit_start, unit_used):
        skipped["rate_not_value"] += 1  # '1.9 K per 1% Cu': a slope, not a value of the property
        return None
    begin, finish = _sentence(paragraph, mention.start, mention.end)
    sentence = paragraph[begin:finish].strip()
    compound = _compound_before(paragraph[begin : mention.value_start])
    if compound is None and begin > 0:  # '... spectrum for SM01. Molecular weight is 217.2 g/mol.'
        ending = re.search(r"(?<![\w-])([A-Z]{1,6}(?:-[A-Z]{1,4})?-?\d{1,6}[a-z]?)\)?\.\s*$", paragraph[:begin])
        if ending and not _names_a_property(ending.group(1)):
            compound = ending.group(1)
    boxes = [line.bbox for s, e, line in spans if s < mention.end and e > mention.start]
    bbox: BBox | None = union(boxes) if boxes else None
    return ExtractedFact(
        compound=compound,
        property=spec.name,
        **_value_fields(converted, spec, unit_used),
        page=page,
        bbox=bbox,
        snippet=sentence[:500],
        source="text",
        footnotes=quantity.footnotes,
    )


def _value_fields(converted: Converted, spec: PropertySpec, unit_as_written: str | None) -> dict[str, Any]:
    """The value part of an ``ExtractedFact`` (table or text): the converted quantity in the property's canonical
    unit, and the unit as the document wrote it."""
    return {
        "value": converted.value,
        "value_high": converted.value_high,
        "qualifier": converted.qualifier,
        "uncertainty": converted.uncertainty,
        "unit": spec.canonical_unit,
        "unit_as_written": unit_as_written,
    }


def _is_rate(paragraph: str, unit_start: int, unit: str) -> bool:
    rest = paragraph[unit_start:]
    for token in unit.split():
        rest = rest.lstrip()
        if not rest.startswith(token):
            return False
        rest = rest[len(token) :]
    return bool(re.match(r"\s?(?:per\b|/\s?[A-Za-z%])", rest))


def _missing_unit_reason(unit_text: str | None, units: UnitConverter) -> str:
    first = unit_candidates(unit_text)[:1]
    if not first:
        return "missing_unit"
    token = first[0]
    if unit_known(units, token):
        return "incompatible_unit"
    if len(token) <= 5 or re.search(r"[/µμ°%]", token):
        return "unknown_unit"
    return "missing_unit"


# --- structures -------------------------------------------------------------------------------------------

_SMILES_TOKEN_RE = re.compile(r"[A-Za-z0-9@+\-\[\]()=#$/\\%.:*]{5,}")


def _valid_smiles(text: str) -> str | None:
    token = text.strip().rstrip(".,;:")
    if not _SMILES_TOKEN_RE.fullmatch(token):
        return None
    if not (re.search(r"[()=#\[\]@]", token) or re.search(r"[A-Za-z]\d", token)):
        return None
    if re.search(r"\d{4,}|^10\.\d|https?:|\.\.", token) or token.count(".") > 3:
        return None
    try:
        structure = canonicalize(token)
    except (InvalidStructure, StoreInputError):
        return None
    if sum(ch.isalpha() for ch in structure.smiles) < 3:
        return None
    return structure.smiles


def find_structures(pages: Sequence[RawPage]) -> list[FoundStructure]:
    """SMILES written in the text that RDKit accepts, each with a label printed on the same line band."""
    found: list[FoundStructure] = []
    for page in pages:
        lines = [line for block in page.blocks for line in block.lines]
        for line in lines:
            for token in line.text.split():
                smiles = _valid_smiles(token)
                if smiles is None:
                    continue
                structure = canonicalize(smiles)
                found.append(
                    FoundStructure(
                        text=token.rstrip(".,;:"),
                        smiles=structure.smiles,
                        inchikey=structure.inchikey,
                        page=page.number,
                        compound=_label_beside(line, lines, token),
                    )
                )
    return found


def _label_beside(line: RawLine, lines: Iterable[RawLine], token: str) -> str | None:
    rest = " ".join(word for word in line.text.split() if word != token)
    inline = [m for m in STRONG_LABEL_RE.finditer(rest) if m.group("coded")]
    if inline:
        return inline[0].group("coded")
    y0, y1 = line.bbox[1], line.bbox[3]
    best: tuple[float, str] | None = None
    for other in lines:
        if other is line:
            continue
        cy = (other.bbox[1] + other.bbox[3]) / 2
        if not y0 - 2 <= cy <= y1 + 2 or other.bbox[2] > line.bbox[0] + 1:
            continue
        match = re.fullmatch(r"\s*([A-Z]{1,6}(?:-[A-Z]{1,4})?-?\d{1,6}[a-z]?)\s*", other.text)
        if match and (best is None or other.bbox[0] < best[0]):  # the leftmost label: the row's ID column
            best = (other.bbox[0], match.group(1))
    return best[1] if best else None


# --- OPSIN (optional) ----------------------------------------------------------------------------------

_OPSIN_STATE: dict[str, Callable[[str], str | None] | None] = {}


def opsin_resolver() -> Callable[[str], str | None] | None:
    """Name -> canonical SMILES through OPSIN, when ``py2opsin`` is importable and ``java`` is on PATH."""
    if "resolver" in _OPSIN_STATE:
        return _OPSIN_STATE["resolver"]
    resolver: Callable[[str], str | None] | None = None
    try:
        from py2opsin import py2opsin
    except ImportError:
        logger.info("OPSIN name resolution skipped: py2opsin is not installed")
    else:
        if shutil.which("java") is None:
            logger.info("OPSIN name resolution skipped: no java on PATH")
        else:
            cache: dict[str, str | None] = {}

            def resolve(name: str) -> str | None:
                if name not in cache:
                    try:
                        raw = py2opsin(name)
                    except Exception as error:  # py2opsin surfaces Java failures as assorted errors
                        logger.debug("OPSIN failed on %r: %s", name, error)
                        raw = ""
                    cache[name] = _valid_smiles(raw) if raw else None
                return cache[name]

            resolver = resolve
    _OPSIN_STATE["resolver"] = resolver
    return resolver


def smiles_by_label(structures: Sequence[FoundStructure]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for structure in structures:
        if structure.compound:
            mapping.setdefault(structure.compound, structure.smiles)
    return mapping
