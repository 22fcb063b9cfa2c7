"""Numbers as papers print them: '9.53 ± 0.01', '0.023(2)', '1.2 × 10−3', '12.5–25', '<1.6', '∼17 K', 'nd'.

``parse_quantity`` reads one value string (a table cell, or the value part of a sentence) into a
``ParsedQuantity``: value, range end, qualifier, uncertainty, the unit as written and footnote marks.
``find_mentions`` finds property mentions in running text ('pKa = 4.23 ± 0.02', 'IC50 of 12 nM',
'Tc ≈ 17 K', 'melting point 123–125 °C', 'in 85% yield') for the properties of a registry.

Pure text processing: no unit conversion here (see ``facts``), nothing is evaluated or executed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from tools.literature.models import Qualifier

if TYPE_CHECKING:
    from knowledge.properties import PropertyRegistry

# --- normalisation -------------------------------------------------------------------------------------

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\ufe58\ufe63\uff0d"
_MINUS_SIGNS = "\u2212\u2796\u207b\u208b"
_SPACES = "\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_TILDES = "\u223c\u02dc\u301c\uff5e\u2053"  # TILDE OPERATOR, SMALL TILDE, WAVE DASH, FULLWIDTH TILDE, SWUNG DASH
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "0123456789+-")


_SAME_LENGTH = str.maketrans(
    {
        **{ch: "-" for ch in _MINUS_SIGNS},
        **{ch: "\u2013" for ch in _DASHES},
        **{ch: " " for ch in _SPACES + "\n\t\r"},
        **{ch: "~" for ch in _TILDES},
        **dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "0123456789+-", strict=True)),
    }
)


def normalize_same_length(text: str) -> str:
    """Like ``normalize_text`` but one character for one, so offsets into the original stay valid."""
    return text.translate(_SAME_LENGTH)


def normalize_text(text: str) -> str:
    """Unify the typographic variants that matter for numbers: minus signs, dashes, spaces, tildes."""
    out = text.translate(_SUPERSCRIPTS) if any(ch in text for ch in "⁰¹²³⁴⁵⁶⁷⁸⁹⁻") else text
    for ch in _MINUS_SIGNS:
        out = out.replace(ch, "-")
    for ch in _DASHES:
        out = out.replace(ch, "\u2013")  # every dash becomes an en dash: a range separator or a minus
    for ch in _SPACES:
        out = out.replace(ch, " ")
    for ch in _TILDES:
        out = out.replace(ch, "~")
    out = out.replace("\u200b", "").replace("\u00ad", "")
    return re.sub(r"\s+", " ", out).strip()


# --- one value ------------------------------------------------------------------------------------------


class ParsedQuantity(BaseModel):
    """A value string, read. ``unit`` is the unit text as written (None if none)."""

    model_config = ConfigDict(frozen=True)

    value: float | None
    value_high: float | None = None
    qualifier: Qualifier = "="
    uncertainty: float | None = None
    unit: str | None = None
    footnotes: tuple[str, ...] = ()
    conditions: tuple[tuple[str, str], ...] = ()  # written beside the value: '<5 (pH 7.4)' -> (('pH', '7.4'),)
    text: str


_QUALIFIERS: tuple[tuple[str, Qualifier], ...] = (
    ("<=", "<="),
    (">=", ">="),
    ("≤", "<="),
    ("≥", ">="),
    ("⩽", "<="),
    ("⩾", ">="),
    ("≦", "<="),
    ("≧", ">="),
    ("<", "<"),
    (">", ">"),
    ("≪", "<"),
    ("≫", ">"),
    ("≈", "~"),
    ("≃", "~"),
    ("≅", "~"),
    ("~", "~"),
    ("ca.", "~"),
    ("approx.", "~"),
    ("approximately", "~"),
    ("about", "~"),
)
# thousands separated by commas ('10,000') or by a (thin) space ('10 000', '1 250 ± 180')
_NUM_RE = re.compile(
    r"(?P<sign>[+\-–]?)\s?(?P<int>\d{1,3}(?:,\d{3})+(?![\d.])|\d{1,3}(?: \d{3})+(?![\d.,])|\d+)?(?:\.(?P<frac>\d+))?"
)
_PAREN_UNC_RE = re.compile(r"\(\s?(?P<digits>\d{1,4})\s?\)")
_EXP_RE = re.compile(
    r"\s?(?:[×xX*·⋅]\s?10\s?(?:\^|\*\*)?\s?\{?\(?\s?(?P<e1>[+\-–]?\s?\d{1,3})\s?\)?\}?|[eE](?P<e2>[+\-–]?\d{1,3}))"
)
_PM_RE = re.compile(r"\s?(?:±|\+/-|\+/–|\+-|\+–)\s?")
_RANGE_SEP_RE = re.compile(r"\s?(?:–|-|to|~|\.\.\.|…)\s?", re.IGNORECASE)
_ATTACHED_MARK_RE = re.compile(r"(?P<marks>(?:\*+|[†‡§¶#]|[a-cef](?![A-Za-z]))(?:,\s?(?:\*+|[†‡§¶#]|[a-g](?![A-Za-z])))*)")
_TRAILING_SYMBOL_MARKS_RE = re.compile(r"\s?(?P<marks>[*†‡§¶#]+(?:,\s?[*†‡§¶#a-g])*)$")
_ND_RE = re.compile(r"(?:n\.?\s?d\.?|not\s+(?:determined|detected|done)|n/d|b\.?d\.?l\.?|below detection)", re.IGNORECASE)
_EMPTY_RE = re.compile(r"(?:–|-|—|/|n\.?\s?a\.?|n/a|NA|N/A|\?|…|\.\.\.)", re.IGNORECASE)


class _Number:
    __slots__ = ("text", "value", "decimals", "end")

    def __init__(self, text: str, value: float, decimals: int, end: int) -> None:
        self.text = text
        self.value = value
        self.decimals = decimals
        self.end = end


def _read_number(s: str, pos: int) -> _Number | None:
    """A decimal number starting at ``pos`` (sign, thousands separators, scientific notation)."""
    match = _NUM_RE.match(s, pos)
    if match is None or (match.group("int") is None and match.group("frac") is None):
        return None
    sign = "-" if match.group("sign") in ("-", "–") else ""
    integer = (match.group("int") or "0").replace(",", "").replace(" ", "")
    frac = match.group("frac")
    mantissa = f"{sign}{integer}.{frac}" if frac else f"{sign}{integer}"
    decimals = len(frac) if frac else 0
    return _Number(mantissa, float(mantissa), decimals, match.end())


def _read_exponent(s: str, pos: int) -> tuple[int, int] | None:
    match = _EXP_RE.match(s, pos)
    if match is None:
        return None
    raw = (match.group("e1") or match.group("e2") or "").replace(" ", "").replace("–", "-")
    return int(raw), match.end()


def _scaled(mantissa: str, exponent: int) -> float:
    return float(f"{mantissa}e{exponent}") if exponent else float(mantissa)


def _strip_marks(rest: str) -> tuple[str, tuple[str, ...]]:
    """Footnote marks written directly after a number ('4.21a', '3.2*', '5†,‡')."""
    match = _ATTACHED_MARK_RE.match(rest)
    if match is None:
        return rest, ()
    marks = tuple(m.strip() for m in match.group("marks").split(",") if m.strip())
    return rest[match.end() :], marks


def parse_quantity(text: str) -> ParsedQuantity | None:
    """Read one printed value. Returns None when the text is not a quantity (a word, an empty cell, '–').

    Handles: plain and signed numbers (incl. U+2212), thousands separators, scientific notation
    ('1.2 × 10−3', '1.2e-3', '1.2x10^-3', '(1.2 ± 0.1) × 10−3'), '9.53 ± 0.01', last-digit uncertainty
    '0.023(2)', ranges ('12.5 - 25', '12.5–25', '5 to 10'), qualifiers ('<1.6', '>100', '≤', '≥', '~3',
    '∼17 K', '≈', 'ca.'), 'nd'/'n.d.'/'ND' (qualifier 'nd', no value), footnote marks ('4.21a') and a
    trailing unit as written ('17 K', '12 nM', '85%', '123–125 °C').
    """
    original = text
    s = normalize_text(text)
    if not s:
        return None
    s, cell_conditions = _split_cell_conditions(s)
    s, symbol_marks = _split_trailing_symbol_marks(s)
    if _ND_RE.fullmatch(s):
        return ParsedQuantity(value=None, qualifier="nd", text=original, footnotes=symbol_marks)
    nd_marked = re.fullmatch(r"(?P<nd>n\.?\s?d\.?|ND|N\.D\.)(?P<marks>[a-g*†‡§¶])", s)
    if nd_marked:
        return ParsedQuantity(value=None, qualifier="nd", text=original, footnotes=(nd_marked.group("marks"),))
    if _EMPTY_RE.fullmatch(s):
        return None

    pos = 0
    qualifier: Qualifier = "="
    for token, meaning in _QUALIFIERS:
        if s.startswith(token) if not token[0].isalpha() else s.lower().startswith(token + " "):
            qualifier = meaning
            pos = len(token)
            while pos < len(s) and s[pos] == " ":
                pos += 1
            break

    uncertainty: float | None
    grouped = _read_grouped(s, pos)
    if grouped is not None:
        value, uncertainty, pos = grouped
        value_high = None
    else:
        parsed = _read_value_with_uncertainty(s, pos)
        if parsed is None:
            return None
        value, uncertainty, pos = parsed
        value_high = None
        if qualifier in ("=", "~"):
            rng = _read_range_end(s, pos, value) or _read_unit_range_end(s, pos, value)
            if rng is not None:
                value_high, pos = rng
                qualifier = "range"
    rest, marks = _strip_marks(s[pos:])
    rest = rest.strip()
    if rest.startswith((",", ";")) or re.match(r"[-–+]?\s?\d", rest):
        return None  # a list of values, not one value
    unit = rest.strip() or None
    if unit is not None and not _looks_like_unit(unit):
        return None
    return ParsedQuantity(
        value=value,
        value_high=value_high,
        qualifier=qualifier,
        uncertainty=uncertainty,
        unit=unit,
        footnotes=marks + symbol_marks,
        conditions=cell_conditions,
        text=original,
    )


def is_placeholder(text: str) -> bool:
    """An empty cell or a dash/'n/a' placeholder: no value was printed (unlike 'nd', which is a result)."""
    s = normalize_text(text)
    return not s or bool(_EMPTY_RE.fullmatch(s))


_CELL_CONDITION_RE = re.compile(r"\s?[(\[](?P<inner>[^()\[\]]{1,40})[)\]]$")


def _split_cell_conditions(s: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A condition in brackets after the value ('<5 (pH 7.4)', '12 (human)', '3.1 (n = 2)'): taken off the value
    text when everything in the brackets is a condition."""
    match = _CELL_CONDITION_RE.search(s)
    if match is None or match.start() == 0:
        return s, ()
    found, rest = read_conditions(match.group("inner"))
    if not found or re.search(r"[A-Za-z0-9]", rest):
        return s, ()
    return s[: match.start()].rstrip(), tuple(sorted(found.items()))


def _split_trailing_symbol_marks(s: str) -> tuple[str, tuple[str, ...]]:
    match = _TRAILING_SYMBOL_MARKS_RE.search(s)
    if match is None or match.start() == 0:
        return s, ()
    marks = tuple(m.strip() for m in match.group("marks").split(",") if m.strip())
    return s[: match.start()].rstrip(), marks


def _read_grouped(s: str, pos: int) -> tuple[float, float, int] | None:
    """'(1.2 ± 0.1) × 10−3'."""
    match = re.compile(r"\(\s?").match(s, pos)
    if match is None:
        return None
    number = _read_number(s, match.end())
    if number is None:
        return None
    pm = _PM_RE.match(s, number.end)
    if pm is None:
        return None
    unc = _read_number(s, pm.end())
    if unc is None:
        return None
    close = re.compile(r"\s?\)").match(s, unc.end)
    if close is None:
        return None
    exponent = _read_exponent(s, close.end())
    if exponent is None:
        return None
    exp, end = exponent
    return _scaled(number.text, exp), abs(_scaled(unc.text, exp)), end


def _read_value_with_uncertainty(s: str, pos: int) -> tuple[float, float | None, int] | None:
    number = _read_number(s, pos)
    if number is None:
        return None
    end = number.end
    paren_digits: str | None = None
    paren = _PAREN_UNC_RE.match(s, end)
    if paren is not None:
        paren_digits = paren.group("digits")
        end = paren.end()
    exp = 0
    exponent = _read_exponent(s, end)
    if exponent is not None:
        exp, end = exponent
    value = _scaled(number.text, exp)
    uncertainty: float | None = None
    if paren_digits is not None:
        uncertainty = float(f"{int(paren_digits)}e{exp - number.decimals}")
    pm = _PM_RE.match(s, end)
    if pm is not None and uncertainty is None:
        unc = _read_number(s, pm.end())
        if unc is None:
            return None
        end = unc.end
        unc_exp = exp
        unc_exponent = _read_exponent(s, end)
        if unc_exponent is not None:
            unc_exp, end = unc_exponent
        uncertainty = abs(_scaled(unc.text, unc_exp))
    return value, uncertainty, end


def _read_range_end(s: str, pos: int, low: float) -> tuple[float, int] | None:
    sep = _RANGE_SEP_RE.match(s, pos)
    if sep is None:
        return None
    number = _read_number(s, sep.end())
    if number is None:
        return None
    end = number.end
    exp = 0
    exponent = _read_exponent(s, end)
    if exponent is not None:
        exp, end = exponent
    high = _scaled(number.text, exp)
    if high < low:
        return None
    return high, end


_UNIT_THEN_SEP_RE = re.compile(r"\s?(?P<unit>%|°\s?[CFK]|[A-Za-zµμÅ℃‰][A-Za-zµμ/·^\d.\-]{0,12}?)(?:\s?–\s?|\s+to\s+)")


def _read_unit_range_end(s: str, pos: int, low: float) -> tuple[float, int] | None:
    """A range with the unit after both ends ('123 °C–125 °C', '9.9%–16.2%', '28 K to 40 K'): the high end,
    when the same unit follows it and it is not below the low end; the position is before the second unit,
    which is then read as the value's unit."""
    match = _UNIT_THEN_SEP_RE.match(s, pos)
    if match is None:
        return None
    number = _read_number(s, match.end())
    if number is None or number.value < low:
        return None
    unit = match.group("unit")
    after = s[number.end :].lstrip()
    if not after.startswith(unit) or not re.match(r"$|[\s,;)\]]", after[len(unit) :]):
        return None
    return number.value, number.end


_UNIT_TEXT_RE = re.compile(r"^[A-Za-zµμÅ°℃%‰Ω/·⋅*^()\[\]\-–+\d .,']{1,40}$")


def _looks_like_unit(text: str) -> bool:
    """A cheap gate: unit text has no sentence punctuation and is short. Whether pint knows it is checked later."""
    if not _UNIT_TEXT_RE.match(text):
        return False
    return not re.search(r"\d\s*[,;]\s*\d", text)


# --- conditions: target, species, pH ---------------------------------------------------------------------

# Liver microsomes (and hepatocytes) by species, as tables abbreviate them.
_MATRIX_SPECIES = {
    "HLM": "human", "MLM": "mouse", "RLM": "rat", "DLM": "dog", "CLM": "cynomolgus monkey", "MkLM": "monkey",
    "HHEP": "human", "MHEP": "mouse", "RHEP": "rat",
}
_SPECIES_WORDS = {
    "human": "human", "mouse": "mouse", "murine": "mouse", "rat": "rat", "dog": "dog", "canine": "dog",
    "monkey": "monkey", "cyno": "cynomolgus monkey", "cynomolgus": "cynomolgus monkey", "minipig": "minipig",
}
_SPECIES_RE = re.compile(
    r"(?<![A-Za-z])(?:(?P<matrix>" + "|".join(_MATRIX_SPECIES) + r")|(?P<word>(?i:" + "|".join(_SPECIES_WORDS) + r")))(?![A-Za-z])"
)
_PH_RE = re.compile(r"(?<![A-Za-z])(?:at\s)?pH\s?=?\s?(?P<ph>\d{1,2}(?:\.\d{1,2})?)(?![\d.])")
_LOGD_PH_RE = re.compile(r"(?<![A-Za-z])(?i:log\s?D)\s?(?:_|\()?(?P<ph>\d{1,2}\.\d{1,2})\)?")
_REPLICATES_RE = re.compile(r"(?<![A-Za-z])n\s?=\s?(?P<n>\d{1,3})(?![\d.])")


def read_conditions(text: str) -> tuple[dict[str, str], str]:
    """The measurement conditions written in ``text`` (a header or the brackets after a value): the pH ('pH 7.4',
    'logD7.4'), the species ('HLM' -> human, 'rat'), the number of replicates ('n = 3'). Returns them and the text
    with them taken out."""
    found: dict[str, str] = {}
    rest = text
    logd = _LOGD_PH_RE.search(rest)
    if logd is not None:
        found["pH"] = logd.group("ph")
        rest = rest[: logd.start("ph")] + rest[logd.end("ph") :]
    ph = _PH_RE.search(rest)
    if ph is not None:
        found["pH"] = ph.group("ph")
        rest = rest[: ph.start()] + " " + rest[ph.end() :]
    species = _SPECIES_RE.search(rest)
    if species is not None:
        matrix = species.group("matrix")
        found["species"] = _MATRIX_SPECIES[matrix] if matrix else _SPECIES_WORDS[species.group("word").lower()]
        rest = rest[: species.start()] + " " + rest[species.end() :]
    replicates = _REPLICATES_RE.search(rest)
    if replicates is not None:
        found["n"] = replicates.group("n")
        rest = rest[: replicates.start()] + " " + rest[replicates.end() :]
    return found, re.sub(r"\s+", " ", rest).strip()


# --- mentions in running text ---------------------------------------------------------------------------

# Property -> spellings in running text (regex fragments). Only properties the registry knows are searched.
_TEXT_SPELLINGS: dict[str, tuple[str, ...]] = {
    "pKa": (r"p\s?K\s?a(?:\s?\d)?(?:'s)?(?:\s?values?)?",),
    "pIC50": (r"pIC\s?50",),
    "pEC50": (r"pEC\s?50",),
    "pKi": (r"(?<![A-Za-z])pK\s?i(?![A-Za-z])",),
    "IC50": (r"(?<![pA-Za-z])IC\s?50(?:\s?values?)?",),
    "EC50": (r"(?<![pA-Za-z])EC\s?50(?:\s?values?)?",),
    "Ki": (r"(?<![A-Za-z])K\s?i(?![A-Za-z])",),
    "Kd": (r"(?<![A-Za-z])K\s?[dD](?![A-Za-z])",),
    "kinetic_solubility": (r"(?i:kinetic\s(?:aqueous\s)?sol(?:ubility|\.)?)", r"(?i:kin\.\s?sol(?:ubility|\.)?)"),
    "thermodynamic_solubility": (r"(?i:(?:thermodynamic|thermo\.|equilibrium)\s?(?:aqueous\s)?sol(?:ubility|\.)?)",),
    "permeability": (r"(?<![A-Za-z])P\s?app(?![A-Za-z])", r"(?i:(?:apparent\s)?permeability)"),
    "ppb": (r"(?<![A-Za-z])PPB(?![A-Za-z])", r"(?i:plasma\sprotein\sbinding)"),
    "fu": (r"(?<![A-Za-z])f\s?u(?:\s?,\s?(?:p|plasma|inc|mic))?(?![A-Za-z])", r"(?i:fraction\sunbound)"),
    "logD": (r"(?<![A-Za-z])log\s?D(?:\s?7\.4)?(?![A-Za-z])",),
    "logP": (r"(?<![A-Za-z])c?log\s?P(?![A-Za-z])",),
    "logS": (r"(?<![A-Za-z])log\s?S(?![A-Za-z])",),
    "melting_point": (r"(?i:melting\s(?:point|temperature)s?)", r"(?<![A-Za-z])m\.\s?p\.", r"(?<![A-Za-z])mp(?![A-Za-z])"),
    "boiling_point": (r"(?i:boiling\spoints?)", r"(?<![A-Za-z])b\.\s?p\."),
    "Tc": (
        r"(?<![A-Za-z])T[\s_]?c(?:\s?,?\s?onset)?(?:['’]s)?(?![A-Za-z])",
        r"(?i:(?:superconducting\s)?(?:critical|transition)\stemperatures?)(?:\s\(?T\s?c\)?)?",
    ),
    "yield": (r"(?i:(?:isolated\s|overall\s|total\s)?yields?)(?![A-Za-z])",),
    "purity": (r"(?<![A-Za-z])(?i:purity)",),  # not 'impurity'
    "clearance": (r"(?<![A-Za-z])(?i:CL)[\s_]?(?i:int)(?![A-Za-z])", r"(?i:(?:intrinsic\s)?clearance)"),
    "half_life": (r"(?i:half[-\s–]li(?:fe|ves))", r"(?<![A-Za-z])t\s?1/2(?![\d])", r"(?<![A-Za-z])t½"),
    "molecular_weight": (r"(?i:molecular\sweights?)", r"(?i:molar\smass(?:es)?)", r"(?<![A-Za-z])MW(?![A-Za-z])"),
    "hydration_free_energy": (r"(?i:hydration\sfree\senerg(?:y|ies))",),
    "binding_free_energy": (r"(?i:binding\sfree\senerg(?:y|ies))",),
    "docking_score": (r"(?i:docking\sscores?)",),
}
# Properties whose value may come before the name: 'in 85% yield', '98% purity'.
_VALUE_FIRST = ("yield", "purity")

_CONNECTOR_WORDS = (
    r"of|was|were|is|are|be|been|being|value|values|with|at|about|around|approximately|approx\.|"
    r"ca\.|roughly|nearly|close\sto|equal\sto|equals|determined|measured|found|reported|estimated|obtained|"
    r"calculated|predicted|to|as|a|an|the|onset|reaching|reached|reaches|increases?|increased|decreases?|"
    r"decreased|rises|rose|drops|dropped|changes|changed|shifts|shifted|"
    r"ranges?|ranging|from|between|below|above|less\sthan|more\sthan|greater\sthan|lower\sthan|higher\sthan|"
    r"up\sto|in\sthe\srange(?:\sof)?|gradually|strongly|slightly|further|suppressed|enhanced|reduced|raised|"
    r"lowered|down|up|then|only|still|here|now|typically|usually"
)
_FORMULA_WORD = r"[A-Z][a-z]?[A-Z0-9(][A-Za-z0-9()\u2212\-.δ]{0,30}"  # 'Tc of Li(Fe1−xCux)As is ...'
_CONNECTOR = (
    r"(?:\s?\([^()]{0,40}\))?[\s,:]*"
    r"(?P<conn>(?:(?:(?i:" + _CONNECTOR_WORDS + r")|" + _FORMULA_WORD + r"),?\s+){0,8})"
)
_REL = r"(?P<rel>(?:=|≈|≃|≅|~|:|<=|>=|<|>|≤|≥|⩽|⩾)\s?)?"
_NUM_T = r"[-–+]?\d+(?:,\d{3})*(?:\.\d+)?"
_UNIT_ATOM = r"(?:°\s?[CFK]|℃|%|Å|[µμu]?[A-Za-z]{1,6}(?:\s?\^?[-–+]?\d(?![\d.]))?)"
_VALUE_T = (
    r"(?P<val>(?:[<>≤≥~≈]\s?)?(?:\(\s?" + _NUM_T + r"\s?±\s?" + _NUM_T + r"\s?\)|" + _NUM_T + r"(?:\(\d{1,4}\))?"
    r"(?:\s?(?:±|\+/-)\s?" + _NUM_T + r")?)"
    r"(?:\s?[×x]\s?10\s?\^?\s?[-–+]?\d{1,3}|[eE][-–+]?\d{1,3})?"
    # a range end, the unit possibly written after both numbers ('28 K and 40 K', '1.4 K to 3.5 K')
    r"(?:(?:\s?" + _UNIT_ATOM + r")?\s?(?:–|-|to|and)\s?~?" + _NUM_T
    + r"(?:\s?[×x]\s?10\s?\^?\s?[-–+]?\d{1,3}|[eE][-–+]?\d{1,3})?)?)"
)
_UNIT_T = r"(?P<unit>\s?" + _UNIT_ATOM + r"(?:\s?(?:/|·|⋅|\*|\s)\s?" + _UNIT_ATOM + r"){0,3})?"


class Mention(BaseModel):
    """A property name followed (or, for yields, preceded) by a value in running text."""

    model_config = ConfigDict(frozen=True)

    property: str
    start: int
    end: int
    value_text: str
    unit_text: str | None
    relation: str | None = None
    connector: str = ""
    value_start: int = 0
    unit_start: int = 0


def _mention_patterns(properties: PropertyRegistry) -> list[tuple[str, re.Pattern[str], bool]]:
    known = {spec.name for spec in properties}
    patterns: list[tuple[str, re.Pattern[str], bool]] = []
    for name, spellings in _TEXT_SPELLINGS.items():
        if name not in known:
            continue
        names = "|".join(spellings)
        forward = re.compile(r"(?P<name>" + names + r")" + _CONNECTOR + _REL + _VALUE_T + _UNIT_T)
        patterns.append((name, forward, False))
        if name in _VALUE_FIRST:
            backward = re.compile(
                r"(?P<val>\d+(?:\.\d+)?(?:\s?(?:–|-|to)\s?\d+(?:\.\d+)?)?)\s?(?P<unit>%)\s(?:\w+\s){0,2}?(?P<name>"
                + names
                + r")",
            )
            patterns.append((name, backward, True))
    return patterns


_PATTERN_CACHE: dict[tuple[str, ...], list[tuple[str, re.Pattern[str], bool]]] = {}


def find_mentions(text: str, properties: PropertyRegistry) -> list[Mention]:
    """Property mentions with a value in ``text`` (one paragraph). Overlapping matches keep the earliest."""
    key = tuple(sorted(spec.name for spec in properties))
    patterns = _PATTERN_CACHE.get(key)
    if patterns is None:
        patterns = _mention_patterns(properties)
        _PATTERN_CACHE[key] = patterns
    found: list[Mention] = []
    searched = normalize_same_length(text)
    for name, pattern, _value_first in patterns:
        for match in pattern.finditer(searched):
            unit = match.groupdict().get("unit")
            unit_text = unit.strip() if unit and unit.strip() else None
            value_text = match.group("val").strip()
            unit_start = match.start("unit") if unit else match.end()
            end = match.end()
            repeated = _repeated_unit(value_text, unit_text)
            if repeated is not None:
                value_text, middle = repeated
                if middle >= 0:  # the unit is the one after the first number; the mention ends there
                    unit_start = match.start("val") + middle
                    unit_text = searched[unit_start:end].strip()
            found.append(
                Mention(
                    property=name,
                    start=match.start(),
                    end=end,
                    value_text=value_text,
                    unit_text=unit_text,
                    relation=(match.groupdict().get("rel") or "").strip() or None,
                    connector=(match.groupdict().get("conn") or "").strip(),
                    value_start=match.start("val"),
                    unit_start=unit_start,
                )
            )
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[Mention] = []
    for mention in found:
        if kept and mention.start < kept[-1].end:
            continue
        kept.append(mention)
    return kept


def unit_candidates(unit_text: str | None) -> list[str]:
    """Shortest first: '17 K for the' -> ['K', ...]; 'kcal mol−1' -> ['kcal', 'kcal mol−1']."""
    if not unit_text:
        return []
    tokens = unit_text.split()
    return [" ".join(tokens[:n]) for n in range(1, len(tokens) + 1)]


_REPEATED_UNIT_RE = re.compile(
    r"(?P<low>.*?\d)\s?(?P<unit>" + _UNIT_ATOM + r")\s?(?P<sep>–|-|to|and)\s?~?(?P<high>" + _NUM_T + r".*)"
)


def _repeated_unit(value_text: str, unit_text: str | None) -> tuple[str, int] | None:
    """A value written with its unit after both numbers ('28 K and 40', unit 'K ...'): the value text
    without the middle unit ('28 and 40'). For another unit in the middle ('5 nM and 3', unit 'µM') or a
    falling pair ('9 K to 3': a change, not a range): the first number alone and the offset of the middle
    unit in ``value_text``, which is then the unit. None when there is no middle unit."""
    match = _REPEATED_UNIT_RE.fullmatch(value_text)
    if match is None:
        return None
    low, high = match.group("low"), match.group("high")
    same_unit = bool(unit_text and unit_text.split()[0] == match.group("unit").replace(" ", ""))
    first, second = parse_quantity(low), parse_quantity(high)
    rising = (
        first is not None
        and first.value is not None
        and second is not None
        and second.value is not None
        and second.value >= first.value
    )
    if same_unit and rising:
        return f"{low} {match.group('sep')} {high}", -1
    return low, match.start("unit")


def mention_quantity(mention: Mention) -> ParsedQuantity | None:
    """The value of a mention as a ``ParsedQuantity`` (the unit is resolved separately, see ``unit_candidates``)."""
    text = mention.value_text
    connector = mention.connector.lower()
    if " and " in f" {text} " and "between" not in connector:
        text = re.split(r"\s?and\s?", text)[0]
    text = re.sub(r"\s?and\s?", " – ", text)
    relation = mention.relation
    prefix = ""
    if relation in ("<", ">", "<=", ">=", "≤", "≥", "⩽", "⩾", "≈", "~", "≃", "≅"):
        prefix = relation
    elif re.search(r"\b(?:about|around|approximately|approx\.|ca\.|roughly|nearly)$", connector):
        prefix = "~"
    elif re.search(r"\b(?:below|less than|lower than|up to)$", connector):
        prefix = "<"
    elif re.search(r"\b(?:above|more than|greater than|higher than)$", connector):
        prefix = ">"
    parsed = parse_quantity(prefix + text)
    if parsed is None:
        return None
    return parsed.model_copy(update={"text": mention.value_text, "unit": None})


# 'SM07', 'OSM-S-201', 'CHEMBL25', 'AZ-123a'; or 'compound 12' / 'cmpd 1a' / 'entry 3'.
STRONG_LABEL_RE = re.compile(
    r"(?<![\w-])(?:(?P<coded>[A-Z]{1,6}(?:-[A-Z]{1,4})?-?\d{1,6}[a-z]?)|"
    r"(?i:compounds?|cmpds?|cpds?|molecules?|entry|ligands?|inhibitors?)\s(?P<numbered>\d{1,4}[a-z]?|[A-Z]\d{0,3}[a-z]?))(?![\w-])",
)
# A table cell that is a compound label: the coded forms above, or a bare '12' / '1a' / '3b'.
LABEL_CELL_RE = re.compile(r"^(?:[A-Z][A-Za-z]{0,6}[-_ ]?)?(?:[A-Z]{1,4}[-_])?\d{1,6}[a-z]{0,2}(?:[-_]\d{1,3})?$")
# Words that head a compound-label column ('Compound', 'Cmpd.', 'Entry', 'Molecule ID', 'No.').
LABEL_HEADER_WORDS = (
    r"compounds?|compds?\.?|cpds?\.?|cmpds?\.?|id|ids|molecules?|sm|entry|entries|ligands?|inhibitors?|names?|"
    r"samples?|materials?|labels?|no\.|#|structures?|analogues?|analogs?|substances?"
)
# A header cell that is nothing but such a name ('Compound', 'Molecule ID', 'Cmpd.'): never a data cell.
LABEL_HEADER_CELL_RE = re.compile(r"(?i)(?:(?:" + LABEL_HEADER_WORDS + r")\s?){1,2}")
