"""The offline planner's plans and answers for requests phrased as people write them, and its precise refusals.
(Whole runs through the graph are in test_ask.py; the parser's slots in test_request_parser.py.)"""

from __future__ import annotations

from typing import Any

from agent.plan import Answer, Plan, StepRecord, StepRef
from agent.planners.offline import OfflinePlanner
from knowledge.chem import canonicalize

NICOTINE, QUININE = (canonicalize(s).smiles for s in ("CN1CCC[C@H]1c1cccnc1", "COc1ccc2nccc([C@@H](O)[C@@H]3C[C@@H]4CCN3C[C@@H]4C=C)c2c1"))


def plan(request: str) -> Plan:
    decision = OfflinePlanner().plan(request, [])
    assert isinstance(decision, Plan), decision
    return decision


def refusal(request: str) -> str:
    decision = OfflinePlanner().plan(request, [])
    assert isinstance(decision, Answer) and decision.supported is False, decision
    return decision.text


def test_a_question_about_a_property_is_a_prediction() -> None:
    (step,) = plan("What would the logD of nicotine and quinine be?").steps
    assert (step.tool, step.args) == ("predict_property", {"smiles": [NICOTINE, QUININE], "property": "logD"})
    steps = plan("solubility and lipophilicity for CCO, please").steps
    assert [(s.tool, s.args["property"], s.args["smiles"]) for s in steps] == [("predict_property", "logS", ["CCO"]), ("predict_property", "logD", ["CCO"])]


def test_a_shortlist_from_a_file_with_a_bound_then_an_assay() -> None:
    select, measure = plan("shortlist 4 soluble ones from hits.csv with pIC50 at least 6, then test them").steps
    assert select.tool == "select_experiments" and select.args == {
        "objective": {"property": "logS", "direction": "maximize"},
        "top_k": 4,
        "candidates_file": "hits.csv",
        "constraints": [{"property": "pIC50", "op": ">=", "value": 6.0}],
    }
    assert measure.tool == "run_experiment" and measure.args == {"assays": ["potency", "solubility"]}
    assert measure.refs == {"smiles": StepRef(step=0, field="selected_smiles")}


def test_a_lab_request_in_other_words() -> None:
    (step,) = plan("could you send quinine to the lab for a solubility assay?").steps
    assert (step.tool, step.args) == ("run_experiment", {"smiles": [QUININE], "assays": ["solubility"]})


def test_refusals_name_the_part_they_did_not_understand() -> None:
    assert "'fantasimab' is not a name I know offline" in refusal("predict the logS of fantasimab and CCO")
    assert "'C1CC(' is not a valid SMILES" in refusal("what do we know about C1CC(")
    assert "I do not know the property 'toxicity'" in refusal("estimate the toxicity of aspirin")
    assert "not logD" in refusal("measure the logD of CCO")
    assert "Say which target to dock to: 1IEP" in refusal("dock nicotine somewhere")
    assert "I found no molecule" in refusal("predict the solubility of it")
    assert "I found quinine in your request but not what to do with it" in refusal("quinine")
    assert "no molecule, property, file or lab action" in refusal("book me a table for two")


def _predicted(*rows: tuple[str, float, float]) -> StepRecord:
    output: dict[str, Any] = {
        "predictions": [{"smiles": s, "property": "logS", "unit": "log10(mol/L)", "value": v, "uncertainty": u} for s, v, u in rows],
        "failures": [],
        "model": {"kind": "fingerprint", "version": "v1"},
    }
    return StepRecord(index=0, tool="predict_property", args={"smiles": [r[0] for r in rows], "property": "logS"}, status="succeeded", output=output)


def test_the_answer_names_molecules_as_the_user_did_and_says_which_is_higher() -> None:
    request = "which is more soluble, nicotin or quinine?"
    answer = OfflinePlanner().plan(request, [_predicted((NICOTINE, 0.6, 0.3), (QUININE, -2.9, 0.4))])
    assert isinstance(answer, Answer) and answer.supported
    lines = answer.text.splitlines()
    assert lines[0] == "(I read 'nicotin' as nicotine.)"
    assert f"- nicotine ({NICOTINE}): 0.60 ± 0.30" in lines
    assert lines[-1] == "Highest logS: nicotine (0.60); lowest: quinine (-2.90)."
    close = OfflinePlanner().plan("is nicotine more soluble than quinine", [_predicted((NICOTINE, 0.1, 0.5), (QUININE, -0.2, 0.5))])
    assert isinstance(close, Answer) and close.text.endswith("(within the uncertainties: not a clear difference).")


def test_a_failed_prediction_says_which_property_could_not_be_predicted() -> None:
    failed = StepRecord(index=0, tool="predict_property", args={"smiles": ["CCO"], "property": "melting_point"}, status="failed",
                        error="no bundled dataset for melting_point; bundled: esol (logS)")
    answer = OfflinePlanner().plan("what's the melting point of ethanol", [failed])
    assert isinstance(answer, Answer) and not answer.supported
    assert answer.text == "I could not predict melting point: no bundled dataset for melting_point; bundled: esol (logS)"


def test_a_selection_measures_its_picks_only_when_asked_and_not_when_told_not_to() -> None:
    assert [s.tool for s in plan("pick the 3 most soluble in hits.csv and assay them").steps] == ["select_experiments", "run_experiment"]
    assert [s.tool for s in plan("pick the 3 most soluble in hits.csv, but do not measure them yet").steps] == ["select_experiments"]


def test_a_docking_request_is_one_dock_molecules_step() -> None:
    (step,) = plan("which of these dock best to BACE-1: CCO, aspirin").steps
    assert (step.tool, step.args) == ("dock_molecules", {"target": "4IVT", "molecules": ["CCO", "CC(=O)Oc1ccccc1C(=O)O"]})
