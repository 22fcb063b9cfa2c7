"""The local executor on real job processes: reuse, timeouts, dead workers, cancellation, a killed client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from knowledge.database import make_engine
from knowledge.jobs import JobLedger
from tools.compute.book import JobBook
from tools.compute.jobs import JobOutcome, JobRequest
from tools.compute.local import LocalExecutor

HERE = Path(__file__).resolve().parent


@pytest.fixture
def pool(book: JobBook) -> Iterator[LocalExecutor]:
    executor = LocalExecutor(book, workers=2, poll_s=0.2)
    yield executor
    executor.close()


def square(x: int, log: Path, delay_s: float = 0.0) -> JobRequest:
    return JobRequest(kind="job_functions:square", inputs={"x": x, "log": str(log), "delay_s": delay_s}, label=f"x{x}")


def test_results_come_back_in_order_and_a_resubmitted_job_is_reused_not_run(
    pool: LocalExecutor, book: JobBook, tmp_path: Path, ran: Callable[[Path], list[str]]
) -> None:
    log = tmp_path / "ran.log"
    seen: list[tuple[int, int]] = []
    first = pool.run([square(x, log) for x in range(6)], group="squares", on_progress=lambda d, n: seen.append((d, n)))
    assert [o.result for o in first] == [0, 1, 4, 9, 16, 25]
    assert [o.status for o in first] == ["succeeded"] * 6 and not any(o.reused for o in first)
    assert [o.label for o in first] == [f"x{x}" for x in range(6)]
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)
    assert {o.worker.split(" pid ")[0] for o in first} <= {"local-1", "local-2"}  # type: ignore[union-attr]

    second = pool.run([square(x, log) for x in range(8)] + [square(2, log)], group="again")
    assert [o.result for o in second] == [0, 1, 4, 9, 16, 25, 36, 49, 4]
    assert [o.reused for o in second] == [True] * 6 + [False, False, True]
    assert sorted(ran(log), key=int) == [str(x) for x in range(8)]  # each computed exactly once

    rows = book.ledger.by_keys(o.key for o in second)
    assert {row.status for row in rows.values()} == {"succeeded"}
    assert rows[second[7].key].group == "again" and rows[second[0].key].group == "squares"
    assert rows[second[7].key].attempts == 1 and rows[second[7].key].result_ref == f"{second[7].key[:2]}/{second[7].key}.json"
    stored = json.loads((tmp_path / "jobs" / rows[second[7].key].result_ref).read_text())  # type: ignore[operator]
    assert stored["result"] == 49 and stored["key"] == second[7].key


def test_a_timeout_kills_the_process_doing_the_work(pool: LocalExecutor, book: JobBook, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    job = JobRequest(kind="job_functions:sleep_forever", inputs={"pid_file": str(pid_file)}, timeout_s=1.0)
    started = time.monotonic()
    [outcome] = pool.run([job])
    assert time.monotonic() - started < 8
    assert outcome.status == "timed_out" and "killed" in (outcome.error or "")
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert book.ledger.by_keys([job.key])[job.key].status == "timed_out"
    [after] = pool.run([JobRequest(kind="job_functions:echo", inputs={"value": 1})])  # the slot has a fresh process
    assert after.status == "succeeded" and after.result["pid"] != pid


def test_a_worker_that_dies_is_retried_then_reported_failed(
    pool: LocalExecutor, book: JobBook, tmp_path: Path, ran: Callable[[Path], list[str]]
) -> None:
    log = tmp_path / "died.log"
    killed = JobRequest(kind="job_functions:die", inputs={"how": "kill", "log": str(log)}, max_retries=2)
    exits = JobRequest(kind="job_functions:die", inputs={"how": "exit"}, max_retries=0)
    flaky = JobRequest(kind="job_functions:die_once", inputs={"marker": str(tmp_path / "marker")})
    raises = JobRequest(kind="job_functions:fail", inputs={"message": "bad input"}, max_retries=3)
    outcomes = pool.run([killed, exits, flaky, raises])
    assert [o.status for o in outcomes] == ["failed", "failed", "succeeded", "failed"]
    assert outcomes[0].error == "the job process died (killed by signal 9) on each of 3 attempts"
    assert outcomes[1].error == "the job process died (exited with code 7) on its only attempt"
    assert outcomes[2].result == "second attempt"
    assert outcomes[3].error is not None and outcomes[3].error.startswith("ValueError: bad input")
    assert ran(log) == ["kill"] * 3
    rows = book.ledger.by_keys(o.key for o in outcomes)
    assert [rows[job.key].attempts for job in (killed, exits, flaky, raises)] == [3, 1, 2, 1]


def test_cancellation_from_another_store_handle_stops_a_waiting_batch(
    pool: LocalExecutor, book: JobBook, tmp_path: Path
) -> None:
    jobs = [JobRequest(kind="job_functions:sleep_for", inputs={"seconds": 60 + x}) for x in range(4)]
    outcomes: list[JobOutcome] = []
    batch = threading.Thread(target=lambda: outcomes.extend(pool.run(jobs, group="long")))
    started = time.monotonic()
    batch.start()
    other = JobLedger(make_engine(f"sqlite:///{tmp_path / 'store.db'}"))  # what `atomloop jobs cancel` uses
    while time.monotonic() - started < 20:  # both slots busy, and the jobs' reported progress recorded
        running = other.list(status="running")
        if len(running) == 2 and all(row.progress == 0.5 for row in running):
            break
        time.sleep(0.1)
    assert len(running) == 2 and all(row.progress == 0.5 and row.client_alive for row in running)
    for job in jobs:
        other.request_cancel(job.key[:10])
    batch.join(20)
    assert not batch.is_alive() and time.monotonic() - started < 25
    assert [o.status for o in outcomes] == ["cancelled"] * 4
    assert {row.status for row in other.list(group="long")} == {"cancelled"}
    assert sum("while running" in (o.error or "") for o in outcomes) >= 2


def test_a_client_killed_mid_batch_is_resumed_without_running_finished_jobs_twice(
    book: JobBook, tmp_path: Path, ran: Callable[[Path], list[str]]
) -> None:
    log = tmp_path / "squares.log"
    url = str(book.ledger.engine.url)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    client = subprocess.Popen(
        [sys.executable, str(HERE / "batch_client.py"), "local", url, str(book.results_dir), str(log), "16", "0.3"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(list(book.results_dir.glob("*/*.json"))) < 4 and time.monotonic() < deadline:
        assert client.poll() is None, client.stderr.read().decode()  # type: ignore[union-attr]
        time.sleep(0.05)
    client.send_signal(signal.SIGKILL)
    client.wait()
    time.sleep(1.5)  # its job processes notice that their parent is gone and exit
    finished = {path.stem for path in book.results_dir.glob("*/*.json")}
    ran_before = ran(log)
    assert 4 <= len(finished) < 16
    # a result file can be on disk before the killed client recorded more than "queued" for its row: the file decides
    assert {row.status for row in book.ledger.by_keys(finished).values()} <= {"queued", "running", "succeeded"}

    executor = LocalExecutor(book, workers=2)
    try:
        outcomes = executor.run([square(x, log, 0.3) for x in range(16)], group="kill test")
    finally:
        executor.close()
    assert [o.result for o in outcomes] == [x * x for x in range(16)]
    assert {o.key for o in outcomes if o.reused} == finished
    counts = {x: ran(log).count(str(x)) for x in range(16)}
    assert all(counts[int(o.label[1:])] == 1 for o in outcomes if o.reused)
    assert sum(counts.values()) == len(ran_before) + (16 - len(finished))
    assert {row.status for row in book.ledger.list(group="kill test")} == {"succeeded"}


def test_job_processes_use_one_thread_per_numeric_library(pool: LocalExecutor) -> None:
    names = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"]
    [outcome] = pool.run([JobRequest(kind="job_functions:environment", inputs={"names": names})])
    assert outcome.result == {name: "1" for name in names}
