"""The compute-job ledger: the store side of compute jobs (the ``ComputeJob`` table).

Executors record what they run here (queued, running, finished, by which worker, after how many attempts) and
look a content key up before running it again; people list, show and cancel jobs through the same ledger.
Cancellation is a request: the row is marked, and the process running the batch notices and stops the work.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from knowledge.database import retry_while_locked, writer_engine
from knowledge.errors import NotFoundError, StoreInputError
from knowledge.models import ComputeJob

log = logging.getLogger(__name__)

T = TypeVar("T")

JobState = Literal["queued", "running", "succeeded", "failed", "timed_out", "cancelled"]
JOB_STATES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "timed_out", "cancelled")
ACTIVE_STATES: tuple[str, ...] = ("queued", "running")

_CHUNK = 500
_FIELDS = frozenset(ComputeJob.model_fields) - {"id", "key"}
_TABLE = ComputeJob.__table__  # type: ignore[attr-defined]


class JobNotCancellable(StoreInputError):
    """A cancel request for a job that has already finished."""


class JobRecord(BaseModel):
    """A stored compute job, as queries return it. ``client_alive`` is False when the job is queued or running for
    a process on this host that no longer exists (a run killed before it finished): nothing is working on it."""

    model_config = ConfigDict(frozen=True)

    id: int
    key: str
    kind: str
    label: str
    group: str
    inputs: dict[str, Any]
    status: str
    executor: str | None
    client: str | None
    worker: str | None
    attempts: int
    progress: float | None
    timeout_s: float | None
    result_ref: str | None
    error: str | None
    cancel_requested: bool
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    client_alive: bool | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATES

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def client_name() -> str:
    """This process as the ``client`` of the jobs it submits: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def client_alive(client: str | None) -> bool | None:
    """Whether the process named ``host:pid`` still exists; None when it runs on another host (unknowable here)."""
    if not client or ":" not in client:
        return None
    host, _, pid_text = client.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _record(row: ComputeJob) -> JobRecord:
    data = row.model_dump()
    for name in ("submitted_at", "started_at", "finished_at"):
        data[name] = _utc(data[name])
    alive = client_alive(row.client) if row.status in ACTIVE_STATES else None
    return JobRecord(**data, client_alive=alive)


class JobLedger:
    """Reads and writes ``ComputeJob`` rows. Safe to use from several processes at once (one transaction per call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer_engine(engine)

    # -- writing -----------------------------------------------------------------------------------

    def _write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction, retrying while SQLite reports the database locked."""

        def transaction() -> T:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                return work(session)

        return retry_while_locked(transaction)

    def enqueue(self, jobs: Sequence[Mapping[str, Any]]) -> None:
        """Mark each job (a mapping with ``key`` and any ``ComputeJob`` fields) queued: a new row, or the row of an
        earlier attempt at the same key reset (its error, result, worker and cancel request cleared)."""
        if not jobs:
            return
        reset = {"status": "queued", "worker": None, "attempts": 0, "progress": None, "result_ref": None,
                 "error": None, "cancel_requested": False, "started_at": None, "finished_at": None}
        fresh: dict[str, Any] = {"kind": "", "label": "", "group": "", "inputs": {}, "executor": None, "client": None,
                 "timeout_s": None, **reset}

        def work(session: Session) -> None:
            existing = self._ids(session, [job["key"] for job in jobs])
            now = datetime.now(UTC)
            inserts, updates = [], {}
            for job in jobs:
                if job["key"] in existing:
                    updates[job["key"]] = {**reset, **_checked(job), "submitted_at": now}
                else:
                    inserts.append({**fresh, **_checked(job), "key": job["key"], "submitted_at": now})
            if inserts:
                session.execute(insert(_TABLE), inserts)
            _update_many(session, updates)

        try:
            self._write(work)
        except IntegrityError:  # another process inserted one of these keys meanwhile: its row is reset instead
            self._write(work)

    def apply(self, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Apply field changes per key in one transaction (rows that do not exist are skipped)."""
        if changes:
            self._write(lambda session: _update_many(session, {key: _checked(v) for key, v in changes.items()}))

    def request_cancel(self, ref: str) -> JobRecord:
        """Ask for a job to be cancelled (by id or key prefix). A queued or running job whose client process is gone
        is marked cancelled at once; otherwise its client stops it. ``JobNotCancellable`` when it has finished."""

        def work(session: Session) -> JobRecord:
            row = self._find(session, ref)
            if row.status not in ACTIVE_STATES:
                raise JobNotCancellable(f"job {row.id} has already finished ({row.status}); nothing to cancel")
            values: dict[str, Any] = {"cancel_requested": True}
            if client_alive(row.client) is False:
                values |= {"status": "cancelled", "finished_at": datetime.now(UTC),
                           "error": "cancelled (its client process had already stopped)"}
            session.execute(update(ComputeJob).where(col(ComputeJob.id) == row.id).values(**values))
            session.flush()
            session.refresh(row)
            return _record(row)

        return self._write(work)

    # -- reading -----------------------------------------------------------------------------------

    def by_keys(self, keys: Iterable[str]) -> dict[str, JobRecord]:
        """The stored rows of these keys (keys with no row are absent)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, JobRecord] = {}
        with Session(self.engine) as session:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                for row in session.exec(select(ComputeJob).where(col(ComputeJob.key).in_(chunk))):
                    found[row.key] = _record(row)
        return found

    def cancel_requested(self, keys: Iterable[str]) -> set[str]:
        """Which of these keys someone asked to cancel."""
        wanted = list(dict.fromkeys(keys))
        hits: set[str] = set()
        with Session(self.engine) as session:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                query = select(ComputeJob.key).where(col(ComputeJob.key).in_(chunk), col(ComputeJob.cancel_requested))
                hits.update(session.exec(query))
        return hits

    def get(self, ref: str) -> JobRecord:
        """One job by its id or by a prefix of its key (at least six hex digits); ``NotFoundError`` if none."""
        with Session(self.engine) as session:
            return _record(self._find(session, ref))

    def list(self, *, status: str | None = None, group: str | None = None, limit: int = 50) -> list[JobRecord]:
        """The newest jobs first, optionally of one status or one group."""
        if status is not None and status not in JOB_STATES:
            raise StoreInputError(f"unknown job status {status!r}; one of {', '.join(JOB_STATES)}")
        query = select(ComputeJob)
        if status is not None:
            query = query.where(ComputeJob.status == status)
        if group is not None:
            query = query.where(ComputeJob.group == group)
        query = query.order_by(col(ComputeJob.submitted_at).desc(), col(ComputeJob.id).desc()).limit(max(limit, 0))
        with Session(self.engine) as session:
            return [_record(row) for row in session.exec(query)]

    def _ids(self, session: Session, keys: Sequence[str]) -> dict[str, int]:
        ids: dict[str, int] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            for key, row_id in session.exec(select(ComputeJob.key, ComputeJob.id).where(col(ComputeJob.key).in_(chunk))):
                if row_id is not None:
                    ids[key] = row_id
        return ids

    def _find(self, session: Session, ref: str) -> ComputeJob:
        text = ref.strip()
        if text.isdigit() and len(text) < 16:  # an id (a key prefix of digits only is tried next)
            row = session.get(ComputeJob, int(text))
            if row is not None:
                return row
        if len(text) >= 6 and all(c in "0123456789abcdef" for c in text.lower()):
            rows = session.exec(select(ComputeJob).where(col(ComputeJob.key).startswith(text.lower())).limit(2)).all()
            if len(rows) == 1:
                return rows[0]
            if len(rows) > 1:
                raise StoreInputError(f"the key prefix {text!r} names several jobs: give more of the key or the id")
        raise NotFoundError(f"no compute job {text!r} (give its id or a prefix of its key)")


def _update_many(session: Session, changes: Mapping[str, Mapping[str, Any]]) -> None:
    """One UPDATE per set of changed columns, executed for all its keys at once (executemany)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for key, values in changes.items():
        by_columns.setdefault(tuple(sorted(values)), []).append({**values, "job_key": key})
    for columns, rows in by_columns.items():
        if columns:
            session.execute(update(_TABLE).where(_TABLE.c.key == bindparam("job_key")), rows)


def _checked(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - _FIELDS - {"key"}
    if unknown:
        raise ValueError(f"not ComputeJob fields: {sorted(unknown)}")
    return {name: value for name, value in values.items() if name != "key"}
