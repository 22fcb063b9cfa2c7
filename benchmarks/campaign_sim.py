"""A fast offline stand-in for the BACE campaigns: choose acquisition settings here, confirm them on the lab.

What it keeps of a campaign on the simulated lab (``campaign_bench.py``): the pool (the bundled BACE set, one molecule
per InChIKey), the clustered initial design of 16 (``agent.initial_design``, the same k-means), ten batches of 8
chosen by expected improvement over the campaign's Gaussian process (the MinMax kernel on Morgan and atom-pair
counts, amplitude and noise by the grid of ``tools.predict.gp``), batches filled by the kriging believer over a
shortlist of the 256 best scores (the campaigns' ``JointPosterior``), and the count of the true top-2% molecules
measured. What it leaves out: the lab's synthesis failures grow with synthetic difficulty there and are a flat 4%
here, its readings are censored and drift there and are the dataset's value plus Gaussian noise (0.3 pIC50) here.
So its counts are close to the lab's but not the same (classic EI: 9.7 here against 10.4 there on 25 seeds), and every
setting chosen here is run on the lab before it becomes a default.

The pool's kernel matrix is computed once (about 20 s) and the campaigns then take about 3 s each. All settings see
the same seeds, and a seed's noise draws follow from the seed alone, so rows are paired: the script prints each
setting's mean and its paired difference to the first setting.

    .venv/bin/python benchmarks/campaign_sim.py [--seeds 0 40] [--incumbent-ranks none 8 16 31]
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("campaign_sim")

INITIAL = 16
BATCH = 8
ITERATIONS = 10
NOISE_SD = 0.3
FAILURE_RATE = 0.04
SHORTLIST = 256
TOP_FRACTION = 0.02


@dataclass(frozen=True)
class Pool:
    smiles: tuple[str, ...]
    truth: np.ndarray  # pIC50, the dataset's mean per molecule
    kernel: np.ndarray  # MinMax similarity between every two molecules
    top: frozenset[int]  # indices of the true top 2% (ties at the cut included)


def load_pool() -> Pool:
    import numpy as np

    from knowledge.bundled import bundled_dir
    from knowledge.chem import canonicalize
    from simulators.world import best_share
    from tools.predict.base import LRUCache
    from tools.predict.fingerprint import Featurizer
    from tools.predict.gp import GPParams, fingerprint_matrix, minmax_similarity

    values: dict[str, list[float]] = {}
    smiles_of: dict[str, str] = {}
    with (bundled_dir() / "bace_pic50.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            structure = canonicalize(row["smiles"])
            values.setdefault(structure.inchikey, []).append(float(row["pIC50"]))
            smiles_of.setdefault(structure.inchikey, structure.smiles)
    keys = sorted(values)
    smiles = tuple(smiles_of[k] for k in keys)
    truth = np.array([math.fsum(values[k]) / len(values[k]) for k in keys])
    params = GPParams()
    good, bad = Featurizer(params.radius, params.n_bits).prepare(smiles)
    if bad:
        raise SystemExit(f"{len(bad)} pool molecules could not be featurized")
    matrix = fingerprint_matrix([(s.smiles, f) for _, s, f in good], params, LRUCache(len(smiles)))
    top = best_share(((float(v), str(i)) for i, v in enumerate(truth)), TOP_FRACTION)
    return Pool(smiles, truth, minmax_similarity(matrix, matrix), frozenset(int(i) for i in top))


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, incumbent: float) -> np.ndarray:
    import numpy as np
    from scipy.stats import norm

    sigma = np.maximum(sigma, 1e-6)
    z = (mu - incumbent) / sigma
    return (mu - incumbent) * norm.cdf(z) + sigma * norm.pdf(z)


def run_campaign(pool: Pool, seed: int, incumbent_rank: int | None, initial: list[int]) -> int:
    """One campaign; returns how many of the true top 2% it measured."""
    import numpy as np
    from scipy.linalg import cho_solve, solve_triangular

    from tools.predict.base import JointPosterior
    from tools.predict.gp import JITTER, _fit_hyperparameters

    rng = np.random.default_rng(10_000 + seed)
    readings: dict[int, float | None] = {}  # None: the synthesis failed

    def measure(index: int) -> None:
        failed = rng.random() < FAILURE_RATE
        readings[index] = None if failed else float(pool.truth[index] + rng.normal(0, NOISE_SD))

    for index in initial:
        measure(index)
    for _ in range(ITERATIONS):
        train = np.array([i for i, v in readings.items() if v is not None])
        y = np.array([readings[i] for i in train], dtype=float)
        hyper = _fit_hyperparameters(pool.kernel[np.ix_(train, train)], y)  # the campaigns' GP grid
        mean, a2, s2 = hyper.mean, hyper.amplitude**2, hyper.noise**2
        candidates = np.array([i for i in range(len(pool.smiles)) if i not in readings])
        factor = np.linalg.cholesky(a2 * pool.kernel[np.ix_(train, train)] + (s2 + JITTER) * np.eye(len(train)))
        alpha = cho_solve((factor, True), y - mean)
        cross = a2 * pool.kernel[np.ix_(candidates, train)]
        mu = mean + cross @ alpha
        solved = solve_triangular(factor, cross.T, lower=True)
        sigma = np.sqrt(np.maximum(a2 - (solved**2).sum(axis=0), 0.0) + s2)
        fitted = mean + a2 * pool.kernel[np.ix_(train, train)] @ alpha
        if incumbent_rank is None:
            incumbent = float(fitted.max())
        else:
            means = np.sort(np.concatenate([fitted, mu]))[::-1]
            incumbent = float(means[min(incumbent_rank, len(means)) - 1])
        shortlist = np.argsort(-expected_improvement(mu, sigma, incumbent))[:SHORTLIST]
        covariance = a2 * pool.kernel[np.ix_(candidates[shortlist], candidates[shortlist])]
        np.fill_diagonal(covariance, a2)
        covariance -= solved[:, shortlist].T @ solved[:, shortlist]
        posterior = JointPosterior(tuple(str(i) for i in shortlist), mu[shortlist], covariance, s2)
        picks: list[int] = []
        for _ in range(BATCH):  # the kriging believer, by the campaigns' own JointPosterior
            scores = expected_improvement(posterior.mean, posterior.sigma(), incumbent)
            scores[picks] = -np.inf
            pick = int(np.argmax(scores))
            picks.append(pick)
            posterior = posterior.believe(pick)
        for pick in picks:
            measure(int(candidates[shortlist[pick]]))
    return len(pool.top & readings.keys())


def parse_rank(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs=2, type=int, default=(0, 40), metavar=("FIRST", "END"), help="range(FIRST, END)")
    parser.add_argument(
        "--incumbent-ranks", nargs="+", type=parse_rank, default=[None, 8, 16, 31], metavar="K|none",
        help="EI's incumbent: the K-th best mean over the pool, or none (the best fitted mean measured); the first is"
        " the reference of the paired differences",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[campaign_sim %(asctime)s] %(message)s", datefmt="%H:%M:%S")
    from threadpoolctl import threadpool_limits

    from agent.initial_design import cluster_representatives

    started = time.perf_counter()
    pool = load_pool()
    index_of = {s: i for i, s in enumerate(pool.smiles)}
    seeds = range(*args.seeds)
    log.info("pool of %d, top 2%%: %d; kernel in %.0f s", len(pool.smiles), len(pool.top), time.perf_counter() - started)
    found: dict[int | None, list[int]] = {rank: [] for rank in args.incumbent_ranks}
    with threadpool_limits(1):
        for seed in seeds:
            initial = [index_of[s] for s in cluster_representatives(pool.smiles, INITIAL, seed=seed)]
            for rank in args.incumbent_ranks:
                found[rank].append(run_campaign(pool, seed, rank, initial))
            log.info("seed %d: %s", seed, ", ".join(f"{r}: {v[-1]}" for r, v in found.items()))
    reference = found[args.incumbent_ranks[0]]
    print(f"Command: `.venv/bin/python benchmarks/campaign_sim.py {' '.join(sys.argv[1:])}`\n")
    print(f"Seeds {seeds.start}-{seeds.stop - 1}; {len(pool.top)} true top-2% molecules in a pool of {len(pool.smiles)}.\n")
    print("| EI incumbent | top-2% found (mean ± s.e.) | paired difference to the first row (± s.e.) | better / worse seeds |")
    print("|---|---|---|---|")
    for rank, counts in found.items():
        differences = [a - b for a, b in zip(counts, reference, strict=True)]
        label = "best fitted mean measured (classic)" if rank is None else f"rank {rank} of the pool's means"
        print(
            f"| {label} | {statistics.mean(counts):.2f} ± {statistics.stdev(counts) / math.sqrt(len(counts)):.2f} "
            f"| {statistics.mean(differences):+.2f} ± {statistics.stdev(differences) / math.sqrt(len(counts)):.2f} "
            f"| {sum(d > 0 for d in differences)} / {sum(d < 0 for d in differences)} |"
        )
    print("\nFound per seed:")
    for rank, counts in found.items():
        print(f"- {rank}: {', '.join(map(str, counts))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
