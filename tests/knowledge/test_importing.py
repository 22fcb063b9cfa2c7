from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.errors import ImportFailed, StoreInputError
from knowledge.importing import import_measurements_csv
from knowledge.store import KnowledgeStore


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_esol_imports_whole(store: KnowledgeStore, data_dir: Path) -> None:
    report = import_measurements_csv(store, data_dir / "delaney.csv", "logS")
    assert report.value_column == "logp"  # the only other column
    assert report.rows_read == 1128
    assert report.imported == 1128
    assert report.skipped == []
    stats = store.stats()
    assert stats.measurements == 1128
    # 11 ESOL rows are a second spelling (or a second measurement) of a molecule already in the set
    assert stats.molecules == 1117
    values = {m.smiles: m.value for m in store.measurements("logS")}
    assert values["Cc1occc1C(=O)Nc1ccccc1"] == pytest.approx(-3.3)


def test_reimport_adds_nothing(store: KnowledgeStore, data_dir: Path) -> None:
    import_measurements_csv(store, data_dir / "freesolv.csv", "hydration_free_energy")
    again = import_measurements_csv(store, data_dir / "freesolv.csv", "hydration_free_energy")
    assert again.imported == 0
    assert again.already_present == 642
    assert store.stats().measurements == 642


def test_value_column_named_like_the_property_is_found(store: KnowledgeStore, data_dir: Path) -> None:
    report = import_measurements_csv(store, data_dir / "bace_pic50.csv", "pIC50")
    assert report.value_column == "pIC50"
    assert report.imported == 1513


def test_a_bad_row_stops_the_import_with_its_line_and_writes_nothing(store: KnowledgeStore, tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "smiles,ic50_nM\nCCO,10\nCCN,20\nC1CC,30\nCCC,\nCCCl,nan\n")
    with pytest.raises(ImportFailed) as caught:
        import_measurements_csv(store, path, "pIC50", unit="nM")
    assert caught.value.problems[0][0] == 4
    assert [line for line, _ in caught.value.problems] == [4, 5, 6]
    assert "line 4" in str(caught.value)
    assert store.stats().measurements == 0
    assert store.stats().molecules == 0


def test_skip_invalid_imports_the_rest_and_lists_each_skipped_line(store: KnowledgeStore, tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "smiles,ic50_nM\nCCO,10\nCCN,20\nC1CC,30\nCCC,\nCCCl,nan\n")
    report = import_measurements_csv(store, path, "pIC50", unit="nM", skip_invalid=True)
    assert report.imported == 2
    assert [(row.line) for row in report.skipped] == [4, 5, 6]
    assert "SMILES" in report.skipped[0].reason
    assert "empty" in report.skipped[1].reason
    assert "finite" in report.skipped[2].reason
    assert sorted(m.value for m in store.measurements("pIC50")) == pytest.approx([7.69897, 8.0], rel=1e-5)


def test_a_quoted_multiline_field_keeps_line_numbers_right(store: KnowledgeStore, tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", 'smiles,name,logS\nCCO,"ethanol\nspirit",1.1\nXX,bad,2\n')
    with pytest.raises(ImportFailed) as caught:
        import_measurements_csv(store, path, "logS", value_col="logS")
    assert caught.value.problems == [(4, caught.value.problems[0][1])]


def test_wrong_unit_for_the_property_fails_before_writing(store: KnowledgeStore, data_dir: Path) -> None:
    with pytest.raises(ImportFailed, match="cannot express"):
        import_measurements_csv(store, data_dir / "delaney.csv", "logS", unit="K")
    assert store.stats().measurements == 0


def test_ambiguous_or_missing_columns_are_input_errors(store: KnowledgeStore, tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", "smiles,a,b\nCCO,1,2\n")
    with pytest.raises(StoreInputError, match="--value-col"):
        import_measurements_csv(store, path, "logS")
    with pytest.raises(StoreInputError, match="no SMILES column"):
        import_measurements_csv(store, path, "logS", smiles_col="structure", value_col="a")
    assert import_measurements_csv(store, path, "logS", value_col="B").imported == 1


def test_tsv_with_bom_and_uncertainty_column(store: KnowledgeStore, tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("\ufeffSMILES\tmp_C\tsd\nCCO\t-114.1\t0.5\n", encoding="utf-8")
    report = import_measurements_csv(store, path, "melting_point", unit="\u00b0C", uncertainty_col="sd")
    assert report.imported == 1
    [m] = store.measurements("melting_point")
    assert m.value == pytest.approx(159.05)
    assert m.uncertainty == pytest.approx(0.5)
    assert m.provenance["line"] == 2
