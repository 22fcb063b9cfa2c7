"""Data is printed as data: square brackets in SMILES, requests, answers, paths and error messages are never read
as rich markup (``[nH]`` silently dropped, ``[/b]`` a MarkupError), and ``:o:`` in a SMILES is never an emoji."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import cli
from agent.cli_common import EXIT_INPUT, EXIT_OK


@pytest.fixture
def runner() -> CliRunner:
    runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that rich wraps nothing we look for
    assert runner.invoke(cli, ["db", "init"]).exit_code == 0
    return runner


def _ok(runner: CliRunner, *args: str, code: int = EXIT_OK) -> str:
    """The human output of ``atomloop ARGS``, which must end with exit ``code`` and not with an exception."""
    result = runner.invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "MarkupError" not in result.output
    return result.output


def test_a_closing_tag_in_the_request_is_shown_not_parsed(runner: CliRunner) -> None:
    request = "what do we know about [/b] CCO"
    # '[/b]' is no structure: the run answers that the request must be fixed (exit 2), it does not crash (exit 1)
    out = _ok(runner, "ask", "--offline", "--run-id", "m1", request, code=EXIT_INPUT)
    assert "failed · run m1" in out
    assert "I could not turn '[/b]' into structures" in out
    shown = _ok(runner, "runs", "show", "m1")
    assert f"m1 (failed): {request}" in shown
    assert "I could not turn '[/b]' into structures" in shown
    listed = [line for line in _ok(runner, "runs", "list").splitlines() if " m1 " in line]
    assert len(listed) == 1 and request in listed[0]


def test_bracket_atoms_survive_in_the_answer_and_the_stored_run(runner: CliRunner) -> None:
    out = _ok(runner, "ask", "--offline", "--run-id", "m2", "what do we know about c1cc[nH]c1 and c1:o:c:c:c1")
    answer = json.loads(_ok(runner, "runs", "show", "m2", "--json"))["answer"]
    assert "Not in the store: c1cc[nH]c1, c1ccoc1." in answer  # what the planner said ...
    assert "Not in the store: c1cc[nH]c1, c1ccoc1." in out  # ... is what people see
    assert "c1ccc1" not in out
    shown = _ok(runner, "runs", "show", "m2")
    assert "what do we know about c1cc[nH]c1 and c1:o:c:c:c1" in shown  # the request as asked (":o:" no emoji)
    assert "['c1cc[nH]c1', 'c1ccoc1']" in shown  # the step's (canonical) arguments in the table
    assert "Not in the store: c1cc[nH]c1, c1ccoc1." in shown
    assert "c1ccc1" not in shown and "⭕" not in shown
    assert "what do we know about c1cc[nH]c1 and c1:o:c:c:c1" in _ok(runner, "runs", "list")


def test_lab_simulate_table_keeps_the_bracket_atom(runner: CliRunner, tmp_path: Path) -> None:
    smiles = tmp_path / "[old] pyrrole.smi"
    smiles.write_text("c1cc[nH]c1\n")
    out = _ok(runner, "lab", "simulate", "--smiles-file", str(smiles), "--assay", "solubility", "--seed", "1")
    rows = [line for line in out.splitlines() if "logS" in line and "log10(mol/L)" in line]
    assert len(rows) == 1 and "c1cc[nH]c1" in rows[0], out
    assert "c1ccc1" not in out


def test_db_import_shows_paths_and_skipped_rows_intact(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "[old]"
    folder.mkdir()
    table = folder / "pyrroles.csv"
    table.write_text("smiles,logS\nc1cc[nH]c1,-1.0\nC1CC[nH],-2.0\n")
    out = _ok(runner, "db", "import", str(table), "--property", "logS", "--skip-invalid")
    assert f"from {table}" in out
    assert "invalid SMILES 'C1CC[nH]'" in out, out
