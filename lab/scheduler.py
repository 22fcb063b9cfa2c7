"""A discrete-event scheduler for lab protocols.

A protocol is an ordered list of steps, each on one instrument. Protocols wait in a queue; each instrument runs
one step at a time; steps of different protocols on different instruments overlap; among steps waiting for
the same instrument the higher priority goes first, then the earlier submission. Time is a clock the
scheduler advances from each step's duration (from the instrument's description), so the makespan of a
96-compound campaign is computed without waiting for it.

A step that raises a ``LabError`` fails its protocol (later steps are not run) and is recorded; transient
instrument errors (busy, timeout, lost connection) are retried, which is safe because operations are
idempotent on their ``op_id``. Any other exception is a bug and propagates.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lab.errors import ConnectionLost, InstrumentBusy, InstrumentTimeout, LabError, SetupError

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = (InstrumentBusy, InstrumentTimeout, ConnectionLost)


class SimClock:
    """Simulated seconds since the lab started."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now(self) -> float:
        return self._now

    def advance_to(self, moment_s: float) -> None:
        if moment_s < self._now:
            raise ValueError("the clock does not run backwards")
        self._now = moment_s


StepAction = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class ProtocolStep:
    """One step: ``run(results_so_far)`` on ``instrument``; its result is stored under ``name``."""

    name: str
    instrument: str
    operation: str
    run: StepAction
    duration_s: float | None = None


@dataclass(frozen=True)
class LabProtocol:
    name: str
    steps: tuple[ProtocolStep, ...]
    priority: int = 0


class StepRecord(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    protocol: str
    step: str
    instrument: str
    start_s: float
    end_s: float
    status: Literal["succeeded", "failed"]
    attempts: int
    error: str | None = None
    error_type: str | None = None


class ProtocolOutcome(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    protocol: str
    status: Literal["succeeded", "failed"]
    results: dict[str, Any]
    error: str | None = None
    error_type: str | None = None
    finished_s: float


class ScheduleReport(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    makespan_s: float
    steps: list[StepRecord]
    outcomes: list[ProtocolOutcome]

    def utilisation(self) -> dict[str, float]:
        """Busy time per instrument as a fraction of the makespan (above 1 for instruments with parallel slots)."""
        busy: dict[str, float] = {}
        for step in self.steps:
            busy[step.instrument] = busy.get(step.instrument, 0.0) + step.end_s - step.start_s
        return {k: (v / self.makespan_s if self.makespan_s else 0.0) for k, v in sorted(busy.items())}


@dataclass
class _Job:
    protocol: LabProtocol
    order: int
    next_step: int = 0
    results: dict[str, Any] = field(default_factory=dict)


class Scheduler:
    def __init__(
        self,
        clock: SimClock,
        durations: Mapping[str, Mapping[str, float]],
        *,
        slots: Mapping[str, int] | None = None,
        max_attempts: int = 3,
    ) -> None:
        """``durations[instrument][operation]`` in seconds and ``slots[instrument]`` (jobs at once, default 1),
        usually from each instrument's ``describe()``."""
        self._clock = clock
        self._durations = durations
        self._slots = dict(slots or {})
        self._max_attempts = max_attempts
        self._jobs: list[_Job] = []
        self._counter = itertools.count()

    def submit(self, protocol: LabProtocol) -> None:
        for step in protocol.steps:
            self._duration(step)  # fail at submission, not half-way through the run
        self._jobs.append(_Job(protocol=protocol, order=next(self._counter)))

    def _duration(self, step: ProtocolStep) -> float:
        if step.duration_s is not None:
            return step.duration_s
        try:
            return float(self._durations[step.instrument][step.operation])
        except KeyError:
            raise SetupError(f"no duration for {step.operation!r} on instrument {step.instrument!r}") from None

    async def run(self) -> ScheduleReport:
        start = self._clock.now()
        waiting: dict[str, list[tuple[int, int, int]]] = {}  # instrument -> heap of (-priority, order, job index)
        free_slots: dict[str, list[float]] = {}  # instrument -> times its slots come free
        events: list[tuple[float, int, int]] = []  # (finish time, sequence, job index)
        sequence = itertools.count()
        records: list[StepRecord] = []
        outcomes: list[ProtocolOutcome] = []
        jobs = list(self._jobs)
        self._jobs = []

        def enqueue(index: int) -> None:
            job = jobs[index]
            step = job.protocol.steps[job.next_step]
            heapq.heappush(waiting.setdefault(step.instrument, []), (-job.protocol.priority, job.order, index))

        for index, job in enumerate(jobs):
            if job.protocol.steps:
                enqueue(index)
            else:
                outcomes.append(ProtocolOutcome(protocol=job.protocol.name, status="succeeded", results={}, finished_s=start))

        while True:
            now = self._clock.now()
            for instrument, queue in waiting.items():
                slots = free_slots.setdefault(instrument, [start] * self._slots.get(instrument, 1))
                while queue and min(slots) <= now:
                    _, _, index = heapq.heappop(queue)
                    finish = await self._start_step(jobs[index], now, records)
                    slots[slots.index(min(slots))] = finish
                    heapq.heappush(events, (finish, next(sequence), index))
            if not events:
                break
            finish, _, index = heapq.heappop(events)
            self._clock.advance_to(finish)
            job = jobs[index]
            record = records[-1] if records[-1].protocol == job.protocol.name else next(
                r for r in reversed(records) if r.protocol == job.protocol.name
            )
            if record.status == "failed":
                outcomes.append(
                    ProtocolOutcome(
                        protocol=job.protocol.name,
                        status="failed",
                        results=job.results,
                        error=record.error,
                        error_type=record.error_type,
                        finished_s=finish,
                    )
                )
                continue
            job.next_step += 1
            if job.next_step < len(job.protocol.steps):
                enqueue(index)
            else:
                outcomes.append(
                    ProtocolOutcome(protocol=job.protocol.name, status="succeeded", results=job.results, finished_s=finish)
                )
        makespan = max((o.finished_s for o in outcomes), default=start) - start
        return ScheduleReport(makespan_s=makespan, steps=records, outcomes=outcomes)

    async def _start_step(self, job: _Job, now: float, records: list[StepRecord]) -> float:
        step = job.protocol.steps[job.next_step]
        duration = self._duration(step)
        attempts = 0
        while True:
            attempts += 1
            try:
                job.results[step.name] = await step.run(job.results)
            except TRANSIENT_ERRORS as error:
                if attempts < self._max_attempts:
                    log.info("%s/%s: %s; retrying", job.protocol.name, step.name, error)
                    continue
                return self._record_failure(job, step, now, duration * attempts, attempts, error, records)
            except LabError as error:
                return self._record_failure(job, step, now, duration * attempts, attempts, error, records)
            end = now + duration * attempts
            records.append(
                StepRecord(
                    protocol=job.protocol.name,
                    step=step.name,
                    instrument=step.instrument,
                    start_s=now,
                    end_s=end,
                    status="succeeded",
                    attempts=attempts,
                )
            )
            return end

    @staticmethod
    def _record_failure(
        job: _Job, step: ProtocolStep, now: float, elapsed: float, attempts: int, error: LabError, records: list[StepRecord]
    ) -> float:
        log.info("%s/%s failed: %s", job.protocol.name, step.name, error)
        records.append(
            StepRecord(
                protocol=job.protocol.name,
                step=step.name,
                instrument=step.instrument,
                start_s=now,
                end_s=now + elapsed,
                status="failed",
                attempts=attempts,
                error=str(error),
                error_type=type(error).__name__,
            )
        )
        return now + elapsed
