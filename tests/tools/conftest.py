"""Fixtures for the tools' tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from tools.compute.inline import InlineExecutor
from tools.compute.jobs import JobOutcome, JobRequest, ProgressCallback


class TwoSlotInline(InlineExecutor):
    """The inline executor (jobs run in this process, one after another) saying it runs two at once, so callers
    take their fan-out path; it keeps the jobs it was given."""

    workers = 2

    def __init__(self) -> None:
        super().__init__(None)
        self.jobs: list[JobRequest] = []

    @property
    def kinds(self) -> list[str]:
        return [job.kind for job in self.jobs]

    def run(
        self, jobs: Sequence[JobRequest], *, group: str = "", on_progress: ProgressCallback | None = None
    ) -> list[JobOutcome]:
        self.jobs += jobs
        return super().run(jobs, group=group, on_progress=on_progress)


@pytest.fixture
def two_slot_inline() -> Callable[[], TwoSlotInline]:
    """Makes a new ``TwoSlotInline`` each call."""
    return TwoSlotInline
