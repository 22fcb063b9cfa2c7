"""The offline planner: deterministic, no network, the default when no LLM endpoint is configured.

It understands these request forms (case-insensitive; molecules are SMILES or common names, separated by
commas or "and"):

1. "predict <property> of|for <molecules>"
       predict the aqueous solubility of aspirin and caffeine
2. "find the <N> most|least <potent|soluble|lipophilic> ... among|in <file>|the store [with <property> above|below
   <value>] [and measure them]"
       find the 5 most potent BACE-1 inhibitors among data/bace_pic50.csv with logS above -5 and measure them
3. "measure|run|test <potency|solubility|pIC50|logS> [and <...>] of|for|on <molecules>"
       measure the potency and solubility of CCO and c1ccccc1O
4. "what do we know about <molecules>" / "summarize <molecules>"

Anything else gets a plain answer saying what it can do. Text from documents or tools never reaches this planner
as instructions: it plans from the user's request only, and reads tool outputs only to write the answer.
"""

from __future__ import annotations

import re
from typing import Any

from agent.plan import Answer, Plan, PlannedStep, StepRecord, StepRef
from tools.errors import ToolInputError
from tools.names import resolve_molecule

PROPERTY_WORDS: list[tuple[str, str]] = [
    ("hydration free energy", "hydration_free_energy"),
    ("hydration energy", "hydration_free_energy"),
    ("aqueous solubility", "logS"),
    ("solubility", "logS"),
    ("soluble", "logS"),
    ("logs", "logS"),
    ("lipophilicity", "logD"),
    ("lipophilic", "logD"),
    ("logd", "logD"),
    ("potency", "pIC50"),
    ("potent", "pIC50"),
    ("pic50", "pIC50"),
    ("ic50", "pIC50"),
    ("activity", "pIC50"),
]
ASSAY_OF = {"pIC50": "potency", "logS": "solubility"}
NUMBER = r"(-?\d+(?:\.\d+)?)"
ABOVE = r"(?:above|over|greater than|more than|at least|>=|>|≥)"
BELOW = r"(?:below|under|less than|at most|<=|<|≤)"

HELP = (
    "Offline I can: predict a property of molecules (\"predict the solubility of aspirin and caffeine\"); "
    "find the best candidates in a file or in the store under an objective and constraints (\"find the 5 most potent "
    "BACE-1 inhibitors among data/bace_pic50.csv with logS above -5 and measure them\"); run an assay on molecules "
    "(\"measure the potency of CCO\"); summarise what is known about a molecule (\"what do we know about aspirin\"); "
    "read papers (\"read papers/kinase.pdf\"); and run a closed-loop campaign (\"run a campaign to find potent BACE-1 inhibitors that stay soluble\"). "
    "Configure an LLM endpoint (ATOMLOOP_LLM__BASE_URL) for other requests."
)


def property_in(text: str) -> str | None:
    lowered = text.lower()
    for word, name in PROPERTY_WORDS:
        if re.search(rf"\b{re.escape(word)}\b", lowered):
            return name
    return None


def split_molecules(text: str) -> list[str]:
    text = re.sub(r"\s+(?:and|&)\s+", ",", text.strip().rstrip("?.!"))
    return [part.strip() for part in text.split(",") if part.strip()]


class OfflinePlanner:
    name = "offline"

    def plan(self, objective: str, history: list[StepRecord]) -> Plan | Answer:
        request = " ".join(objective.split())
        if history:
            return self._answer(request, history)
        for parse in (self._campaign, self._read, self._predict, self._find, self._measure, self._summarize):
            decision = parse(request)
            if decision is not None:
                return decision
        return Answer(text=f"I did not understand that request. {HELP}", supported=False)

    # -- request forms ------------------------------------------------------------------------------

    def _predict(self, request: str) -> Plan | Answer | None:
        match = re.match(r"^(?:please\s+)?predict\s+(?:the\s+)?(?P<what>.+?)\s+(?:of|for)\s+(?P<molecules>.+)$", request, re.I)
        if not match:
            return None
        prop = property_in(match["what"]) or _registry_name(match["what"])
        if prop is None:
            return Answer(text=f"I do not know the property {match['what']!r}. {HELP}", supported=False)
        molecules, problem = self._molecules(match["molecules"])
        if problem:
            return problem
        return Plan(steps=[PlannedStep(tool="predict_property", args={"smiles": molecules, "property": prop}, rationale=f"predict {prop} with the newest approved model")])

    def _find(self, request: str) -> Plan | Answer | None:
        match = re.search(
            r"\b(?:find|select|pick|choose|rank)\b\s+(?:me\s+)?(?:the\s+)?(?:(?P<k>\d+)\s+)?(?P<order>most|least|best|top)\s+(?P<adjective>\w+(?:[- ]\w+)?)",
            request,
            re.I,
        )
        if not match:
            return None
        objective = property_in(match["adjective"]) or property_in(request.split(" among ")[0]) or "pIC50"
        direction = "minimize" if match["order"].lower() == "least" else "maximize"
        source_match = re.search(r"\b(?:among|in|from)\s+(?P<source>\S+\.(?:csv|smi|txt|tsv)|the store|the knowledge store|known molecules)", request, re.I)
        if not source_match:
            return Answer(text=f"Say where the candidates are: a file (\"among hits.csv\") or \"in the store\". {HELP}", supported=False)
        args: dict[str, Any] = {"objective": {"property": objective, "direction": direction}, "top_k": int(match["k"] or 5)}
        source = source_match["source"]
        if source.lower() in ("the store", "the knowledge store", "known molecules"):
            args["from_store"] = True
        else:
            args["candidates_file"] = source
        constraints = []
        for prop_text, op, value in re.findall(rf"\b(logS|logD|pIC50|solubility|lipophilicity|potency)\s+(?:is\s+|of\s+)?({ABOVE}|{BELOW})\s+{NUMBER}", request, re.I):
            prop = property_in(prop_text) or prop_text
            constraints.append({"property": prop, "op": ">=" if re.fullmatch(ABOVE, op, re.I) else "<=", "value": float(value)})
        args["constraints"] = constraints
        steps = [PlannedStep(tool="select_experiments", args=args, rationale=f"rank candidates by {objective} under {len(constraints)} constraints")]
        if re.search(r"\b(?:and|then)\s+(?:measure|test|assay|make)\b", request, re.I):
            assays = sorted({ASSAY_OF[p] for p in [objective, *(c["property"] for c in constraints)] if p in ASSAY_OF})
            if not assays:
                return Answer(text=f"The lab can measure potency (pIC50) and solubility (logS), not {objective}.", supported=False)
            steps.append(PlannedStep(tool="run_experiment", args={"assays": assays}, refs={"smiles": StepRef(step=0, field="selected_smiles")}, rationale="make and measure the selected molecules"))
        return Plan(steps=steps)

    def _measure(self, request: str) -> Plan | Answer | None:
        match = re.match(r"^(?:please\s+)?(?:measure|run|test|assay)\s+(?P<what>.+?)\s+(?:of|for|on)\s+(?P<molecules>.+)$", request, re.I)
        if not match:
            return None
        assays = sorted({ASSAY_OF[p] for word, p in PROPERTY_WORDS if p in ASSAY_OF and re.search(rf"\b{re.escape(word)}\b", match["what"].lower())})
        if not assays:
            return Answer(text=f"The lab can measure potency (pIC50) and solubility (logS). {HELP}", supported=False)
        molecules, problem = self._molecules(match["molecules"])
        if problem:
            return problem
        return Plan(steps=[PlannedStep(tool="run_experiment", args={"smiles": molecules, "assays": assays}, rationale="make and measure")])

    def _summarize(self, request: str) -> Plan | Answer | None:
        match = re.match(r"^(?:what\s+do\s+(?:we|you)\s+know\s+about|summari[sz]e(?:\s+what\s+is\s+known\s+about)?|tell\s+me\s+about)\s+(?P<molecules>.+)$", request, re.I)
        if not match:
            return None
        molecules, problem = self._molecules(match["molecules"])
        if problem:
            return problem
        return Plan(steps=[PlannedStep(tool="query_knowledge", args={"molecules": molecules}, rationale="look up everything stored")])

    def _campaign(self, request: str) -> Plan | Answer | None:
        match = re.search(r"\b(?:run|start|launch)\s+(?:a\s+|an\s+)?(?:closed-loop\s+|active[- ]learning\s+)?campaign\b(?P<rest>.*)$", request, re.I)
        if not match:
            return None
        rest = match["rest"]
        objective = property_in(rest.split(" that ")[0]) or "pIC50"
        direction = "minimize" if re.search(r"\b(?:least|lowest|minimi[sz]e)\b", rest, re.I) else "maximize"
        args: dict[str, Any] = {"name": request[:200], "objective": {"property": objective, "direction": direction}}
        constraints = [
            {"property": property_in(p) or p, "op": ">=" if re.fullmatch(ABOVE, op, re.I) else "<=", "value": float(v)}
            for p, op, v in re.findall(rf"\b(logS|logD|pIC50|solubility|potency)\s+(?:is\s+|of\s+)?({ABOVE}|{BELOW})\s+{NUMBER}", rest, re.I)
        ]
        if not any(c["property"] == "logS" for c in constraints) and re.search(r"\b(?:stays?|remains?|are|is|still)\s+soluble\b", rest, re.I):
            constraints.append({"property": "logS", "op": ">=", "value": -5.0})
        args["constraints"] = constraints
        budget = re.search(r"\b(\d+)\s+(?:experiments|molecules|compounds)\b", rest, re.I)
        if budget:
            args["experiments"] = int(budget[1])
        source = re.search(r"\b(?:among|in|from)\s+(?P<source>\S+\.(?:csv|smi|txt|tsv)|the store|the knowledge store)", rest, re.I)
        if source and source["source"].lower() in ("the store", "the knowledge store"):
            args["from_store"] = True
        elif source:
            args["pool_file"] = source["source"]
        elif re.search(r"\bbace", rest, re.I):
            from knowledge.bundled import bundled_dataset

            args["pool_file"] = str(bundled_dataset("bace")[1])
        else:
            return Answer(text="Say where the campaign's candidates are: \"among pool.csv\" or \"in the store\". " + HELP, supported=False)
        return Plan(steps=[PlannedStep(tool="start_campaign", args=args, rationale="closed-loop campaign on the lab")])

    def _read(self, request: str) -> Plan | Answer | None:
        match = re.match(r"^(?:please\s+)?(?:read|extract(?:\s+\w+)*\s+from)\s+(?P<paths>.+?)(?:\s+and\s+(?:store|save|extract|record)\b.*)?$", request, re.I)
        if not match:
            return None
        paths = [p for p in re.split(r"\s*,\s*|\s+and\s+", match["paths"]) if p]
        if not all(p.lower().endswith(".pdf") or "/" in p or p.startswith(".") for p in paths):
            return None
        return Plan(steps=[PlannedStep(tool="read_literature", args={"paths": paths}, rationale="read the documents into the store")])

    @staticmethod
    def _molecules(text: str) -> tuple[list[str], Answer | None]:
        names = split_molecules(re.sub(r"^(?:the\s+)?(?:molecules?|compounds?)\s+", "", text.strip(), flags=re.I))
        resolved, unknown = [], []
        for name in names:
            try:
                resolved.append(resolve_molecule(name))
            except ToolInputError:
                unknown.append(name)
        if unknown or not resolved:
            return [], Answer(text=f"I could not turn {', '.join(repr(u) for u in unknown) or 'that'} into structures: give SMILES or common names. {HELP}", supported=False)
        return resolved, None

    # -- the answer -----------------------------------------------------------------------------------

    def _answer(self, request: str, history: list[StepRecord]) -> Answer:
        lines: list[str] = []
        ok = True
        labels = self._labels(request)
        for step in history:
            if step.status != "succeeded":
                ok = False
                lines.append(f"Step {step.index} ({step.tool}) {step.status}: {step.error}")
                continue
            lines.extend(_describe(step, labels))
        return Answer(text="\n".join(lines) or "Nothing was done.", supported=ok)

    @staticmethod
    def _labels(request: str) -> dict[str, str]:
        """Canonical SMILES -> the name the user wrote, so the answer speaks the user's language."""
        match = re.search(r"\b(?:of|for|on|about)\s+(?P<molecules>.+)$", request, re.I)
        labels: dict[str, str] = {}
        for name in split_molecules(match["molecules"]) if match else []:
            try:
                smiles = resolve_molecule(name)
            except ToolInputError:
                continue
            if name != smiles:
                labels[smiles] = name
        return labels


def _registry_name(text: str) -> str | None:
    from knowledge.properties import PropertyRegistry

    registry = PropertyRegistry.default()
    candidate = text.strip().split()[-1]
    return registry.get(candidate).name if candidate in registry else None


def _describe(step: StepRecord, labels: dict[str, str] | None = None) -> list[str]:
    output = step.output or {}
    labels = labels or {}

    def name(smiles: str) -> str:
        return f"{labels[smiles]} ({smiles})" if smiles in labels else smiles

    if step.tool == "predict_property":
        model = output["model"]
        lines = [f"Predicted {output['predictions'][0]['property']} ({output['predictions'][0]['unit']}) with the {model['kind']} model {model['version']}:"]
        lines += [f"- {name(p['smiles'])}: {p['value']:.2f} ± {p['uncertainty']:.2f}" for p in output["predictions"]]
        lines += [f"- {f['input']}: not predicted ({f['error']})" for f in output.get("failures", [])]
        return lines
    if step.tool == "select_experiments":
        lines = [f"Ranked {output['n_candidates']} candidates; {output['n_feasible']} meet the constraints. Selected:"]
        for c in output["selected"]:
            estimates = ", ".join(f"{prop} {e['value']:.2f} ± {e['uncertainty']:.2f} ({e['source']})" for prop, e in c["estimates"].items())
            lines.append(f"- {c['smiles']}: {estimates}")
        return lines
    if step.tool == "run_experiment":
        lines = [f"Measured on the {'simulated ' if output.get('simulated') else ''}lab ({output['makespan_h']:.1f} h of lab time):"]
        by_molecule: dict[str, list[str]] = {}
        for m in output["measurements"]:
            if m["property"] == "purity":
                continue
            flag = "" if m["status"] == "ok" else f" [{m['status']}]"
            by_molecule.setdefault(m["smiles"], []).append(f"{m['property']} {m['value']:.2f} ± {(m['uncertainty'] or 0):.2f}{flag}")
        lines += [f"- {name(smiles)}: {'; '.join(values)}" for smiles, values in by_molecule.items()]
        lines += [f"- {name(f['smiles'])}: not measured ({f['error_type']}: {f['error'][:120]})" for f in output.get("failures", [])]
        return lines
    if step.tool == "query_knowledge":
        found = ", ".join(output["molecules_found"]) or "these molecules"
        lines = [
            f"The store holds {len(output['measurements'])} measurements, {len(output['predictions'])} predictions"
            f" and {len(output['facts'])} literature facts for {found}."
        ]
        lines += [f"- measured {m['property']} = {m['value']:.2f} {m['unit'] or ''} ({m['source']})" for m in output["measurements"][:10]]
        lines += [f"- predicted {p['property']} = {p['value']:.2f} ± {(p['uncertainty'] or 0):.2f} ({p['detail']})" for p in output["predictions"][:10]]
        lines += [f"- literature: {f['property']} = {f['value']} {f['unit'] or ''} ({f['detail'][:120]})" for f in output["facts"][:10]]
        if output["molecules_unknown"]:
            lines.append(f"Not in the store: {', '.join(output['molecules_unknown'])}.")
        return lines
    if step.tool == "start_campaign":
        lines = [f"Campaign {output['campaign_id']}: {output['experiments']} molecules measured over {output['iterations']} iterations. Best:"]
        for entry in output["best"]:
            values = ", ".join(f"{k} {v:.2f}" for k, v in entry.items() if isinstance(v, float))
            lines.append(f"- {entry['smiles']}: {values}")
        world = output.get("world_eval")
        if world:
            lines.append(f"Against the simulated world's truth: {world['top2pct_found']} of the {world['top2pct_total']} true top-2% molecules found (random: {world['random_expected']:.1f}).")
        if output.get("report_path"):
            lines.append(f"Campaign report: {output['report_path']}")
        return lines
    if step.tool == "read_literature":
        lines = []
        for d in output["documents"]:
            flagged = f"; flagged pages {', '.join(str(p) for p, _ in d['flagged_pages'])}" if d["flagged_pages"] else ""
            lines.append(f"Read {d['title'] or d['path']} ({d['pages']} pages): {len(d['facts'])} property values{flagged}")
            for f in d["facts"][:8]:
                sigma = f" ± {f['uncertainty']:g}" if f.get("uncertainty") is not None else ""
                value = "nd" if f["value"] is None else f"{f['qualifier'] if f['qualifier'] not in ('=', 'range') else ''}{f['value']:g}{sigma}"
                lines.append(f"- {f['compound'] or '?'}: {f['property']} {value} {f['unit']} (p. {f['page']})")
        lines += [f"Could not read {u['input']}: {u['error']}" for u in output.get("unreadable", [])]
        return lines
    if step.tool == "summarize_results":
        return [output["markdown"]]
    if step.tool == "register_molecules":
        return [f"Registered {len(output['molecules'])} molecules; {len(output['invalid'])} invalid."]
    return [f"{step.tool}: done."]
