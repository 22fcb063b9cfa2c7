"""The offline planner's parser: each slot filled on its own, wherever it stands, and the intent from keyword
classes. The phrasings here are not those of benchmarks/agent_requests_heldout.yaml (that list stays unseen)."""

from __future__ import annotations

import pytest

from agent.planners.request_parser import Comparison, parse_request
from knowledge.chem import canonicalize


def smiles_of(text: str) -> list[str]:
    return [m.smiles for m in parse_request(text).molecules]


def test_molecules_are_found_wherever_they_stand_and_punctuation_around_them_is_dropped() -> None:
    phenol, ethanol, aspirin = (canonicalize(s).smiles for s in ("Oc1ccccc1", "CCO", "CC(=O)Oc1ccccc1C(=O)O"))
    assert smiles_of("solubility, please: 'CCO', \"c1ccccc1O\"; and aspirin.") == [ethanol, phenol, aspirin]
    assert smiles_of("is (c1ccccc1O) more soluble than CCO?") == [phenol, ethanol]
    assert smiles_of("what about aspirin's logD") == [aspirin]
    # one molecule named twice (a name and its SMILES) is one molecule
    assert smiles_of("logS of aspirin, CC(=O)Oc1ccccc1C(=O)O") == [aspirin]


def test_a_solvent_in_the_request_is_no_molecule_asked_about() -> None:
    assert [m.name for m in parse_request("how soluble is theophylline in water").molecules] == ["theophylline"]
    assert [m.name for m in parse_request("water solubility of urea").molecules] == ["urea"]


def test_misspelt_names_are_read_as_the_closest_known_name_and_say_so() -> None:
    (mention,) = parse_request("predict the logD of warfarine").molecules
    assert (mention.name, mention.text, mention.corrected) == ("warfarin", "warfarine", True)
    assert parse_request("predict the logD of warfarin").molecules[0].corrected is False
    # ordinary words are never read as names, however close
    assert parse_request("what is the weather in Basel").molecules == ()


def test_texts_that_are_no_structure_are_named_not_dropped() -> None:
    parsed = parse_request("estimate the solubility of quinine, fantasimab and C1=CC(")
    assert [m.name for m in parsed.molecules] == ["quinine"]
    assert parsed.unresolved == ("fantasimab",) and parsed.invalid_smiles == ("C1=CC(",)
    # target names, PDB codes and units are not molecules
    parsed = parse_request("how potent is imatinib against ABL1 (1IEP) and COX-2 in kcal/mol")
    assert [m.name for m in parsed.molecules] == ["imatinib"] and parsed.unresolved == () and parsed.invalid_smiles == ()


@pytest.mark.parametrize(
    ("request_text", "properties"),
    [
        ("how lipophilic is nicotine", ("logD",)),
        ("aqueous solubility and potency of CCO", ("logS", "pIC50")),
        ("free energy of hydration for acetone", ("hydration_free_energy",)),
        ("BACE-1 potency for CCN", ("pIC50",)),
        ("pKa of phenol", ("pKa",)),
        ("the melting points of urea", ("melting_point",)),
    ],
)
def test_properties_come_from_the_registry_and_the_words_chemists_use(request_text: str, properties: tuple[str, ...]) -> None:
    assert parse_request(request_text).properties == properties


def test_comparisons_attach_to_the_property_before_them() -> None:
    parsed = parse_request("pick 4 potent ones from hits.csv where logS stays above -4.5 and logD is at most 3")
    assert parsed.comparisons == (Comparison(property="logS", op=">=", value=-4.5), Comparison(property="logD", op="<=", value=3.0))
    assert parsed.objective == "pIC50" and parsed.count == 4 and parsed.minimize is False
    assert parse_request("compounds in the store with pIC50 ≥ 7.5").comparisons == (Comparison(property="pIC50", op=">=", value=7.5),)
    # "at least" is a bound, not a direction
    assert parse_request("the six most potent in hits.csv with logS of at least -6").minimize is False
    assert parse_request("the two least lipophilic in the store").minimize is True


@pytest.mark.parametrize(
    ("request_text", "intent"),
    [
        ("could you tell me the predicted logS of caffeine", "predict"),
        ("caffeine: how soluble?", "predict"),
        ("which of these is more potent, CCO or CCN?", "predict"),
        ("shortlist 10 soluble candidates from library.smi", "select"),
        ("top three BACE inhibitors in the database", "select"),
        ("please assay CCO for solubility", "measure"),
        ("send CCN to the lab for a potency assay", "measure"),
        ("anything stored about quinine?", "lookup"),
        ("have we tested nicotine yet?", "lookup"),
        ("read ~/papers/ and store the values", "read"),
        ("kick off an active learning campaign on pool.csv", "campaign"),
        ("dock caffeine into 4EY7", "dock"),
        ("which of these dock best to 4IVT: CCO, CCN", "dock"),
        ("run an FEP between aspirin and salicylic acid", "decline"),
        ("synthesise 5 g of aspirin", "decline"),
        ("book me a flight", "unknown"),
    ],
)
def test_the_intent_comes_from_keyword_classes_and_question_forms(request_text: str, intent: str) -> None:
    assert parse_request(request_text).intent == intent


def test_a_negated_lab_verb_is_not_a_request_to_measure() -> None:
    parsed = parse_request("how soluble is caffeine? please don't measure anything")
    assert parsed.intent == "predict" and parsed.then_measure is False


def test_sources_counts_budgets_and_follow_ups() -> None:
    parsed = parse_request("from ./libs/set_1.csv choose the 3 most soluble, then assay them")
    assert (parsed.candidates_file, parsed.count, parsed.then_measure) == ("./libs/set_1.csv", 3, True)
    parsed = parse_request("start a closed-loop campaign in the store for potent molecules, 40 experiments")
    assert parsed.from_store and parsed.budget == 40 and parsed.objective == "pIC50"
    assert parse_request("read papers/a.pdf and papers/b.pdf").pdf_paths == ("papers/a.pdf", "papers/b.pdf")


def test_bounds_written_after_their_number_or_as_no_worse_than() -> None:
    assert parse_request("store molecules with pIC50 of 6.5 or higher").comparisons == (Comparison(property="pIC50", op=">=", value=6.5),)
    assert parse_request("hits.csv, logD 2 or lower").comparisons == (Comparison(property="logD", op="<=", value=2.0),)
    assert parse_request("in the store, solubility no worse than -4").comparisons == (Comparison(property="logS", op=">=", value=-4.0),)
    assert parse_request("rank the database's compounds by logD").from_store is True


@pytest.mark.parametrize(
    ("request_text", "intent"),
    [
        ("does the store hold anything on nicotine", "lookup"),
        ("what did the lab measure for CCO", "lookup"),
        ("can the lab give me the solubility of urea", "measure"),
        ("experimental potency for CCN, please", "measure"),
        ("propose a synthetic route to warfarin", "decline"),
    ],
)
def test_more_ways_of_asking(request_text: str, intent: str) -> None:
    assert parse_request(request_text).intent == intent


def test_an_english_word_made_of_atom_letters_is_no_smiles() -> None:
    parsed = parse_request("quick one: logS of CCO, no rush")
    assert [m.smiles for m in parsed.molecules] == ["CCO"] and parsed.invalid_smiles == ()


@pytest.mark.parametrize(
    ("request_text", "target", "molecules"),
    [
        ("dock imatinib to 1IEP", "1IEP", 1),
        ("which of these dock best to 4IVT: CCO, c1ccccc1O, aspirin", "4IVT", 3),
        ("dock aspirin into the BACE-1 active site", "4IVT", 1),
        ("dock caffeine into Abl", "1IEP", 1),
        ("Vina docking of CCO against receptor.pdb", "receptor.pdb", 1),
        ("dock nicotine into 4ey7", "4EY7", 1),
        ("dock caffeine", None, 1),
    ],
)
def test_a_docking_request_names_its_target_and_the_target_is_no_molecule(request_text: str, target: str | None, molecules: int) -> None:
    parsed = parse_request(request_text)
    assert (parsed.intent, parsed.dock_target, len(parsed.molecules), parsed.unresolved) == ("dock", target, molecules, ())


def test_a_negated_docking_verb_is_not_a_docking_request() -> None:
    parsed = parse_request("do not dock anything; predict the logS of aspirin")
    assert parsed.intent == "predict"
