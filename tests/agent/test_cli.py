from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import cli
from agent.cli_common import EXIT_INPUT, EXIT_SETUP
from knowledge.database import head_revision


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _json(runner: CliRunner, *args: str) -> dict:
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_init_import_stats_on_esol(runner: CliRunner, data_dir: Path, _isolated_home: Path) -> None:
    init = _json(runner, "db", "init")
    assert init["revision"] == head_revision()
    assert Path(init["home"]) == _isolated_home.resolve()
    assert (_isolated_home / "atomloop.db").exists()
    report = _json(runner, "db", "import", str(data_dir / "delaney.csv"), "--property", "logS")
    assert report["imported"] == 1128
    assert report["value_column"] == "logp"
    stats = _json(runner, "db", "stats")
    assert stats["measurements"] == 1128
    assert stats["molecules"] == 1117
    assert stats["measurements_by_property"] == {"logS": 1128}


def test_human_output_is_a_table(runner: CliRunner, data_dir: Path) -> None:
    runner.invoke(cli, ["db", "init"])
    result = runner.invoke(cli, ["db", "import", str(data_dir / "freesolv.csv"), "-p", "hydration_free_energy"])
    assert result.exit_code == 0
    assert "Imported 642 hydration_free_energy measurements (kcal/mol)" in " ".join(result.stdout.split())
    stats = runner.invoke(cli, ["db", "stats"])
    assert "molecules" in stats.stdout and "642" in stats.stdout


def test_atomic_import_names_the_line_and_writes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(cli, ["db", "init"])
    bad = tmp_path / "bad.csv"
    bad.write_text("smiles,value\nCCO,-0.5\nthis is not smiles,-1\nCCC,-1.2\n")
    result = runner.invoke(cli, ["db", "import", str(bad), "--property", "logS"])
    assert result.exit_code == EXIT_INPUT
    assert "line 3" in result.stderr
    assert "invalid SMILES" in result.stderr
    assert _json(runner, "db", "stats")["measurements"] == 0
    skipped = _json(runner, "db", "import", str(bad), "--property", "logS", "--skip-invalid")
    assert skipped["imported"] == 2
    assert [row["line"] for row in skipped["skipped"]] == [3]
    assert _json(runner, "db", "stats")["measurements"] == 2


def test_errors_in_json_mode_are_json(runner: CliRunner, tmp_path: Path) -> None:
    runner.invoke(cli, ["db", "init"])
    file = tmp_path / "x.csv"
    file.write_text("smiles,v\nCCO,1\n")
    result = runner.invoke(cli, ["db", "import", str(file), "--property", "logS", "--unit", "K", "--json"])
    assert result.exit_code == EXIT_INPUT
    assert json.loads(result.stdout)["type"] == "ImportFailed"


def test_commands_before_init_say_to_run_init(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["db", "stats"])
    assert result.exit_code == EXIT_SETUP
    assert "atomloop db init" in result.stderr


def test_export_writes_a_manifest(runner: CliRunner, data_dir: Path, tmp_path: Path) -> None:
    runner.invoke(cli, ["db", "init"])
    runner.invoke(cli, ["db", "import", str(data_dir / "delaney.csv"), "--property", "logS"])
    first = _json(runner, "db", "export", "--property", "logS", "--out", str(tmp_path / "e1"))
    second = _json(runner, "db", "export", "--property", "solubility", "--out", str(tmp_path / "e2"))
    assert first["rows"] == 1117
    assert first["content_hash"] == second["content_hash"]
    manifest = json.loads((tmp_path / "e1" / "manifest.json").read_text())
    assert manifest["content_hash"] == first["content_hash"]
    assert (tmp_path / "e1" / "data.csv").read_text() == (tmp_path / "e2" / "data.csv").read_text()


def test_database_url_from_the_environment(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'x.db'}"
    monkeypatch.setenv("ATOMLOOP_DATABASE_URL", url)
    assert _json(runner, "db", "init")["database_url"] == url
    assert (tmp_path / "elsewhere" / "x.db").exists()


def test_demo_json_summary(runner: CliRunner, tmp_path: Path) -> None:
    summary = _json(runner, "demo", "--store-walkthrough", "--home", str(tmp_path / "demo"))
    assert summary["stats"]["measurements"] == 1128 + 642 + 4200 + 1513 + 4
    assert summary["reimport_added"] == 0
    assert summary["rows_before_rejections"] == summary["rows_after_rejections"]
    assert [r["error"] for r in summary["rejected"]] == [
        "InvalidStructure",
        "IncompatibleUnit",
        "InvalidValue",
        "UnknownProperty",
    ]
    assert summary["snapshot"]["content_hash"] == summary["snapshot_repeat_hash"]
    assert summary["top_pic50"][0]["pIC50"] == pytest.approx(10.52, abs=0.01)


def test_help_starts_without_heavy_imports() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['atomloop', '--help']\n"
        "from agent.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ['torch', 'rdkit', 'pint', 'sqlalchemy', 'langgraph', 'fitz', 'pymupdf', 'openai', 'sklearn']\n"
        "print('HEAVY', [m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert "HEAVY []" in result.stdout


def test_console_script_is_installed() -> None:
    script = shutil.which("atomloop", path=os.path.dirname(sys.executable))
    assert script is not None
    result = subprocess.run([script, "db", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "import" in result.stdout and "stats" in result.stdout
