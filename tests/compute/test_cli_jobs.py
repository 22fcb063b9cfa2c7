"""``atomloop jobs list | show | cancel`` on jobs an executor recorded in the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import cli
from agent.cli_common import EXIT_INPUT
from tools.compute.jobs import JobRequest


@pytest.fixture
def recorded(_isolated_home: Path) -> list[object]:
    """Three jobs run inline through the app (its store in the test's home): two succeeded, one failed."""
    from agent.app import build_app
    from agent.settings import AtomLoopSettings, ComputeSettings
    from knowledge.database import upgrade

    settings = AtomLoopSettings(compute=ComputeSettings(executor="inline"))
    with build_app(settings) as app:
        upgrade(app.unchecked_store.engine)
        jobs = [JobRequest(kind="job_functions:square", inputs={"x": x}, label=f"[b]x{x}") for x in (3, 4)]
        jobs.append(JobRequest(kind="job_functions:fail", inputs={"message": "broken"}, label="bad"))
        return app.executor.run(jobs, group="cli test")  # type: ignore[return-value]


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout


def test_jobs_list_show_and_cancel(recorded: list[object]) -> None:
    code, out = _invoke("jobs", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [job["label"] for job in listed] == ["bad", "[b]x4", "[b]x3"]
    assert [job["status"] for job in listed] == ["failed", "succeeded", "succeeded"]
    assert {job["group"] for job in listed} == {"cli test"} and {job["executor"] for job in listed} == {"inline"}

    code, out = _invoke("jobs", "list", "--status", "failed", "--json")
    assert code == 0 and [job["label"] for job in json.loads(out)] == ["bad"]
    code, out = _invoke("jobs", "list", "--limit", "1", "--json")
    assert code == 0 and len(json.loads(out)) == 1

    code, out = _invoke("jobs", "list")
    assert code == 0 and "[b]x4" in out and "succeeded" in out  # data printed as it is, not read as markup

    shown = json.loads(_invoke("jobs", "show", str(listed[1]["id"]), "--json")[1])
    assert shown["result"] == 16 and shown["inputs"] == {"x": 4} and shown["attempts"] == 1
    code, out = _invoke("jobs", "show", listed[0]["key"][:10])
    assert code == 0 and "ValueError: broken" in out and "failed" in out

    code, out = _invoke("jobs", "cancel", str(listed[1]["id"]), "--json")
    assert code == EXIT_INPUT and "already finished (succeeded)" in json.loads(out)["error"]
    code, out = _invoke("jobs", "show", "424242", "--json")
    assert code == EXIT_INPUT and "no compute job '424242'" in json.loads(out)["error"]
    code, _ = _invoke("jobs", "cancel", "424242")
    assert code == EXIT_INPUT
    code, _ = _invoke("jobs", "list", "--status", "done")
    assert code == EXIT_INPUT


def test_cancelling_an_active_job_marks_the_request(recorded: list[object]) -> None:
    from agent.app import build_app
    from knowledge.jobs import JobLedger, client_name

    ledger = JobLedger(build_app().store.engine)
    ledger.enqueue([{"key": "cd" * 32, "kind": "job_functions:sleep_forever", "client": client_name()}])
    code, out = _invoke("jobs", "cancel", "cdcdcdcd", "--json")
    assert code == 0 and json.loads(out)["cancel_requested"] is True and json.loads(out)["status"] == "queued"
    assert ledger.cancel_requested(["cd" * 32]) == {"cd" * 32}
