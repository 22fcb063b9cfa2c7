"""A campaign checks everything before it writes anything (its file, its numbers, its pool, its model kind, its
schedule), is run by one process at a time (a lease), and is never left "running" by a failure: a campaign that
fails while running is marked "failed" and exits 4; one whose process died is shown "interrupted"."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from agent.cli import cli
from agent.cli_common import EXIT_INPUT, EXIT_RUN_FAILED
from knowledge.bundled import bundled_dir

ATOMLOOP = str(Path(sys.executable).parent / "atomloop")


def _bace(n: int) -> list[str]:
    with (bundled_dir() / "bace_pic50.csv").open() as handle:
        return [row["smiles"] for row, _ in zip(csv.DictReader(handle), range(n), strict=False)]


def _pool(tmp_path: Path, n: int = 4) -> Path:
    path = tmp_path / "pool.csv"
    path.write_text("smiles\n" + "".join(f"{s}\n" for s in _bace(n)))
    return path


def _spec(tmp_path: Path, pool: Path | str | None = None, filename: str = "campaign.yaml", **overrides: Any) -> Path:
    spec: dict[str, Any] = {
        "name": "fault campaign",
        "objectives": [{"property": "pIC50", "direction": "maximize", "target": 8.0}],
        "pool": {"file": str(pool if pool is not None else _pool(tmp_path))},
        "budget": {"experiments": 3, "iterations": 0},
        "initial": {"random": 3},
        **overrides,
    }
    path = tmp_path / filename
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def runner() -> CliRunner:
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "init"]).exit_code == 0
    return runner


def _campaigns(runner: CliRunner) -> list[dict[str, Any]]:
    result = runner.invoke(cli, ["campaign", "list", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _measurements(runner: CliRunner) -> int:
    return json.loads(runner.invoke(cli, ["db", "stats", "--json"]).stdout)["measurements"]


def _refused(runner: CliRunner, args: list[str], *says: str) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == EXIT_INPUT, result.output
    assert "Traceback" not in result.output
    for words in says:
        assert words in result.stderr, result.stderr
    assert _campaigns(runner) == [] and _measurements(runner) == 0


# -- checked before anything is written ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, says",
    [
        ({"objectives": [{"property": "pIC50", "target": float("nan")}]}, "objectives.0.target: Input should be a finite number"),
        ({"objectives": [{"property": "pIC50", "target": float("inf")}]}, "objectives.0.target: Input should be a finite number"),
        ({"constraints": [{"property": "logS", "op": ">=", "value": float("-inf")}]}, "constraints.0.value"),
        ({"budget": {"experiments": 3, "lab_hours": float("inf")}}, "budget.lab_hours"),
        ({"acquisition": {"kappa": float("nan")}}, "acquisition.kappa"),
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"models": {"kind": "gp", "seed": -3}}, "models.seed"),
        ({"name": ""}, "name"),
    ],
)
def test_numbers_a_campaign_cannot_use_are_refused(runner: CliRunner, tmp_path: Path, overrides: dict[str, Any], says: str) -> None:
    spec = _spec(tmp_path, **overrides)  # NaN and infinity in YAML's own spelling, .nan and .inf
    _refused(runner, ["campaign", "run", str(spec)], "invalid campaign file", says)


def test_an_unknown_model_kind_is_refused_before_a_molecule_is_measured(runner: CliRunner, tmp_path: Path) -> None:
    spec = _spec(tmp_path, models={"kind": "crystal-ball"})
    _refused(runner, ["campaign", "run", str(spec)], "models.kind", "unknown predictor kind 'crystal-ball'")


@pytest.mark.parametrize(
    "pool, says",
    [
        ("missing.csv", "no such pool file"),
        ("folder", "is a folder"),
        ("binary.csv", "binary data"),
        ("utf16-no-bom.csv", "binary data"),
        ("invalid.csv", "none of its 2 SMILES is a valid molecule"),
        ("empty.csv", "holds no SMILES"),
    ],
)
def test_a_pool_without_a_valid_molecule_is_refused(runner: CliRunner, tmp_path: Path, pool: str, says: str) -> None:
    path = tmp_path / pool
    if pool == "folder":
        path.mkdir()
    elif pool == "binary.csv":
        path.write_bytes(b"smiles\n\x00\x01\x02\xff\xfe")
    elif pool == "utf16-no-bom.csv":
        path.write_bytes("smiles\nCCO\n".encode("utf-16-le"))
    elif pool == "invalid.csv":
        path.write_text("smiles\nnot_a_smiles\nC1CC\n")
    elif pool == "empty.csv":
        path.write_text("smiles\n")
    _refused(runner, ["campaign", "run", str(_spec(tmp_path, pool=path))], str(path), says)


def test_a_pool_from_an_empty_store_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    spec = tmp_path / "store.yaml"
    spec.write_text(yaml.safe_dump({"name": "from the store", "objectives": [{"property": "pIC50"}], "pool": {"store": True}}))
    _refused(runner, ["campaign", "run", str(spec)], "nothing to measure in the store")


@pytest.mark.parametrize("content", [b"\x00\x01\x02\x03" * 16, "name: x\n".encode("utf-16-le"), b"- just\n- a list\n"])
def test_a_campaign_file_that_is_not_a_campaign_is_refused(runner: CliRunner, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "campaign.yaml"
    path.write_bytes(content)
    _refused(runner, ["campaign", "run", str(path)], str(path))


def test_a_utf16_campaign_file_and_pool_with_a_byte_order_mark_are_read(runner: CliRunner, tmp_path: Path) -> None:
    from agent.app import build_app
    from agent.campaign import CampaignRunner, CampaignSpec
    from knowledge.chem import canonicalize

    pool = tmp_path / "pool.smi"
    pool.write_bytes("".join(f"{s} name-{i}\n" for i, s in enumerate(_bace(3))).encode("utf-16"))
    spec = _spec(tmp_path, pool=pool)
    spec.write_bytes(spec.read_text().encode("utf-16"))
    read = CampaignSpec.from_yaml(spec)
    assert read.name == "fault campaign" and read.objectives[0].target == 8.0
    assert CampaignRunner.check(build_app(), read) == [canonicalize(s).smiles for s in _bace(3)]


def test_campaign_ids_are_names_not_paths(runner: CliRunner) -> None:
    for command in ("resume", "status"):
        result = runner.invoke(cli, ["campaign", command, "../../etc"])
        assert result.exit_code == EXIT_INPUT, result.output
        assert "invalid campaign id" in result.stderr


# -- schedules ---------------------------------------------------------------------------------------------


def _scheduled(runner: CliRunner) -> list[dict[str, Any]]:
    result = runner.invoke(cli, ["campaign", "scheduled", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "every, spec_kind, says",
    [
        ("1h", "binary", "a JPEG image, not a text file"),
        ("1h", "bad-pool", "none of its 1 SMILES is a valid molecule"),
        ("1h", "bad-model", "unknown predictor kind"),
        ("1h", "nan", "finite number"),
        ("0.5s", "good", "outside 1s to 366d"),
        ("99999999999w", "good", "outside 1s to 366d"),
        ("soon", "good", "cannot read the interval"),
    ],
)
def test_a_schedule_is_checked_before_it_is_stored(runner: CliRunner, tmp_path: Path, every: str, spec_kind: str, says: str) -> None:
    if spec_kind == "binary":
        spec = tmp_path / "campaign.yaml"
        spec.write_bytes(b"\xff\xd8\xff\xe0 a JPEG")
    elif spec_kind == "bad-pool":
        bad = tmp_path / "bad.smi"
        bad.write_text("not_a_smiles\n")
        spec = _spec(tmp_path, pool=bad)
    elif spec_kind == "bad-model":
        spec = _spec(tmp_path, models={"kind": "oracle"})
    elif spec_kind == "nan":
        spec = _spec(tmp_path, constraints=[{"property": "logS", "op": ">=", "value": float("nan")}])
    else:
        spec = _spec(tmp_path)
    result = runner.invoke(cli, ["campaign", "schedule", str(spec), "--every", every])
    assert result.exit_code == EXIT_INPUT, result.output
    assert says in result.stderr
    assert _scheduled(runner) == []


def test_a_scheduled_pool_is_kept_by_its_absolute_path(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.campaign import CampaignSpec
    from agent.scheduling import scheduled_spec_yaml

    _pool(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = CampaignSpec.from_yaml(_spec(tmp_path, pool="pool.csv"))
    stored = CampaignSpec.from_yaml_text(scheduled_spec_yaml(spec), "stored")
    assert stored.pool.file == str(tmp_path.resolve() / "pool.csv")
    assert stored.model_copy(update={"pool": spec.pool}) == spec


@pytest.mark.parametrize("run_for", ["-1", "0", "nan", "inf"])
def test_the_scheduler_refuses_a_duration_it_cannot_serve(runner: CliRunner, run_for: str) -> None:
    result = runner.invoke(cli, ["campaign", "scheduler", "--run-for", run_for])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "--run-for must be a positive number of seconds" in result.stderr
    assert "Serving" not in result.stdout


# -- failing while running -----------------------------------------------------------------------------------


def test_a_campaign_that_fails_while_running_is_marked_failed_and_exits_4(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.lab_access import SimulatedLabAccess
    from lab.errors import InstrumentFault

    async def broken(self: Any, smiles: list[str], assays: list[str], op_prefix: str) -> Any:
        raise InstrumentFault("plate_reader", "the lamp failed")

    working = SimulatedLabAccess.run_assays
    monkeypatch.setattr(SimulatedLabAccess, "run_assays", broken)
    result = runner.invoke(cli, ["campaign", "run", str(_spec(tmp_path)), "--json"])
    assert result.exit_code == EXIT_RUN_FAILED, result.output
    [campaign] = _campaigns(runner)
    assert campaign["status"] == "failed"
    payload = json.loads(result.stdout)
    assert payload == {
        "error": f"campaign {campaign['id']} failed while running: InstrumentFault: plate_reader: the lamp failed",
        "type": "InstrumentFault",
        "campaign_id": campaign["id"],
        "status": "failed",
    }
    assert f"atomloop campaign resume {campaign['id']}" in result.stderr
    monkeypatch.setattr(SimulatedLabAccess, "run_assays", working)  # the lamp replaced, the failed campaign resumes
    resumed = runner.invoke(cli, ["campaign", "resume", campaign["id"], "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "done"
    assert _campaigns(runner)[0]["status"] == "done"


def test_a_resume_whose_pool_is_gone_is_refused_and_changes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    from agent.app import build_app
    from agent.campaign import CampaignRunner, CampaignSpec

    pool = _pool(tmp_path)
    started = CampaignRunner.create(build_app(), CampaignSpec.from_yaml(_spec(tmp_path, pool=pool)))
    pool.unlink()
    result = runner.invoke(cli, ["campaign", "resume", started.id])
    assert result.exit_code == EXIT_INPUT, result.output
    assert "no such pool file" in result.stderr
    # never run by a live process: interrupted, as it was, not failed
    assert [c["status"] for c in _campaigns(runner)] == ["interrupted"]
    status = runner.invoke(cli, ["campaign", "status", started.id, "--json"])  # still shows, without the verdict
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["status"] == "interrupted"


# -- one process at a time -------------------------------------------------------------------------------------


def test_a_campaign_held_by_another_runner_is_refused_before_it_runs(runner: CliRunner, tmp_path: Path) -> None:
    """The lease is taken inside ``CampaignRunner.run``, so every path that runs a campaign (the CLI, the
    scheduler, ``start_campaign`` in a run) is refused alike."""
    from agent import leases
    from agent.app import build_app
    from agent.campaign import CampaignRunner, CampaignSpec

    app = build_app()
    started = CampaignRunner.create(app, CampaignSpec.from_yaml(_spec(tmp_path)))
    locks = app.settings.home_dir / "locks"
    with leases.hold(locks, "campaign", started.id):
        with pytest.raises(leases.AlreadyRunning, match=f"already running in process {os.getpid()}"):
            started.run()
        result = runner.invoke(cli, ["campaign", "resume", started.id])
        assert result.exit_code == EXIT_INPUT, result.output
        assert f"already running in process {os.getpid()}" in result.stderr
        assert [c["status"] for c in _campaigns(runner)] == ["running"]  # held: running, not interrupted
    assert [c["status"] for c in _campaigns(runner)] == ["interrupted"]
    assert _measurements(runner) == 0


def test_two_processes_on_one_campaign_the_second_is_refused(runner: CliRunner, tmp_path: Path, _isolated_home: Path) -> None:
    """The first runs the campaign in a process of its own; this one is the second."""
    from agent import leases

    home = _isolated_home
    env = {**os.environ, "ATOMLOOP_HOME": str(home)}
    # long enough to be running when the second process starts; it is killed once that one was refused
    spec = _spec(tmp_path, pool=_pool(tmp_path, 40), budget={"experiments": 40, "iterations": 30}, batch_size=1)
    first = subprocess.Popen([ATOMLOOP, "campaign", "run", str(spec)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        locks = home / "locks"
        campaign_id, deadline = None, time.monotonic() + 120
        while campaign_id is None and time.monotonic() < deadline and first.poll() is None:
            for lock in locks.glob("campaign-*.lock") if locks.is_dir() else ():
                held = lock.stem.removeprefix("campaign-")
                if leases.holder(locks, "campaign", held) is not None:
                    campaign_id = held
            time.sleep(0.05)
        assert campaign_id is not None, first.stderr.read() if first.poll() is not None and first.stderr else "no lease"
        second = runner.invoke(cli, ["campaign", "resume", campaign_id])
        assert second.exit_code == EXIT_INPUT, second.output
        assert f"already running in process {first.pid}" in second.stderr
        assert first.poll() is None  # the first is still running its campaign
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    assert [(c["id"], c["status"]) for c in _campaigns(runner)] == [(campaign_id, "interrupted")]
