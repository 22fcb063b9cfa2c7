"""Fanning one computation out as compute jobs, for callers whose in-process loop stays the default.

A caller that can split its work (an ensemble's members, a document's pages, a large pool of molecules) asks
``parallel_slots(executor)`` how many jobs the executor runs side by side and keeps its in-process loop when that is
one (no executor, the inline executor, a pool of one worker): job processes only pay for their start when they run
in parallel. ``job_results`` runs the batch and gives each job's result, or ``None`` for a job that did not succeed,
which the caller then does in its own process, so a failed job costs time, never the answer.

Jobs that hand files to each other (a training set written once and read by every member's job, a fitted member
written by its job) use a ``work_folder``: a fresh folder, removed when the computation is done. Its path is part of
the jobs' inputs, so such jobs are never reused from an earlier computation (their files are gone by then).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.compute.jobs import ComputeExecutor, JobRequest

log = logging.getLogger(__name__)


def parallel_slots(executor: ComputeExecutor | None) -> int:
    """How many jobs ``executor`` runs at once: its ``workers`` (the local pool, Dask), else one (no executor, the
    inline executor, or any executor that does not say)."""
    if executor is None:
        return 1
    workers = getattr(executor, "workers", 1)
    return workers if isinstance(workers, int) and workers > 0 else 1


def threads_per_job(executor: ComputeExecutor | None, jobs: int) -> int:
    """The cores each of ``jobs`` jobs may use when ``executor`` runs them side by side on this machine (at least 1):
    several jobs that each take every core run far slower than one at a time."""
    side_by_side = max(1, min(jobs, parallel_slots(executor)))
    return max(1, (os.cpu_count() or 1) // side_by_side)


def job_results(executor: ComputeExecutor, jobs: Sequence[JobRequest], *, group: str) -> list[Any | None]:
    """Run ``jobs`` as one batch: each job's result in the order of ``jobs``, ``None`` where a job failed, timed
    out or was cancelled (logged with its error)."""
    outcomes = executor.run(jobs, group=group)
    results: list[Any | None] = []
    for job, outcome in zip(jobs, outcomes, strict=True):
        if outcome.ok:
            results.append(outcome.result)
            continue
        reason = (outcome.error or "").strip().splitlines()[0] if outcome.error else "no error given"
        log.warning("%s: job %s %s (%s); doing its part in this process", group, job.label or job.kind,
                    outcome.status.replace("_", " "), reason)
        results.append(None)
    return results


@contextmanager
def work_folder(parent: Path | None = None, prefix: str = "atomloop-fanout-") -> Iterator[Path]:
    """A new folder for the files a fan-out's jobs exchange, under ``parent`` (None: the system's temporary
    folder; a folder every worker can see, such as one under ``$ATOMLOOP_HOME``, when workers run on other
    machines), removed with what is in it on the way out."""
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def package_versions(*packages: str) -> dict[str, str]:
    """The installed versions of ``packages`` (distribution names; "absent" for one not installed): what a job's
    result depends on besides its inputs goes into its inputs, so a job of other versions is not reused."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str] = {}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "absent"
    return versions


def file_sha256(path: Path | str) -> str:
    """The sha256 hex digest of a file's bytes (a job checks that the file it reads is the one it was sent)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path | str, sha256: str) -> Path:
    """``path``, after checking that its content is the one ``sha256`` names.

    Raises:
        ValueError: the file differs (another file at the same path, or one a worker on another machine sees).
        OSError: it cannot be read.
    """
    found = file_sha256(path)
    if found != sha256:
        raise ValueError(f"{path} is not the file this job was made for (sha256 {found[:12]}, expected {sha256[:12]})")
    return Path(path)
