"""The job process: ``python -m tools.compute.child``, started and owned by a ``JobProcess``.

It reads one job per line (JSON) on stdin, runs it, writes a succeeded result's file, and answers on its own copy of
the original stdout (the job's prints go to stderr, so they cannot corrupt the protocol). It exits when stdin closes
or when the process that started it is gone, so no job keeps running for a client that was killed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


def _send(channel: TextIO, lock: threading.Lock, message: dict[str, Any]) -> None:
    with lock:
        channel.write(json.dumps(message) + "\n")
        channel.flush()


def main() -> int:
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()

    from tools.compute.calling import call_job
    from tools.compute.results import write_result_file

    lock = threading.Lock()
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)

        def progress(fraction: float, note: str, key: str = job["key"]) -> None:
            _send(channel, lock, {"type": "progress", "key": key, "fraction": fraction, "note": note})

        outcome = call_job(job["kind"], job["inputs"], progress)
        stored = False
        if outcome["status"] == "succeeded" and job.get("results_dir"):
            payload = {"key": job["key"], "kind": job["kind"], "worker": job.get("worker"), **outcome}
            try:
                write_result_file(Path(job["results_dir"]), job["key"], payload)
                stored = True
            except OSError as error:  # a remote worker without the client's filesystem: the client writes it
                print(f"atomloop job process: cannot write the result file: {error}", file=sys.stderr)
        _send(channel, lock, {"type": "done", "key": job["key"], "stored": stored, **outcome})
    return 0


if __name__ == "__main__":
    sys.exit(main())
