"""A run killed with SIGKILL at any point resumes to the same answer, and no physical operation runs twice.

Only the run that is killed is a process of its own (it kills itself); the rest runs in this one, as the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner, Result

from agent.cli import cli

BACE = [
    "Cc1ccccc1-c1ccc2nc(N)c(C[C@@H](C)C(=O)N[C@@H]3CCOC(C)(C)C3)cc2c1",
    "CC#Cc1cncc(-c2cccc([C@@]3(C)CS(=O)(=O)C(C)(C)C(N)=N3)c2)c1",
]
REQUEST = f"measure the potency and solubility of {BACE[0]} and {BACE[1]}"
ATOMLOOP = str(Path(sys.executable).parent / "atomloop")


def _atomloop(home: Path, *args: str, crash_after: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ATOMLOOP_HOME": str(home)}
    env.pop("ATOMLOOP_FAULT_CRASH_AFTER", None)
    if crash_after:
        env["ATOMLOOP_FAULT_CRASH_AFTER"] = crash_after
    return subprocess.run([ATOMLOOP, *args], capture_output=True, text=True, env=env, timeout=300)


def _cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"ATOMLOOP_HOME": str(home), "ATOMLOOP_FAULT_CRASH_AFTER": None})


def _ops_in_store(home: Path) -> list[str]:
    from sqlmodel import Session

    from knowledge.database import make_engine
    from knowledge.models import Measurement

    engine = make_engine(f"sqlite:///{home / 'atomloop.db'}")
    with Session(engine) as session:
        ops = [f"{m.op_id}/{m.property}" for m in session.exec(select(Measurement))]
    engine.dispose()
    return ops


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, _bundled_truth: object) -> dict:
    """The same run never interrupted (module-scoped: set up before the per-test fixtures, so it reads the
    world's ground truth through the session's copy itself)."""
    import simulators.world

    home = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(simulators.world, "load_bundled_truth", _bundled_truth)
        assert _cli(home, "db", "init").exit_code == 0
        done = _cli(home, "ask", "--offline", REQUEST, "--json", "--run-id", "run-same")
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


@pytest.mark.parametrize("crash_after", ["execute:0", "record:0"])
def test_killed_run_resumes_to_the_same_answer(tmp_path: Path, reference: dict, crash_after: str) -> None:
    assert _cli(tmp_path, "db", "init").exit_code == 0
    killed = _atomloop(tmp_path, "ask", "--offline", REQUEST, "--json", "--run-id", "run-same", crash_after=crash_after)
    assert killed.returncode == -9, killed.stderr
    [run] = json.loads(_cli(tmp_path, "runs", "list", "--json").stdout)
    assert run["status"] == "interrupted"  # stored "running", and no live process holds it
    resumed = _cli(tmp_path, "runs", "resume", run["run_id"], "--json")
    assert resumed.exit_code == 0, resumed.output
    payload = json.loads(resumed.stdout)
    assert payload["status"] == "succeeded"
    # the same answer, to the letter, as the same run never interrupted
    assert payload["answer"] == reference["answer"]
    assert payload["steps"][0]["result"] == reference["steps"][0]["result"]
    ops = _ops_in_store(tmp_path)
    assert len(ops) == len(set(ops)) == len(reference["steps"][0]["result"]["measurements"])
