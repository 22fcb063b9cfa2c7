"""Medicinal-chemistry results tables (``medchem_tables.py``): the held-out and development layouts read as a new
user would (``read_pdf`` with the defaults) give at least 80% of their numeric facts with compound label and value,
and each reader feature they exercise gives the value it should."""

from __future__ import annotations

import json
from pathlib import Path

import medchem_tables as medchem  # beside this file (conftest.py puts this folder on sys.path)
import pytest

from knowledge.properties import PropertyRegistry
from knowledge.units import UnitConverter
from tools.literature.models import ExtractedFact, ReadDocument
from tools.literature.pdf import read_pdf

pymupdf = pytest.importorskip("pymupdf")

LAYOUTS = {layout.name: layout for layout in (*medchem.HELD_OUT, *medchem.DEVELOPMENT)}


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory, unicode_font: str, registry: PropertyRegistry, units: UnitConverter) -> dict[str, ReadDocument]:
    folder = tmp_path_factory.mktemp("medchem_tables")
    return {name: read_pdf(layout.build(folder, unicode_font), properties=registry, units=units) for name, layout in LAYOUTS.items()}


def _read(document: ReadDocument) -> list[object]:
    return [
        medchem.ReadFact(f.compound, f.property, f.qualifier, f.value, f.value_high, f.unit, tuple(sorted(f.conditions.items())))
        for f in document.facts
        if f.source == "table"
    ]


def _one(document: ReadDocument, compound: str, prop: str, **conditions: str) -> ExtractedFact:
    found = [f for f in document.facts if f.compound == compound and f.property == prop and all(f.conditions.get(k) == v for k, v in conditions.items())]
    assert len(found) == 1, (compound, prop, conditions, found)
    return found[0]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_at_least_80_percent_of_the_numeric_facts_come_out_with_label_and_value(documents: dict[str, ReadDocument], name: str) -> None:
    result = medchem.score(name, _read(documents[name]), LAYOUTS[name].expected)
    assert result.recall >= 0.8, (name, result.missed)
    assert result.precision >= 0.9, (name, result.spurious)


def test_a_two_level_header_pairs_the_spanning_property_with_each_sub_column(documents: dict[str, ReadDocument]) -> None:
    document = documents["gdocs_export"]
    human = _one(document, "1", "clearance", species="human")
    mouse = _one(document, "1", "clearance", species="mouse")
    assert (human.value, mouse.value, human.unit) == (12.0, 35.0, "uL/min/mg")
    assert mouse.header == "CLint (uL/min/mg) MLM"
    # a single-level column merged down through both header rows names no species
    assert _one(document, "1", "half_life").conditions == {}


def test_a_body_continued_on_the_next_page_without_its_header_joins_the_table(documents: dict[str, ReadDocument]) -> None:
    document = documents["gdocs_export"]
    assert len(document.tables) == 1 and document.tables[0].pages == [1, 2]
    fact = _one(document, "9b", "clearance", species="mouse")
    assert (fact.page, fact.value) == (2, 37.0)


def test_footnote_letters_glued_to_values_and_marks_after_labels_are_kept_apart(documents: dict[str, ReadDocument]) -> None:
    document = documents["gdocs_export"]
    glued = _one(document, "2b", "clearance", species="mouse")
    assert (glued.value, glued.footnotes) == (142.0, ("b",))
    starred = _one(document, "7", "IC50")
    assert (starred.value, starred.footnotes) == (6.2, ("*",))


def test_a_cell_with_a_value_and_a_condition_gives_both(documents: dict[str, ReadDocument]) -> None:
    document = documents["gdocs_export"]
    fact = _one(document, "2b", "kinetic_solubility")
    assert (fact.qualifier, fact.value, fact.unit, fact.conditions) == ("<", 5.0, "uM", {"pH": "7.4"})
    assert _one(document, "2b", "logD").conditions == {"pH": "7.4"}  # 'logD7.4' in the header
    assert _one(document, "1", "kinetic_solubility").conditions == {}


def test_a_range_and_ascii_micro_units_are_converted(documents: dict[str, ReadDocument]) -> None:
    document = documents["gdocs_export"]
    fact = _one(document, "3", "IC50")
    assert (fact.qualifier, fact.value, fact.value_high, fact.unit, fact.unit_as_written) == ("range", 1200.0, 3400.0, "nM", "uM")
    assert fact.conditions == {"target": "EGFR"}
    assert _one(document, "1", "pIC50").conditions == {"target": "hERG"}
    papp = _one(document, "1", "permeability")
    assert (papp.value, papp.unit) == (12.5, "1e-6 cm/s")


def test_a_column_the_registry_does_not_know_is_kept_with_its_header(documents: dict[str, ReadDocument]) -> None:
    le = _one(documents["journal_booktabs"], "12", "LE")
    assert (le.value, le.unit, le.registered, le.header) == (0.35, "", False, "LE")
    cc50 = _one(documents["landscape_two_tables"], "MMV-101", "HepG2 CC50")
    assert (cc50.qualifier, cc50.value, cc50.unit, cc50.registered) == (">", 50.0, "µM", False)
    assert all(f.registered for f in documents["landscape_two_tables"].facts if f.property == "EC50")
    # a column of words ('this work', 'ref 14') gives no fact
    assert not [f for f in documents["landscape_two_tables"].facts if f.property.startswith("Ref")]


def test_journal_values_mean_sd_and_thousands_with_a_space(documents: dict[str, ReadDocument]) -> None:
    document = documents["journal_booktabs"]
    ki = _one(document, "16", "Ki")
    assert (ki.value, ki.uncertainty, ki.conditions) == (1250.0, 180.0, {"target": "BRD4"})
    ic50 = _one(document, "14", "IC50")
    assert (ic50.qualifier, ic50.value, ic50.conditions) == (">", 10000.0, {})
    ec50 = _one(document, "12", "EC50")
    assert (ec50.value, ec50.uncertainty, ec50.conditions) == (450.0, 80.0, {"target": "MV4-11"})
    assert _one(document, "13", "IC50").qualifier == "nd"


def test_two_tables_on_one_page_keep_their_own_headers(documents: dict[str, ReadDocument]) -> None:
    document = documents["landscape_two_tables"]
    assert [t.caption[:8] for t in document.tables if t.caption] == ["Table 3.", "Table 4."]
    assert _one(document, "MMV-102", "fu").value == 0.011
    assert _one(document, "MMV-103", "clearance", species="rat").qualifier == "<"
    assert _one(document, "MMV-101", "kinetic_solubility").conditions == {"pH": "7.4"}


def test_the_conditions_reach_the_tool_output(documents: dict[str, ReadDocument]) -> None:
    from tools.literature.read_literature import LiteratureFact

    fact = _one(documents["gdocs_export"], "2b", "kinetic_solubility").model_dump(mode="json")
    output = LiteratureFact(**{k: fact[k] for k in LiteratureFact.model_fields})
    assert output.conditions == {"pH": "7.4"} and output.registered


def test_atomloop_read_stores_each_facts_conditions_and_whether_its_property_is_registered(
    tmp_path: Path, unicode_font: str
) -> None:
    from sqlmodel import select
    from typer.testing import CliRunner

    from agent.app import build_app
    from agent.cli import cli
    from knowledge.models import Fact

    path = LAYOUTS["gdocs_export"].build(tmp_path, unicode_font)
    journal = LAYOUTS["journal_booktabs"].build(tmp_path, unicode_font)
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "init"]).exit_code == 0
    assert runner.invoke(cli, ["read", str(path), str(journal), "--json"]).exit_code == 0
    with build_app().store.session() as session:
        facts = session.exec(select(Fact)).all()
        clearance = {f.conditions["species"]: f.value for f in facts if f.compound == "1" and f.property == "clearance" and f.conditions}
        assert clearance == {"human": 12.0, "mouse": 35.0}  # the same compound, property and row: two facts, kept apart
        ligand_efficiency = [f for f in facts if f.property == "LE"]
        assert ligand_efficiency and all(f.registered is False for f in ligand_efficiency)
        assert all(f.registered for f in facts if f.property == "clearance")
        stored = len(facts)
    again = runner.invoke(cli, ["read", str(path), str(journal), "--json"])
    assert again.exit_code == 0 and [d["new_facts"] for d in json.loads(again.stdout)["documents"]] == [0, 0]
    with build_app().store.session() as session:
        assert len(session.exec(select(Fact)).all()) == stored
