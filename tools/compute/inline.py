"""The inline executor: each job in the calling process, one after another, with the same bookkeeping as the others.

For tests of callers and for debugging a job function (a breakpoint in it works). A timeout cannot be enforced in
the calling process (nothing can stop a running Python function from outside it without its process), so jobs run
to their end; use the local executor when a timeout must hold.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from functools import partial

from tools.compute.book import Batch, JobBook
from tools.compute.calling import call_job
from tools.compute.jobs import JobOutcome, JobRequest, ProgressCallback
from tools.compute.runner import RawResult

log = logging.getLogger(__name__)


class InlineExecutor:
    name = "inline"

    def __init__(self, book: JobBook | None, *, default_timeout_s: float | None = None) -> None:
        self.book = book
        self.default_timeout_s = default_timeout_s

    def run(
        self, jobs: Sequence[JobRequest], *, group: str = "", on_progress: ProgressCallback | None = None
    ) -> list[JobOutcome]:
        batch = Batch(self.book, jobs, group=group, executor=self.name, default_timeout_s=self.default_timeout_s,
                      on_progress=on_progress)
        worker = f"inline {socket.gethostname()} pid {os.getpid()}"
        for job in batch.todo:
            batch.tick()
            if batch.is_cancelled(job.key):
                batch.cancel(job.key)
                continue
            batch.started(job.key, worker, 1)
            answer = call_job(job.kind, job.inputs, partial(_progressed, batch, job.key))
            raw = RawResult(status=answer["status"], result=answer["result"], error=answer["error"], worker=worker,
                            started_at=answer["started_at"], finished_at=answer["finished_at"])
            batch.finished(job.key, raw, attempts=1)
        return batch.outcomes()

    def close(self) -> None:
        """Nothing to release."""


def _progressed(batch: Batch, key: str, fraction: float, _note: str) -> None:
    batch.progress(key, fraction)
