from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lab.errors import InstrumentBusy, SetupError, SynthesisFailed
from lab.scheduler import LabProtocol, ProtocolStep, Scheduler, SimClock

DURATIONS = {"synth": {"make": 100.0}, "reader": {"read": 10.0}, "lcms": {"run": 5.0}}


def _step(name: str, instrument: str, operation: str, log: list[str], outcome: Any = None) -> ProtocolStep:
    async def run(results: dict[str, Any]) -> Any:
        log.append(name)
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            return outcome(results)
        return name

    return ProtocolStep(name=name, instrument=instrument, operation=operation, run=run)


def _run(scheduler: Scheduler) -> Any:
    return asyncio.run(scheduler.run())


def test_different_instruments_overlap_and_the_makespan_is_computed() -> None:
    log: list[str] = []
    scheduler = Scheduler(SimClock(), DURATIONS)
    for k in range(3):
        scheduler.submit(LabProtocol(f"p{k}", (_step(f"make{k}", "synth", "make", log), _step(f"read{k}", "reader", "read", log))))
    report = _run(scheduler)
    # one synthesizer: makes at 0, 100, 200; each read follows its make and overlaps the next make
    assert report.makespan_s == pytest.approx(310.0)
    starts = {(r.protocol, r.step): r.start_s for r in report.steps}
    assert starts[("p1", "make1")] == 100 and starts[("p0", "read0")] == 100
    assert report.utilisation()["synth"] == pytest.approx(300 / 310)


def test_parallel_slots_run_jobs_at_once() -> None:
    log: list[str] = []
    scheduler = Scheduler(SimClock(), DURATIONS, slots={"synth": 3})
    for k in range(3):
        scheduler.submit(LabProtocol(f"p{k}", (_step(f"make{k}", "synth", "make", log), _step(f"read{k}", "reader", "read", log))))
    report = _run(scheduler)
    assert report.makespan_s == pytest.approx(130.0)  # three makes at once, then three reads in a row


def test_priority_goes_first_then_submission_order() -> None:
    log: list[str] = []
    scheduler = Scheduler(SimClock(), DURATIONS)
    scheduler.submit(LabProtocol("low", (_step("low", "reader", "read", log),)))
    scheduler.submit(LabProtocol("high", (_step("high", "reader", "read", log),), priority=5))
    scheduler.submit(LabProtocol("low2", (_step("low2", "reader", "read", log),)))
    _run(scheduler)
    assert log == ["high", "low", "low2"]


def test_steps_see_earlier_results() -> None:
    log: list[str] = []
    scheduler = Scheduler(SimClock(), DURATIONS)
    scheduler.submit(
        LabProtocol("p", (_step("make", "synth", "make", log, lambda r: 42), _step("read", "reader", "read", log, lambda r: r["make"] + 1)))
    )
    [outcome] = _run(scheduler).outcomes
    assert outcome.results == {"make": 42, "read": 43}


def test_a_failed_step_ends_its_protocol_only() -> None:
    log: list[str] = []
    scheduler = Scheduler(SimClock(), DURATIONS)
    scheduler.submit(LabProtocol("bad", (_step("make-bad", "synth", "make", log, SynthesisFailed("C", "no product")), _step("read-bad", "reader", "read", log))))
    scheduler.submit(LabProtocol("good", (_step("make-good", "synth", "make", log), _step("read-good", "reader", "read", log))))
    report = _run(scheduler)
    outcomes = {o.protocol: o for o in report.outcomes}
    assert outcomes["bad"].status == "failed" and outcomes["bad"].error_type == "SynthesisFailed"
    assert outcomes["good"].status == "succeeded"
    assert "read-bad" not in log


def test_transient_errors_are_retried_and_cost_time() -> None:
    log: list[str] = []
    attempts = {"n": 0}

    def flaky(results: dict[str, Any]) -> str:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise InstrumentBusy("reader", "busy")
        return "read"

    scheduler = Scheduler(SimClock(), DURATIONS)
    scheduler.submit(LabProtocol("p", (_step("read", "reader", "read", log, flaky),)))
    report = _run(scheduler)
    assert report.outcomes[0].status == "succeeded"
    assert report.steps[0].attempts == 2
    assert report.makespan_s == pytest.approx(20.0)


def test_a_step_without_a_duration_is_refused_at_submission() -> None:
    scheduler = Scheduler(SimClock(), DURATIONS)
    with pytest.raises(SetupError, match="no duration"):
        scheduler.submit(LabProtocol("p", (_step("x", "reader", "unknown-op", []),)))


def test_bugs_are_not_swallowed() -> None:
    scheduler = Scheduler(SimClock(), DURATIONS)
    scheduler.submit(LabProtocol("p", (_step("x", "reader", "read", [], ZeroDivisionError("bug")),)))
    with pytest.raises(ZeroDivisionError):
        _run(scheduler)
