"""The Dask executor on a real LocalCluster of two worker processes (started once for this module)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from knowledge.database import make_engine, upgrade
from knowledge.jobs import JobLedger
from tools.compute.book import JobBook
from tools.compute.jobs import JobOutcome, JobRequest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def dask_book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobBook]:
    root = tmp_path_factory.mktemp("dask")
    engine = make_engine(f"sqlite:///{root / 'store.db'}")
    upgrade(engine)
    yield JobBook.open(engine, root / "jobs")
    engine.dispose()


@pytest.fixture(scope="module")
def cluster(dask_book: JobBook) -> Iterator[object]:
    from tools.compute.dask import DaskExecutor

    executor = DaskExecutor(dask_book, workers=2, poll_s=0.2)
    yield executor
    executor.close()


def test_dask_runs_reuses_times_out_and_retries_on_a_local_cluster(
    cluster: object, dask_book: JobBook, tmp_path: Path, ran: Callable[[Path], list[str]]
) -> None:
    log = tmp_path / "dask.log"
    pid_file = tmp_path / "pid"
    squares = [JobRequest(kind="job_functions:square", inputs={"x": x, "log": str(log), "delay_s": 0.3}, label=f"x{x}")
               for x in range(6)]
    others = [
        JobRequest(kind="job_functions:sleep_forever", inputs={"pid_file": str(pid_file)}, timeout_s=1.0),
        JobRequest(kind="job_functions:die_once", inputs={"marker": str(tmp_path / "marker")}),
        JobRequest(kind="job_functions:fail", inputs={"message": "on dask"}),
    ]
    started = time.monotonic()
    outcomes = cluster.run(squares + others, group="dask test")  # type: ignore[attr-defined]
    assert time.monotonic() - started < 30
    assert [o.result for o in outcomes[:6]] == [0, 1, 4, 9, 16, 25]
    assert [o.status for o in outcomes[6:]] == ["timed_out", "succeeded", "failed"]
    assert outcomes[7].result == "second attempt" and outcomes[8].error.startswith("ValueError: on dask")  # type: ignore[union-attr]
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
    workers = {o.worker.split(" pid ")[0] for o in outcomes}  # type: ignore[union-attr]
    assert len(workers) == 2 and all(w.startswith("dask tcp://127.0.0.1:") for w in workers)
    rows = dask_book.ledger.by_keys(o.key for o in outcomes)
    assert rows[others[1].key].attempts == 2 and rows[squares[0].key].executor == "dask"

    again = cluster.run(squares)  # type: ignore[attr-defined]
    assert all(o.reused for o in again) and [o.result for o in again] == [0, 1, 4, 9, 16, 25]
    assert sorted(ran(log), key=int) == [str(x) for x in range(6)]


def test_dask_jobs_cancelled_from_another_process_stop_their_work(
    cluster: object, dask_book: JobBook, tmp_path: Path
) -> None:
    pids = [tmp_path / f"pid{n}" for n in range(3)]
    jobs = [JobRequest(kind="job_functions:sleep_forever", inputs={"pid_file": str(path)}) for path in pids]
    outcomes: list[JobOutcome] = []
    batch = threading.Thread(target=lambda: outcomes.extend(cluster.run(jobs, group="dask cancel")))  # type: ignore[attr-defined]
    batch.start()
    deadline = time.monotonic() + 30
    while sum(path.exists() for path in pids) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    other = JobLedger(make_engine(str(dask_book.ledger.engine.url)))
    for job in jobs:
        other.request_cancel(job.key[:12])
    batch.join(20)
    assert not batch.is_alive()
    assert [o.status for o in outcomes] == ["cancelled"] * 3
    time.sleep(1.5)  # a running task reads its cancel event once a second, then kills its job process
    for path in pids:
        if path.exists():
            with pytest.raises(ProcessLookupError):
                os.kill(int(path.read_text()), 0)


@pytest.mark.slow
def test_a_killed_dask_client_is_resumed_without_running_finished_jobs_twice(
    book: JobBook, tmp_path: Path, ran: Callable[[Path], list[str]]
) -> None:
    from tools.compute.dask import DaskExecutor

    log = tmp_path / "squares.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    client = subprocess.Popen(
        [sys.executable, str(HERE / "batch_client.py"), "dask", str(book.ledger.engine.url), str(book.results_dir),
         str(log), "24", "0.3"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(list(book.results_dir.glob("*/*.json"))) < 6 and time.monotonic() < deadline:
        assert client.poll() is None
        time.sleep(0.05)
    client.send_signal(signal.SIGKILL)
    client.wait()
    time.sleep(3)
    finished = {path.stem for path in book.results_dir.glob("*/*.json")}
    ran_before = len(ran(log))
    assert 6 <= len(finished) < 24

    executor = DaskExecutor(book, workers=2)
    try:
        jobs = [JobRequest(kind="job_functions:square", inputs={"x": x, "log": str(log), "delay_s": 0.3}, label=f"x{x}")
                for x in range(24)]
        outcomes = executor.run(jobs, group="kill test")
    finally:
        executor.close()
    assert [o.result for o in outcomes] == [x * x for x in range(24)]
    assert {o.key for o in outcomes if o.reused} == finished
    counts = {x: ran(log).count(str(x)) for x in range(24)}
    assert all(counts[int(o.label[1:])] == 1 for o in outcomes if o.reused)
    assert sum(counts.values()) == ran_before + 24 - len(finished)
