"""The inline executor's bookkeeping, the job ledger on each store backend, and building executors from settings."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.database import make_engine, upgrade
from knowledge.errors import NotFoundError, StoreInputError
from knowledge.jobs import JobLedger, JobNotCancellable, client_name
from tools.compute.book import JobBook
from tools.compute.errors import ComputeSetupError
from tools.compute.inline import InlineExecutor
from tools.compute.jobs import ComputeExecutor, JobRequest, build_executor


def test_inline_runs_in_this_process_with_the_same_bookkeeping(
    book: JobBook, tmp_path: Path, ran: Callable[[Path], list[str]]
) -> None:
    import os

    log = tmp_path / "inline.log"
    executor = InlineExecutor(book)
    jobs = [JobRequest(kind="job_functions:echo", inputs={"value": [1, 2], "log": str(log)}, label="pair"),
            JobRequest(kind="job_functions:fail", inputs={"message": "no"}),
            JobRequest(kind="no_such_module:fn", inputs={})]
    outcomes = executor.run(jobs, group="inline")
    assert outcomes[0].result == {"value": [1, 2], "pid": os.getpid()} and outcomes[0].status == "succeeded"
    assert outcomes[1].status == "failed" and outcomes[1].error.startswith("ValueError: no")  # type: ignore[union-attr]
    assert outcomes[2].status == "failed" and "cannot load no_such_module:fn" in outcomes[2].error  # type: ignore[operator]
    again = executor.run(jobs[:1])
    assert again[0].reused and again[0].result == outcomes[0].result and ran(log) == ["[1, 2]"]
    row = book.ledger.get(jobs[0].key[:8])
    assert (row.status, row.group, row.label, row.executor, row.attempts) == ("succeeded", "inline", "pair", "inline", 1)
    assert row.client == client_name() and row.started_at is not None and row.finished_at >= row.started_at  # type: ignore[operator]


def test_without_a_book_nothing_is_reused(tmp_path: Path, ran: Callable[[Path], list[str]]) -> None:
    log = tmp_path / "nobook.log"
    job = JobRequest(kind="job_functions:echo", inputs={"value": "x", "log": str(log)})
    executor = InlineExecutor(None)
    assert [o.reused for o in executor.run([job]) + executor.run([job])] == [False, False]
    assert ran(log) == ["x", "x"]


def test_the_ledger_lists_shows_and_cancels(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    ledger = JobLedger(engine)
    ledger.enqueue([{"key": f"{n:064x}", "kind": "m:f", "label": f"job {n}", "group": "g", "inputs": {"n": n},
                     "client": client_name()} for n in range(3)])
    ledger.apply({f"{0:064x}": {"status": "succeeded"}, f"{1:064x}": {"status": "running", "worker": "w"}})
    assert [job.label for job in ledger.list()] == ["job 2", "job 1", "job 0"]
    assert [job.label for job in ledger.list(status="running")] == ["job 1"]
    assert ledger.list(limit=1)[0].label == "job 2"
    with pytest.raises(StoreInputError, match="unknown job status"):
        ledger.list(status="done")
    first = ledger.list(status="succeeded")[0]
    assert ledger.get(str(first.id)).key == first.key
    with pytest.raises(NotFoundError):
        ledger.get("999999")
    with pytest.raises(StoreInputError, match="several jobs"):
        ledger.get("0" * 8)
    with pytest.raises(JobNotCancellable, match="already finished"):
        ledger.request_cancel(str(first.id))
    asked = ledger.request_cancel(f"{1:064x}")
    assert (asked.status, asked.cancel_requested, asked.client_alive) == ("running", True, True)
    assert ledger.cancel_requested([f"{n:064x}" for n in range(3)]) == {f"{1:064x}"}
    engine.dispose()


def test_a_job_whose_client_is_gone_is_shown_so_and_cancelled_at_once(book: JobBook) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    client = client_name().rpartition(":")[0] + ":" + dead.stdout.strip()
    book.ledger.enqueue([{"key": "ab" * 32, "kind": "m:f", "client": client, "status": "running"}])
    row = book.ledger.get("abababab")
    assert row.status == "running" and row.client_alive is False
    cancelled = book.ledger.request_cancel(str(row.id))
    assert cancelled.status == "cancelled" and "already stopped" in (cancelled.error or "")


def test_build_executor_follows_the_settings(book: JobBook) -> None:
    from agent.settings import ComputeSettings

    for name in ("local", "dask", "inline"):
        executor = build_executor(ComputeSettings(executor=name, workers=2), book)  # type: ignore[arg-type]
        assert isinstance(executor, ComputeExecutor) and executor.name == name
        executor.close()

    class Odd:
        executor, workers, address, job_timeout_s = "slurm", 1, None, None

    with pytest.raises(ComputeSetupError, match="unknown compute executor 'slurm'"):
        build_executor(Odd(), None)


def test_compute_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.settings import AtomLoopSettings

    monkeypatch.setenv("ATOMLOOP_COMPUTE__EXECUTOR", "dask")
    monkeypatch.setenv("ATOMLOOP_COMPUTE__WORKERS", "3")
    monkeypatch.setenv("ATOMLOOP_COMPUTE__ADDRESS", "tcp://10.0.0.5:8786")
    monkeypatch.setenv("ATOMLOOP_COMPUTE__JOB_TIMEOUT_S", "90")
    compute = AtomLoopSettings().compute
    assert (compute.executor, compute.workers, compute.address, compute.job_timeout_s) == ("dask", 3, "tcp://10.0.0.5:8786", 90)
    monkeypatch.setenv("ATOMLOOP_COMPUTE__EXECUTOR", "threads")
    with pytest.raises(ValueError, match="executor"):
        AtomLoopSettings()
