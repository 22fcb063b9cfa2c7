from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agent.cli import cli
from agent.scheduling import parse_interval
from knowledge.bundled import bundled_dir
from knowledge.errors import StoreInputError

ATOMLOOP = str(Path(sys.executable).parent / "atomloop")


def test_intervals() -> None:
    assert parse_interval("6h") == timedelta(hours=6)
    assert parse_interval("1h30m") == timedelta(minutes=90)
    assert parse_interval("2d") == timedelta(days=2)
    for bad in ("", "six hours", "6x", "0s"):
        with pytest.raises(StoreInputError):
            parse_interval(bad)


def test_a_schedule_survives_a_restart_and_runs_its_campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job is stored by this process and served by another (as after a restart)."""
    rows = list(csv.DictReader((bundled_dir() / "bace_pic50.csv").open()))[:20]
    pool = tmp_path / "pool.smi"
    pool.write_text("".join(f"{r['smiles']}\n" for r in rows))
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "tiny", "objectives": [{"property": "pIC50"}], "pool": {"file": str(pool)},
        "budget": {"experiments": 3, "iterations": 0}, "initial": {"random": 3},
    }))
    home = tmp_path / "home"
    monkeypatch.setenv("ATOMLOOP_HOME", str(home))

    def atomloop(*args: str) -> object:
        result = CliRunner().invoke(cli, [*args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    atomloop("db", "init")
    scheduled = atomloop("campaign", "schedule", str(spec), "--every", "2s")
    assert scheduled["job_id"] == "campaign:tiny"
    jobs = atomloop("campaign", "scheduled")
    assert [j["job_id"] for j in jobs] == ["campaign:tiny"] and jobs[0]["every_s"] == 2
    # A new process finds the job in the database and runs it: due two seconds after it was stored, so due before
    # the scheduler has started; serving ends after five seconds and waits for the campaign it is running.
    env = {**os.environ, "ATOMLOOP_HOME": str(home)}
    served = subprocess.run([ATOMLOOP, "campaign", "scheduler", "--run-for", "5"], env=env, capture_output=True, text=True, timeout=180)
    assert served.returncode == 0, served.stderr
    campaigns = atomloop("campaign", "list")
    assert campaigns and all(c["name"] == "tiny" for c in campaigns)
    assert all(c["status"] == "done" for c in campaigns)  # serving stopped after its campaigns finished
    result = CliRunner().invoke(cli, ["campaign", "unschedule", "campaign:tiny"])
    assert result.exit_code == 0, result.output
    assert atomloop("campaign", "scheduled") == []
