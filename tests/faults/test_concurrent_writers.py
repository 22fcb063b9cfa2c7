"""Two processes measuring in one home at once: both runs' measurements and both journals survive."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from agent.cli import cli

ATOMLOOP = str(Path(sys.executable).parent / "atomloop")


def test_two_runs_measuring_at_once_keep_both_journals(tmp_path: Path) -> None:
    env = {**os.environ, "ATOMLOOP_HOME": str(tmp_path)}
    env.pop("ATOMLOOP_FAULT_CRASH_AFTER", None)
    assert CliRunner().invoke(cli, ["db", "init"], env={"ATOMLOOP_HOME": str(tmp_path)}).exit_code == 0  # the two runs are the processes
    requests = {"left": "measure the solubility of caffeine and aspirin", "right": "measure the solubility of ethanol and phenol"}
    processes = {
        run_id: subprocess.Popen([ATOMLOOP, "ask", "--offline", "--json", "--run-id", run_id, request], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for run_id, request in requests.items()
    }
    outputs = {run_id: process.communicate(timeout=300) for run_id, process in processes.items()}
    for run_id, (stdout, stderr) in outputs.items():
        assert processes[run_id].returncode == 0, stderr
        assert json.loads(stdout)["status"] == "succeeded"
    state = pickle.loads((tmp_path / "lab" / "sim-state.pkl").read_bytes())  # noqa: S301 - the test's own lab
    runs_in_journal = {op_id.split(":")[0] for op_id in state["journal"]}
    assert runs_in_journal == {"left", "right"}
