"""A client process for the kill -9 tests: runs one batch of ``square`` jobs on an executor and prints the outcomes.

    python batch_client.py EXECUTOR DATABASE_URL RESULTS_DIR LOG COUNT DELAY_S
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(executor: str, url: str, results: str, log: str, count: str, delay_s: str) -> None:
    from knowledge.database import make_engine
    from tools.compute.book import JobBook
    from tools.compute.jobs import JobRequest

    book = JobBook.open(make_engine(url), Path(results))
    if executor == "dask":
        from tools.compute.dask import DaskExecutor

        runner: object = DaskExecutor(book, workers=2)
    else:
        from tools.compute.local import LocalExecutor

        runner = LocalExecutor(book, workers=2)
    jobs = [JobRequest(kind="job_functions:square", inputs={"x": x, "log": log, "delay_s": float(delay_s)}, label=f"x{x}")
            for x in range(int(count))]
    outcomes = runner.run(jobs, group="kill test")  # type: ignore[attr-defined]
    print(json.dumps([outcome.model_dump() for outcome in outcomes]))
    runner.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(*sys.argv[1:])
