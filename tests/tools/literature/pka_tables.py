"""Generator of "outside-paper" pKa tables: small PDFs laid out the way journals print them, none like SAMPL6.

Used by ``test_pka_tables.py`` (which holds the expected facts, written out by hand) and by
``benchmarks/literature_bench.py``. Each layout is one PDF built with PyMuPDF:

* ``two_column_ruled``: a two-column article page; "Table 2. Measured pKa values" sits in the left column as a
  booktabs-style table (three horizontal rules, no vertical ones), compound labels '3a', 'compound 12',
  'OSM-S-201', cells '4.52 ± 0.03', '9.1 ± 0.1', '6.08(2)', a raised footnote mark ('7.25 ± 0.02ᵃ'), a second
  pKa column with dashes where there is no second pKa, and a footnote line under the table.
* ``html_story``: an HTML page rendered by ``pymupdf.Story`` (real ``<table>`` with cell borders, ``<sup>``
  footnote marks, header 'pK<sub>a</sub>' / 'SEM' in separate columns, 'Entry' labels '1', '2a', '2b', a negative pKa).
* ``continued``: a fully ruled grid that starts low on page 1 and runs on to page 2, where the header row is
  printed again under "Table 3. (continued)"; an uncertainty column headed only '± SEM'; a raised numeric
  footnote mark ('8.06¹').
* ``whitespace``: no rules at all; columns aligned by whitespace only, header "Cmpd | pKa ± SD (25 °C) | n", an
  inline footnote letter ('5.40b') and a row with '>12'.
* ``spanning_header``: booktabs rules and a two-level header, 'pKa' centred over the columns 'water' and
  '30% DMSO' (no vertical rules, so the spanning cell is not marked as spanning in the grid).

Pure PyMuPDF drawing, no reader code: the PDFs are what a new user would hand in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pdf_drawing import A4, Cell, Page, ruled_rows, unruled_row

LOREM = (
    "Acid dissociation constants govern the charge state of a drug at physiological pH and with it solubility, "
    "permeability and binding. We measured the aqueous pKa values of the series by potentiometric titration in "
    "0.15 M KCl at 25 °C under argon, each compound in triplicate at 0.5 mM, and report the mean with its "
    "standard error. Spectrophotometric titrations were used where the compound absorbed between 250 and 450 nm."
)


@dataclass(frozen=True)
class PkaLayout:
    name: str
    description: str
    build: Callable[[Path, str], Path]  # (folder, unicode TrueType font file) -> the PDF written there


# --- layout 1: two-column article, booktabs rules ---------------------------------------------------------


def build_two_column_ruled(folder: Path, font_file: str) -> Path:
    import pymupdf

    doc = pymupdf.open()
    page = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    page.text(50, 60, "Aqueous acidity of aminothiazole kinase fragments", size=15)
    page.text(50, 80, "Ines Varga, Tomás Okafor and Mei Lindqvist", size=9.5)
    left, right, gutter = 50.0, 545.0, 18.0
    mid = (left + right) / 2
    col_l = (left, mid - gutter / 2)
    col_r = (mid + gutter / 2, right)
    page.paragraph((col_l[0], 100, col_l[1], 250), "1. Introduction\n" + LOREM)
    # Table 2 in the left column
    page.text(col_l[0], 268, "Table 2. Measured pKa values of the", size=8.5)
    page.text(col_l[0], 279, "aminothiazole series (mean ± SEM, n = 3).", size=8.5)
    xs = [col_l[0] + 2, col_l[0] + 80, col_l[0] + 160]
    top = 287.0
    page.rule(col_l[0], col_l[1], top, 0.9)
    unruled_row(page, xs, top + 12, ["Compound", "pKa1", "pKa2"], 8.5)
    page.rule(col_l[0], col_l[1], top + 17, 0.5)
    rows: list[list[Cell]] = [
        ["3a", "4.52 ± 0.03", "–"],
        ["3b", "4.87 ± 0.02", "9.10 ± 0.05"],
        ["4b", "9.1 ± 0.1", "–"],
        ["compound 12", ("7.25 ± 0.02", "a"), "–"],
        ["OSM-S-201", "6.08(2)", "10.31(4)"],
        ["OSM-S-218", "3.95 ± 0.04", "8.42 ± 0.03"],
    ]
    y = top + 31
    for row in rows:
        unruled_row(page, xs, y, row, 8.5)
        y += 14
    page.rule(col_l[0], col_l[1], y - 8, 0.9)
    page.text(col_l[0], y + 4, "a Measured in 20% methanol and extrapolated to 0% cosolvent.", size=7)
    page.paragraph(
        (col_l[0], y + 16, col_l[1], 780),
        "2. Results\nThe aminothiazoles 3a and 3b are protonated on the ring nitrogen; the second constant of 3b "
        "belongs to the phenol. Values in Table 2 agree within 0.1 units with earlier reports for the parent "
        "scaffold.",
    )
    page.paragraph((col_r[0], 100, col_r[1], 780), "3. Discussion\n" + " ".join([LOREM] * 3))
    path = folder / "two_column_ruled.pdf"
    doc.save(path)
    return path


# --- layout 2: HTML through pymupdf.Story ---------------------------------------------------------------

_STORY_HTML = """
<h2>Ionisation constants of substituted benzimidazoles</h2>
<p><i>R. Adeyemi, K. Holm</i></p>
<p>{lorem}</p>
<p><b>Table 1.</b> pKa values determined by potentiometric titration (mean and standard error of three runs).</p>
<table>
<tr><th>Entry</th><th>Substituent</th><th>pK<sub>a</sub></th><th>SEM</th></tr>
<tr><td>1</td><td>H</td><td>5.53</td><td>0.02</td></tr>
<tr><td>2a</td><td>5-Cl</td><td>4.61</td><td>0.03</td></tr>
<tr><td>2b</td><td>5-NO<sub>2</sub></td><td>3.05<sup>b</sup></td><td>0.05</td></tr>
<tr><td>2c</td><td>5-OMe</td><td>5.98</td><td>0.01</td></tr>
<tr><td>6</td><td>2-CF<sub>3</sub></td><td>−1.20</td><td>0.10</td></tr>
<tr><td>7</td><td>2-NH<sub>2</sub></td><td>7.51</td><td>0.04</td></tr>
</table>
<p><sup>b</sup> Spectrophotometric titration.</p>
<p>{lorem}</p>
"""
_STORY_CSS = """
body { font-family: sans-serif; font-size: 9pt; }
table { border-collapse: collapse; }
th, td { border: 1px solid black; padding: 2px 6px; text-align: left; }
th { font-weight: bold; }
"""


def build_html_story(folder: Path, font_file: str) -> Path:
    import pymupdf

    del font_file  # Story uses its own built-in fonts, which cover ± and −
    path = folder / "html_story.pdf"
    story = pymupdf.Story(html=_STORY_HTML.format(lorem=LOREM), user_css=_STORY_CSS)
    writer = pymupdf.DocumentWriter(str(path))
    mediabox = pymupdf.paper_rect("a4")
    where = mediabox + (50, 50, -50, -50)
    more = True
    while more:
        device = writer.begin_page(mediabox)
        more, _ = story.place(where)
        story.draw(device)
        writer.end_page()
    writer.close()
    return path


# --- layout 3: a ruled grid continued on the next page with its header repeated ---------------------------

CONTINUED_ROWS: tuple[tuple[str, str, str], ...] = tuple(
    (label, pka, sem)
    for label, pka, sem in (
        ("8a", "3.12", "0.02"),
        ("8b", "3.47", "0.03"),
        ("8c", "3.90", "0.02"),
        ("8d", "4.05", "0.01"),
        ("8e", "4.33", "0.04"),
        ("8f", "4.71", "0.02"),
        ("8g", "5.02", "0.03"),
        ("8h", "5.26", "0.02"),
        ("8i", "5.58", "0.05"),
        ("8j", "5.84", "0.02"),
        ("9a", "6.11", "0.01"),
        ("9b", "6.37", "0.03"),
        ("9c", "6.69", "0.02"),
        ("9d", "6.95", "0.04"),
        ("9e", "7.20", "0.02"),
        ("9f", "7.48", "0.03"),
        ("9g", "7.73", "0.02"),
        ("9h", "8.06", "0.06"),
        ("9i", "8.31", "0.02"),
        ("9j", "8.64", "0.03"),
        ("10a", "8.92", "0.02"),
        ("10b", "9.25", "0.04"),
        ("10c", "9.57", "0.03"),
        ("10d", "9.88", "0.02"),
    )
)
CONTINUED_FIRST_PAGE_ROWS = 14
CONTINUED_FOOTNOTES = {"9h": "1"}  # a raised numeric footnote mark after the pKa value


def build_continued(folder: Path, font_file: str) -> Path:
    import pymupdf

    doc = pymupdf.open()
    header = ("Compound", "pKa", "± SEM")
    widths = (90.0, 80.0, 80.0)
    first = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    first.text(50, 60, "Protonation constants of a pyridine library", size=14)
    first.paragraph((50, 80, 545, 520), "\n\n".join([LOREM] * 4), size=10)
    first.text(50, 540, "Table 3. pKa values of the pyridine library (25 °C, I = 0.15 M).", size=9)
    ruled_rows(first, 50, 548, widths, [header, *CONTINUED_ROWS[:CONTINUED_FIRST_PAGE_ROWS]], height=17, size=9, inset=4)
    second = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    second.text(50, 60, "Table 3. (continued)", size=9)
    rest: list[list[Cell]] = [
        [label, (pka, CONTINUED_FOOTNOTES[label]) if label in CONTINUED_FOOTNOTES else pka, sem]
        for label, pka, sem in CONTINUED_ROWS[CONTINUED_FIRST_PAGE_ROWS:]
    ]
    end = ruled_rows(second, 50, 68, widths, [header, *rest], height=17, size=9, inset=4)
    second.text(50, end + 12, "1 Extrapolated from titrations in 30% DMSO.", size=7.5)
    second.paragraph((50, end + 30, 545, end + 200), LOREM, size=10)
    path = folder / "continued.pdf"
    doc.save(path)
    return path


# --- layout 4: whitespace-aligned, no rules ---------------------------------------------------------------


def build_whitespace(folder: Path, font_file: str) -> Path:
    import pymupdf

    doc = pymupdf.open()
    page = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    page.text(60, 60, "Supplementary note: acidity of the phenol set", size=13)
    page.paragraph((60, 80, 535, 200), LOREM, size=10)
    page.text(60, 225, "Table S2. Experimental pKa values", size=9.5)
    xs = [60.0, 170.0, 290.0]
    page.text(xs[0], 248, "Cmpd", 9.5)
    page.text(xs[1], 248, "pKa ± SD (25 °C)", 9.5)
    page.text(xs[2], 248, "n", 9.5)
    rows = [
        ["P-1", "9.98 ± 0.02", "3"],
        ["P-2", "7.15 ± 0.03", "3"],
        ["P-3", "5.40b", "1"],
        ["P-4", "8.36 ± 0.01", "4"],
        ["P-5", ">12", "2"],
        ["P-6", "10.21 ± 0.05", "3"],
    ]
    y = 266.0
    for row in rows:
        unruled_row(page, xs, y, row, 9.5)
        y += 15
    page.text(60, y + 6, "b Single determination.", 8)
    page.paragraph((60, y + 24, 535, y + 140), LOREM, size=10)
    path = folder / "whitespace.pdf"
    doc.save(path)
    return path


# --- layout 5: a two-level header, 'pKa' centred over two solvent columns ---------------------------------


def build_spanning_header(folder: Path, font_file: str) -> Path:
    import pymupdf

    doc = pymupdf.open()
    page = Page(doc.new_page(width=A4[0], height=A4[1]), font_file)
    page.text(50, 60, "Cosolvent effects on the acidity of hydroxamic acids", size=14)
    page.paragraph((50, 80, 545, 200), LOREM, size=10)
    page.text(50, 220, "Table 4. pKa values in water and in 30% DMSO (mean ± SD).", size=9)
    xs = [52.0, 160.0, 260.0]
    page.rule(50, 360, 228, 0.9)
    page.text(200, 240, "pKa", 9)
    page.rule(150, 360, 244, 0.4)  # the cmidrule under the spanning header
    unruled_row(page, xs, 256, ["Compound", "water", "30% DMSO"], 9)
    page.rule(50, 360, 261, 0.5)
    rows: list[list[Cell]] = [
        ["12a", "4.52 ± 0.03", "5.10 ± 0.02"],
        ["12b", "6.31 ± 0.01", "6.95 ± 0.04"],
        ["13", "8.02 ± 0.05", "8.66 ± 0.03"],
        ["14", "3.38 ± 0.02", "–"],
        ["15", "11.20 ± 0.10", "11.87 ± 0.06"],
    ]
    y = 275.0
    for row in rows:
        unruled_row(page, xs, y, row, 9)
        y += 14
    page.rule(50, 360, y - 8, 0.9)
    page.paragraph((50, y + 10, 545, y + 130), LOREM, size=10)
    path = folder / "spanning_header.pdf"
    doc.save(path)
    return path


LAYOUTS: tuple[PkaLayout, ...] = (
    PkaLayout("two_column_ruled", "two-column page, booktabs rules, labels 3a/compound 12/OSM-S-201, ±, (2), pKa1+pKa2", build_two_column_ruled),
    PkaLayout("html_story", "HTML <table> with cell borders (pymupdf.Story), pKa and SEM columns, <sup> mark", build_html_story),
    PkaLayout("continued", "ruled grid continued on page 2 with its header repeated", build_continued),
    PkaLayout("whitespace", "no rules, whitespace-aligned columns, 'pKa ± SD (25 °C)' header, '5.40b', '>12'", build_whitespace),
    PkaLayout("spanning_header", "booktabs, two-level header: 'pKa' centred over 'water | 30% DMSO'", build_spanning_header),
)


# --- scoring ------------------------------------------------------------------------------------------------

FactKey = tuple[str | None, str, str, float | None, float | None]  # compound, property, qualifier, value, uncertainty


@dataclass(frozen=True)
class LayoutScore:
    layout: str
    expected: int
    right: int  # expected facts found exactly (label, property, qualifier, value, uncertainty)
    spurious: tuple[FactKey, ...]  # pKa facts read that are not expected (glued footnote digits, shifted columns ...)
    missed: tuple[FactKey, ...]

    @property
    def share_right(self) -> float:
        return self.right / self.expected if self.expected else 1.0


def fact_key(compound: str | None, prop: str, qualifier: str, value: float | None, uncertainty: float | None) -> FactKey:
    def rounded(x: float | None) -> float | None:
        return None if x is None else round(x, 6)

    return (compound, prop, qualifier, rounded(value), rounded(uncertainty))


def score(layout: str, facts: Sequence[FactKey], expected: Sequence[FactKey]) -> LayoutScore:
    """Multiset comparison of the pKa facts read (table and text) with the expected ones."""
    from collections import Counter

    got = Counter(f for f in facts if f[1] == "pKa")
    want = Counter(expected)
    right = got & want
    return LayoutScore(
        layout=layout,
        expected=sum(want.values()),
        right=sum(right.values()),
        spurious=tuple(sorted((got - want).elements(), key=str)),
        missed=tuple(sorted((want - got).elements(), key=str)),
    )
