"""Compute jobs: what a caller submits, what it gets back, and the executor seam that runs them.

A job is a call of a top-level function ``fn(**inputs)`` named by ``kind`` ("package.module:function"), so any
worker process that can import the package can run it. Its content key hashes ``(kind, inputs)``: a job submitted
again with the same inputs is found in the job book and its stored result is returned instead of running it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

JobStatus = Literal["succeeded", "failed", "timed_out", "cancelled"]


def canonical_json(value: Any) -> str:
    """The one JSON spelling of a value: sorted keys, no whitespace, non-ASCII kept, NaN refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_key(kind: str, inputs: dict[str, Any]) -> str:
    """The sha256 hex digest of the canonical JSON of ``[kind, inputs]``."""
    return hashlib.sha256(canonical_json([kind, inputs]).encode("utf-8")).hexdigest()


class JobRequest(BaseModel):
    """One unit of work: call the function ``kind`` names with ``inputs`` as keyword arguments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(description="'package.module:function': a top-level function a worker can import")
    inputs: dict[str, Any] = Field(default_factory=dict, description="JSON-able keyword arguments")
    label: str = Field(default="", description="For people (e.g. the SMILES); not part of the key")
    timeout_s: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="Wall time, then killed")
    max_retries: int = Field(default=1, ge=0, description="Re-runs after a worker died, not after a raise")

    @field_validator("kind")
    @classmethod
    def _importable_name(cls, value: str) -> str:
        module, sep, function = value.partition(":")
        if not sep or not module.strip() or not function.strip() or ":" in function:
            raise ValueError("give the function as 'package.module:function'")
        return value.strip()

    @field_validator("inputs")
    @classmethod
    def _json_able(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            canonical_json(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"inputs must be JSON-able ({error})") from None
        return value

    @property
    def key(self) -> str:
        """The content key: the same function with the same inputs is the same job."""
        return content_key(self.kind, self.inputs)


class JobOutcome(BaseModel):
    """How one job ended, as the caller sees it."""

    model_config = ConfigDict(frozen=True)

    key: str
    label: str
    status: JobStatus
    result: Any = None
    error: str | None = None
    reused: bool = False
    worker: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


ProgressCallback = Callable[[int, int], None]


@runtime_checkable
class ComputeExecutor(Protocol):
    """Runs a batch of jobs and returns their outcomes in the order of the batch.

    A job that failed, timed out or was cancelled is an outcome, never an exception; ``group`` names the batch for
    people and is stored with each job; ``on_progress(done, total)`` is called as jobs finish.
    """

    name: str

    def run(
        self, jobs: Sequence[JobRequest], *, group: str = "", on_progress: ProgressCallback | None = None
    ) -> list[JobOutcome]: ...

    def close(self) -> None: ...


class ComputeOptions(Protocol):
    """What ``build_executor`` reads from the settings (``agent.settings.ComputeSettings`` has these fields)."""

    @property
    def executor(self) -> str: ...

    @property
    def workers(self) -> int: ...

    @property
    def address(self) -> str | None: ...

    @property
    def job_timeout_s(self) -> float | None: ...


if TYPE_CHECKING:
    from tools.compute.book import JobBook


def build_executor(settings: ComputeOptions, book: JobBook | None) -> ComputeExecutor:
    """The executor the settings name, recording its jobs in ``book`` (None: no reuse and no records).

    ``local``: a pool of ``workers`` job processes on this machine (0 = one per CPU). ``dask``: a Dask client on
    the scheduler at ``address``, or on a ``LocalCluster`` of ``workers`` processes started when it is first used.
    ``inline``: each job in the calling process, one after another (for tests; no timeout is enforced).
    """
    if settings.executor == "local":
        from tools.compute.local import LocalExecutor

        return LocalExecutor(book, workers=settings.workers, default_timeout_s=settings.job_timeout_s)
    if settings.executor == "dask":
        try:
            from tools.compute.dask import DaskExecutor
        except ImportError as error:
            from tools.compute.errors import ComputeSetupError

            raise ComputeSetupError(f"the Dask executor needs dask[distributed] installed ({error})") from error

        return DaskExecutor(book, workers=settings.workers, address=settings.address,
                            default_timeout_s=settings.job_timeout_s)
    if settings.executor == "inline":
        from tools.compute.inline import InlineExecutor

        return InlineExecutor(book, default_timeout_s=settings.job_timeout_s)
    from tools.compute.errors import ComputeSetupError

    raise ComputeSetupError(f"unknown compute executor {settings.executor!r}: one of local, dask, inline")


def __getattr__(name: str) -> Any:
    """``InlineExecutor`` and ``JobBook`` importable from here too (loaded on first use: they import this module)."""
    if name == "InlineExecutor":
        from tools.compute.inline import InlineExecutor

        return InlineExecutor
    if name == "JobBook":
        from tools.compute.book import JobBook

        return JobBook
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
