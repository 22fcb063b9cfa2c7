"""The bookkeeping every executor shares: the job book (the store's job ledger and the result files) and one
batch's progress through it.

Before anything runs, each job's content key is looked up: a job whose result file exists succeeded before, and its
result is returned as a reused outcome without running it (the file is the evidence: a row left ``running`` by a
killed client does not block a re-run, and a result a worker wrote just before its client was killed is collected).
While a batch runs, state changes are buffered and written in one transaction per tick, and cancellation requested
from another process (``atomloop jobs cancel``) is noticed at the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from knowledge.jobs import JobLedger, client_name
from tools.compute.calling import now_iso
from tools.compute.jobs import JobOutcome, JobRequest, ProgressCallback
from tools.compute.results import ResultFiles
from tools.compute.runner import RawResult

log = logging.getLogger(__name__)


class JobBook:
    """Where jobs are recorded (the ledger) and their results kept (the result files)."""

    def __init__(self, ledger: JobLedger, results_dir: Path) -> None:
        self.ledger = ledger
        self.results = ResultFiles(results_dir)

    @classmethod
    def open(cls, engine: Engine, results_dir: Path) -> JobBook:
        return cls(JobLedger(engine), results_dir)

    @property
    def results_dir(self) -> Path:
        return self.results.root

    def reusable(self, jobs: Sequence[JobRequest]) -> dict[str, JobOutcome]:
        """The outcomes of the jobs that already succeeded, by key, their rows brought up to date."""
        unique = {job.key: job for job in jobs}
        found: dict[str, dict[str, Any]] = {}
        for key in unique:
            payload = self.results.read(key)
            if payload is not None:
                found[key] = payload
        if not found:
            return {}
        rows = self.ledger.by_keys(found)
        new_rows, repairs = [], {}
        for key, payload in found.items():
            values = {"status": "succeeded", "result_ref": self.results.ref(key), "worker": payload.get("worker"),
                      "error": None, "progress": 1.0, "started_at": _moment(payload.get("started_at")),
                      "finished_at": _moment(payload.get("finished_at")), "cancel_requested": False}
            row = rows.get(key)
            if row is None:
                job = unique[key]
                new_rows.append({"key": key, "kind": job.kind, "label": job.label, "inputs": job.inputs,
                                 "attempts": 1, **values})
            elif row.status != "succeeded" or row.result_ref is None:
                repairs[key] = {**values, "attempts": max(row.attempts, 1)}
        self.ledger.enqueue(new_rows)
        self.ledger.apply(repairs)
        if repairs:
            log.info("collected %d results written by workers whose client stopped before recording them", len(repairs))
        return {
            key: JobOutcome(key=key, label=unique[key].label, status="succeeded", result=payload.get("result"),
                            reused=True, worker=payload.get("worker"))
            for key, payload in found.items()
        }


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class Batch:
    """One ``run`` of an executor: which jobs are reused and which must run, their outcomes as they arrive, and the
    rows that record them. Worker threads report through it; the executor's own thread calls ``tick``."""

    def __init__(
        self,
        book: JobBook | None,
        jobs: Sequence[JobRequest],
        *,
        group: str,
        executor: str,
        default_timeout_s: float | None = None,
        on_progress: ProgressCallback | None = None,
        poll_s: float = 0.5,
    ) -> None:
        self.book = book
        self.executor = executor
        self._jobs = list(jobs)
        self._requests: dict[str, JobRequest] = {}
        for job in self._jobs:  # a key submitted twice in one batch runs once
            self._requests.setdefault(job.key, job)
        self._default_timeout_s = default_timeout_s
        self._on_progress = on_progress
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._changes: dict[str, dict[str, Any]] = {}
        self._cancel_requested: set[str] = set()
        self._last_poll = time.monotonic()
        self._reported = -1
        self._outcomes: dict[str, JobOutcome] = book.reusable(list(self._requests.values())) if book else {}
        self.todo: list[JobRequest] = [job for key, job in self._requests.items() if key not in self._outcomes]
        if book is not None and self.todo:
            client = client_name()
            book.ledger.enqueue([
                {"key": job.key, "kind": job.kind, "label": job.label, "group": group, "inputs": job.inputs,
                 "executor": executor, "client": client, "timeout_s": self.timeout_for(job)}
                for job in self.todo
            ])
        if self._outcomes:
            log.info("%s: %d of %d jobs reused from earlier runs", group or executor, len(self._outcomes), len(self._jobs))
        self._report_progress()

    # -- what workers report (any thread) ------------------------------------------------------------

    def timeout_for(self, job: JobRequest) -> float | None:
        return job.timeout_s if job.timeout_s is not None else self._default_timeout_s

    def is_cancelled(self, key: str) -> bool:
        return key in self._cancel_requested

    def is_finished(self, key: str) -> bool:
        return key in self._outcomes

    def started(self, key: str, worker: str | None, attempt: int) -> None:
        self._change(key, {"status": "running", "worker": worker, "attempts": attempt, "progress": None,
                           "started_at": datetime.now(UTC), "finished_at": None})

    def progress(self, key: str, fraction: float) -> None:
        self._change(key, {"progress": fraction})

    def finished(self, key: str, raw: RawResult, attempts: int) -> JobOutcome:
        """Record how a job ended; returns its outcome (the first one recorded wins, e.g. a cancellation)."""
        job = self._requests[key]
        status = raw.status
        error = raw.error
        if status == "died":
            status = "failed"
            tries = "its only attempt" if attempts == 1 else f"each of {attempts} attempts"
            error = f"{raw.error} on {tries}"
        values: dict[str, Any] = {"status": status, "worker": raw.worker, "attempts": attempts, "error": error,
                                  "started_at": _moment(raw.started_at), "finished_at": _moment(raw.finished_at)}
        if not attempts:  # never started here: keep what the row says about earlier attempts
            del values["attempts"], values["started_at"]
        if raw.worker is None:
            del values["worker"]
        if status == "succeeded":
            values["progress"] = 1.0
            if self.book is not None:
                if not raw.stored:
                    payload = {"key": key, "kind": job.kind, "worker": raw.worker, **raw.as_dict(),
                               "status": "succeeded"}
                    payload.pop("stored", None)
                    self.book.results.write(key, payload)
                values["result_ref"] = self.book.results.ref(key)
        outcome = JobOutcome(key=key, label=job.label, status=status, result=raw.result if status == "succeeded" else None,
                             error=error, worker=raw.worker)
        with self._lock:
            if key in self._outcomes:
                return self._outcomes[key]
            self._outcomes[key] = outcome
            self._changes.setdefault(key, {}).update(values)
        return outcome

    def cancel(self, key: str, reason: str = "cancelled before it ran") -> None:
        """Record a job as cancelled (if it has no outcome yet)."""
        self.finished(key, RawResult(status="cancelled", error=reason, finished_at=now_iso()), attempts=0)

    def _change(self, key: str, values: dict[str, Any]) -> None:
        with self._lock:
            if key not in self._outcomes:
                self._changes.setdefault(key, {}).update(values)

    # -- the executor's thread ---------------------------------------------------------------------

    @property
    def pending(self) -> list[str]:
        """Keys still without an outcome."""
        return [key for key in self._requests if key not in self._outcomes]

    def tick(self, *, force: bool = False) -> set[str]:
        """Write buffered changes, report progress, and return the keys newly asked to be cancelled."""
        with self._lock:
            changes, self._changes = self._changes, {}
        if self.book is not None and changes:
            self.book.ledger.apply(changes)
        newly: set[str] = set()
        now = time.monotonic()
        if self.book is not None and (force or now - self._last_poll >= self._poll_s):
            self._last_poll = now
            waiting = self.pending
            if waiting:
                newly = self.book.ledger.cancel_requested(waiting) - self._cancel_requested
                if newly:
                    log.info("cancellation requested for %d jobs", len(newly))
                    self._cancel_requested |= newly
        self._report_progress()
        return newly

    def abort(self, reason: str) -> None:
        """Record every job without an outcome as cancelled (the batch was interrupted) and write it all."""
        self._cancel_requested |= set(self.pending)
        for key in self.pending:
            self.cancel(key, reason)
        self.tick()

    def _report_progress(self) -> None:
        if self._on_progress is None:
            return
        done = sum(1 for job in self._jobs if job.key in self._outcomes)
        if done != self._reported:
            self._reported = done
            self._on_progress(done, len(self._jobs))

    def outcomes(self) -> list[JobOutcome]:
        """Write what is buffered and return the outcomes in the order of the jobs."""
        self.tick()
        missing = self.pending
        if missing:
            raise RuntimeError(f"{len(missing)} jobs have no outcome")
        return [
            outcome if outcome.label == job.label else outcome.model_copy(update={"label": job.label})
            for job in self._jobs
            for outcome in (self._outcomes[job.key],)
        ]
