"""The Dask executor: the same jobs on a Dask cluster, a ``LocalCluster`` of worker processes started on first use
or the scheduler at ``ATOMLOOP_COMPUTE__ADDRESS`` (so a user with a cluster runs the same code on it).

Dask cannot stop a task's running thread, so a task does not call the job function itself: each Dask worker keeps
job processes (``runner.JobProcess``, through a worker plugin), and the task hands its job to one and waits, killing
it on the job's deadline or when the job is cancelled (the client sets a Dask ``Event`` named after the job). A job
process that dies is retried inside the task; a Dask worker that dies is Dask's business (``KilledWorker`` after its
allowed failures), reported as a failed job. This module imports ``distributed``: it is loaded only when the Dask
executor is chosen. A process cluster starts its workers by spawning, so a script that runs it needs a
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from distributed import Client, Event, LocalCluster, WorkerPlugin, get_worker

from tools.compute.book import Batch, JobBook
from tools.compute.errors import ComputeSetupError
from tools.compute.jobs import JobOutcome, JobRequest, ProgressCallback
from tools.compute.runner import THREAD_LIMITS, JobProcess, RawResult

log = logging.getLogger(__name__)

PLUGIN_NAME = "atomloop-job-processes"
_TICK_S = 0.1
_PROCESSING_POLL_S = 1.0
_GATHER_S = 0.3
_CANCEL_POLL_S = 1.0


def cancel_event_name(key: str) -> str:
    return f"atomloop-cancel-{key}"


class JobProcessPlugin(WorkerPlugin):
    """Gives each Dask worker a few job processes, reused by its tasks one at a time."""

    idempotent = True

    def __init__(self, results_dir: str | None) -> None:
        self.results_dir = results_dir

    def setup(self, worker: Any) -> None:
        self._address = worker.address
        self._lock = threading.Lock()
        self._idle: list[JobProcess] = []
        self._count = 0
        self._results: Path | None = None
        if self.results_dir:
            try:  # a worker on another machine may not see the client's directory: the client writes results then
                Path(self.results_dir).mkdir(parents=True, exist_ok=True)
                self._results = Path(self.results_dir)
            except OSError:
                self._results = None

    def checkout(self) -> JobProcess:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self._count += 1
            log_path = self._results / "logs" / f"dask-{os.getpid()}-{self._count}.log" if self._results else None
            return JobProcess(f"dask {self._address}", results_dir=self._results, log_path=log_path)

    def checkin(self, process: JobProcess) -> None:
        with self._lock:
            self._idle.append(process)

    def teardown(self, worker: Any) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for process in idle:
            process.close()


class _CancelWatch:
    """``should_stop`` for a task: looks at the job's cancel event once a second, after the first second."""

    def __init__(self, key: str) -> None:
        self._name = cancel_event_name(key)
        self._next = time.monotonic() + _CANCEL_POLL_S
        self._event: Event | None = None

    def __call__(self) -> bool:
        if time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + _CANCEL_POLL_S
        try:
            if self._event is None:
                self._event = Event(self._name)
            return bool(self._event.is_set())
        except Exception as error:  # noqa: BLE001 - the scheduler is unreachable: keep working, the deadline holds
            log.debug("cannot read the cancel event of %s: %s", self._name, error)
            return False


def run_on_worker(key: str, kind: str, inputs: dict[str, Any], timeout_s: float | None, max_retries: int) -> dict[str, Any]:
    """The Dask task of one job: run it in one of this worker's job processes, retrying a process that died."""
    plugin = get_worker().plugins[PLUGIN_NAME]
    assert isinstance(plugin, JobProcessPlugin)
    process = plugin.checkout()
    should_stop = _CancelWatch(key)
    try:
        attempt = 0
        while True:
            attempt += 1
            raw = process.run(key, kind, inputs, timeout_s=timeout_s, should_stop=should_stop)
            if raw.status == "died" and attempt <= max_retries:
                log.warning("job %s: %s; running it again", key[:12], raw.error)
                continue
            return {**raw.as_dict(), "attempts": attempt}
    finally:
        plugin.checkin(process)


def _arrived(done: queue.SimpleQueue[str], key: str, _future: Any) -> None:
    done.put(key)


class DaskExecutor:
    name = "dask"

    def __init__(
        self,
        book: JobBook | None,
        *,
        workers: int = 0,
        address: str | None = None,
        default_timeout_s: float | None = None,
        poll_s: float = 0.5,
    ) -> None:
        self.book = book
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self.address = address
        self.default_timeout_s = default_timeout_s
        self.poll_s = poll_s
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None

    @property
    def client(self) -> Client:
        """The Dask client, connected (and the local cluster started) on first use."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Client:
        try:
            if self.address:
                client = Client(self.address, timeout="20s")
            else:
                if logging.getLogger("distributed").getEffectiveLevel() < logging.WARNING:
                    logging.getLogger("distributed").setLevel(logging.WARNING)  # its scheduler runs in this process
                self._cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                    silence_logs=logging.ERROR, env=dict(THREAD_LIMITS), death_timeout=30,
                )
                client = Client(self._cluster)
        except (OSError, TimeoutError) as error:
            where = f"the Dask scheduler at {self.address}" if self.address else "a local Dask cluster"
            raise ComputeSetupError(f"cannot reach {where}: {error}") from error
        results_dir = str(self.book.results_dir) if self.book is not None else None
        client.register_plugin(JobProcessPlugin(results_dir), name=PLUGIN_NAME)
        log.info("Dask executor on %s", client.scheduler.address if client.scheduler else self.address)
        return client

    def run(
        self, jobs: Sequence[JobRequest], *, group: str = "", on_progress: ProgressCallback | None = None
    ) -> list[JobOutcome]:
        batch = Batch(self.book, jobs, group=group, executor=self.name, default_timeout_s=self.default_timeout_s,
                      on_progress=on_progress, poll_s=self.poll_s)
        if batch.todo:
            self._run(batch)
        return batch.outcomes()

    def _run(self, batch: Batch) -> None:
        client = self.client
        token = uuid.uuid4().hex[:8]
        done: queue.SimpleQueue[str] = queue.SimpleQueue()
        futures: dict[str, Any] = {}
        job_of: dict[str, str] = {}
        todo = batch.todo
        dask_keys = [f"atomloop-{job.key[:24]}-{token}" for job in todo]
        submitted = client.map(
            run_on_worker, [job.key for job in todo], [job.kind for job in todo], [job.inputs for job in todo],
            [batch.timeout_for(job) for job in todo], [job.max_retries for job in todo], key=dask_keys, pure=False,
        )
        for job, dask_key, future in zip(todo, dask_keys, submitted, strict=True):
            future.add_done_callback(partial(_arrived, done, job.key))
            futures[job.key] = future
            job_of[dask_key] = job.key
        remaining = set(futures)
        running: set[str] = set()
        next_look = last_gather = time.monotonic()
        arrived: list[str] = []
        try:
            while remaining:
                try:
                    arrived.append(done.get(timeout=_TICK_S))
                    while True:
                        arrived.append(done.get_nowait())
                except queue.Empty:
                    pass
                # a gather is a round trip to the workers: collect what finished in one, a few times a second
                if arrived and (len(arrived) >= len(remaining) or time.monotonic() - last_gather >= _GATHER_S):
                    self._collect(client, batch, futures, arrived)
                    arrived, last_gather = [], time.monotonic()
                for key in batch.tick():
                    if key in remaining:
                        self._stop(client, key, futures[key])
                        batch.cancel(key, "cancelled: its Dask task was cancelled")
                remaining = {key for key in remaining if not batch.is_finished(key)}
                if remaining and time.monotonic() >= next_look:
                    next_look = time.monotonic() + _PROCESSING_POLL_S
                    for address, keys in client.processing().items():
                        for dask_key in keys:
                            job_key = job_of.get(str(dask_key))
                            if job_key is not None and job_key not in running and not batch.is_finished(job_key):
                                running.add(job_key)
                                batch.started(job_key, f"dask {address}", 1)
        except BaseException:  # KeyboardInterrupt, SystemExit: stop the work, record it, then let it through
            for key in remaining:
                self._stop(client, key, futures[key], set_event=key in running)
            batch.abort("interrupted: the run was stopped")
            raise
        finally:
            futures.clear()

    def _collect(self, client: Client, batch: Batch, futures: dict[str, Any], keys: list[str]) -> None:
        ready = [key for key in keys if futures[key].status == "finished"]
        answers = client.gather([futures[key] for key in ready]) if ready else []
        for key, answer in zip(ready, answers, strict=True):
            attempts = int(answer.pop("attempts", 1))
            answer.pop("extra", None)
            batch.finished(key, RawResult(**answer), attempts)
        for key in keys:
            future = futures[key]
            if future.status == "error" and not batch.is_finished(key):
                error = future.exception()
                what = (f"the Dask worker running it died ({error})" if type(error).__name__ == "KilledWorker"
                        else f"{type(error).__name__}: {error}")
                batch.finished(key, RawResult(status="failed", error=what), attempts=1)
            elif future.status not in ("finished", "error") and not batch.is_finished(key):
                batch.cancel(key, f"its Dask task ended as {future.status}")

    def _stop(self, client: Client, key: str, future: Any, *, set_event: bool = True) -> None:
        if set_event:
            try:
                Event(cancel_event_name(key), client=client).set()
            except Exception as error:  # noqa: BLE001 - the task is cancelled anyway; its deadline still holds
                log.debug("cannot set a cancel event: %s", error)
        future.cancel()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
