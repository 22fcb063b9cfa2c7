"""Embedding a file through compute jobs: protonated conformers in an SDF, bad lines reported, finished jobs reused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.compute.book import JobBook
from tools.compute.inline import InlineExecutor
from tools.errors import ToolInputError
from tools.structures.embed import (
    EMBED_JOB_KIND,
    EmbedOptions,
    embed_file,
    embed_smiles_job,
    embedding_software,
)
from tools.structures.errors import EmbeddingMismatch, StructureFileError
from tools.structures.io import read_sdf

MOLECULES = """smiles name
CC(=O)O acetic acid
C1CC ring not closed
CCN ethylamine

OC(C)=O acetic acid again
c1ccccc1O phenol
"""


@pytest.fixture
def book(tmp_path: Path) -> Iterator[JobBook]:
    from knowledge.database import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    upgrade(engine)
    yield JobBook.open(engine, tmp_path / "jobs")
    engine.dispose()


def test_a_file_becomes_an_sdf_of_protonated_conformers_in_file_order(book: JobBook, tmp_path: Path) -> None:
    source = tmp_path / "mols.smi"
    source.write_text(MOLECULES, encoding="utf-8")
    out = tmp_path / "out" / "mols.sdf"
    seen: list[tuple[int, int]] = []
    report = embed_file(source, out, InlineExecutor(book), EmbedOptions(n_conformers=2, chunk_size=2),
                        on_progress=lambda done, total: seen.append((done, total)))
    assert (report.molecules, report.embedded, report.format, report.out) == (5, 4, "smiles", str(out))
    assert [(e.line, e.label, e.text) for e in report.invalid] == [(3, "ring not closed", "C1CC")]
    assert "RDKit cannot parse" in report.invalid[0].reason and report.failed == []
    assert (report.jobs, report.reused_jobs, report.executor, report.ph) == (2, 0, "inline", 7.4)  # 3 distinct molecules
    assert seen and seen[-1] == (2, 2)
    records = read_sdf(out)
    assert report.conformers == len(records)
    by_line: dict[str, list[dict[str, str]]] = {}
    for record in records:
        by_line.setdefault(record.properties["source_line"], []).append({"name": record.name, **record.properties})
    assert list(by_line) == ["2", "4", "6", "7"]  # file order
    acid = by_line["2"][0]
    assert (acid["name"], acid["input_smiles"], acid["smiles"], acid["ph"]) == ("acetic acid", "CC(=O)O", "CC(=O)[O-]", "7.4")
    assert acid["inchikey"] == "QTBSBXVTEAMEQO-UHFFFAOYSA-M" and acid["force_field"] == "mmff94"
    assert float(acid["energy_kcal_per_mol"]) == pytest.approx(float(by_line["6"][0]["energy_kcal_per_mol"]))
    assert by_line["4"][0]["smiles"] == "CC[NH3+]" and by_line["7"][0]["smiles"] == "Oc1ccccc1"
    for conformers in by_line.values():
        assert [c["conformer"] for c in conformers] == [str(i) for i in range(len(conformers))]
        assert {c["conformers"] for c in conformers} == {str(len(conformers))}
    assert len(by_line["4"]) == 1  # pruned on heavy atoms: ethylamine's rotamers differ in hydrogens only


def test_embedding_the_same_file_again_reuses_every_job(book: JobBook, tmp_path: Path) -> None:
    source = tmp_path / "mols.smi"
    source.write_text(MOLECULES, encoding="utf-8")
    first = embed_file(source, tmp_path / "first.sdf", InlineExecutor(book), EmbedOptions(chunk_size=1))
    again = embed_file(source, tmp_path / "again.sdf", InlineExecutor(book), EmbedOptions(chunk_size=1))
    assert (first.jobs, first.reused_jobs) == (3, 0)  # acetic acid twice is one job
    assert (again.jobs, again.reused_jobs) == (3, 3)
    assert (tmp_path / "first.sdf").read_bytes() == (tmp_path / "again.sdf").read_bytes()
    other_ph = embed_file(source, tmp_path / "acid.sdf", InlineExecutor(book), EmbedOptions(chunk_size=1, ph=2.0))
    assert (other_ph.jobs, other_ph.reused_jobs) == (3, 0)  # the pH is an input of every job
    acid = read_sdf(tmp_path / "acid.sdf")[0]
    assert (acid.properties["smiles"], acid.properties["ph"]) == ("CC(=O)O", "2.0")


def test_without_protonation_molecules_are_embedded_as_written(tmp_path: Path) -> None:
    source = tmp_path / "mols.csv"
    source.write_text("id,smiles\nzwitterion,[NH3+]CC(=O)[O-]\nneutral,NCC(=O)O\n", encoding="utf-8")
    report = embed_file(source, tmp_path / "out.sdf", InlineExecutor(None), EmbedOptions(ph=None))
    records = read_sdf(tmp_path / "out.sdf")
    assert report.ph is None and [r.name for r in records] == ["zwitterion", "neutral"]
    assert [r.properties["smiles"] for r in records] == ["[NH3+]CC(=O)[O-]", "NCC(=O)O"]
    assert all("ph" not in r.properties for r in records)


def test_an_sdf_input_is_embedded_again_from_its_molecules(tmp_path: Path) -> None:
    first = tmp_path / "first.smi"
    first.write_text("CCO ethanol\nCC(=O)O acid\n", encoding="utf-8")
    embed_file(first, tmp_path / "first.sdf", InlineExecutor(None), EmbedOptions(ph=None))
    report = embed_file(tmp_path / "first.sdf", tmp_path / "second.sdf", InlineExecutor(None), EmbedOptions())
    assert (report.format, report.embedded) == ("sdf", 2)
    records = read_sdf(tmp_path / "second.sdf")
    assert [(r.name, r.properties["input_smiles"], r.properties["smiles"]) for r in records] == [
        ("ethanol", "CCO", "CCO"), ("acid", "CC(=O)O", "CC(=O)[O-]")]


def test_nothing_is_written_when_no_molecule_embeds_and_bad_paths_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.smi"
    garbage.write_text("not a molecule\n%%%%\n", encoding="utf-8")
    report = embed_file(garbage, tmp_path / "none.sdf", InlineExecutor(None))
    assert (report.embedded, report.jobs, report.out, len(report.invalid)) == (0, 0, None, 2)
    assert not (tmp_path / "none.sdf").exists()
    with pytest.raises(ToolInputError, match=r"ending in \.sdf"):
        embed_file(garbage, tmp_path / "out.pdb", InlineExecutor(None))
    sdf_in = tmp_path / "in.sdf"
    sdf_in.write_text("x\n", encoding="utf-8")
    with pytest.raises(ToolInputError, match="is the input file"):
        embed_file(sdf_in, sdf_in, InlineExecutor(None))
    binary = tmp_path / "blob.smi"
    binary.write_bytes(b"%PDF-1.7\n\x00\x01")
    with pytest.raises(StructureFileError, match="a PDF"):
        embed_file(binary, tmp_path / "out.sdf", InlineExecutor(None))


def test_the_job_is_plain_data_in_and_out_and_refuses_other_software() -> None:
    software = embedding_software(protonating=True)
    assert set(software) == {"method", "rdkit", "dimorphite_dl"} and set(embedding_software(False)) == {"method", "rdkit"}
    assert EMBED_JOB_KIND == f"{embed_smiles_job.__module__}:{embed_smiles_job.__name__}"
    results = embed_smiles_job(["CC(=O)O", "C1CC"], n_conformers=1, seed=1, ph=7.4, prune_rms=0.5, software=software)
    assert results[0]["smiles"] == "CC(=O)[O-]" and len(results[0]["molblocks"]) == 1
    assert results[1]["input_smiles"] == "C1CC" and "InvalidStructure" in results[1]["error"]
    with pytest.raises(EmbeddingMismatch, match="rdkit"):
        embed_smiles_job(["CCO"], 1, 1, 7.4, 0.5, {**software, "rdkit": "2020.03.1"})
