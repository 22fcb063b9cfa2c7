"""The offline planner: deterministic, no network, the default when no LLM endpoint is configured.

It reads a request with a small semantic parser (``agent.planners.request_parser``): the intent (predict, select
or rank, measure, look up, read, campaign, or decline) from keyword classes and question forms, and each slot on its
own (molecules, properties, comparisons, counts, the candidate source, whether to measure the result). So
"What's the aqueous solubility of naproxen?", "Give me logS estimates for these: CCO, c1ccccc1O" and "Which 3
compounds in hits.csv are the most soluble?" plan the same tools as the canonical forms. A request it cannot serve
gets an answer naming the part it did not understand (an unknown molecule, a property without a model, a capability
AtomLoop does not have) and what it can do.

Text from documents or tools never reaches this planner as instructions: it plans from the user's request only, and
reads tool outputs only to write the answer.
"""

from __future__ import annotations

import re
from typing import Any

from agent.campaign_spec import ASSAY_FOR
from agent.plan import Answer, Plan, PlannedStep, StepRecord, StepRef
from agent.planners.request_parser import ParsedRequest, parse_request

ASSAY_OF = {**ASSAY_FOR, "IC50": "potency"}  # the potency assay reports pIC50, the measure of an IC50
SHIPPED_MODELS = ("logS", "logD", "pIC50", "hydration_free_energy")  # bundled datasets: a model without the store
DEFAULT_TOP_K = 5
MAX_PREDICTED_PROPERTIES = 4

HELP = (
    "Offline I can: predict a property of molecules (\"predict the solubility of aspirin and caffeine\"); "
    "find the best candidates in a file or in the store under an objective and constraints (\"find the 5 most potent "
    "BACE-1 inhibitors among data/bace_pic50.csv with logS above -5 and measure them\"); run an assay on molecules "
    "(\"measure the potency of CCO\"); summarise what is known about a molecule (\"what do we know about aspirin\"); "
    "read papers (\"read papers/kinase.pdf\"); and run a closed-loop campaign (\"run a campaign to find potent BACE-1 inhibitors that stay soluble\"). "
    "Configure an LLM endpoint (ATOMLOOP_LLM__BASE_URL) for other requests."
)


def shown_property(name: str) -> str:
    """A registry name as people write it (``hydration_free_energy`` -> hydration free energy)."""
    return name.replace("_", " ")


class OfflinePlanner:
    name = "offline"

    def plan(self, objective: str, history: list[StepRecord]) -> Plan | Answer:
        request = " ".join(objective.split())
        if history:
            return self._answer(request, history)
        parsed = parse_request(request)
        builders = {
            "decline": self._decline, "campaign": self._campaign, "read": self._read, "dock": self._dock, "free_energy": self._free_energy, "select": self._select,
            "lookup": self._lookup, "measure": self._measure, "predict": self._predict, "unknown": self._unknown,
        }
        return builders[parsed.intent](parsed)

    # -- request forms ------------------------------------------------------------------------------

    def _predict(self, parsed: ParsedRequest) -> Plan | Answer:
        properties = list(parsed.properties)
        if not properties:
            what = ", ".join(repr(w) for w in parsed.unknown_properties) or (repr(parsed.property_slot) if parsed.property_slot else None)
            if what is None and not parsed.molecules:
                return self._unknown(parsed)
            told = f"I do not know the property {what}" if what else "I could not tell which property you want"
            return _refusal(f"{told}. {_predictable()}")
        problem = _molecule_problem(parsed)
        if problem is not None:
            return problem
        steps = [
            PlannedStep(tool="predict_property", args={"smiles": [m.smiles for m in parsed.molecules], "property": name},
                        rationale=f"predict {name} with the newest approved model")
            for name in properties[:MAX_PREDICTED_PROPERTIES]
        ]
        return Plan(steps=steps)

    def _dock(self, parsed: ParsedRequest) -> Plan | Answer:
        from tools.docking.targets import bundled_targets

        if parsed.dock_target is None:
            shipped = ", ".join(f"{spec.name} ({spec.description.split(';')[0]})" for spec in bundled_targets().values())
            return _refusal(f"Say which target to dock to: {shipped}, a target added with `atomloop dock targets add`, or a receptor PDB file "
                            "(with a box: use `atomloop dock RECEPTOR LIGANDS --autobox-ligand REF.sdf`).")
        problem = _molecule_problem(parsed)
        if problem is not None:
            return problem
        return Plan(steps=[PlannedStep(tool="dock_molecules", args={"target": parsed.dock_target, "molecules": [m.smiles for m in parsed.molecules]},
                                       rationale=f"dock {len(parsed.molecules)} molecule(s) to {parsed.dock_target} with Vina")])

    def _free_energy(self, parsed: ParsedRequest) -> Plan | Answer:
        from agent.planners.request_parser import EXPLICIT_WATER

        problem = _molecule_problem(parsed)
        if problem is not None:
            return problem
        solvent = "tip3p" if EXPLICIT_WATER.search(parsed.text) else "obc2"
        return Plan(steps=[PlannedStep(tool="compute_free_energy", args={"molecules": [m.smiles for m in parsed.molecules], "solvent": solvent},
                                       rationale=f"hydration free energies of {len(parsed.molecules)} molecule(s) by alchemical calculations in {solvent}")])

    def _select(self, parsed: ParsedRequest) -> Plan | Answer:
        if parsed.candidates_file is None and not parsed.from_store:
            return _refusal(f"Say where the candidates are: a file (\"among hits.csv\") or \"in the store\". {HELP}")
        objective = parsed.objective or "pIC50"
        direction = "minimize" if parsed.minimize else "maximize"
        args: dict[str, Any] = {"objective": {"property": objective, "direction": direction},
                                "top_k": parsed.count or DEFAULT_TOP_K}
        if parsed.candidates_file is not None:
            args["candidates_file"] = parsed.candidates_file
        else:
            args["from_store"] = True
        args["constraints"] = [c.model_dump() for c in parsed.comparisons if c.property != objective]
        steps = [PlannedStep(tool="select_experiments", args=args,
                             rationale=f"rank candidates by {objective} under {len(args['constraints'])} constraints")]
        if parsed.then_measure:
            wanted = [objective, *(c["property"] for c in args["constraints"])]
            assays = sorted({ASSAY_OF[p] for p in wanted if p in ASSAY_OF})
            if not assays:
                return _refusal(f"The lab can measure potency (pIC50) and solubility (logS), not {shown_property(objective)}.")
            steps.append(PlannedStep(tool="run_experiment", args={"assays": assays}, refs={"smiles": StepRef(step=0, field="selected_smiles")},
                                     rationale="make and measure the selected molecules"))
        return Plan(steps=steps)

    def _measure(self, parsed: ParsedRequest) -> Plan | Answer:
        cannot = [shown_property(p) for p in parsed.properties if p not in ASSAY_OF] + list(parsed.unknown_properties)
        assays = sorted({ASSAY_OF[p] for p in parsed.properties if p in ASSAY_OF})
        if cannot or not assays:
            told = f", not {' or '.join(cannot)}" if cannot else "; say which (\"measure the potency of CCO\")"
            return _refusal(f"The lab can measure potency (pIC50) and solubility (logS){told}. {HELP}")
        problem = _molecule_problem(parsed)
        if problem is not None:
            return problem
        return Plan(steps=[PlannedStep(tool="run_experiment", args={"smiles": [m.smiles for m in parsed.molecules], "assays": assays},
                                       rationale="make and measure")])

    def _lookup(self, parsed: ParsedRequest) -> Plan | Answer:
        problem = _molecule_problem(parsed)
        if problem is not None:
            return problem
        return Plan(steps=[PlannedStep(tool="query_knowledge", args={"molecules": [m.smiles for m in parsed.molecules]},
                                       rationale="look up everything stored")])

    def _campaign(self, parsed: ParsedRequest) -> Plan | Answer:
        objective = parsed.objective or "pIC50"
        args: dict[str, Any] = {"name": parsed.text[:200],
                                "objective": {"property": objective, "direction": "minimize" if parsed.minimize else "maximize"}}
        args["constraints"] = [c.model_dump() for c in parsed.comparisons if c.property != objective]
        if parsed.budget is not None:
            args["experiments"] = parsed.budget
        if parsed.candidates_file is not None:
            args["pool_file"] = parsed.candidates_file
        elif parsed.from_store:
            args["from_store"] = True
        elif parsed.mentions_bace:
            from knowledge.bundled import bundled_dataset

            args["pool_file"] = str(bundled_dataset("bace")[1])
        else:
            return _refusal("Say where the campaign's candidates are: \"among pool.csv\" or \"in the store\". " + HELP)
        return Plan(steps=[PlannedStep(tool="start_campaign", args=args, rationale="closed-loop campaign on the lab")])

    def _read(self, parsed: ParsedRequest) -> Plan | Answer:
        return Plan(steps=[PlannedStep(tool="read_literature", args={"paths": list(parsed.pdf_paths)},
                                       rationale="read the documents into the store")])

    def _decline(self, parsed: ParsedRequest) -> Answer:
        reason = parsed.declined or "that is not something I can do"
        return _refusal(f"I cannot do that offline: {reason}. {HELP}")

    def _unknown(self, parsed: ParsedRequest) -> Answer:
        if parsed.molecules:
            names = ", ".join(m.name or m.text for m in parsed.molecules)
            return _refusal(f"I found {names} in your request but not what to do with it: predict a property, measure "
                            f"it, or look up what is known. {HELP}")
        if parsed.unresolved or parsed.invalid_smiles:
            problem = _molecule_problem(parsed)
            assert problem is not None
            return problem
        return _refusal(f"I did not understand that request: I found no molecule, property, file or lab action in it. {HELP}")

    # -- the answer -----------------------------------------------------------------------------------

    def _answer(self, request: str, history: list[StepRecord]) -> Answer:
        parsed = parse_request(request)
        labels = _labels(parsed)
        lines = [f"(I read {m.text!r} as {m.name}.)" for m in parsed.molecules if m.corrected]
        ok = True
        for step in history:
            if step.status != "succeeded":
                ok = False
                if step.tool == "predict_property" and "property" in step.args:
                    lines.append(f"I could not predict {shown_property(str(step.args['property']))}: {step.error}")
                else:
                    lines.append(f"Step {step.index} ({step.tool}) {step.status}: {step.error}")
                continue
            lines.extend(_describe(step, labels))
            if step.tool == "predict_property" and COMPARES.search(request):
                lines.extend(_comparison(step.output or {}, labels))
        return Answer(text="\n".join(lines) or "Nothing was done.", supported=ok)


COMPARES = re.compile(r"\b(?:which|more|less|than|compare|comparison|higher|lower|rank|versus|vs)\b", re.I)


def _labels(parsed: ParsedRequest) -> dict[str, str]:
    """Canonical SMILES -> the molecule as the user named it, so the answer speaks the user's language."""
    labels: dict[str, str] = {}
    for mention in parsed.molecules:
        label = mention.name if mention.name is not None else mention.text
        if label != mention.smiles:
            labels[mention.smiles] = label
    return labels


def _comparison(output: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """One line saying which molecule the predictions put highest and lowest (for "which is more soluble")."""
    predictions = sorted(output.get("predictions", []), key=lambda p: p["value"], reverse=True)
    if len(predictions) < 2:
        return []
    high, low = predictions[0], predictions[-1]
    overlap = high["value"] - high["uncertainty"] <= low["value"] + low["uncertainty"]
    caveat = " (within the uncertainties: not a clear difference)" if overlap else ""
    return [f"Highest {high['property']}: {labels.get(high['smiles'], high['smiles'])} ({high['value']:.2f}); lowest: "
            f"{labels.get(low['smiles'], low['smiles'])} ({low['value']:.2f}){caveat}."]


def _refusal(text: str) -> Answer:
    return Answer(text=text, supported=False)


def _predictable() -> str:
    shipped = ", ".join(f"{name} ({shown_property(name)})" if "_" in name else name for name in SHIPPED_MODELS)
    return (f"Models ship for {shipped}; any other property in the registry is predicted once the store holds a model "
            "of it (`atomloop models train --property NAME` on imported measurements).")


def _molecule_problem(parsed: ParsedRequest) -> Answer | None:
    """A refusal naming the texts that are no structure, or saying that no molecule was given (None: all is well)."""
    from tools.names import COMMON_NAMES

    problems = [f"{text!r} is not a valid SMILES" for text in parsed.invalid_smiles]
    problems += [f"{text!r} is not a name I know offline" for text in parsed.unresolved]
    if problems:
        return _refusal(f"I could not turn {', '.join(repr(t) for t in (*parsed.invalid_smiles, *parsed.unresolved))} into "
                        f"structures ({'; '.join(problems)}): give SMILES or common names (I know {len(COMMON_NAMES)} "
                        f"offline, such as aspirin and caffeine). {HELP}")
    if not parsed.molecules:
        return _refusal(f"I found no molecule in your request: give SMILES or common names. {HELP}")
    return None


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
    if step.tool == "dock_molecules":
        lines = [f"Docked to {output['target']} with {output['engine']} (kcal/mol, lower binds better):"]
        for m in output["docked"]:
            crystal = f"; {m['rmsd_to_crystal']:.2f} Å from the crystal pose" if m.get("rmsd_to_crystal") is not None else ""
            lines.append(f"- {name(m['smiles'])}: {m['score']:.2f}{crystal} (poses: {m['pose_file']})")
        lines += [f"- {f['input']}: not docked ({f['error']})" for f in output.get("failures", [])]
        if len(output["docked"]) > 1:
            lines.append(f"Best: {name(output['docked'][0]['smiles'])} ({output['docked'][0]['score']:.2f}). Vina scores rank poses; they are rough guides to affinity.")
        return lines
    if step.tool == "compute_free_energy":
        lines = [f"Hydration free energies ({output['method']}; kcal/mol, ± one statistical standard error):"]
        for r in output["results"]:
            caveat = f" (warning: {'; '.join(r['warnings'])})" if r["warnings"] else ""
            lines.append(f"- {name(r['smiles'])}: {r['value']:.2f} ± {r['uncertainty']:.2f}{caveat}")
        lines += [f"- {f['input']}: not computed ({f['error']})" for f in output.get("failures", [])]
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
