"""Natural-language requests through the whole agent: success rate, steps and time per request.

Each request in benchmarks/agent_requests.yaml runs in a fresh data directory whose store holds the bundled ESOL,
Lipophilicity and BACE data (as a user's store would after `atomloop db import`), on the simulated lab, with the
OfflinePlanner, and with the LLMPlanner too when ATOMLOOP_LLM__BASE_URL names an OpenAI-compatible endpoint.
A request succeeds when the run's status is the expected one, it used exactly the expected tools in order, and
the answer holds the expected substrings.

    .venv/bin/python benchmarks/agent_bench.py [--requests benchmarks/agent_requests.yaml] [--only N]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def prepare_home(template: Path) -> None:
    """A store with the bundled datasets, made once and copied for every request."""
    from knowledge.bundled import BUNDLED_DATASETS, bundled_dir
    from knowledge.database import make_engine, upgrade
    from knowledge.importing import import_measurements_csv
    from knowledge.store import KnowledgeStore

    engine = make_engine(f"sqlite:///{template / 'atomloop.db'}")
    upgrade(engine)
    store = KnowledgeStore(engine, snapshot_dir=template / "datasets")
    for dataset in BUNDLED_DATASETS:
        if dataset.name in ("esol", "lipophilicity", "bace"):
            import_measurements_csv(store, bundled_dir() / dataset.filename, dataset.property, smiles_col=dataset.smiles_column, value_col=dataset.value_column)
    engine.dispose()


def run_one(case: dict[str, Any], home: Path, offline: bool) -> dict[str, Any]:
    from agent.app import build_app
    from agent.runs import RunManager
    from agent.settings import AtomLoopSettings

    os.environ["ATOMLOOP_HOME"] = str(home)
    app = build_app(AtomLoopSettings())
    started = time.perf_counter()
    try:
        result = RunManager(app, planner=app.planner(offline=offline)).start(case["request"])
    except Exception as error:  # a crash is a failed request, and the bench goes on
        return {"ok": False, "why": f"crashed: {type(error).__name__}: {error}", "seconds": time.perf_counter() - started, "steps": 0}
    seconds = time.perf_counter() - started
    tools = [s.tool for s in result.steps if s.status == "succeeded"]
    answer = (result.answer or "").lower()
    problems = []
    if result.status != case["status"]:
        problems.append(f"status {result.status} != {case['status']}")
    if tools != case["tools"]:
        problems.append(f"tools {tools} != {case['tools']}")
    missing = [s for s in case.get("answer_contains", []) if s.lower() not in answer]
    if missing:
        problems.append(f"answer lacks {missing}")
    return {"ok": not problems, "why": "; ".join(problems), "seconds": seconds, "steps": len(result.steps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=Path, default=ROOT / "benchmarks" / "agent_requests.yaml")
    parser.add_argument("--only", type=int, default=None, help="Run only the first N requests")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cases = yaml.safe_load(args.requests.read_text())[: args.only]
    os.chdir(ROOT)  # requests name files relative to the project (data/...)
    planners = [("offline", True)]
    if os.environ.get("ATOMLOOP_LLM__BASE_URL"):
        planners.append(("llm", False))
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"
        template.mkdir()
        prepare_home(template)
        print("| planner | requests | succeeded | success rate | mean steps | median s/request | max s/request |")
        print("|---|---|---|---|---|---|---|")
        failures = []
        for name, offline in planners:
            results = []
            for index, case in enumerate(cases):
                home = Path(tmp) / f"{name}-{index}"
                shutil.copytree(template, home)
                outcome = run_one(case, home, offline)
                results.append(outcome)
                if not outcome["ok"]:
                    failures.append(f"{name} #{index} {case['request'][:60]!r}: {outcome['why']}")
            succeeded = sum(r["ok"] for r in results)
            seconds = [r["seconds"] for r in results]
            print(
                f"| {name} | {len(results)} | {succeeded} | {succeeded / len(results):.0%} | "
                f"{statistics.mean(r['steps'] for r in results):.1f} | {statistics.median(seconds):.2f} | {max(seconds):.2f} |"
            )
        for line in failures:
            print(f"\nfailed: {line}", end="")
        print()


if __name__ == "__main__":
    main()
