"""What a request asks for, read from its words: the offline planner's small semantic parser.

A request is parsed in two passes. First its slots are filled, each on its own, wherever they appear: molecules
(SMILES checked with RDKit, common names from ``tools.names`` with typos forgiven, quoted or wrapped in
punctuation), properties (the property registry's names and aliases plus the phrases chemists use: "how soluble",
"water solubility", "BACE-1 potency", "hydration free energy"), comparisons with numbers ("logS above -5", "pIC50 of
at least 8"), counts ("the top 5", "three"), a direction ("least soluble"), a candidate source (a file, the store),
PDF paths, a campaign budget, and whether to measure the result. Then the intent is chosen from keyword classes
and question forms: decline (a capability AtomLoop does not have), campaign, read, select, look up, measure,
predict. The planner turns the result into tool calls or a precise refusal; nothing here knows about tools.

Only the user's request is parsed: text from documents and tools never reaches this module.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

Intent = Literal["decline", "campaign", "read", "dock", "free_energy", "select", "lookup", "measure", "predict", "unknown"]

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10, "twelve": 12, "fifteen": 15, "twenty": 20, "a dozen": 12, "a couple of": 2, "a few": 3}
COUNT = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|a dozen|a couple of|a few)"

# phrases chemists use for the properties, beside the registry's own names and aliases (longest are tried first)
PROPERTY_PHRASES: dict[str, str] = {
    "aqueous solubility": "logS", "water solubility": "logS", "solubility in water": "logS", "solubilities": "logS",
    "solubility": "logS", "soluble": "logS", "insoluble": "logS", "log s": "logS", "esol": "logS",
    "lipophilicity": "logD", "lipophilic": "logD", "log d": "logD", "logd7.4": "logD", "logd 7.4": "logD",
    "potency": "pIC50", "potencies": "pIC50", "potent": "pIC50", "inhibitory activity": "pIC50", "activity": "pIC50",
    "bace-1 potency": "pIC50", "bace potency": "pIC50",
    "hydration free energy": "hydration_free_energy", "hydration free energies": "hydration_free_energy",
    "free energy of hydration": "hydration_free_energy", "hydration energy": "hydration_free_energy",
    "hydration energies": "hydration_free_energy", "solvation free energy": "hydration_free_energy",
    "melting point": "melting_point", "melting points": "melting_point", "boiling point": "boiling_point",
    "boiling points": "boiling_point", "molecular weight": "molecular_weight", "half-life": "half_life",
    "half life": "half_life", "partition coefficient": "logP", "acidity": "pKa",
}
# a word that only says "these are inhibitors": the objective when no other property is named
IMPLIED_POTENCY = re.compile(r"\binhibitors?\b|\bbinders?\b|\bhits?\b", re.I)
# property words AtomLoop has no property for (so a refusal can name them)
UNKNOWN_PROPERTY_WORDS = ("toxicity", "toxic", "cytotoxicity", "bioavailability", "stability", "selectivity",
                          "permeability", "clearance", "metabolic stability", "herg", "smell", "odor", "odour",
                          "colour", "color", "taste", "price", "cost", "density", "viscosity")

ABOVE = r"above|over|greater than|more than|higher than|at least|no less than|no lower than|not lower than|no worse than|not worse than|not below|>=|=>|≥|>"
BELOW = r"below|under|less than|lower than|at most|no more than|no higher than|not higher than|not above|<=|=<|≤|<"
COMPARISON = re.compile(rf"(?P<op>{ABOVE}|{BELOW})\s*(?P<value>-?\d+(?:\.\d+)?)", re.I)
# a bound written after its number: "pIC50 of 7 or more", "logD of 3 or less"
TRAILING_COMPARISON = re.compile(r"(?P<value>-?\d+(?:\.\d+)?)\s+(?:or|and)\s+(?P<op>more|higher|above|greater|better|up|over|less|lower|below|under|fewer)\b", re.I)
TRAILING_ABOVE = frozenset({"more", "higher", "above", "greater", "better", "up", "over"})
# words that may stand between a property and its comparison ("logS is above -5", "logS of at least -4.5")
COMPARISON_FILLER = re.compile(r"^(?:\s|\b(?:is|are|of|value|values|stays?|remains?|must|should|be|that|which|kept|"
                               r"stay|remain|still|with|a|an|the|=|:)\b)*$", re.I)
STAYS_SOLUBLE = re.compile(r"\b(?:stays?|remains?|still|keeps?|keeping|staying)\s+(?:\w+\s+)?soluble\b"
                           r"|\b(?:that|which|who)\s+(?:are|is)\s+(?:\w+\s+)?soluble\b", re.I)
SOLUBLE_ENOUGH = -5.0  # logS: "stays soluble" in a constraint

CANDIDATE_FILE = re.compile(r"(?<![\w/.~-])(?P<path>(?:~|\.{1,2})?[\w./~-]*\w\.(?:csv|smi|smiles|txt|tsv|sdf))\b", re.I)
PDF_PATH = re.compile(r"(?<![\w/.~-])(?P<path>(?:~|\.{1,2})?[\w./~-]*\w\.pdf)\b", re.I)
FOLDER_PATH = re.compile(r"(?<![\w.~-])(?P<path>(?:~|\.{1,2})?/?(?:[\w.~-]+/)+)(?=\s|$|[,;])")
STORE_SOURCE = re.compile(r"\b(?:in|from|among|across|within|of)\s+(?:the\s+|our\s+|my\s+)?(?:knowledge\s+)?(?:store|database|db|records)\b"
                          r"|\bknown molecules\b|\b(?:stored|measured) (?:molecules|compounds)\b"
                          r"|\b(?:store|database)(?:'s)? (?:compounds|molecules|entries|contents)\b|\bwhat'?s in the (?:store|database)\b", re.I)

DECLINES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bbinding (?:free )?energ|\b(?:fep|free[- ]energy perturbation|alchemical)\b.*\bbetween\b|\brelative (?:binding )?free energ", re.I),
     "binding free energies (relative FEP) are not available yet; hydration free energies are "
     "(\"calculate the hydration free energy of ethanol by an alchemical calculation\")"),
    (re.compile(r"\bmolecular dynamics\b|\bmd simulations?\b|\bsimulate the dynamics\b", re.I),
     "molecular dynamics is not available"),
    (re.compile(r"\bretro-?synthe", re.I), "retrosynthesis is not available"),
    (re.compile(r"\bsynthesi[sz]e\b|\bsynthesis (?:of|route|plan)|\bsynthetic route|\broutes? to\b|\bplan (?:a |the )?synthesis\b"
                r"|\bscale[- ]up\b|\bpurify\b|\bmake \d+(?:\.\d+)?\s*(?:mg|g|kg)\b", re.I),
     "I do not plan a synthesis or a synthesis route: the lab makes a compound only as part of an assay (potency, solubility)"),
    (re.compile(r"\bdispense\b|\bpipette\b|\baspirate\b|\btransfer \d", re.I),
     "I do not plan liquid handling: the lab's steps run only inside its assays, behind the approval gate"),
)
DOCK = re.compile(r"\bdock(?:s|ed|ing)?\b|\bvina\b|\bdocking scores?\b", re.I)
# A free-energy calculation (not a model's prediction of one): named as a method, or "compute/calculate ... free energy"
FREE_ENERGY = re.compile(
    r"\balchemical\b|\bfep\b|\bfree[- ]energy (?:calculations?|perturbation)\b|\bopenmm\b|\bmbar\b"
    r"|\b(?:compute|calculate|simulate)s?\b[^.;]*\bfree energ", re.I)
EXPLICIT_WATER = re.compile(r"\bexplicit (?:water|solvent)\b|\btip3p\b", re.I)
# A target: after "to/into/against/..." a bundled name, a PDB ID, a receptor file, or a protein AtomLoop ships.
DOCK_TARGET = re.compile(
    r"\b(?:to|into|against|on|in|at|with|for)\s+(?:the\s+)?(?:target\s+|receptor\s+|protein\s+|structure\s+|pdb\s+(?:entry\s+)?|site\s+of\s+)?"
    r"(?P<target>[\w./\-]+)",
    re.I,
)
PDB_ID = re.compile(r"^(?=\d)(?=.*[A-Za-z])[0-9A-Za-z]{4}$")
TARGET_ALIASES = {"abl": "1IEP", "abl1": "1IEP", "bcr-abl": "1IEP", "bace": "4IVT", "bace-1": "4IVT", "bace1": "4IVT", "beta-secretase": "4IVT"}
CAMPAIGN = re.compile(r"\bcampaigns?\b|\bactive[- ]learning\b|\bclosed[- ]loop\b|\bbayesian optimi[sz]ation\b", re.I)
READ = re.compile(r"\b(?:read|extract|parse|mine|pull|ingest|import)\b", re.I)
LOOKUP = re.compile(
    r"\bwhat do (?:we|you|i) know\b|\btell me (?:about|what)\b|\bsummari[sz]e\b|\blook ?up\b|\bdo (?:we|you) have\b"
    r"|\bhave (?:we|you) (?:got|measured|tested|seen|stored)\b|\bwhat have (?:we|you)\b|\bwe(?:'ve| have)? measured\b"
    r"|\bmeasured so far\b|\b(?:data|results|measurements|values|information|info|records)\s+(?:we have|you have|on|about|stored)\b"
    r"|\bstored\s+(?:on|for|about)\b|\bwhat'?s (?:stored|known|on record)\b|\bwhat is (?:stored|known)\b|\bliterature\b"
    r"|\bany (?:data|measurements|results|values|facts)\b|\bshow me (?:the |our |all )?(?:data|measurements|results|facts)\b"
    r"|\bin (?:the|our) (?:store|database|records) (?:on|for|about)\b|\bon record\b"
    r"|\b(?:know|knows|hold|holds|have|has|got)\s+(?:anything|something|any\w*)\s+(?:about|on|for)\b"
    r"|\bwhat (?:did|has|have) (?:the lab|we|you) (?:measured?|found?|got|gotten|recorded?)\b",
    re.I,
)
RANK = re.compile(r"\b(?:find|select|pick|choose|rank|shortlist|prioriti[sz]e|identify|which|top|best|give me the)\b", re.I)
MEASURE = re.compile(
    r"\b(?:measure|assay|test)\b|\bsend\b.*\bto the lab\b|\brun (?:the |an? )?(?:\w+ )?assays?\b|\bdetermine experimentally\b"
    r"|\bthe lab\b|\bexperimental(?:ly)?\b",
    re.I,
)
# measuring what is selected: "then measure them", "and assay", or a lab verb anywhere in a selection request
THEN_MEASURE = re.compile(r"\b(?:measure|test|assay)\b|\brun\s+(?:them|these|those|it|the (?:selected|picks|hits|best))\b"
                          r"|\b(?:and|then)\s+(?:measure|test|assay|make)\b|\bsend them to the lab\b", re.I)
PREDICT = re.compile(
    r"\b(?:predict|predicted|prediction|predictions|estimate|estimates|estimated|calculate|compute|forecast|guess)\b"
    r"|\bwhat(?:'s| is| are| would be|s)\b|\bhow (?:\w+ )?(?:soluble|potent|lipophilic|active)\b|\bgive me\b|\bi need\b"
    r"|\bmore (?:soluble|potent|lipophilic|active)\b|\bless (?:soluble|potent|lipophilic|active)\b",
    re.I,
)
NEGATED = re.compile(r"\b(?:do not|don't|dont|never|without|no need to|not)\b[^.;!?]*", re.I)
MINIMIZE = re.compile(r"(?<!at )\b(?:least|lowest|minimi[sz]e|minimi[sz]ing|smallest|worst|poorly|weakest)\b", re.I)
BUDGET = re.compile(r"\b(\d+)\s+(?:experiments|measurements|molecules|compounds|assays)\b|\bbudget of (\d+)\b", re.I)

# words of a request that are never molecule names (a name from the list below still wins over these)
REQUEST_WORDS = frozenset(
    "a about above across after against all also among an and any are as at be best both but by can compare "
    "compounds compound could data do does estimate estimates experiments find for from get give have how i in into "
    "is it its know let like list me measure measured measurements molecule molecules more most my need of on or our "
    "please predict predicted prediction rank run select show so some tell than that the their them then these this "
    "those to top value values we what whats which why will with would you your candidates candidate structure "
    "structures smiles".split()
)
# upper-case words that parse as SMILES but are abbreviations in a request
NOT_SMILES = frozenset({"SI", "NB", "PS", "OS", "CNS", "BBB", "SCF", "NCI", "CSF", "ICP", "IC", "NO", "SOS", "PC", "BP"})
MOLECULE_MARKER = re.compile(r"(?:\bof|\bfor|\bon|\babout|\bis|\bare|\bthan|:|\bthese|\btest|\bmeasure|\bassay|\bpredict|\bsummari[sz]e)$", re.I)
LIST_JOINER = re.compile(r"^\s*(?:,|;|&|\band\b|\bor\b|\bvs\.?\b|\bversus\b)\s*(?:\band\b\s*)?$", re.I)
SOLVENT_CONTEXT = re.compile(r"\b(?:in|into|from)\s+$", re.I)
SMILES_CHARS = re.compile(r"^[A-Za-z0-9@+\-\[\]\(\)=#$:/\\.%*]+$")
SMILES_STRUCTURE = re.compile(r"[()=#\[\]@\\/]|[A-Za-z][0-9]")
TARGET_NAME = re.compile(r"[A-Za-z]+-?\d+[A-Za-z]?|\d[A-Za-z0-9]{3}")  # BACE-1, COX-2, JAK2, a PDB code (1IEP)
CHEMICAL_SUFFIX = re.compile(r"(?:ine|ol|ene|ane|yne|ide|one|ate|azole|azine|amide|amine|mab|nib|pril|olol|statin|cillin|"
                             r"profen|oxacin|vir|parin|azepam|sartan|triptan|mycin|cycline|dronate|tidine|zole|fen|xib)$", re.I)
STRIP = "\"'`‘’“”.,;:?!"


class MoleculeMention(BaseModel):
    """A molecule the request names: its text as written, its canonical SMILES, and the common name it was read as."""

    model_config = ConfigDict(frozen=True)

    text: str
    smiles: str
    name: str | None = None  # the common name, when the text was a name (corrected when it was misspelt)

    @property
    def corrected(self) -> bool:
        return self.name is not None and self.name.lower() != self.text.lower()


class Comparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    property: str
    op: Literal[">=", "<="]
    value: float


class ParsedRequest(BaseModel):
    """The slots and the intent of one request."""

    model_config = ConfigDict(frozen=True)

    text: str
    intent: Intent
    declined: str | None = None
    molecules: tuple[MoleculeMention, ...] = ()
    unresolved: tuple[str, ...] = ()  # texts in a molecule's place that are no structure
    invalid_smiles: tuple[str, ...] = ()  # SMILES-shaped texts RDKit refuses
    properties: tuple[str, ...] = ()  # registry names, in the order the request names them
    property_text: dict[str, str] = {}  # registry name -> the words the request used for it
    unknown_properties: tuple[str, ...] = ()  # property words AtomLoop has no property for
    property_slot: str | None = None  # the words where a property was expected ("predict the X of ...")
    comparisons: tuple[Comparison, ...] = ()
    count: int | None = None
    minimize: bool = False
    candidates_file: str | None = None
    from_store: bool = False
    pdf_paths: tuple[str, ...] = ()
    then_measure: bool = False
    budget: int | None = None
    mentions_bace: bool = False
    dock_target: str | None = None  # a docking target's name or receptor file, as the request names it

    @property
    def objective(self) -> str | None:
        """The property to rank or optimise: the first one named that is not only a constraint."""
        constrained = {c.property for c in self.comparisons}
        for name in self.properties:
            if name not in constrained:
                return name
        if IMPLIED_POTENCY.search(self.text) or self.mentions_bace:
            return "pIC50"
        return self.properties[0] if self.properties else None


def parse_request(text: str) -> ParsedRequest:
    """The slots and the intent of ``text`` (whitespace normalised; case does not matter)."""
    request = " ".join(text.split()).replace("−", "-").replace("–", "-")
    properties, property_text, spans = _properties(request)
    masked = _mask(request, spans)
    pdfs = tuple(m["path"].rstrip(".,;:") for m in PDF_PATH.finditer(request))
    files = [m["path"] for m in CANDIDATE_FILE.finditer(request)]
    folders = [] if pdfs or files else [m["path"] for m in FOLDER_PATH.finditer(request) if READ.search(request)]
    target_text, target = _dock_target(request) if DOCK.search(request) else (None, None)
    molecules, unresolved, invalid = _molecules(masked, exclude={*pdfs, *files, *folders, *([target_text] if target_text else [])})
    comparisons = list(_comparisons(request, spans))
    if STAYS_SOLUBLE.search(request) and not any(c.property == "logS" for c in comparisons):
        comparisons.append(Comparison(property="logS", op=">=", value=SOLUBLE_ENOUGH))
    if any(c.property == "logS" for c in comparisons) and "logS" not in properties:
        properties.append("logS")
    lowered = request.lower()
    unknown = tuple(w for w in UNKNOWN_PROPERTY_WORDS if re.search(rf"\b{re.escape(w)}\b", lowered)
                    and not any(w in phrase for phrase in property_text.values()))
    parsed = ParsedRequest(
        text=request,
        intent="unknown",
        molecules=tuple(molecules),
        unresolved=tuple(unresolved),
        invalid_smiles=tuple(invalid),
        properties=tuple(properties),
        property_text=property_text,
        unknown_properties=unknown,
        property_slot=_property_slot(request),
        comparisons=tuple(comparisons),
        count=_count(request),
        minimize=bool(MINIMIZE.search(request)),
        candidates_file=files[0] if files else None,
        from_store=bool(STORE_SOURCE.search(request)),
        pdf_paths=pdfs or tuple(folders),
        then_measure=bool(THEN_MEASURE.search(_without_negations(request))),
        budget=_budget(request),
        mentions_bace=bool(re.search(r"\bbace", request, re.I)),
        dock_target=target,
    )
    intent, declined = _intent(parsed)
    return parsed.model_copy(update={"intent": intent, "declined": declined})


# -- intent -------------------------------------------------------------------------------------------------------


def _intent(parsed: ParsedRequest) -> tuple[Intent, str | None]:
    request = parsed.text
    affirmative = _without_negations(request)
    measures = bool(MEASURE.search(affirmative)) and not LOOKUP.search(request)
    for pattern, reason in DECLINES:
        if pattern.search(request) and not (measures and "synthes" in reason):
            return "decline", reason
    if CAMPAIGN.search(request):
        return "campaign", None
    if DOCK.search(affirmative):
        return "dock", None
    if FREE_ENERGY.search(affirmative):
        return "free_energy", None
    if parsed.pdf_paths and READ.search(request):
        return "read", None
    has_source = parsed.candidates_file is not None or parsed.from_store
    if RANK.search(request) and (has_source or not parsed.molecules) and not LOOKUP.search(request):
        if has_source or parsed.properties or re.search(r"\bcandidates?\b|\bbest\b|\btop\b", request, re.I):
            return "select", None
    if LOOKUP.search(request) and (parsed.molecules or parsed.unresolved or parsed.invalid_smiles):
        return "lookup", None
    if measures and not has_source:
        return "measure", None
    if measures and has_source:
        return "select", None
    if parsed.properties or parsed.unknown_properties or PREDICT.search(request):
        return "predict", None
    return "unknown", None


def _dock_target(request: str) -> tuple[str | None, str | None]:
    """(the words as written, the target) a docking request names: a bundled target, a PDB ID, a receptor file,
    or a protein AtomLoop ships a structure of ("Abl", "BACE-1")."""
    from tools.docking.targets import bundled_target

    candidates = [m["target"].rstrip(".,;:?!") for m in DOCK_TARGET.finditer(request)]
    candidates += [word.rstrip(".,;:?!") for word in request.split()]
    for text in candidates:
        if bundled_target(text) is not None or PDB_ID.match(text):
            return text, text.upper()
        if text.lower().endswith((".pdb", ".pdbqt", ".ent")):
            return text, text
        if text.lower() in TARGET_ALIASES:
            return text, TARGET_ALIASES[text.lower()]
    return None, None


def _without_negations(text: str) -> str:
    """``text`` without its negated clauses ("do not run any experiments"), so their verbs are not read as asked."""
    return NEGATED.sub(" ", text)


# -- properties ---------------------------------------------------------------------------------------------------


@cache
def _property_lexicon() -> tuple[tuple[re.Pattern[str], str, str], ...]:
    """(pattern, registry name, phrase), longest phrase first: the registry's names and aliases, and the phrases above."""
    from knowledge.properties import PropertyRegistry

    phrases: dict[str, str] = {}
    for spec in PropertyRegistry.default():
        for word in (spec.name, *spec.aliases):
            phrases.setdefault(word.lower(), spec.name)
            phrases.setdefault(word.lower().replace("_", " "), spec.name)
    phrases.update(PROPERTY_PHRASES)
    for ambiguous in ("mp", "bp", "mw", "tc", "ki", "fu", "fup", "yield", "purity", "lipo"):  # too common as words or too short
        phrases.pop(ambiguous, None)
    ordered = sorted(phrases.items(), key=lambda item: -len(item[0]))
    return tuple((re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])", re.I), name, word) for word, name in ordered)


def _properties(request: str) -> tuple[list[str], dict[str, str], list[tuple[int, int, str]]]:
    """The registry names the request uses, in order, the words for each, and each mention's span."""
    taken: list[tuple[int, int, str]] = []
    for pattern, name, _ in _property_lexicon():
        for match in pattern.finditer(request):
            if any(start < match.end() and match.start() < end for start, end, _ in taken):
                continue
            taken.append((match.start(), match.end(), name))
    taken.sort()
    names: list[str] = []
    words: dict[str, str] = {}
    for start, end, name in taken:
        if name not in names:
            names.append(name)
            words[name] = request[start:end]
    return names, words, taken


def _mask(request: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """``request`` with each property mention blanked out (same length), so no property word is read as a molecule."""
    chars = list(request)
    for start, end, _ in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _property_slot(request: str) -> str | None:
    """The words where a property belongs in "predict|estimate|measure [the] X of|for ...", if the request has that form."""
    match = re.search(r"\b(?:predict|estimate|calculate|compute|measure|assay|test|what(?:'s| is| are))\s+(?:the\s+|an?\s+)?"
                      r"(?P<what>[\w\s./-]+?)\s+(?:of|for|on)\b", request, re.I)
    return match["what"].strip() if match else None


def _comparisons(request: str, spans: list[tuple[int, int, str]]) -> Iterable[Comparison]:
    """Each "<property> [is|of|...] <above|below|>=|...> <number>" in the request."""
    for match in COMPARISON.finditer(request):
        before = [(end, name) for start, end, name in spans if end <= match.start()]
        if not before:
            continue
        end, name = max(before)
        if not COMPARISON_FILLER.match(request[end : match.start()]):
            continue
        op: Literal[">=", "<="] = ">=" if re.fullmatch(ABOVE, match["op"], re.I) else "<="
        yield Comparison(property=name, op=op, value=float(match["value"]))
    for match in TRAILING_COMPARISON.finditer(request):
        before = [(end, name) for start, end, name in spans if end <= match.start()]
        if before and COMPARISON_FILLER.match(request[max(before)[0] : match.start()]):
            trailing: Literal[">=", "<="] = ">=" if match["op"].lower() in TRAILING_ABOVE else "<="
            yield Comparison(property=max(before)[1], op=trailing, value=float(match["value"]))


# -- counts and budgets -------------------------------------------------------------------------------------------


def _count(request: str) -> int | None:
    """How many molecules to pick: "top 5", "the 3 most", "pick three", "which 4 compounds"."""
    for pattern in (
        rf"\btop\s+{COUNT}\b",
        rf"(?<![\w.-]){COUNT}\s+(?:most|least|best|top|highest|lowest|strongest|weakest)\b",
        rf"\b(?:find|pick|select|choose|give|show|rank|shortlist|identify|which|list)\s+(?:me\s+)?(?:the\s+)?{COUNT}\b",
        rf"\bthe\s+{COUNT}\s+(?:\w+\s+)?(?:molecules|compounds|candidates|inhibitors|hits)\b",
        rf"(?<![\w.-]){COUNT}\s+(?:\w+\s+)?(?:molecules|compounds|candidates|inhibitors|hits|analogues|analogs)\b",
    ):
        match = re.search(pattern, request, re.I)
        if match:
            word = match[1].lower()
            return int(word) if word.isdigit() else NUMBER_WORDS[word]
    return None


def _budget(request: str) -> int | None:
    match = BUDGET.search(request)
    return int(match[1] or match[2]) if match else None


# -- molecules ----------------------------------------------------------------------------------------------------


def _molecules(masked: str, exclude: set[str]) -> tuple[list[MoleculeMention], list[str], list[str]]:
    """The molecules the (property-masked) request names, the texts in a molecule's place that are no structure,
    and the SMILES-shaped texts RDKit refuses."""
    from tools.names import COMMON_NAMES

    tokens = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", masked)]
    found: list[tuple[int, int, MoleculeMention]] = []
    maybe_names: list[tuple[int, int, str]] = []
    invalid: list[str] = []
    used: set[int] = set()
    # multi-word names first ("salicylic acid", "penicillin g")
    for name in sorted((n for n in COMMON_NAMES if " " in n), key=len, reverse=True):
        for match in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", masked, re.I):
            covered = {i for i, (start, end, _) in enumerate(tokens) if start < match.end() and match.start() < end}
            if not covered & used:
                used |= covered
                found.append((match.start(), match.end(), _named(match.group(), name)))
    for index, (start, end, raw) in enumerate(tokens):
        text = _clean(raw)
        if index in used or not text or text in exclude or raw in exclude or text.lower() in REQUEST_WORDS:
            continue
        mention = _mention(text, masked[:start])
        if mention is not None:
            found.append((start, end, mention))
        elif _smiles_shaped(text):
            invalid.append(text)
        elif _could_be_a_name(text):
            maybe_names.append((start, end, text))
    unresolved = _in_molecule_places(masked, maybe_names, [(start, end) for start, end, _ in found])
    molecules: list[MoleculeMention] = []
    for _, _, mention in sorted(found, key=lambda item: item[0]):
        if all(m.smiles != mention.smiles for m in molecules):
            molecules.append(mention)
    return molecules, unresolved, invalid


def _in_molecule_places(masked: str, words: list[tuple[int, int, str]], molecules: list[tuple[int, int]]) -> list[str]:
    """The words that stand where a molecule goes: right after "of", "for", "about", ":" ..., or in a list with a
    molecule or with such a word ("paracetamol and X")."""
    kept = [(start, end) for start, end, _ in words if MOLECULE_MARKER.search(masked[:start].rstrip())]
    changed = True
    while changed:
        changed = False
        anchors = molecules + kept
        for start, end, _ in words:
            if (start, end) in kept:
                continue
            if any(_joined(masked, a_end, start) or _joined(masked, end, a_start) for a_start, a_end in anchors):
                kept.append((start, end))
                changed = True
    return [text for start, end, text in words if (start, end) in kept]


def _clean(raw: str) -> str:
    """A token without the quotes and punctuation around it, a possessive "'s", and unbalanced brackets."""
    text = raw.strip(STRIP)
    if text.lower().endswith(("'s", "’s")):
        text = text[:-2]
    while text.endswith(")") and text.count(")") > text.count("("):
        text = text[:-1].rstrip(STRIP)
    while text.startswith("(") and text.count("(") > text.count(")"):
        text = text[1:].lstrip(STRIP)
    if text.startswith("(") and text.endswith(")") and not _parses(text):
        text = text[1:-1]  # a word or a SMILES in brackets: "(1IEP)", "(c1ccccc1O)"
    return text.strip(STRIP)


def _mention(text: str, before: str) -> MoleculeMention | None:
    """The molecule ``text`` names (a common name, possibly misspelt, or a SMILES), or None."""
    from tools.names import COMMON_NAMES

    key = text.lower()
    if key in COMMON_NAMES:
        if SOLVENT_CONTEXT.search(before) and key in ("water", "dmso", "ethanol", "methanol", "acetonitrile", "acetone"):
            return None  # "soluble in water": the solvent, not a molecule asked about
        return _named(text, key)
    smiles = _canonical(text) if _looks_like_smiles(text) else None
    if smiles is not None:
        return MoleculeMention(text=text, smiles=smiles)
    if text.isalpha() and len(text) >= 6 and key not in REQUEST_WORDS:
        close = difflib.get_close_matches(key, [n for n in COMMON_NAMES if " " not in n], n=1, cutoff=0.85)
        if close and close[0][0] == key[0]:
            return _named(text, close[0])
    return None


def _named(text: str, name: str) -> MoleculeMention:
    from tools.names import resolve_molecule

    return MoleculeMention(text=text, smiles=resolve_molecule(name), name=name)


def _looks_like_smiles(text: str) -> bool:
    """Whether ``text`` is written like a SMILES: SMILES characters only, and either structure characters or an
    all-capital chain of atoms (CCO) that is not a common abbreviation."""
    if not SMILES_CHARS.match(text) or text.upper() in NOT_SMILES:
        return False
    if re.fullmatch(r"[A-Z][A-Za-z]*", text):
        return len(text) >= 2 and re.fullmatch(r"(?:Cl|Br|[BCNOSPFI])+", text) is not None
    return _smiles_shaped(text)


def _smiles_shaped(text: str) -> bool:
    """SMILES characters with structure in them (brackets, bonds, ring digits, aromatic atoms) and no word in them
    (kcal/mol), and not a target's name (BACE-1, COX-2) or a PDB code (1IEP)."""
    without_atoms = re.sub(r"[cnosp]", "", text.replace("Cl", "").replace("Br", ""))
    return bool(SMILES_CHARS.match(text) and SMILES_STRUCTURE.search(text) and not re.search(r"[a-z]{2,}", without_atoms)
                and not TARGET_NAME.fullmatch(text))


def _canonical(text: str) -> str | None:
    """The canonical SMILES of ``text``, or None when RDKit refuses it."""
    from knowledge.chem import canonicalize
    from knowledge.errors import InvalidStructure

    try:
        return canonicalize(text).smiles
    except (InvalidStructure, ValueError):
        return None


def _parses(text: str) -> bool:
    return _canonical(text) is not None


def _joined(masked: str, first_end: int, second_start: int) -> bool:
    """Whether only a list joiner (a comma, "and", "or" ...) stands between a token ending at ``first_end`` and one
    starting at ``second_start`` (a comma the first token ends with counts)."""
    if second_start < first_end:
        return False
    gap = masked[first_end:second_start]
    if first_end > 0 and masked[first_end - 1] in ",;":
        gap = "," + gap
    return LIST_JOINER.match(gap) is not None


def _could_be_a_name(text: str) -> bool:
    """Whether an unknown word could be a molecule's name (so a refusal names it) rather than an ordinary word."""
    if text.lower() in REQUEST_WORDS or text.lower() in UNKNOWN_PROPERTY_WORDS or len(text) < 3 or TARGET_NAME.fullmatch(text):
        return False
    if re.fullmatch(r"[-+]?\d+(?:\.\d+)?%?", text):
        return False
    return bool("_" in text or CHEMICAL_SUFFIX.search(text) or re.search(r"\d", text) or re.search(r"[A-Z].*[A-Z]", text)
                or len(text) >= 8)
