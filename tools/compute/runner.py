"""A job process and the side that owns it: runs jobs one at a time in a separate Python process it can kill.

The owner (a local pool thread, or a task on a Dask worker) sends a job, then waits for the answer while watching
the job's deadline and whether it should stop: on a timeout or a cancellation it kills the process group, so the
work really stops, and starts a fresh process for the next job. A process that dies by itself (a native crash, the
OOM killer, ``os._exit``) is reported as ``died``, and the caller decides whether to run the job again.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from tools.compute.calling import now_iso

log = logging.getLogger(__name__)

RawStatus = Literal["succeeded", "failed", "timed_out", "cancelled", "died"]
THREAD_LIMITS = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                         "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
_WAIT_SLICE_S = 0.1


@dataclass
class RawResult:
    """What one attempt at a job came to, before the bookkeeping turns it into a ``JobOutcome``."""

    status: RawStatus
    result: Any = None
    error: str | None = None
    worker: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    stored: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "result": self.result, "error": self.error, "worker": self.worker,
                "started_at": self.started_at, "finished_at": self.finished_at, "stored": self.stored}


def child_environment() -> dict[str, str]:
    """The job process's environment: this one, one thread per numeric library, and this interpreter's import path
    (so a job function importable here is importable there)."""
    paths = [entry for entry in sys.path if entry and Path(entry).is_dir()]
    existing = os.environ.get("PYTHONPATH", "")
    env = {**os.environ, **THREAD_LIMITS, "PYTHONPATH": os.pathsep.join([*paths, *filter(None, [existing])])}
    env.pop("PYTHONSTARTUP", None)
    return env


class JobProcess:
    """One job process, started on first use and started again after it was killed or died."""

    def __init__(self, name: str, *, results_dir: Path | None, log_path: Path | None = None) -> None:
        self.name = name
        self.results_dir = results_dir
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def worker(self) -> str:
        return f"{self.name} pid {self.pid}" if self.pid else self.name

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        stderr: int | IO[bytes] = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            stderr = self.log_path.open("ab")
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tools.compute.child"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=child_environment(),
                start_new_session=True, bufsize=0,
            )
        finally:
            if not isinstance(stderr, int):
                stderr.close()
        self._buffer = b""
        log.debug("started job process %s (pid %d)", self.name, self._process.pid)
        return self._process

    def run(
        self,
        key: str,
        kind: str,
        inputs: dict[str, Any],
        *,
        timeout_s: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_progress: Callable[[float, str], None] | None = None,
    ) -> RawResult:
        """Run one job to its end, its deadline, or until ``should_stop()`` says so."""
        process = self._ensure()
        worker = self.worker
        started = now_iso()
        job = {"key": key, "kind": kind, "inputs": inputs, "worker": worker,
               "results_dir": str(self.results_dir) if self.results_dir else None}
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write((json.dumps(job) + "\n").encode("utf-8"))
            process.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._died(worker, started)
        deadline = time.monotonic() + timeout_s if timeout_s else None
        descriptor = process.stdout.fileno()
        while True:
            wait = _WAIT_SLICE_S if deadline is None else max(0.0, min(_WAIT_SLICE_S, deadline - time.monotonic()))
            ready, _, _ = select.select([descriptor], [], [], wait)
            if ready:
                chunk = os.read(descriptor, 1 << 16)
                if not chunk:
                    return self._died(worker, started)
                self._buffer += chunk
                while b"\n" in self._buffer:
                    line, self._buffer = self._buffer.split(b"\n", 1)
                    message = json.loads(line)
                    if message.get("type") == "progress":
                        if on_progress is not None:
                            on_progress(float(message["fraction"]), str(message.get("note", "")))
                        continue
                    return RawResult(
                        status=message["status"], result=message.get("result"), error=message.get("error"),
                        worker=worker, started_at=message.get("started_at", started),
                        finished_at=message.get("finished_at"), stored=bool(message.get("stored")),
                    )
            if deadline is not None and time.monotonic() >= deadline:
                self.kill()
                return RawResult(status="timed_out", error=f"stopped after {timeout_s:g} s: its process was killed",
                                 worker=worker, started_at=started, finished_at=now_iso())
            if should_stop():
                self.kill()
                return RawResult(status="cancelled", error="cancelled while running: its process was killed",
                                 worker=worker, started_at=started, finished_at=now_iso())

    def _died(self, worker: str, started: str) -> RawResult:
        process, self._process = self._process, None
        code = None
        if process is not None:
            code = process.wait()
            try:  # whatever the job started dies with it
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        return RawResult(status="died", error=f"the job process died ({how})", worker=worker, started_at=started,
                         finished_at=now_iso())

    def kill(self) -> None:
        """Kill the job process and everything it started (its process group)."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    def close(self) -> None:
        """Let the process finish by closing its input; kill it if it does not exit promptly."""
        process = self._process
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()
