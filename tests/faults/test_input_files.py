"""Bad bytes and careless numbers at the command line: every file a user names is read by one text reader
(``knowledge.textfiles``), which accepts UTF-8 (with or without a byte-order mark) and UTF-16 with one, and refuses
everything else with an input error (exit 2) that names the file, before anything is written. Numbers outside
their range (a negative seed, a port past 65535) are refused at the edge the same way."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import cli
from agent.cli_common import EXIT_INPUT, EXIT_SETUP

ATOMLOOP = str(Path(sys.executable).parent / "atomloop")
TABLE = "smiles,logS\nCCO,-0.77\nc1ccccc1,-1.64\n"


def _utf16_with_bom(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-16"))  # Python writes the byte-order mark first
    return path


# name -> (write the bad file, a word of the message that says what is wrong with it)
BAD_FILES: dict[str, tuple[Callable[[Path, str], Path], str]] = {
    "utf16-without-bom": (lambda p, t: (p.write_bytes(t.encode("utf-16-le")), p)[1], "binary data"),
    "random-binary": (lambda p, t: (p.write_bytes(bytes(range(256)) * 4), p)[1], "binary data"),
    "latin-1": (lambda p, t: (p.write_bytes(t.replace("CCO", "CCO café").encode("latin-1")), p)[1], "not UTF-8"),
    "pdf": (lambda p, t: (p.write_bytes(b"%PDF-1.7\n" + bytes(range(256))), p)[1], "a PDF"),
    "folder": (lambda p, t: (p.mkdir(), p)[1], "a folder"),
    "missing": (lambda p, t: p, "no such"),
}


@pytest.fixture
def runner() -> CliRunner:
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "init"]).exit_code == 0
    return runner


def _stats(runner: CliRunner) -> dict:
    result = runner.invoke(cli, ["db", "stats", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _bad(tmp_path: Path, kind: str, text: str, name: str = "input.csv") -> tuple[Path, str]:
    write, says = BAD_FILES[kind]
    return write(tmp_path / name, text), says


# -- db import ---------------------------------------------------------------------------------------------


def test_db_import_reads_utf16_with_a_byte_order_mark(runner: CliRunner, tmp_path: Path) -> None:
    path = _utf16_with_bom(tmp_path / "unicode.csv", TABLE)
    result = runner.invoke(cli, ["db", "import", str(path), "-p", "logS", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == 2
    # the idempotency key is the hash of the file's bytes, BOM and all: the same file again adds nothing
    again = runner.invoke(cli, ["db", "import", str(path), "-p", "logS", "--json"])
    assert json.loads(again.stdout)["already_present"] == 2
    assert _stats(runner)["measurements"] == 2


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_db_import_refuses_a_file_that_is_not_text_and_writes_nothing(runner: CliRunner, tmp_path: Path, kind: str) -> None:
    path, says = _bad(tmp_path, kind, TABLE)
    result = runner.invoke(cli, ["db", "import", str(path), "-p", "logS"])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "Traceback" not in result.output
    assert str(path) in result.stderr and says in result.stderr
    stats = _stats(runner)
    assert (stats["measurements"], stats["molecules"]) == (0, 0)


def test_db_import_refuses_a_table_csv_cannot_read_with_its_line(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "huge-field.csv"
    path.write_text('smiles,logS\nCCO,1\n"' + "C" * 200_000 + '",2\n')
    result = runner.invoke(cli, ["db", "import", str(path), "-p", "logS"])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "not a readable CSV table" in result.stderr and "after line 2" in result.stderr
    assert _stats(runner)["measurements"] == 0


# -- lab simulate --smiles-file, models pretrain --corpus -------------------------------------------------


@pytest.mark.parametrize("kind", ["utf16-without-bom", "random-binary", "folder", "missing"])
def test_lab_simulate_refuses_a_smiles_file_that_is_not_text(tmp_path: Path, kind: str) -> None:
    path, says = _bad(tmp_path, kind, "CCO\nCCN\n", "molecules.smi")
    result = CliRunner().invoke(cli, ["lab", "simulate", "--smiles-file", str(path), "--record"])
    assert result.exit_code == EXIT_INPUT, result.output
    assert str(path) in result.stderr and says in result.stderr and "SMILES file" in result.stderr


@pytest.mark.parametrize("kind", ["utf16-without-bom", "random-binary", "folder"])
def test_models_pretrain_refuses_a_corpus_that_is_not_text(runner: CliRunner, tmp_path: Path, kind: str) -> None:
    path, says = _bad(tmp_path, kind, "CCO\nCCN\n", "corpus.smi")
    result = runner.invoke(cli, ["models", "pretrain", "--corpus", str(path), "--output", str(tmp_path / "out.pt")])
    assert result.exit_code == EXIT_INPUT, result.output
    assert str(path) in result.stderr and says in result.stderr and "corpus file" in result.stderr
    assert not (tmp_path / "out.pt").exists()


def test_an_installed_qm9_file_that_is_not_text_is_a_setup_error(tmp_path: Path) -> None:
    from tools.predict.corpora import QM9_FILES, CorpusUnavailable, read_qm9

    for name in QM9_FILES:
        (tmp_path / name).write_bytes(b"\x00\x01binary")
    with pytest.raises(CorpusUnavailable, match="binary data"):
        list(read_qm9(tmp_path))


# -- models train --weights -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, content, says",
    [
        ("missing", None, "no checkpoint file (no such path)"),
        ("folder", None, "a folder"),
        ("text", b"these are not weights\n", "not a torch checkpoint"),
        ("random-binary", bytes(range(255, -1, -1)) * 8, "not a torch checkpoint"),
        ("broken-zip", b"PK\x03\x04" + bytes(64), "cannot read the checkpoint"),
        ("broken-pickle", b"\x80\x02garbage", "cannot read the checkpoint"),
    ],
)
def test_models_train_refuses_weights_that_are_not_a_checkpoint(
    runner: CliRunner, tmp_path: Path, kind: str, content: bytes | None, says: str
) -> None:
    path = tmp_path / f"{kind}.pt"
    if kind == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    result = runner.invoke(cli, ["models", "train", "-p", "logS", "--model", "unimol", "--weights", str(path)])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "Traceback" not in result.output
    assert f"--weights {path}" in result.stderr and says in result.stderr and "input error" in result.stderr
    stats = _stats(runner)  # refused before a snapshot was taken or a model trained
    assert (stats["model_versions"], stats["dataset_snapshots"]) == (0, 0)


def test_models_train_refuses_an_unknown_kind_before_it_takes_a_snapshot(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["models", "train", "-p", "logS", "--model", "crystal-ball"])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "unknown predictor kind 'crystal-ball'" in result.stderr
    assert _stats(runner)["dataset_snapshots"] == 0


# -- db export --out --------------------------------------------------------------------------------------


def test_db_export_refuses_an_out_that_is_a_file_or_cannot_be_made(runner: CliRunner, tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text(TABLE)
    assert runner.invoke(cli, ["db", "import", str(table), "-p", "logS"]).exit_code == 0
    existing = tmp_path / "existing.txt"
    existing.write_text("keep me\n")
    result = runner.invoke(cli, ["db", "export", "-p", "logS", "--out", str(existing)])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "is a file, not a folder" in result.stderr
    assert existing.read_text() == "keep me\n"
    under_a_file = existing / "snapshot"
    result = runner.invoke(cli, ["db", "export", "-p", "logS", "--out", str(under_a_file)])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "cannot create the folder" in result.stderr
    assert _stats(runner)["dataset_snapshots"] == 0
    exported = runner.invoke(cli, ["db", "export", "-p", "logS", "--out", str(tmp_path / "new" / "folder"), "--json"])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["rows"] == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_db_export_refuses_a_folder_it_may_not_write(runner: CliRunner, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = runner.invoke(cli, ["db", "export", "-p", "logS", "--out", str(locked)])
    finally:
        locked.chmod(0o700)
    assert result.exit_code == EXIT_INPUT, result.output
    assert "no permission" in result.stderr


# -- numbers out of range ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["lab", "simulate", "--smiles-file", "{smi}", "--seed", "-1"],
        ["lab", "status", "--seed", "-1"],
        ["lab", "serve", "--instrument", "plate-reader", "--port", "0"],
        ["lab", "serve", "--instrument", "plate-reader", "--port", "65536"],
        ["lab", "serve", "--instrument", "plate-reader", "--port", "-5"],
        ["lab", "serve", "--instrument", "plate-reader", "--seed", "-2"],
        ["models", "train", "-p", "logS", "--seed", "-1"],
        ["models", "pretrain", "--corpus", "{smi}", "--seed", "-1"],
    ],
)
def test_numbers_out_of_range_are_refused_before_anything_runs(tmp_path: Path, args: list[str]) -> None:
    smi = tmp_path / "m.smi"
    smi.write_text("CCO\n")
    result = CliRunner().invoke(cli, [a.format(smi=smi) for a in args])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "Invalid value" in result.output and "Traceback" not in result.output


def test_unknown_assay_transport_and_instrument_are_input_errors(tmp_path: Path) -> None:
    smi = tmp_path / "m.smi"
    smi.write_text("CCO\n")
    for args, says in [
        (["lab", "simulate", "--smiles-file", str(smi), "--assay", "toxicity"], "unknown assay"),
        (["lab", "simulate", "--smiles-file", str(smi), "--transport", "carrier-pigeon"], "--transport"),
        (["lab", "serve", "--instrument", "toaster"], "unknown instrument"),
    ]:
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == EXIT_INPUT, result.output
        assert "input error" in result.stderr and says in result.stderr


def test_lab_serve_on_a_port_in_use_exits_with_a_setup_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = subprocess.run(
            [ATOMLOOP, "lab", "serve", "--instrument", "plate-reader", "--port", str(port)],
            capture_output=True, text=True, timeout=120, env={**os.environ},
        )
    assert served.returncode == EXIT_SETUP, served.stderr
    assert f"cannot serve SiLA 2 on 127.0.0.1:{port}" in served.stderr
    assert "Serving" not in served.stdout and "Traceback" not in served.stderr


# -- demo --home ------------------------------------------------------------------------------------------


def test_the_demo_never_wipes_a_folder_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "my-thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work\n")
    for args in (["demo", "--home", str(precious)], ["demo", "--store-walkthrough", "--home", str(precious)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == EXIT_INPUT, result.output
        assert "the demo did not make" in result.stderr
    assert (precious / "chapter1.tex").read_text() == "years of work\n"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x\n")
    result = CliRunner().invoke(cli, ["demo", "--store-walkthrough", "--home", str(a_file)])
    assert result.exit_code == EXIT_INPUT and "is a file" in result.stderr
    assert a_file.read_text() == "x\n"


def test_db_import_with_skip_invalid_and_no_valid_row_is_an_input_error(runner: CliRunner, tmp_path: Path) -> None:
    table = tmp_path / "bad.csv"
    table.write_text("smiles,logS\nnot-a-smiles,-1\nC1CC,-2\n", encoding="utf-8")
    result = runner.invoke(cli, ["db", "import", str(table), "--property", "logS", "--skip-invalid", "--json"])
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["imported"] == 0
    stats = json.loads(runner.invoke(cli, ["db", "stats", "--json"]).stdout)
    assert stats["measurements"] == 0
