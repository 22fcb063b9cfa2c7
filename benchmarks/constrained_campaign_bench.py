"""The demo's constrained objective on the simulated lab: which model finds more of the potent, soluble molecules.

Each run: the demo campaign (``agent.demo.demo_campaign_spec``: maximize BACE-1 pIC50 with target 8, subject to
logS >= -5, over the bundled BACE pool) with 96 experiments (16 clustered, then 10 iterations of 8), expected
improvement with the campaign defaults for the rest of the acquisition (incumbent, batch method, batch diversity),
the given model family, in a fresh data directory. It prints one JSON line per campaign (``world_eval``:
``top2pct_found`` counts the true top 2% by pIC50 among the molecules that truly meet the constraint;
``target_found`` the molecules that truly meet target and constraint) and appends it to ``--results``.

Usage: python benchmarks/constrained_campaign_bench.py --models fingerprint gp --seeds 0 1 2 3 4 [--results FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run(model: str, seed: int) -> dict[str, object]:
    from fresh_store import fresh_app

    from agent.campaign import CampaignRunner, CampaignSpec
    from agent.demo import demo_campaign_spec

    spec = demo_campaign_spec().model_dump(mode="json")
    spec.update(
        budget={"experiments": 96, "iterations": 10},
        initial={"size": 16, "design": "clusters"},
        acquisition={"kind": "ei"},
        models={"kind": model, "seed": seed},
        seed=seed,
    )
    with fresh_app("atomloop-constrained-bench-") as app:
        started = time.perf_counter()
        runner = CampaignRunner.create(app, CampaignSpec.model_validate(spec))
        runner.run()
        evaluation = runner.world_eval()
    wall = round(time.perf_counter() - started)
    return {"model": model, "seed": seed, "wall": wall, **evaluation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["fingerprint", "gp"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--results", type=Path, default=None, help="append one JSON line per campaign here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for seed in args.seeds:
        for model in args.models:
            line = json.dumps(run(model, seed))
            print(line, flush=True)
            if args.results is not None:
                with args.results.open("a") as handle:
                    handle.write(line + "\n")


if __name__ == "__main__":
    main()
