"""`atomloop read` stores documents and facts once, and what it read is found by the agent as data."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import cli


def _json(*args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_read_stores_facts_once_and_reports_them(table_pdf: Path) -> None:
    _json("db", "init")
    first = _json("read", str(table_pdf))
    [document] = first["documents"]
    assert set(document) >= {"path", "title", "pages", "flagged_pages", "facts"}
    assert document["new_facts"] == len(document["facts"]) > 0
    fact = next(f for f in document["facts"] if f["compound"] == "SM01" and f["property"] == "pKa")
    assert (fact["value"], fact["uncertainty"]) == (9.53, 0.01)
    assert {"compound", "property", "value", "uncertainty", "unit", "page", "snippet"} <= set(fact)
    again = _json("read", str(table_pdf))
    assert again["documents"][0]["new_facts"] == 0
    stats = _json("db", "stats")
    assert stats["documents"] == 1 and stats["facts"] == len(document["facts"])


def test_a_corrupt_pdf_is_reported_and_the_rest_is_read(table_pdf: Path, tmp_path: Path) -> None:
    _json("db", "init")
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "good.pdf").write_bytes(table_pdf.read_bytes())
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n this is not really a pdf")
    payload = _json("read", str(folder))
    assert [Path(d["path"]).name for d in payload["documents"]] == ["good.pdf"]
    assert [Path(f["path"]).name for f in payload["failures"]] == ["broken.pdf"]
