"""The local executor: a pool of job processes on this machine, the default for one machine.

Each pool slot is a thread that owns one job process (``runner.JobProcess``) and feeds it jobs from a shared queue,
so a timeout or a cancellation kills exactly the process doing that job and the slot starts a fresh one; a job
whose process died is run again up to its ``max_retries``. The processes stay up between batches and end with
``close()`` (or with this process: they watch their parent).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from tools.compute.book import Batch, JobBook
from tools.compute.jobs import JobOutcome, JobRequest, ProgressCallback
from tools.compute.runner import JobProcess

log = logging.getLogger(__name__)

_TICK_S = 0.1


class LocalExecutor:
    name = "local"

    def __init__(
        self,
        book: JobBook | None,
        *,
        workers: int = 0,
        default_timeout_s: float | None = None,
        poll_s: float = 0.5,
    ) -> None:
        self.book = book
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self.default_timeout_s = default_timeout_s
        self.poll_s = poll_s
        self._processes: list[JobProcess] = []

    def _process(self, index: int) -> JobProcess:
        while len(self._processes) <= index:
            number = len(self._processes) + 1
            results_dir = self.book.results_dir if self.book is not None else None
            log_path = Path(results_dir) / "logs" / f"local-{number}.log" if results_dir is not None else None
            self._processes.append(JobProcess(f"local-{number}", results_dir=results_dir, log_path=log_path))
        return self._processes[index]

    def run(
        self, jobs: Sequence[JobRequest], *, group: str = "", on_progress: ProgressCallback | None = None
    ) -> list[JobOutcome]:
        batch = Batch(self.book, jobs, group=group, executor=self.name, default_timeout_s=self.default_timeout_s,
                      on_progress=on_progress, poll_s=self.poll_s)
        if batch.todo:
            work: queue.SimpleQueue[JobRequest] = queue.SimpleQueue()
            for job in batch.todo:
                work.put(job)
            stop = threading.Event()
            slots = [
                threading.Thread(target=_drain, args=(self._process(i), work, batch, stop), name=f"atomloop-local-{i + 1}",
                                 daemon=True)
                for i in range(min(self.workers, len(batch.todo)))
            ]
            for slot in slots:
                slot.start()
            try:
                while alive := [slot for slot in slots if slot.is_alive()]:
                    alive[0].join(_TICK_S)
                    batch.tick()
            except BaseException:  # KeyboardInterrupt, SystemExit: stop the work, record it, then let it through
                stop.set()
                for slot in slots:
                    slot.join(5)
                batch.abort("interrupted: the run was stopped")
                raise
        return batch.outcomes()

    def close(self) -> None:
        for process in self._processes:
            process.close()
        self._processes.clear()


def _drain(process: JobProcess, work: queue.SimpleQueue[JobRequest], batch: Batch, stop: threading.Event) -> None:
    """One pool slot: run jobs from ``work`` until it is empty (or the batch is stopped)."""
    while not stop.is_set():
        try:
            job = work.get_nowait()
        except queue.Empty:
            return
        if batch.is_cancelled(job.key):
            batch.cancel(job.key)
            continue
        attempt = 0
        while True:
            attempt += 1
            batch.started(job.key, process.worker, attempt)
            raw = process.run(
                job.key, job.kind, job.inputs, timeout_s=batch.timeout_for(job),
                should_stop=partial(_stopped, stop, batch, job.key), on_progress=partial(_progressed, batch, job.key),
            )
            if raw.status == "died" and attempt <= job.max_retries and not stop.is_set():
                log.warning("job %s (%s): %s; running it again", job.key[:12], job.label or job.kind, raw.error)
                continue
            batch.finished(job.key, raw, attempt)
            break


def _stopped(stop: threading.Event, batch: Batch, key: str) -> bool:
    return stop.is_set() or batch.is_cancelled(key)


def _progressed(batch: Batch, key: str, fraction: float, _note: str) -> None:
    batch.progress(key, fraction)
