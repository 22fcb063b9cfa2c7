"""Literature reading (issue #7): table facts, text mentions and throughput of ``tools.literature.read_pdf``
against hand-checked gold and public annotations, with chemdataextractor2 beside it when it can run.

Data (``--data``, default ``../shared/data`` relative to the project root; everything under ``literature/``):

* ``pdfs/*.pdf``: the 8 staged papers. Each is read once with ``read_pdf(path, max_workers=1)`` and the
  default ``tables="auto"``; that one read gives the throughput row and every fact scored below.
* Table facts. A fact is right when compound label, property, value and unit are all right (value equal to
  1e-6; unit: the fact's canonical unit is the gold property's canonical unit, 'pH units' for pKa; gold and
  predictions are compared as multisets, so a value printed twice for one compound counts twice).
  - SAMPL6 SI (``sampl6_pka_measurements_2018_SI.pdf``) against ``benchmarks/gold/sampl6_pka_table.json``
    (Table SI 3, replicate pKa of SM01-SM24, pdf pp. 4-5; Table SI 5, mean and SEM, p. 8; transcribed by hand
    from page images, see its ``how_made``). Predictions: table facts on those pages. "SEM right" is the share
    of right facts whose uncertainty also equals the gold's (a blank SEM cell must give none).
  - Physica Scripta 1989 scan (``physscr1989_La2CuO4032_scan.pdf``) against
    ``literature/gold/physscr1989_La2CuO4032_scan.json`` (Table I, p. 3, 60 facts). Predictions: table facts
    on p. 3. As a diagnostic, "values legible in cells": gold numbers found (multiset) among the numbers of
    the cells of the table the reader extracted there (its OCR text layer).
* Text mentions.
  - SuperMat Tc: gold = the ``tcValue`` spans of ``benchmarks/supermat/tei/*.xml`` for the 4 staged SuperMat
    PDFs (prx2018_CuxBi2Se3 = PhysRevX.8.041024, prx2019_Sr2RuO4 = PhysRevX.9.021044, jpcm2014_LiFeAs =
    xing2014theAnomaly, physscr1989 = PHC1580183); every ``SuperMat-2.0.csv`` row of those documents is one of
    these spans (checked at run time). A Tc fact (text or table) matches a gold span of the same PDF when its
    value (and range end, for a range such as 'from 1.4 to 3.5 K' or '28 K and 40 K') equals the span's
    numbers in K; the qualifier ('∼', '≈') is not scored. "with material" also needs the fact's compound to
    overlap the gold material of the CSV row (or, for PHC1580183, the gold file's entity), ignoring spaces and
    case, one a substring of the other.
  - MeasEval (``benchmarks/measeval/{train,eval,trial}``: paragraphs and official .tsv; gold = every
    ``Quantity`` span). Two extractors are scored:
    (a) "quantity parser": our ``parse_quantity`` over candidate spans. The harness (here, not in the reader,
    which only reads values next to a property name) takes every number in the paragraph, tries
    ``parse_quantity`` on it plus the next 0-4 words (longest first, trailing punctuation dropped, a
    preceding '~', '<', '>', '≈', '≤', '≥' included) and keeps the longest reading with a unit that pint
    converts (``facts.unit_known``), has no English function word in it ('in', 'a', 'at', ...), and whose
    words after the first carry an exponent or '/' or are at most 2 letters ('m s−1', 'g mol−1', 'mg m');
    a candidate ends at a clause boundary (',', ';', ':', '•', a full stop, a bracket after a space).
    (b) "reader text mentions": ``find_mentions`` with the property registry, each kept only when the
    reader's ``_text_fact`` turns it into a fact (as ``read_pdf`` does); value and unit as written.
    Matching, one-to-one within a paragraph: **value+unit**: the prediction's value (low end of a range)
    equals the gold span's first number (relative 1e-9; thousands separators, '× 10^n' read) and both units
    normalise through pint to the same unit (``to_base_units`` factor and dimension; units pint cannot read
    compare as text); gold = Quantity spans with a unit annotation and a number. **value+unit+overlap**:
    the same and the character spans overlap. **span overlap**: any character overlap, gold = all Quantity
    spans (counts and unitless numbers included).
* Throughput: wall time of each ``read_pdf`` call in this process (imports and the outside-paper pKa check,
  which loads PyMuPDF's layout model, happen first), pages per second over all 8 PDFs.
* Outside-paper pKa tables: the PDFs of ``tests/tools/literature/pka_tables.py`` (5 layouts unlike SAMPL6),
  scored against the hand-written expectations of ``tests/tools/literature/test_pka_tables.py``: a fact is
  right when label, property, qualifier, value and uncertainty are right; spurious = pKa facts not expected.
* Med-chem results tables: the PDFs of ``tests/tools/literature/medchem_tables.py`` (3 held-out layouts, 2
  development layouts), scored against the expected facts written by hand there. Only numeric table facts count
  ('n.d.' cells are not scored). "values right": compound label, property, qualifier, value (and range end) and
  unit right; "with conditions": and the target, species or pH too. Precision = values right / numeric facts read.
  ``--medchem-only`` prints this section alone (no shared data needed).
* chemdataextractor2: run through ``--cde-python`` (an interpreter of a separate virtualenv, default
  ``/tmp/cde-venv/bin/python``; never AtomLoop's). A probe parses one sentence first; if that fails
  (not installed, or its models cannot be downloaded offline), the reason is printed and the results say so.

    .venv/bin/python benchmarks/literature_bench.py [--data ../shared/data] [--out benchmarks/results/literature.md]
    .venv/bin/python benchmarks/literature_bench.py --medchem-only

Markdown goes to stdout and to ``--out``; progress lines to stderr.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import logging
import math
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import reporting  # benchmarks/reporting.py (this folder is on sys.path)

from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter
from tools.literature.facts import Skips, _text_fact, _unit_spellings, unit_known
from tools.literature.models import ExtractedFact, ReadDocument
from tools.literature.pdf import read_pdf
from tools.literature.quantities import find_mentions, mention_quantity, normalize_text, parse_quantity

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests" / "tools" / "literature"
SAMPL6_GOLD = ROOT / "benchmarks" / "gold" / "sampl6_pka_table.json"
SAMPL6_PDF = "sampl6_pka_measurements_2018_SI.pdf"
SCAN_PDF = "physscr1989_La2CuO4032_scan.pdf"
SUPERMAT_PAIRS = {  # staged PDF -> SuperMat TEI/CSV file name
    "prx2018_CuxBi2Se3_nematic_sc.pdf": "PhysRevX.8.041024-CC.superconductors.tei.xml",
    "prx2019_Sr2RuO4_17O_NMR.pdf": "PhysRevX.9.021044-CC.superconductors.tei.xml",
    "jpcm2014_LiFeAs_Cu_doping.pdf": "xing2014theAnomaly-CC.superconductors.tei.xml",
    SCAN_PDF: "PHC1580183-CC.superconductors.tei.xml",
}
MEASEVAL_SPLITS = (("train", "text"), ("eval", "text"), ("trial", "txt"))
FUNCTION_WORDS = frozenset(
    "a an and or of to in at on as by for from the is are was were be per with than that this which".split()
)
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- scores ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    predicted: int
    gold: int
    right: int

    @property
    def precision(self) -> float | None:
        return self.right / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.right / self.gold if self.gold else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    def cells(self) -> list[str]:
        return [str(self.predicted), str(self.gold), str(self.right), pct(self.precision), pct(self.recall), pct(self.f1)]


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def same_number(a: float | None, b: float | None, rel: float = 1e-9, absolute: float = 1e-6) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=absolute)


def match_one_to_one(gold: Sequence[Any], predicted: Sequence[Any], same: Callable[[Any, Any], bool]) -> int:
    """Greedy one-to-one matching in order; returns the number of gold items matched."""
    used: set[int] = set()
    right = 0
    for g in gold:
        for index, p in enumerate(predicted):
            if index not in used and same(g, p):
                used.add(index)
                right += 1
                break
    return right


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# -- reading the 8 PDFs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadResult:
    name: str
    document: ReadDocument
    seconds: float


def read_all(pdf_dir: Path, properties: PropertyRegistry, units: UnitConverter) -> list[ReadResult]:
    results = []
    for path in sorted(pdf_dir.glob("*.pdf")):
        start = time.perf_counter()
        document = read_pdf(path, properties=properties, units=units, max_workers=1)
        seconds = time.perf_counter() - start
        progress(f"read {path.name}: {document.pages} pages in {seconds:.1f} s, {len(document.facts)} facts")
        results.append(ReadResult(path.name, document, seconds))
    return results


def page_ranges(pages: Sequence[int]) -> str:
    if not pages:
        return ""
    parts: list[str] = []
    start = previous = pages[0]
    for page in [*pages[1:], None]:
        if page is not None and page == previous + 1:
            previous = page
            continue
        parts.append(f"{start}" if start == previous else f"{start}-{previous}")
        if page is not None:
            start = previous = page
    return ", ".join(parts)


def throughput_section(results: Sequence[ReadResult]) -> str:
    rows = []
    for r in results:
        d = r.document
        flagged: dict[str, list[int]] = {}
        for page, reason in d.flagged_pages:
            flagged.setdefault(reason.split(":")[0], []).append(page)
        flags = "; ".join(f"{page_ranges(sorted(set(pages)))} ({reason})" for reason, pages in flagged.items()) or "none"
        n_table = sum(1 for f in d.facts if f.source == "table")
        rows.append(
            [r.name, str(d.pages), f"{r.seconds:.2f}", f"{d.pages / r.seconds:.1f}", str(len(d.tables)), str(n_table), str(len(d.facts) - n_table), flags]
        )
    pages = sum(r.document.pages for r in results)
    seconds = sum(r.seconds for r in results)
    rows.append(["**all 8**", str(pages), f"{seconds:.2f}", f"**{pages / seconds:.1f}**", str(sum(len(r.document.tables) for r in results)),
                 str(sum(1 for r in results for f in r.document.facts if f.source == "table")),
                 str(sum(1 for r in results for f in r.document.facts if f.source == "text")), ""])
    return table(["PDF", "pages", "read s", "pages/s", "tables", "table facts", "text facts", "flagged pages"], rows)


# -- table facts ----------------------------------------------------------------------------------------------


def sampl6_scores(document: ReadDocument, gold_path: Path, properties: PropertyRegistry) -> tuple[list[list[str]], list[str]]:
    gold = json.loads(gold_path.read_text(encoding="utf-8"))
    rows: list[list[str]] = []
    notes: list[str] = []
    all_gold: list[dict[str, Any]] = []
    all_pred: list[ExtractedFact] = []
    for name, info in gold["tables"].items():
        pages = set(info["pdf_pages"])
        facts = [f for f in gold["facts"] if f["table"] == name]
        predicted = [f for f in document.facts if f.source == "table" and f.page in pages]
        where = f"pp. {page_ranges(sorted(pages))}" if len(pages) > 1 else f"p. {min(pages)}"
        rows.append(_table_fact_row(f"SAMPL6 SI {name} ({where})", facts, predicted, properties))
        all_gold += facts
        all_pred += predicted
    rows.append(_table_fact_row("SAMPL6 SI, both tables", all_gold, all_pred, properties))
    return rows, notes


def _gold_fact_matches(gold: dict[str, Any], fact: ExtractedFact, properties: PropertyRegistry) -> bool:
    spec = properties.get(gold["property"])
    return (
        fact.compound == gold["compound"]
        and fact.property == spec.name
        and fact.unit == spec.canonical_unit
        and fact.value is not None
        and same_number(fact.value, float(gold["value"]))
    )


def _table_fact_row(label: str, gold: Sequence[dict[str, Any]], predicted: Sequence[ExtractedFact], properties: PropertyRegistry) -> list[str]:
    used: set[int] = set()
    right = sem_right = 0
    for g in gold:
        for index, fact in enumerate(predicted):
            if index not in used and _gold_fact_matches(g, fact, properties):
                used.add(index)
                right += 1
                gold_unc = float(g["uncertainty"]) if g.get("uncertainty") else None
                sem_right += same_number(fact.uncertainty, gold_unc)
                break
    score = Score(len(predicted), len(gold), right)
    return [label, *score.cells(), pct(sem_right / right) if right else "n/a"]


_CELL_NUMBER_RE = re.compile(r"-?\s?\d+\.\d+")


def scan_scores(document: ReadDocument, gold_path: Path) -> tuple[list[str], str]:
    gold = json.loads(gold_path.read_text(encoding="utf-8"))
    info = gold["table"]
    page = info["pdf_page"]
    facts = info["facts"]
    predicted = [f for f in document.facts if f.source == "table" and f.page == page]
    right = 0  # the registry has no crystallographic property: a fact could only be right with its parameter
    for g in facts:
        right += any(f.header == g["parameter"] and same_number(f.value, g["value_numeric"]) for f in predicted)
    score = Score(len(predicted), len(facts), right)
    cell_numbers: Counter[float] = Counter()
    for t in document.tables:
        if page not in t.pages:
            continue
        for row in [*t.header_rows, *t.rows]:
            for cell in row:
                for match in _CELL_NUMBER_RE.finditer(normalize_text(cell)):
                    cell_numbers[round(float(match.group().replace(" ", "")), 6)] += 1
    wanted = Counter(round(float(g["value_numeric"]), 6) for g in facts)
    legible = sum((wanted & cell_numbers).values())
    flagged = sorted({p for p, reason in document.flagged_pages if reason.startswith("scanned")})
    row = [f"Physica Scripta 1989 scan, {info['label'].rstrip('.')} (p. {page})", *score.cells(), "n/a"]
    note = (
        f"Physica Scripta 1989 scan: the reader flags pages {page_ranges(flagged)} as scanned (a page image with an"
        f" invisible OCR text layer); it finds {sum(1 for t in document.tables if page in t.pages)} table on p. {page}"
        f" from that layer, but the gold's properties (fractional coordinates, occupancies, R factors, displacement"
        f" parameters, interatomic distances) are not in the property registry, so no facts come out of it. Values"
        f" legible in the extracted cells (the OCR layer, e.g. 'O.lOo(S)' for 0.100(5)): {legible} of {len(facts)}."
    )
    return row, note


# -- SuperMat Tc ----------------------------------------------------------------------------------------------

TEI = "{http://www.tei-c.org/ns/1.0}"


@dataclass(frozen=True)
class TcGold:
    pdf: str
    text: str
    low: float
    high: float | None
    material: str | None


def _numbers_in_k(text: str) -> tuple[float, float | None]:
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", normalize_text(text))]
    if not numbers:
        raise ValueError(f"no number in Tc span {text!r}")
    return numbers[0], (numbers[1] if len(numbers) > 1 else None)


def supermat_gold(supermat: Path, literature: Path) -> tuple[list[TcGold], list[str]]:
    notes: list[str] = []
    csv_rows: dict[str, list[dict[str, str]]] = {}
    with (supermat / "SuperMat-2.0.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            csv_rows.setdefault(row["filename"], []).append(row)
    gold: list[TcGold] = []
    for pdf, tei_name in SUPERMAT_PAIRS.items():
        root = ET.parse(supermat / "tei" / tei_name).getroot()
        spans = ["".join(el.itertext()).strip() for el in root.iter(f"{TEI}rs") if el.get("type") == "tcValue"]
        rows = csv_rows.get(tei_name, [])
        csv_values = [r["tcValue"].strip() for r in rows]
        missing = [v for v in csv_values if v not in spans]
        if missing:
            notes.append(f"SuperMat CSV rows of {tei_name} not among its TEI tcValue spans: {missing}")
        for span in spans:
            low, high = _numbers_in_k(span)
            material = next((r["material"].strip() for r in rows if r["tcValue"].strip() == span), None)
            if material is None and pdf == SCAN_PDF:
                material = _scan_material(literature, low)
            gold.append(TcGold(pdf, span, low, high, material))
    return gold, notes


def _scan_material(literature: Path, low: float) -> str | None:
    path = literature / "gold" / "physscr1989_La2CuO4032_scan.json"
    if not path.is_file():
        return None
    for mention in json.loads(path.read_text(encoding="utf-8")).get("text_mentions", []):
        value = mention.get("value_numeric")
        first = value[0] if isinstance(value, list) else value
        if mention.get("unit") == "K" and first is not None and same_number(float(first), low):
            return str(mention["entity"])
    return None


def _material_overlaps(compound: str | None, material: str | None) -> bool:
    if not compound or not material:
        return False
    a = re.sub(r"\s+", "", normalize_text(compound)).lower()
    b = re.sub(r"\s+", "", normalize_text(material)).lower()
    return a in b or b in a


def tc_section(results: Sequence[ReadResult], gold: Sequence[TcGold]) -> tuple[str, list[tuple[TcGold, str]]]:
    rows = []
    misses: list[tuple[TcGold, str]] = []
    total = [0, 0, 0, 0]
    for pdf in SUPERMAT_PAIRS:
        doc = next((r.document for r in results if r.name == pdf), None)
        if doc is None:
            continue
        g = [x for x in gold if x.pdf == pdf]
        predicted = [f for f in doc.facts if f.property == "Tc"]

        def value_match(item: TcGold, fact: ExtractedFact) -> bool:
            return same_number(fact.value, item.low) and same_number(fact.value_high, item.high)

        right = match_one_to_one(g, predicted, value_match)
        with_material = match_one_to_one(g, predicted, lambda item, fact: value_match(item, fact) and _material_overlaps(fact.compound, item.material))
        for item in g:
            if not any(value_match(item, f) for f in predicted):
                misses.append((item, pdf))
        s = Score(len(predicted), len(g), right)
        m = Score(len(predicted), len(g), with_material)
        rows.append([pdf, *s.cells(), str(with_material), pct(m.f1)])
        total = [total[0] + len(predicted), total[1] + len(g), total[2] + right, total[3] + with_material]
    s = Score(total[0], total[1], total[2])
    m = Score(total[0], total[1], total[3])
    rows.append(["**all 4**", *s.cells(), str(total[3]), pct(m.f1)])
    return table(["PDF", "Tc facts", "gold spans", "right", "precision", "recall", "F1", "right with material", "F1 with material"], rows), misses


# -- MeasEval -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    value: float | None
    unit: str | None


@dataclass
class Paragraph:
    doc_id: str
    text: str
    gold: list[Span] = field(default_factory=list)


def load_measeval(root: Path) -> tuple[list[Paragraph], dict[str, int]]:
    paragraphs: list[Paragraph] = []
    counts: dict[str, int] = {}
    for split, text_dir in MEASEVAL_SPLITS:
        texts = sorted((root / split / text_dir).glob("*.txt"))
        counts[split] = len(texts)
        for path in texts:
            paragraph = Paragraph(path.stem, path.read_text(encoding="utf-8"))
            paragraphs.append(paragraph)
            tsv = root / split / "tsv" / f"{path.stem}.tsv"
            if not tsv.is_file():  # a paragraph with no quantity annotated
                continue
            with tsv.open(encoding="utf-8") as handle:
                for row in csv.DictReader(handle, delimiter="\t"):
                    if row["annotType"] != "Quantity":
                        continue
                    other = json.loads(row["other"]) if row.get("other") else {}
                    unit = other.get("unit") if isinstance(other, dict) else None
                    paragraph.gold.append(Span(int(row["startOffset"]), int(row["endOffset"]), gold_number(row["text"]), unit or None))
    return paragraphs, counts


_GOLD_NUMBER_RE = re.compile(r"(?<![\d.])(?P<num>\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?|\.\d+)")
_GOLD_EXPONENT_RE = re.compile(r"\s?[×x]\s?10\s?\^?\s?(?P<exp>[-+]?\d{1,3})")


def gold_number(text: str) -> float | None:
    """The first number of a gold Quantity span, read independently of the reader's parser: negative only
    when a minus stands right before it and is not a hyphen ('−23.5‰' but not '40-min'), thousands
    separators, '× 10^n'."""
    s = text.replace("\u2212", "-").replace("\u2013", "-")
    match = _GOLD_NUMBER_RE.search(s)
    if match is None:
        return None
    start = match.start("num")
    negative = start >= 1 and s[start - 1] == "-" and (start < 2 or not s[start - 2].isalnum())
    value = float(match.group("num").replace(",", ""))
    exponent = _GOLD_EXPONENT_RE.match(s, match.end("num"))
    if exponent:
        value *= 10 ** int(exponent.group("exp"))
    return -value if negative else value


class UnitKeys:
    """A comparable key per unit text: pint's base-unit factor and dimensionality, else the bare text."""

    def __init__(self, units: UnitConverter) -> None:
        self.units = units
        self.cache: dict[str, tuple[Any, ...]] = {}

    def key(self, text: str) -> tuple[Any, ...]:
        if text not in self.cache:
            self.cache[text] = self._key(text)
        return self.cache[text]

    def _key(self, text: str) -> tuple[Any, ...]:
        for spelling in _unit_spellings(text):
            try:
                unit = self.units.parse_unit(spelling)
                base = self.units.registry.Quantity(1.0, unit).to_base_units()
            except Exception:  # pint raises assorted errors on unknown or odd units
                continue
            return ("pint", f"{float(base.magnitude):.9g}", str(base.units))
        return ("text", re.sub(r"\s+", "", normalize_text(text)).lower())


_CANDIDATE_NUMBER_RE = re.compile(r"(?<![\w.])(?:[~<>≈≤≥∼]\s?)?[-−–]?\d+(?:[.,]\d+)*")
_CLAUSE_END_RE = re.compile(r"[,;:•]|\.(?=\s|$|•)|\s[(\[]")
_TRAILING_PUNCT = ".,;:)]"


def scan_quantities(text: str, units: UnitConverter) -> list[Span]:
    """The benchmark's harness around ``parse_quantity`` (see the module docstring): candidates end at a
    clause boundary (',', ';', ':', '•', a full stop, an opening bracket after a space)."""
    found: list[Span] = []
    covered = -1
    for match in _CANDIDATE_NUMBER_RE.finditer(text):
        start = match.start()
        if start < covered:
            continue
        rest = text[match.end() :]
        boundary = _CLAUSE_END_RE.search(rest)
        if boundary is not None:
            rest = rest[: boundary.start()]
        words = list(re.finditer(r"\S+", rest))[:4]
        ends = [match.end()] + [match.end() + w.end() for w in words]
        best: Span | None = None
        for end in reversed(ends):
            candidate = text[start:end].rstrip(_TRAILING_PUNCT)
            parsed = parse_quantity(candidate)
            if parsed is None or parsed.value is None or not parsed.unit:
                continue
            unit = parsed.unit.strip()
            tokens = unit.split()
            if any(token.lower() in FUNCTION_WORDS for token in tokens) or not unit_known(units, unit):
                continue
            if any(len(token) > 2 and not re.search(r"[\d^⁻−/-]", token) for token in tokens[1:]):
                continue  # 'K has', 's cycle': a word after the unit; later parts carry an exponent or are short

            best = Span(start, start + len(candidate), parsed.value, unit)
            break
        if best is not None:
            found.append(best)
            covered = best.end
    return found


_PANEL_LIKE_RE = re.compile(r"\d+[A-Za-z]")


def mention_quantities(text: str, properties: PropertyRegistry, units: UnitConverter) -> list[Span]:
    """What ``read_pdf`` keeps as text facts from ``text``: each ``find_mentions`` hit passed through the
    reader's own ``_text_fact`` (unit conversion, range checks); value and unit as written, for matching."""
    found = []
    skipped = Skips()
    for mention in find_mentions(text, properties):
        fact = _text_fact(1, text, [], mention, properties, units, skipped)
        quantity = mention_quantity(mention)
        if fact is None or quantity is None or quantity.value is None:
            continue
        found.append(Span(mention.value_start, mention.end, quantity.value, fact.unit_as_written))
    return found


def panel_like_unmatched(paragraphs: Sequence[Paragraph], predict: Callable[[str], list[Span]]) -> tuple[int, int]:
    """Predictions overlapping no gold span, and how many of them are an integer glued to letters ('3F',
    '70S', '14C': figure panels, ribosome subunits, isotopes)."""
    unmatched = panel = 0
    for paragraph in paragraphs:
        for p in predict(paragraph.text):
            if any(g.start < p.end and p.start < g.end for g in paragraph.gold):
                continue
            unmatched += 1
            panel += bool(_PANEL_LIKE_RE.fullmatch(paragraph.text[p.start : p.end]))
    return unmatched, panel


def measeval_scores(paragraphs: Sequence[Paragraph], predict: Callable[[str], list[Span]], keys: UnitKeys) -> tuple[Score, Score, Score]:
    def overlap(a: Span, b: Span) -> bool:
        return a.start < b.end and b.start < a.end

    def value_unit(g: Span, p: Span) -> bool:
        return (
            g.value is not None
            and p.value is not None
            and p.unit is not None
            and g.unit is not None
            and same_number(g.value, p.value, rel=1e-9, absolute=1e-12)
            and keys.key(g.unit) == keys.key(p.unit)
        )

    n_pred = n_pred_unit = n_gold_all = n_gold_unit = 0
    right_vu = right_strict = right_span = 0
    for paragraph in paragraphs:
        predicted = predict(paragraph.text)
        with_unit = [p for p in predicted if p.unit]
        gold_unit = [g for g in paragraph.gold if g.unit and g.value is not None]
        n_pred += len(predicted)
        n_pred_unit += len(with_unit)
        n_gold_all += len(paragraph.gold)
        n_gold_unit += len(gold_unit)
        right_vu += match_one_to_one(gold_unit, with_unit, value_unit)
        right_strict += match_one_to_one(gold_unit, with_unit, lambda g, p: value_unit(g, p) and overlap(g, p))
        right_span += match_one_to_one(paragraph.gold, predicted, overlap)
    return Score(n_pred_unit, n_gold_unit, right_vu), Score(n_pred_unit, n_gold_unit, right_strict), Score(n_pred, n_gold_all, right_span)


# -- outside-paper pKa tables ---------------------------------------------------------------------------------


def _load(path: Path, name: str) -> ModuleType:
    if str(path.parent) not in sys.path:  # the generators import pdf_drawing.py (and the tests their generator) from beside them
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def pka_check(properties: PropertyRegistry, units: UnitConverter) -> tuple[str, bool]:
    font = next((f for f in FONT_CANDIDATES if Path(f).is_file()), None)
    if font is None:
        return "Outside-paper pKa tables: skipped, no DejaVuSans.ttf on this machine.", False
    test_module = _load(TESTS / "test_pka_tables.py", "atomloop_bench_test_pka_tables")
    generator = test_module.pka_tables
    rows = []
    total_right = total = spurious = 0
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        for layout in generator.LAYOUTS:
            document = read_pdf(layout.build(Path(folder), font), properties=properties, units=units)
            keys = [generator.fact_key(f.compound, f.property, f.qualifier, f.value, f.uncertainty) for f in document.facts]
            expected = [generator.fact_key(*fact) for fact in test_module.EXPECTED[layout.name]]
            result = generator.score(layout.name, keys, expected)
            rows.append([layout.name, layout.description, f"{result.right}/{result.expected}", pct(result.share_right), str(len(result.spurious))])
            total_right += result.right
            total += result.expected
            spurious += len(result.spurious)
            ok = ok and result.share_right >= 0.9 and not result.spurious
    rows.append(["**all**", "", f"{total_right}/{total}", pct(total_right / total), str(spurious)])
    return table(["layout", "what it tests", "facts right", "share", "spurious"], rows), ok


def _read_facts(document: ReadDocument) -> list[Any]:
    generator = sys.modules["atomloop_bench_medchem_tables"]
    return [
        generator.ReadFact(
            compound=f.compound,
            property=f.property,
            qualifier=f.qualifier,
            value=f.value,
            value_high=f.value_high,
            unit=f.unit,
            conditions=tuple(sorted(getattr(f, "conditions", {}).items())),
        )
        for f in document.facts
        if f.source == "table"
    ]


def medchem_check(properties: PropertyRegistry, units: UnitConverter, *, verbose: bool = False) -> str:
    """Per-layout recall and precision on the med-chem results tables (held out and development)."""
    font = next((f for f in FONT_CANDIDATES if Path(f).is_file()), None)
    if font is None:
        return "Med-chem results tables: skipped, no DejaVuSans.ttf on this machine."
    generator = _load(TESTS / "medchem_tables.py", "atomloop_bench_medchem_tables")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for kind, layouts in (("held out", generator.HELD_OUT), ("development", generator.DEVELOPMENT)):
            right = conditioned = expected = read = 0
            for layout in layouts:
                document = read_pdf(layout.build(Path(folder), font), properties=properties, units=units)
                result = generator.score(layout.name, _read_facts(document), layout.expected)
                if verbose:
                    progress(f"{layout.name}: missed {list(result.missed)}")
                    progress(f"{layout.name}: spurious {list(result.spurious)}")
                rows.append([kind, layout.name, layout.description, str(result.expected), str(result.read),
                             f"{result.right_values} ({pct(result.recall)})",
                             f"{result.right_with_conditions} ({pct(result.recall_with_conditions)})", pct(result.precision)])
                right += result.right_values
                conditioned += result.right_with_conditions
                expected += result.expected
                read += result.read
            rows.append([f"**{kind}**", "**all**", "", str(expected), str(read), f"{right} ({pct(right / expected)})",
                         f"{conditioned} ({pct(conditioned / expected)})", pct(right / read if read else None)])
    return table(["set", "layout", "what it has", "expected", "read", "values right (recall)", "with conditions", "precision"], rows)


# -- chemdataextractor2 ---------------------------------------------------------------------------------------

_CDE_PROBE = r"""
import json, sys
try:
    from importlib.metadata import version
    cde_version = version("chemdataextractor2")
    from chemdataextractor import Document
    records = Document("The melting point of aspirin was 135 °C.").records.serialize()
    print(json.dumps({"ok": True, "version": cde_version, "records": len(records)}))
except BaseException as error:
    print(json.dumps({"ok": False, "version": locals().get("cde_version"), "type": type(error).__name__, "message": str(error)[:400]}))
"""

_CDE_RUN = r"""
import json, sys, time
from chemdataextractor import Document
out = {}
for path in sys.argv[1:]:
    start = time.perf_counter()
    with open(path, "rb") as handle:
        document = Document.from_file(handle)
    records = document.records.serialize()
    out[path] = {"seconds": time.perf_counter() - start, "records": len(records)}
print(json.dumps(out))
"""


def _sanitize(message: str) -> str:
    message = re.sub(r"https?://\S+", "<url>", message)
    message = re.sub(r"host='[^']+'", "host=<remote>", message)
    message = re.sub(r"\(Caused by .*", "", message)
    return message.strip()


def cde_probe(python: Path) -> tuple[bool, str]:
    """Whether chemdataextractor2 runs with ``python``, and a one-sentence reason when it does not."""
    if not python.exists():
        return False, f"chemdataextractor2 was not run: no interpreter at {python} (install it in a separate virtualenv, see the docstring)."
    try:
        done = subprocess.run([str(python), "-c", _CDE_PROBE], capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        return False, "chemdataextractor2 was not run: parsing one sentence took over 10 minutes."
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return False, f"chemdataextractor2 was not run: its probe printed nothing (exit {done.returncode}): {_sanitize(done.stderr[-300:])}"
    result = json.loads(lines[-1])
    if result["ok"]:
        return True, f"chemdataextractor2 {result['version']} runs ({result['records']} record(s) from the probe sentence)."
    if result.get("version") is None:
        return False, f"chemdataextractor2 was not run: it is not installed for {python} ({result['type']})."
    model = re.search(r"/(\w+\.tar\.gz|\w+\.pickle|\w+\.zip)", result["message"])
    what = f" its model file {model.group(1)}" if model else " its models"
    progress(f"chemdataextractor2 probe: {result['type']}: {_sanitize(result['message'])}")
    return False, (
        f"chemdataextractor2 {result['version']} installs (in a separate virtualenv) but cannot run offline: on first use"
        f" it downloads{what}, which fails here with {result['type']} (no network), so no comparison is possible."
    )


def cde_throughput(python: Path, pdfs: Sequence[Path]) -> dict[str, dict[str, float]]:
    done = subprocess.run([str(python), "-c", _CDE_RUN, *map(str, pdfs)], capture_output=True, text=True, timeout=3600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- report ---------------------------------------------------------------------------------------------------


def environment() -> str:
    return reporting.environment(("pymupdf", "pymupdf-layout", "pint", "rdkit"))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data directory (literature/ under it)")
    parser.add_argument("--out", type=Path, default=None, help="Markdown results file (default benchmarks/results/literature.md, or literature_medchem.md with --medchem-only)")
    parser.add_argument("--medchem-only", action="store_true", help="only the med-chem results tables (no shared data needed)")
    parser.add_argument("--verbose", action="store_true", help="with --medchem-only: print each layout's missed and spurious facts")
    parser.add_argument("--cde-python", type=Path, default=Path("/tmp/cde-venv/bin/python"), help="python of a virtualenv with chemdataextractor2")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = ROOT / "benchmarks" / "results" / ("literature_medchem.md" if args.medchem_only else "literature.md")
    return args


def run(args: argparse.Namespace) -> str:
    if args.medchem_only:
        properties = PropertyRegistry.default()
        units = UnitConverter()
        return "\n\n".join([f"Command: `{reporting.command_line()}`", f"Environment: {environment()}",
                             "**Med-chem results tables**\n\n" + medchem_check(properties, units, verbose=args.verbose)]) + "\n"
    literature = args.data / "literature"
    pdf_dir = literature / "pdfs"
    if not pdf_dir.is_dir():
        raise SystemExit(f"no PDFs in {pdf_dir}")
    properties = PropertyRegistry.default()
    units = UnitConverter()
    parts = [f"Command: `{reporting.command_line()}`", f"Environment: {environment()}"]

    progress("outside-paper pKa tables ...")
    pka_table, pka_ok = pka_check(properties, units)

    progress("reading the staged PDFs ...")
    results = read_all(pdf_dir, properties, units)
    by_name = {r.name: r.document for r in results}

    # table facts
    table_rows: list[list[str]] = []
    table_notes: list[str] = []
    if SAMPL6_PDF in by_name and SAMPL6_GOLD.is_file():
        rows, notes = sampl6_scores(by_name[SAMPL6_PDF], SAMPL6_GOLD, properties)
        table_rows += rows
        table_notes += notes
    scan_gold = literature / "gold" / "physscr1989_La2CuO4032_scan.json"
    if SCAN_PDF in by_name and scan_gold.is_file():
        row, note = scan_scores(by_name[SCAN_PDF], scan_gold)
        table_rows.append(row)
        table_notes.append(note)

    # SuperMat Tc
    progress("SuperMat Tc ...")
    tc_gold, tc_notes = supermat_gold(literature / "benchmarks" / "supermat", literature)
    tc_table, tc_misses = tc_section(results, tc_gold)

    # MeasEval
    progress("MeasEval ...")
    paragraphs, split_counts = load_measeval(literature / "benchmarks" / "measeval")
    keys = UnitKeys(units)
    start = time.perf_counter()
    scanner = measeval_scores(paragraphs, lambda text: scan_quantities(text, units), keys)
    scan_seconds = time.perf_counter() - start
    mentions = measeval_scores(paragraphs, lambda text: mention_quantities(text, properties, units), keys)
    unmatched, panel = panel_like_unmatched(paragraphs, lambda text: scan_quantities(text, units))
    measeval_rows = []
    for name, scores in (("quantity parser (parse_quantity over candidate spans)", scanner), ("reader text mentions (find_mentions, registry properties)", mentions)):
        for metric, score in zip(("value+unit", "value+unit+overlap", "span overlap"), scores, strict=True):
            measeval_rows.append([name, metric, *score.cells()])

    # chemdataextractor2
    progress("chemdataextractor2 probe ...")
    cde_ok, cde_note = cde_probe(args.cde_python)
    progress(cde_note)
    cde_rows: list[list[str]] = []
    if cde_ok:
        try:
            cde = cde_throughput(args.cde_python, sorted(pdf_dir.glob("*.pdf")))
        except (subprocess.SubprocessError, ValueError, OSError) as error:
            cde_note += f" Reading the PDFs with it failed: {type(error).__name__}: {_sanitize(str(error))[:200]}."
        else:
            for r in results:
                entry = next((v for k, v in cde.items() if Path(k).name == r.name), None)
                if entry is None:
                    continue
                ours = r.document.pages / r.seconds
                theirs = r.document.pages / entry["seconds"] if entry["seconds"] else float("nan")
                cde_rows.append([r.name, f"{ours:.1f}", f"{theirs:.1f}", f"{ours / theirs:.2f}", str(len(r.document.facts)), str(int(entry["records"]))])

    parts.append(
        "Protocol: see the docstring of `benchmarks/literature_bench.py`. Table facts are right when compound label,"
        " property, value and unit are all right (multiset match); text mentions as defined per corpus below."
    )
    parts.append("**Table facts**\n\n" + table(["gold table", "predicted", "gold", "right", "precision", "recall", "F1", "SEM right"], table_rows))
    parts.extend(table_notes)
    parts.append("**Text mentions: SuperMat Tc** (gold: TEI `tcValue` spans of the 4 staged SuperMat papers)\n\n" + tc_table)
    parts.extend(tc_notes)
    if tc_misses:
        parts.append("Gold Tc spans missed: " + "; ".join(f"'{g.text}' ({pdf.split('_')[0]})" for g, pdf in tc_misses) + ".")
    parts.append(
        f"**Text mentions: MeasEval** ({len(paragraphs)} paragraphs: "
        + ", ".join(f"{k} {v}" for k, v in split_counts.items())
        + f"; {sum(len(p.gold) for p in paragraphs)} gold Quantity spans, {sum(1 for p in paragraphs for g in p.gold if g.unit and g.value is not None)} with a unit and a number;"
        f" the quantity-parser pass took {scan_seconds:.1f} s)\n\n"
        + table(["extractor", "matching", "predicted", "gold", "right", "precision", "recall", "F1"], measeval_rows)
    )
    parts.append(
        f"Of the quantity parser's {unmatched} predictions that overlap no gold span, {panel} are an integer glued to"
        " letters ('3F', '70S', '14C': figure panels, ribosome subunits, isotopes) that the harness takes for a"
        " number with a one-letter unit. The reader itself reads values only next to a property name (the second"
        " extractor), which is why its recall on MeasEval, a corpus of every kind of quantity, is near zero."
    )
    parts.append("**Throughput and flags** (one `read_pdf` per PDF, `max_workers=1`, `tables='auto'`)\n\n" + throughput_section(results))
    parts.append(
        "**Outside-paper pKa tables** (`tests/tools/literature/pka_tables.py`, expected facts hand-written in"
        " `test_pka_tables.py`; target: at least 90% right per table, nothing spurious: "
        + ("met" if pka_ok else "NOT met")
        + ")\n\n"
        + pka_table
    )
    progress("med-chem results tables ...")
    parts.append(
        "**Med-chem results tables** (`tests/tools/literature/medchem_tables.py`: 3 held-out layouts written before"
        " the reader was changed for them, 2 development layouts; expected facts hand-written there)\n\n"
        + medchem_check(properties, units)
    )
    if cde_rows:
        parts.append(
            "**chemdataextractor2 beside AtomLoop** (pages/s; facts vs CDE records, which are not the same unit of"
            " output and are not scored)\n\n"
            + table(["PDF", "AtomLoop pages/s", "CDE pages/s", "ratio", "AtomLoop facts", "CDE records"], cde_rows)
        )
    parts.append(cde_note)
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("pint").setLevel(logging.ERROR)  # 'Parsing Mbps yield multiple results' and the like
    start = time.perf_counter()
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    progress(f"done in {time.perf_counter() - start:.0f} s; written to {args.out}")
    print(report)


if __name__ == "__main__":
    main()
