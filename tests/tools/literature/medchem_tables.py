"""Generator of medicinal-chemistry results tables, laid out the way manuscripts print them, with the facts a
reader should take from each written out by hand.

HELD OUT (written 2026-12-03, before the reader was changed for them; keep ``HELD_OUT`` and its expected facts
unchanged): three layouts that are measured, never tuned against.

* ``gdocs_export``: a Google-Docs export. A fully ruled grid with a two-level header (a 'CLint (uL/min/mg)' cell
  spanning 'HLM | MLM'; single-level columns merged down through both header rows), ASCII units ('uM', 'uL'),
  a body continued on the next page without its header, footnote letters glued to values ('142b'), a cell holding a
  value and a condition ('<5 (pH 7.4)'), a range ('1.2-3.4'), an asterisk after a label ('7*'), and ADME columns
  (t1/2 min, hERG pIC50, kinetic solubility, logD7.4, Papp 10-6 cm/s, PPB %).
* ``journal_booktabs``: a journal page with booktabs rules and a single-level header, units in brackets
  ('BRD4 Ki [nM]', 'IC50 (nM)', 'MV4-11 EC50 (μM)'), mean ± SD, 'n.d.', '> 10 000' with a thin-space thousands
  separator, a substituent column of words and a column not in the property registry ('LE').
* ``landscape_two_tables``: a landscape page holding two tables, one above the other: antiplasmodial potency
  ('Pf3D7 EC50 (nM)', 'PfDd2 EC50 (nM)', 'HepG2 CC50 (µM)', 'SI') and ADME ('Solubility pH 7.4 (µM)',
  'logD (pH 7.4)', 'RLM CLint (µL/min/mg)', 't½ (h)', 'Caco-2 Papp (10−6 cm/s)', 'fu,p').

DEVELOPMENT (``DEVELOPMENT``): two smaller layouts with other compounds, other values and other column orders, to
build the reader against.

An expected fact is (compound label, property, qualifier, value, high end of a range, unit, conditions): the value in
the property's canonical unit (an IC50 printed in µM is written here in nM, a half-life in minutes in hours), the
unit the registry stores it in, and the conditions the column or the cell names (target, species, pH). A column whose
property is not in the registry is expected with its header text (unit removed) as property and its unit as
printed. Cells without a number ('n.d.', '–') give no numeric fact and are not scored.

Pure PyMuPDF drawing, no reader code: the PDFs are what a medicinal chemist would hand in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pdf_drawing import A4, Cell, Page, ruled_rows, unruled_row

LOREM = (
    "Compounds were profiled for potency in the biochemical assay and for their in vitro ADME properties: "
    "intrinsic clearance in human and mouse liver microsomes, half-life, inhibition of the hERG channel by automated "
    "patch clamp, kinetic solubility in phosphate buffer, distribution coefficients by shake flask, permeability "
    "across Caco-2 monolayers and binding to plasma proteins by equilibrium dialysis. Values are means of at least "
    "two independent determinations unless stated otherwise."
)

Conditions = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Expected:
    compound: str
    property: str
    qualifier: str
    value: float
    value_high: float | None
    unit: str
    conditions: Conditions = ()


def fact(
    compound: str, prop: str, value: float, unit: str, qualifier: str = "=", high: float | None = None, **conditions: str
) -> Expected:
    return Expected(compound, prop, qualifier, value, high, unit, tuple(sorted(conditions.items())))


@dataclass(frozen=True)
class MedchemLayout:
    name: str
    description: str
    build: Callable[[Path, str], Path]  # (folder, unicode TrueType font file) -> the PDF written there
    expected: tuple[Expected, ...]


def _booktabs_rows(page: Page, xs: Sequence[float], y: float, rows: Sequence[Sequence[Cell]], step: float, size: float) -> float:
    for row in rows:
        unruled_row(page, xs, y, row, size)
        y += step
    return y


# --- held out 1: a Google-Docs export ----------------------------------------------------------------------

_GDOCS_WIDTHS = (44.0, 46.0, 43.0, 43.0, 38.0, 38.0, 50.0, 40.0, 46.0, 36.0)
_GDOCS_ROWS: tuple[tuple[str, ...], ...] = (
    ("1", "0.85", "12", "35", "48", "5.1", "150", "2.8", "12.5", "92.1"),
    ("2a", "0.021", "8.5", "22", ">120", "4.6", "95", "2.1", "18.2", "88.0"),
    ("2b", "0.012", "45", "142b", "15", "5.8", "<5 (pH 7.4)", "3.6", "6.4", "98.5"),
    ("3", "1.2-3.4", "<3", "9.8", "96", "<4.5", "200", "1.4", "22.0", "75.3"),
    ("4a", "0.0045", "28", "61", "31", "6.2", "12 (pH 7.4)", "3.9", "3.1", "99.2"),
    ("4b", "0.0091", "19", "n.d.", "44", "5.5", "38", "3.2", "8.8", "96.4"),
    ("5", "0.33", "6.2", "15", "105", "<4.5", "180", "1.8", "25.3", "81.7"),
    ("6", "0.047", "33a", "88", "22", "5.0", "64", "2.6", "14.1", "90.9"),
    ("7*", "0.0062", "11", "27", "67", "5.3", "41", "2.9", "10.6", "94.0"),
    ("8", "0.11", "52", ">300", "9", "6.7", "<5 (pH 7.4)", "4.4", "1.9", "99.6"),
    ("9a", "0.074", "4.1", "12", ">120", "4.8", "165", "1.7", "19.7", "83.2"),
    ("9b", "0.26", "15", "37", "58", "5.2", "88", "2.4", "15.9", "87.5"),
)
_GDOCS_FIRST_PAGE_ROWS = 8


def build_gdocs_export(folder: Path, font_file: str) -> Path:
    import pymupdf

    doc = pymupdf.open()
    first = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    left = 72.0
    first.text(left, 80, "Optimisation of aminopyrimidine EGFR inhibitors", size=15)
    first.text(left, 100, "Draft manuscript, results section", size=10)
    first.paragraph((left, 115, 523, 395), "\n\n".join([LOREM] * 2), size=10.5)
    first.text(left, 412, "Table 1. In vitro potency and ADME profile of the aminopyrimidine series.", size=10)
    top = 420.0
    widths = _GDOCS_WIDTHS
    xs = [left + sum(widths[:i]) for i in range(len(widths) + 1)]
    h1, h2, body = 22.0, 16.0, 24.0
    # two header rows: single-level columns merged down through both, CLint spanning HLM | MLM
    merged = {
        0: ["Compound"],
        1: ["EGFR IC50", "(uM)"],
        4: ["t1/2", "(min)"],
        5: ["hERG", "pIC50"],
        6: ["Kinetic", "solubility", "(uM)"],
        7: ["logD7.4"],
        8: ["Papp", "(10-6 cm/s)"],
        9: ["PPB", "(%)"],
    }
    for index, lines in merged.items():
        rect = (xs[index], top, xs[index + 1], top + h1 + h2)
        first.box(rect)
        first.lines_in_box(rect, lines, 7.5)
    spanning = (xs[2], top, xs[4], top + h1)
    first.box(spanning)
    first.lines_in_box(spanning, ["CLint (uL/min/mg)"], 7.5)
    for index, label in ((2, "HLM"), (3, "MLM")):
        rect = (xs[index], top + h1, xs[index + 1], top + h1 + h2)
        first.box(rect)
        first.lines_in_box(rect, [label], 7.5)
    ruled_rows(first, left, top + h1 + h2, widths, _GDOCS_ROWS[:_GDOCS_FIRST_PAGE_ROWS], body, 8, inset=3)
    second = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    end = ruled_rows(second, left, 72, widths, _GDOCS_ROWS[_GDOCS_FIRST_PAGE_ROWS:], body, 8, inset=3)
    second.text(left, end + 14, "a Single determination. b n = 3, one outlier removed. * Racemate.", size=8)
    second.paragraph((left, end + 30, 523, end + 220), LOREM, size=10.5)
    path = folder / "gdocs_export.pdf"
    doc.save(path)
    return path


_PH = "7.4"
GDOCS_EXPECTED: tuple[Expected, ...] = (
    # 1
    fact("1", "IC50", 850.0, "nM", target="EGFR"),
    fact("1", "clearance", 12.0, "uL/min/mg", species="human"),
    fact("1", "clearance", 35.0, "uL/min/mg", species="mouse"),
    fact("1", "half_life", 0.8, "h"),
    fact("1", "pIC50", 5.1, "-log10(mol/L)", target="hERG"),
    fact("1", "kinetic_solubility", 150.0, "uM"),
    fact("1", "logD", 2.8, "log10(D)", pH=_PH),
    fact("1", "permeability", 12.5, "1e-6 cm/s"),
    fact("1", "ppb", 92.1, "%"),
    # 2a
    fact("2a", "IC50", 21.0, "nM", target="EGFR"),
    fact("2a", "clearance", 8.5, "uL/min/mg", species="human"),
    fact("2a", "clearance", 22.0, "uL/min/mg", species="mouse"),
    fact("2a", "half_life", 2.0, "h", qualifier=">"),
    fact("2a", "pIC50", 4.6, "-log10(mol/L)", target="hERG"),
    fact("2a", "kinetic_solubility", 95.0, "uM"),
    fact("2a", "logD", 2.1, "log10(D)", pH=_PH),
    fact("2a", "permeability", 18.2, "1e-6 cm/s"),
    fact("2a", "ppb", 88.0, "%"),
    # 2b
    fact("2b", "IC50", 12.0, "nM", target="EGFR"),
    fact("2b", "clearance", 45.0, "uL/min/mg", species="human"),
    fact("2b", "clearance", 142.0, "uL/min/mg", species="mouse"),
    fact("2b", "half_life", 0.25, "h"),
    fact("2b", "pIC50", 5.8, "-log10(mol/L)", target="hERG"),
    fact("2b", "kinetic_solubility", 5.0, "uM", qualifier="<", pH=_PH),
    fact("2b", "logD", 3.6, "log10(D)", pH=_PH),
    fact("2b", "permeability", 6.4, "1e-6 cm/s"),
    fact("2b", "ppb", 98.5, "%"),
    # 3
    fact("3", "IC50", 1200.0, "nM", qualifier="range", high=3400.0, target="EGFR"),
    fact("3", "clearance", 3.0, "uL/min/mg", qualifier="<", species="human"),
    fact("3", "clearance", 9.8, "uL/min/mg", species="mouse"),
    fact("3", "half_life", 1.6, "h"),
    fact("3", "pIC50", 4.5, "-log10(mol/L)", qualifier="<", target="hERG"),
    fact("3", "kinetic_solubility", 200.0, "uM"),
    fact("3", "logD", 1.4, "log10(D)", pH=_PH),
    fact("3", "permeability", 22.0, "1e-6 cm/s"),
    fact("3", "ppb", 75.3, "%"),
    # 4a
    fact("4a", "IC50", 4.5, "nM", target="EGFR"),
    fact("4a", "clearance", 28.0, "uL/min/mg", species="human"),
    fact("4a", "clearance", 61.0, "uL/min/mg", species="mouse"),
    fact("4a", "half_life", 0.516666666667, "h"),
    fact("4a", "pIC50", 6.2, "-log10(mol/L)", target="hERG"),
    fact("4a", "kinetic_solubility", 12.0, "uM", pH=_PH),
    fact("4a", "logD", 3.9, "log10(D)", pH=_PH),
    fact("4a", "permeability", 3.1, "1e-6 cm/s"),
    fact("4a", "ppb", 99.2, "%"),
    # 4b (MLM not determined)
    fact("4b", "IC50", 9.1, "nM", target="EGFR"),
    fact("4b", "clearance", 19.0, "uL/min/mg", species="human"),
    fact("4b", "half_life", 0.733333333333, "h"),
    fact("4b", "pIC50", 5.5, "-log10(mol/L)", target="hERG"),
    fact("4b", "kinetic_solubility", 38.0, "uM"),
    fact("4b", "logD", 3.2, "log10(D)", pH=_PH),
    fact("4b", "permeability", 8.8, "1e-6 cm/s"),
    fact("4b", "ppb", 96.4, "%"),
    # 5
    fact("5", "IC50", 330.0, "nM", target="EGFR"),
    fact("5", "clearance", 6.2, "uL/min/mg", species="human"),
    fact("5", "clearance", 15.0, "uL/min/mg", species="mouse"),
    fact("5", "half_life", 1.75, "h"),
    fact("5", "pIC50", 4.5, "-log10(mol/L)", qualifier="<", target="hERG"),
    fact("5", "kinetic_solubility", 180.0, "uM"),
    fact("5", "logD", 1.8, "log10(D)", pH=_PH),
    fact("5", "permeability", 25.3, "1e-6 cm/s"),
    fact("5", "ppb", 81.7, "%"),
    # 6 (HLM with footnote a)
    fact("6", "IC50", 47.0, "nM", target="EGFR"),
    fact("6", "clearance", 33.0, "uL/min/mg", species="human"),
    fact("6", "clearance", 88.0, "uL/min/mg", species="mouse"),
    fact("6", "half_life", 0.366666666667, "h"),
    fact("6", "pIC50", 5.0, "-log10(mol/L)", target="hERG"),
    fact("6", "kinetic_solubility", 64.0, "uM"),
    fact("6", "logD", 2.6, "log10(D)", pH=_PH),
    fact("6", "permeability", 14.1, "1e-6 cm/s"),
    fact("6", "ppb", 90.9, "%"),
    # 7* (page 2 from here)
    fact("7", "IC50", 6.2, "nM", target="EGFR"),
    fact("7", "clearance", 11.0, "uL/min/mg", species="human"),
    fact("7", "clearance", 27.0, "uL/min/mg", species="mouse"),
    fact("7", "half_life", 1.116666666667, "h"),
    fact("7", "pIC50", 5.3, "-log10(mol/L)", target="hERG"),
    fact("7", "kinetic_solubility", 41.0, "uM"),
    fact("7", "logD", 2.9, "log10(D)", pH=_PH),
    fact("7", "permeability", 10.6, "1e-6 cm/s"),
    fact("7", "ppb", 94.0, "%"),
    # 8
    fact("8", "IC50", 110.0, "nM", target="EGFR"),
    fact("8", "clearance", 52.0, "uL/min/mg", species="human"),
    fact("8", "clearance", 300.0, "uL/min/mg", qualifier=">", species="mouse"),
    fact("8", "half_life", 0.15, "h"),
    fact("8", "pIC50", 6.7, "-log10(mol/L)", target="hERG"),
    fact("8", "kinetic_solubility", 5.0, "uM", qualifier="<", pH=_PH),
    fact("8", "logD", 4.4, "log10(D)", pH=_PH),
    fact("8", "permeability", 1.9, "1e-6 cm/s"),
    fact("8", "ppb", 99.6, "%"),
    # 9a
    fact("9a", "IC50", 74.0, "nM", target="EGFR"),
    fact("9a", "clearance", 4.1, "uL/min/mg", species="human"),
    fact("9a", "clearance", 12.0, "uL/min/mg", species="mouse"),
    fact("9a", "half_life", 2.0, "h", qualifier=">"),
    fact("9a", "pIC50", 4.8, "-log10(mol/L)", target="hERG"),
    fact("9a", "kinetic_solubility", 165.0, "uM"),
    fact("9a", "logD", 1.7, "log10(D)", pH=_PH),
    fact("9a", "permeability", 19.7, "1e-6 cm/s"),
    fact("9a", "ppb", 83.2, "%"),
    # 9b
    fact("9b", "IC50", 260.0, "nM", target="EGFR"),
    fact("9b", "clearance", 15.0, "uL/min/mg", species="human"),
    fact("9b", "clearance", 37.0, "uL/min/mg", species="mouse"),
    fact("9b", "half_life", 0.966666666667, "h"),
    fact("9b", "pIC50", 5.2, "-log10(mol/L)", target="hERG"),
    fact("9b", "kinetic_solubility", 88.0, "uM"),
    fact("9b", "logD", 2.4, "log10(D)", pH=_PH),
    fact("9b", "permeability", 15.9, "1e-6 cm/s"),
    fact("9b", "ppb", 87.5, "%"),
)


# --- held out 2: a journal page, booktabs rules, single-level header --------------------------------------


def build_journal_booktabs(folder: Path, font_file: str) -> Path:
    import pymupdf

    doc = pymupdf.open()
    page = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    page.text(50, 60, "Discovery of tetrahydroquinoxaline BET bromodomain inhibitors", size=14)
    page.text(50, 78, "Journal of Medicinal Chemistry", size=8)
    page.paragraph((50, 90, 545, 215), LOREM, size=9.5)
    page.text(50, 232, "Table 2. Binding, biochemical and cellular activity of C6-substituted analogues.", size=9)
    xs = [52.0, 105.0, 190.0, 280.0, 375.0, 480.0]
    page.rule(50, 545, 240, 0.9)
    _booktabs_rows(page, xs, 252, [["Compd", "R", "BRD4 Ki [nM]", "IC50 (nM)", "MV4-11 EC50 (μM)", "LE"]], 14, 8.5)
    page.rule(50, 545, 258, 0.5)
    rows: list[list[Cell]] = [
        ["10", "H", "48 ± 6", "120 ± 15", "2.4 ± 0.3", "0.31"],
        ["11", "Me", "22 ± 3", "65 ± 9", "1.10 ± 0.12", "0.33"],
        ["12", "OMe", "9.5 ± 1.2", "31 ± 4", "0.45 ± 0.08", "0.35"],
        ["13", "Cl", "15 ± 2", "n.d.", "0.82 ± 0.10", "0.34"],
        ["14", "CF3", "310 ± 40", "> 10 000", "> 10", "0.26"],
        ["15", "cyclopropyl", "6.8 ± 0.9", "18 ± 2", "0.21 ± 0.03", "0.36"],
        ["16", "4-F-phenyl", "1 250 ± 180", "> 10 000", "n.d.", "0.22"],
        ["17", "morpholino", ("3.1 ± 0.4", "a"), "9.0 ± 1.1", "0.095 ± 0.012", "0.38"],
    ]
    y = _booktabs_rows(page, xs, 272, rows, 14, 8.5)
    page.rule(50, 545, y - 9, 0.9)
    page.text(50, y + 3, "Values are mean ± SD of n ≥ 3. n.d., not determined. a Measured by ITC.", size=7)
    page.paragraph((50, y + 18, 545, y + 160), LOREM, size=9.5)
    path = folder / "journal_booktabs.pdf"
    doc.save(path)
    return path


JOURNAL_EXPECTED: tuple[Expected, ...] = (
    fact("10", "Ki", 48.0, "nM", target="BRD4"),
    fact("10", "IC50", 120.0, "nM"),
    fact("10", "EC50", 2400.0, "nM", target="MV4-11"),
    fact("10", "LE", 0.31, ""),
    fact("11", "Ki", 22.0, "nM", target="BRD4"),
    fact("11", "IC50", 65.0, "nM"),
    fact("11", "EC50", 1100.0, "nM", target="MV4-11"),
    fact("11", "LE", 0.33, ""),
    fact("12", "Ki", 9.5, "nM", target="BRD4"),
    fact("12", "IC50", 31.0, "nM"),
    fact("12", "EC50", 450.0, "nM", target="MV4-11"),
    fact("12", "LE", 0.35, ""),
    fact("13", "Ki", 15.0, "nM", target="BRD4"),
    fact("13", "EC50", 820.0, "nM", target="MV4-11"),
    fact("13", "LE", 0.34, ""),
    fact("14", "Ki", 310.0, "nM", target="BRD4"),
    fact("14", "IC50", 10000.0, "nM", qualifier=">"),
    fact("14", "EC50", 10000.0, "nM", qualifier=">", target="MV4-11"),
    fact("14", "LE", 0.26, ""),
    fact("15", "Ki", 6.8, "nM", target="BRD4"),
    fact("15", "IC50", 18.0, "nM"),
    fact("15", "EC50", 210.0, "nM", target="MV4-11"),
    fact("15", "LE", 0.36, ""),
    fact("16", "Ki", 1250.0, "nM", target="BRD4"),
    fact("16", "IC50", 10000.0, "nM", qualifier=">"),
    fact("16", "LE", 0.22, ""),
    fact("17", "Ki", 3.1, "nM", target="BRD4"),
    fact("17", "IC50", 9.0, "nM"),
    fact("17", "EC50", 95.0, "nM", target="MV4-11"),
    fact("17", "LE", 0.38, ""),
)


# --- held out 3: a landscape page with two tables ----------------------------------------------------------


def build_landscape_two_tables(folder: Path, font_file: str) -> Path:
    import pymupdf

    doc = pymupdf.open()
    page = Page(doc.new_page(width=A4[1], height=A4[0]), font_file)
    page.text(50, 45, "Antiplasmodial activity and ADME of the 2-aminothiazole series", size=13)
    page.paragraph((50, 55, 790, 110), LOREM, size=9)
    page.text(50, 126, "Table 3. In vitro antiplasmodial activity and cytotoxicity.", size=9)
    xs = [52.0, 160.0, 290.0, 420.0, 550.0, 650.0]
    page.rule(50, 790, 133, 0.9)
    _booktabs_rows(page, xs, 145, [["Compound", "Pf3D7 EC50 (nM)", "PfDd2 EC50 (nM)", "HepG2 CC50 (µM)", "SI", "Ref."]], 13, 8.5)
    page.rule(50, 790, 151, 0.5)
    potency: list[list[Cell]] = [
        ["MMV-101", "45 ± 5", "62 ± 8", "> 50", "> 1100", "this work"],
        ["MMV-102", "12 ± 2", "15 ± 3", "28", "2300", "this work"],
        ["MMV-103", "230 ± 30", "410 ± 55", "> 50", "> 220", "ref 14"],
        ["MMV-104", "8.1 ± 0.9", "9.4 ± 1.2", "12", "1500", "this work"],
        ["chloroquine", "11 ± 1", "140 ± 20", "> 50", "> 4500", "ref 14"],
    ]
    y = _booktabs_rows(page, xs, 164, potency, 13, 8.5)
    page.rule(50, 790, y - 8, 0.9)
    page.text(50, y + 2, "SI, selectivity index (HepG2 CC50 / Pf3D7 EC50).", size=7)
    top = y + 26
    page.text(50, top, "Table 4. In vitro ADME properties.", size=9)
    xs2 = [52.0, 150.0, 270.0, 370.0, 490.0, 570.0, 700.0]
    page.rule(50, 790, top + 7, 0.9)
    _booktabs_rows(
        page,
        xs2,
        top + 19,
        [["Compound", "Solubility pH 7.4 (µM)", "logD (pH 7.4)", "RLM CLint (µL/min/mg)", "t½ (h)", "Caco-2 Papp (10−6 cm/s)", "fu,p"]],
        13,
        8.5,
    )
    page.rule(50, 790, top + 25, 0.5)
    adme: list[list[Cell]] = [
        ["MMV-101", "85", "2.3", "18", "1.9", "14.2", "0.08"],
        ["MMV-102", "< 1", "4.1", "95", "0.4", "3.5", "0.011"],
        ["MMV-103", "140", "1.2", "< 5", "> 6", "21.8", "0.32"],
        ["MMV-104", "22", "3.0", "41", "1.1", "9.6", "0.045"],
    ]
    y2 = _booktabs_rows(page, xs2, top + 38, adme, 13, 8.5)
    page.rule(50, 790, y2 - 8, 0.9)
    path = folder / "landscape_two_tables.pdf"
    doc.save(path)
    return path


LANDSCAPE_EXPECTED: tuple[Expected, ...] = (
    fact("MMV-101", "EC50", 45.0, "nM", target="Pf3D7"),
    fact("MMV-101", "EC50", 62.0, "nM", target="PfDd2"),
    fact("MMV-101", "HepG2 CC50", 50.0, "µM", qualifier=">"),
    fact("MMV-101", "SI", 1100.0, "", qualifier=">"),
    fact("MMV-102", "EC50", 12.0, "nM", target="Pf3D7"),
    fact("MMV-102", "EC50", 15.0, "nM", target="PfDd2"),
    fact("MMV-102", "HepG2 CC50", 28.0, "µM"),
    fact("MMV-102", "SI", 2300.0, ""),
    fact("MMV-103", "EC50", 230.0, "nM", target="Pf3D7"),
    fact("MMV-103", "EC50", 410.0, "nM", target="PfDd2"),
    fact("MMV-103", "HepG2 CC50", 50.0, "µM", qualifier=">"),
    fact("MMV-103", "SI", 220.0, "", qualifier=">"),
    fact("MMV-104", "EC50", 8.1, "nM", target="Pf3D7"),
    fact("MMV-104", "EC50", 9.4, "nM", target="PfDd2"),
    fact("MMV-104", "HepG2 CC50", 12.0, "µM"),
    fact("MMV-104", "SI", 1500.0, ""),
    fact("chloroquine", "EC50", 11.0, "nM", target="Pf3D7"),
    fact("chloroquine", "EC50", 140.0, "nM", target="PfDd2"),
    fact("chloroquine", "HepG2 CC50", 50.0, "µM", qualifier=">"),
    fact("chloroquine", "SI", 4500.0, "", qualifier=">"),
    fact("MMV-101", "kinetic_solubility", 85.0, "uM", pH=_PH),
    fact("MMV-101", "logD", 2.3, "log10(D)", pH=_PH),
    fact("MMV-101", "clearance", 18.0, "uL/min/mg", species="rat"),
    fact("MMV-101", "half_life", 1.9, "h"),
    fact("MMV-101", "permeability", 14.2, "1e-6 cm/s"),
    fact("MMV-101", "fu", 0.08, ""),
    fact("MMV-102", "kinetic_solubility", 1.0, "uM", qualifier="<", pH=_PH),
    fact("MMV-102", "logD", 4.1, "log10(D)", pH=_PH),
    fact("MMV-102", "clearance", 95.0, "uL/min/mg", species="rat"),
    fact("MMV-102", "half_life", 0.4, "h"),
    fact("MMV-102", "permeability", 3.5, "1e-6 cm/s"),
    fact("MMV-102", "fu", 0.011, ""),
    fact("MMV-103", "kinetic_solubility", 140.0, "uM", pH=_PH),
    fact("MMV-103", "logD", 1.2, "log10(D)", pH=_PH),
    fact("MMV-103", "clearance", 5.0, "uL/min/mg", qualifier="<", species="rat"),
    fact("MMV-103", "half_life", 6.0, "h", qualifier=">"),
    fact("MMV-103", "permeability", 21.8, "1e-6 cm/s"),
    fact("MMV-103", "fu", 0.32, ""),
    fact("MMV-104", "kinetic_solubility", 22.0, "uM", pH=_PH),
    fact("MMV-104", "logD", 3.0, "log10(D)", pH=_PH),
    fact("MMV-104", "clearance", 41.0, "uL/min/mg", species="rat"),
    fact("MMV-104", "half_life", 1.1, "h"),
    fact("MMV-104", "permeability", 9.6, "1e-6 cm/s"),
    fact("MMV-104", "fu", 0.045, ""),
)


HELD_OUT: tuple[MedchemLayout, ...] = (
    MedchemLayout(
        "gdocs_export",
        "Google-Docs export: two-level header (CLint over HLM|MLM), body continued on page 2 without header, uM/uL, '142b', '<5 (pH 7.4)', '1.2-3.4', '7*'",
        build_gdocs_export,
        GDOCS_EXPECTED,
    ),
    MedchemLayout(
        "journal_booktabs",
        "journal booktabs: 'BRD4 Ki [nM]', 'IC50 (nM)', mean ± SD, 'n.d.', '> 10 000', an unregistered 'LE' column",
        build_journal_booktabs,
        JOURNAL_EXPECTED,
    ),
    MedchemLayout(
        "landscape_two_tables",
        "landscape page, two tables: EC50 per strain, CC50/SI (unregistered), solubility at pH, RLM CLint, t½, Papp, fu",
        build_landscape_two_tables,
        LANDSCAPE_EXPECTED,
    ),
)


# --- development layouts -------------------------------------------------------------------------------------


def build_dev_gdocs(folder: Path, font_file: str) -> Path:
    """A ruled grid: MLM before HLM under a 'Microsomal CLint (uL/min/mg)' span, 'Ki (uM)' per target over two
    sub-columns, a body continued on the next page without its header."""
    import pymupdf

    doc = pymupdf.open()
    first = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    left = 60.0
    first.text(left, 70, "Kinase selectivity and metabolic stability of indazoles", size=14)
    first.paragraph((left, 85, 535, 520), "\n\n".join([LOREM] * 3), size=10.5)
    first.text(left, 545, "Table 2. Selectivity and stability.", size=10)
    top = 552.0
    widths = (50.0, 52.0, 52.0, 56.0, 56.0, 48.0, 60.0)
    xs = [left + sum(widths[:i]) for i in range(len(widths) + 1)]
    h1, h2, body = 28.0, 16.0, 22.0
    for index, lines in {0: ["Cmpd"], 5: ["t1/2", "(min)"], 6: ["Thermo. sol.", "(uM)"]}.items():
        rect = (xs[index], top, xs[index + 1], top + h1 + h2)
        first.box(rect)
        first.lines_in_box(rect, lines, 7.5)
    for a, b, label in ((1, 3, ["Ki (uM)"]), (3, 5, ["Microsomal CLint", "(uL/min/mg)"])):
        rect = (xs[a], top, xs[b], top + h1)
        first.box(rect)
        first.lines_in_box(rect, label, 7.5)
    for index, label in ((1, "JAK1"), (2, "JAK2"), (3, "MLM"), (4, "HLM")):
        rect = (xs[index], top + h1, xs[index + 1], top + h1 + h2)
        first.box(rect)
        first.lines_in_box(rect, [label], 7.5)
    rows = (
        ("21", "0.018", "0.95", "40", "18", "25", "60"),
        ("22a*", "0.0042", "1.3", "12b", "<3", ">90", "<1 (pH 6.8)"),
        ("22b", "0.25-0.40", "2.2", "75", "31", "14", "110"),
        ("23", "0.031", ">10", "n.d.", "9.6", "52", "33 (pH 6.8)"),
        ("24", "0.0075", "0.61", "220", "64", "6", "18"),
        ("25", "0.12", "4.8", "19", "7.7", "44", "250"),
    )
    ruled_rows(first, left, top + h1 + h2, widths, rows[:4], body, 8, inset=3)
    second = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    ruled_rows(second, left, 60, widths, rows[4:], body, 8, inset=3)
    path = folder / "dev_gdocs.pdf"
    doc.save(path)
    return path


DEV_GDOCS_EXPECTED: tuple[Expected, ...] = (
    fact("21", "Ki", 18.0, "nM", target="JAK1"),
    fact("21", "Ki", 950.0, "nM", target="JAK2"),
    fact("21", "clearance", 40.0, "uL/min/mg", species="mouse"),
    fact("21", "clearance", 18.0, "uL/min/mg", species="human"),
    fact("21", "half_life", 25 / 60, "h"),
    fact("21", "thermodynamic_solubility", 60.0, "uM"),
    fact("22a", "Ki", 4.2, "nM", target="JAK1"),
    fact("22a", "Ki", 1300.0, "nM", target="JAK2"),
    fact("22a", "clearance", 12.0, "uL/min/mg", species="mouse"),
    fact("22a", "clearance", 3.0, "uL/min/mg", qualifier="<", species="human"),
    fact("22a", "half_life", 1.5, "h", qualifier=">"),
    fact("22a", "thermodynamic_solubility", 1.0, "uM", qualifier="<", pH="6.8"),
    fact("22b", "Ki", 250.0, "nM", qualifier="range", high=400.0, target="JAK1"),
    fact("22b", "Ki", 2200.0, "nM", target="JAK2"),
    fact("22b", "clearance", 75.0, "uL/min/mg", species="mouse"),
    fact("22b", "clearance", 31.0, "uL/min/mg", species="human"),
    fact("22b", "half_life", 14 / 60, "h"),
    fact("22b", "thermodynamic_solubility", 110.0, "uM"),
    fact("23", "Ki", 31.0, "nM", target="JAK1"),
    fact("23", "Ki", 10000.0, "nM", qualifier=">", target="JAK2"),
    fact("23", "clearance", 9.6, "uL/min/mg", species="human"),
    fact("23", "half_life", 52 / 60, "h"),
    fact("23", "thermodynamic_solubility", 33.0, "uM", pH="6.8"),
    fact("24", "Ki", 7.5, "nM", target="JAK1"),
    fact("24", "Ki", 610.0, "nM", target="JAK2"),
    fact("24", "clearance", 220.0, "uL/min/mg", species="mouse"),
    fact("24", "clearance", 64.0, "uL/min/mg", species="human"),
    fact("24", "half_life", 0.1, "h"),
    fact("24", "thermodynamic_solubility", 18.0, "uM"),
    fact("25", "Ki", 120.0, "nM", target="JAK1"),
    fact("25", "Ki", 4800.0, "nM", target="JAK2"),
    fact("25", "clearance", 19.0, "uL/min/mg", species="mouse"),
    fact("25", "clearance", 7.7, "uL/min/mg", species="human"),
    fact("25", "half_life", 44 / 60, "h"),
    fact("25", "thermodynamic_solubility", 250.0, "uM"),
)


def build_dev_journal(folder: Path, font_file: str) -> Path:
    """Booktabs, single-level header: 'Kd (nM)', 'pEC50', 'PPB (% bound)', 'Papp A-B [10-6 cm/s]', 'MW', 'TPSA'."""
    import pymupdf

    doc = pymupdf.open()
    page = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    page.text(50, 60, "Macrocyclic MCL-1 ligands", size=14)
    page.paragraph((50, 75, 545, 190), LOREM, size=9.5)
    page.text(50, 210, "Table 1. Affinity, cell potency and properties.", size=9)
    xs = [52.0, 110.0, 190.0, 250.0, 340.0, 450.0]
    page.rule(50, 545, 218, 0.9)
    _booktabs_rows(page, xs, 230, [["Entry", "Kd (nM)", "pEC50", "PPB (% bound)", "Papp A-B [10-6 cm/s]", "TPSA"]], 14, 8.5)
    page.rule(50, 545, 236, 0.5)
    rows: list[list[Cell]] = [
        ["A1", "0.8 ± 0.1", "7.9", "99.1", "0.9", "112"],
        ["A2", "3.4 ± 0.5", "7.2", "97.5", "2.7", "98"],
        ["A3", "> 1 000", "< 5", "n.d.", "15.3", "76"],
        ["A4", "15 ± 4", "6.6", "92.0", "8.1", "88"],
    ]
    y = _booktabs_rows(page, xs, 250, rows, 14, 8.5)
    page.rule(50, 545, y - 9, 0.9)
    page.paragraph((50, y + 10, 545, y + 140), LOREM, size=9.5)
    path = folder / "dev_journal.pdf"
    doc.save(path)
    return path


DEV_JOURNAL_EXPECTED: tuple[Expected, ...] = (
    fact("A1", "Kd", 0.8, "nM"),
    fact("A1", "pEC50", 7.9, "-log10(mol/L)"),
    fact("A1", "ppb", 99.1, "%"),
    fact("A1", "permeability", 0.9, "1e-6 cm/s"),
    fact("A1", "TPSA", 112.0, ""),
    fact("A2", "Kd", 3.4, "nM"),
    fact("A2", "pEC50", 7.2, "-log10(mol/L)"),
    fact("A2", "ppb", 97.5, "%"),
    fact("A2", "permeability", 2.7, "1e-6 cm/s"),
    fact("A2", "TPSA", 98.0, ""),
    fact("A3", "Kd", 1000.0, "nM", qualifier=">"),
    fact("A3", "pEC50", 5.0, "-log10(mol/L)", qualifier="<"),
    fact("A3", "permeability", 15.3, "1e-6 cm/s"),
    fact("A3", "TPSA", 76.0, ""),
    fact("A4", "Kd", 15.0, "nM"),
    fact("A4", "pEC50", 6.6, "-log10(mol/L)"),
    fact("A4", "ppb", 92.0, "%"),
    fact("A4", "permeability", 8.1, "1e-6 cm/s"),
    fact("A4", "TPSA", 88.0, ""),
)

DEVELOPMENT: tuple[MedchemLayout, ...] = (
    MedchemLayout("dev_gdocs", "ruled two-level header, Ki per target, MLM before HLM, continued, '(pH 6.8)'", build_dev_gdocs, DEV_GDOCS_EXPECTED),
    MedchemLayout("dev_journal", "booktabs, Kd, pEC50, PPB % bound, Papp A-B, unregistered TPSA", build_dev_journal, DEV_JOURNAL_EXPECTED),
)


# --- scoring ------------------------------------------------------------------------------------------------

ValueKey = tuple[str | None, str, str, float, float | None, str]  # compound, property, qualifier, value, high, unit
FullKey = tuple[str | None, str, str, float, float | None, str, Conditions]


@dataclass(frozen=True)
class ReadFact:
    """The parts of a fact the scoring compares (built from an ``ExtractedFact`` by the caller)."""

    compound: str | None
    property: str
    qualifier: str
    value: float | None
    value_high: float | None
    unit: str
    conditions: Conditions = ()


@dataclass(frozen=True)
class MedchemScore:
    layout: str
    expected: int
    read: int  # numeric facts read from tables
    right_values: int  # compound, property, qualifier, value (and range end) and unit right
    right_with_conditions: int  # ... and the conditions too
    missed: tuple[FullKey, ...]
    spurious: tuple[FullKey, ...]

    @property
    def recall(self) -> float:
        return self.right_values / self.expected if self.expected else 1.0

    @property
    def recall_with_conditions(self) -> float:
        return self.right_with_conditions / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        return self.right_values / self.read if self.read else 1.0


def _unit_key(unit: str) -> str:
    return unit.replace("\u00b5", "u").replace("\u03bc", "u").replace(" ", "").replace("\u2212", "-")


def _number(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.6g}")


def full_key(f: ReadFact | Expected) -> FullKey:
    assert f.value is not None
    return (f.compound, f.property, f.qualifier, float(_number(f.value) or 0.0), _number(f.value_high), _unit_key(f.unit), tuple(sorted(f.conditions)))


def score(layout: str, read: Sequence[ReadFact], expected: Sequence[Expected]) -> MedchemScore:
    """Multiset comparison of the numeric facts read (value not None) with the expected ones, with and without
    the conditions."""
    got = Counter(full_key(f) for f in read if f.value is not None)
    want = Counter(full_key(f) for f in expected)
    got_values = Counter(key[:6] for key in got.elements())
    want_values = Counter(key[:6] for key in want.elements())
    return MedchemScore(
        layout=layout,
        expected=sum(want.values()),
        read=sum(got.values()),
        right_values=sum((got_values & want_values).values()),
        right_with_conditions=sum((got & want).values()),
        missed=tuple(sorted((want - got).elements(), key=str)),
        spurious=tuple(sorted((got - want).elements(), key=str)),
    )
