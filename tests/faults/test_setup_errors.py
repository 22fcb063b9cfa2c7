"""An error of the set-up (a compute cluster that is not there, a missing engine) is exit 3 and says what to fix."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from agent.cli import cli
from agent.cli_common import EXIT_SETUP, _classify
from tools.compute.errors import ComputeSetupError


def test_a_compute_setup_error_is_exit_3() -> None:
    assert _classify(ComputeSetupError("cannot reach the scheduler")) == (EXIT_SETUP, "setup")


def test_an_unknown_executor_setting_is_exit_3_and_names_the_variable(tmp_path: Path) -> None:
    smiles = tmp_path / "in.smi"
    smiles.write_text("CCO\n")
    result = CliRunner().invoke(
        cli, ["structures", "embed", str(smiles), "--out", str(tmp_path / "out.sdf")], env={"ATOMLOOP_COMPUTE__EXECUTOR": "slurm"}
    )
    assert result.exit_code == EXIT_SETUP, result.output
    assert "ATOMLOOP_COMPUTE__EXECUTOR" in result.output
    assert not (tmp_path / "out.sdf").exists()
