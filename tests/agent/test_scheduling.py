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


def test_a_schedule_survives_a_restart_and_runs_its_campaign(tmp_path: Path) -> None:
    rows = list(csv.DictReader((bundled_dir() / "bace_pic50.csv").open()))[:20]
    pool = tmp_path / "pool.smi"
    pool.write_text("".join(f"{r['smiles']}\n" for r in rows))
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "tiny", "objectives": [{"property": "pIC50"}], "pool": {"file": str(pool)},
        "budget": {"experiments": 3, "iterations": 0}, "initial": {"random": 3},
    }))
    env = {**os.environ, "ATOMLOOP_HOME": str(tmp_path / "home")}

    def atomloop(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ATOMLOOP, *args], env=env, capture_output=True, text=True, timeout=timeout)

    assert atomloop("db", "init").returncode == 0
    scheduled = atomloop("campaign", "schedule", str(spec), "--every", "2s", "--json")
    assert scheduled.returncode == 0, scheduled.stderr
    assert json.loads(scheduled.stdout)["job_id"] == "campaign:tiny"
    # a new process (as after a restart) finds the job in the database and runs it when due
    jobs = json.loads(atomloop("campaign", "scheduled", "--json").stdout)
    assert [j["job_id"] for j in jobs] == ["campaign:tiny"] and jobs[0]["every_s"] == 2
    served = atomloop("campaign", "scheduler", "--run-for", "20", timeout=180)
    assert served.returncode == 0, served.stderr
    campaigns = json.loads(atomloop("campaign", "list", "--json").stdout)
    assert campaigns and all(c["name"] == "tiny" for c in campaigns)
    assert atomloop("campaign", "unschedule", "campaign:tiny").returncode == 0
    assert json.loads(atomloop("campaign", "scheduled", "--json").stdout) == []
