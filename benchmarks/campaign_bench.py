"""Closed-loop campaigns on the simulated lab: how many of the true top-2% BACE compounds each strategy finds.

For every strategy (``--strategies``; default EI, UCB, greedy = predicted mean only, random) and every seed
(``--seeds``; default 0..4), one AtomLoop campaign runs end to end through ``CampaignRunner`` in a fresh data
directory (a temporary ``ATOMLOOP_HOME`` with a newly migrated SQLite store):

    objective pIC50 (maximize), no constraints, pool = the BACE file, ``--initial`` random molecules first, then
    batches of ``--batch`` chosen by the strategy until ``--experiments`` molecules were sent to the lab.

No constraints on purpose: the goal is pure potency, so the top 2% of the pool is defined by the true pIC50 alone.
After the run, ``CampaignRunner.world_eval()`` asks the simulated world's ground truth (never shown to the models)
how many of the true top 2% (the ``ceil(2% of the pool)`` best and every molecule tied with the last of them;
``simulators.world.best_share``) the campaign measured, and how many a random choice of
as many measured molecules would hit on average (``random_expected``). A failed synthesis gives no measurement
and so cannot count as found.

Beside it, BayBE (when it is installed): its default recommender (random initial batch, then a Gaussian process
with its default acquisition) over the same pool as one discrete ``CustomDiscreteParameter`` whose encoding is
built the way BayBE's own ``SubstanceParameter`` builds one (descriptors -> drop NaN/constant columns ->
decorrelate at 0.7 -> perturb degenerate rows), from RDKit's 2D descriptors, the same descriptors as BayBE's
``RDKIT2DDESCRIPTORS`` encoding; ``SubstanceParameter`` itself needs ``baybe[chem]``, which would replace this
project's RDKit. Its molecules are measured by the same simulated lab (``SimulatedLabAccess``, the class behind
campaigns, same world seed, same noise), with the same budget, and scored with the same top-2% definition.

    .venv/bin/python benchmarks/campaign_bench.py [--seeds 0 1 2 3 4] [--strategies ei ucb greedy random]
        [--models gp fingerprint unimol] [--experiments 96] [--batch 8] [--initial 16] [--data ../shared/data]
        [--baybe-seeds 0 1 2 3 4] [--results FILE.jsonl] [--initial-design random|clusters]
        [--incumbent-rank K|none] [--conformer-cache DIR]

Greedy and random run with the first model family only. ``--results`` appends every finished campaign to a JSON-lines
file and skips campaigns already in it, so a long run can be resumed and runs of different families (one process
each) can share one file.

Markdown goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import reporting  # benchmarks/reporting.py (this folder is on sys.path)
from fresh_store import fresh_app

from agent.campaign import CampaignRunner
from agent.campaign_spec import (
    AcquisitionSpec,
    BudgetSpec,
    CampaignSpec,
    InitialSpec,
    ModelSpec,
    ObjectiveSpec,
    PoolSpec,
)
from agent.settings import AtomLoopSettings
from knowledge.chem import canonicalize

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_BACE = ROOT / "knowledge" / "bundled" / "bace_pic50.csv"
OBJECTIVE = "pIC50"
ASSAYS = ["potency"]
TOP_FRACTION = 0.02
STRATEGIES = ("ei", "ucb", "greedy", "random")
BASELINES = ("greedy", "random")  # run with the first model family only
ENRICHMENT_TARGET = 5.0
BAYBE_LABEL = "BayBE"
BAYBE_MODEL = "GP (BayBE defaults), RDKit 2D descriptors"


@dataclass(frozen=True)
class RunResult:
    strategy: str
    model: str
    seed: int
    found: int
    total: int
    random_expected: float
    experiments: int
    wall_s: float
    initial_design: str = "random"  # results files written before the option existed hold random starts


@dataclass(frozen=True)
class Pool:
    path: Path
    smiles: tuple[str, ...]  # canonical, one per InChIKey, in file order (as ``CampaignRunner.pool``)
    keys: tuple[str, ...]  # InChIKeys, aligned with ``smiles``


def progress(message: str) -> None:
    print(f"[campaign_bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the pool and the ground truth ------------------------------------------------------------------------------


def bace_path(data: Path) -> Path:
    path = data / "bace" / "bace_pic50.csv"
    return path if path.exists() else BUNDLED_BACE


def load_pool(path: Path) -> Pool:
    """The pool exactly as ``CampaignRunner.pool`` reads it: canonical SMILES, first spelling per InChIKey."""
    from knowledge.textfiles import read_smiles_file

    seen: dict[str, str] = {}
    for text in read_smiles_file(path, what="pool file"):
        structure = canonicalize(text)
        seen.setdefault(structure.inchikey, structure.smiles)
    return Pool(path=path, smiles=tuple(seen.values()), keys=tuple(seen))


def true_top(pool: Pool, world_seed: int) -> frozenset[str]:
    """InChIKeys of the true top 2% by pIC50 (ties at the cut included), as ``CampaignRunner.world_eval`` ranks
    them (no constraints: every molecule is feasible)."""
    from simulators.world import SimWorld, WorldConfig, best_share

    world = SimWorld(WorldConfig(seed=world_seed))
    return best_share(((world.true_value(s, OBJECTIVE), key) for s, key in zip(pool.smiles, pool.keys, strict=True)), TOP_FRACTION)


# -- AtomLoop campaigns -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncumbentRank:
    """``--incumbent-rank``: a rank K, or none (``rank`` None: classic EI)."""

    rank: int | None

    @classmethod
    def parse(cls, text: str) -> IncumbentRank:
        if text.lower() == "none":
            return cls(None)
        try:
            rank = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number or none, not {text!r}") from None
        if rank < 1:
            raise argparse.ArgumentTypeError("the rank must be at least 1")
        return cls(rank)


def campaign_spec(strategy: str, model: str, seed: int, pool: Pool, args: argparse.Namespace) -> CampaignSpec:
    return CampaignSpec(
        name=f"bench-{strategy}-{model}-seed{seed}",
        objectives=[ObjectiveSpec(property=OBJECTIVE, direction="maximize")],
        constraints=[],
        pool=PoolSpec(file=str(pool.path)),
        budget=BudgetSpec(experiments=args.experiments, iterations=(args.experiments - args.initial) // args.batch),
        batch_size=args.batch,
        initial=InitialSpec(size=args.initial, design=args.initial_design),
        acquisition=AcquisitionSpec(
            kind=strategy, **({} if args.incumbent_rank is None else {"incumbent_rank": args.incumbent_rank.rank})
        ),
        models=ModelSpec(kind=model, seed=seed),
        seed=seed,
    )


def run_campaign(strategy: str, model: str, seed: int, pool: Pool, top: frozenset[str], args: argparse.Namespace) -> RunResult:
    label = f"{strategy}/{model}/seed {seed}"
    with fresh_app("atomloop-campaign-bench-") as app:
        spec = campaign_spec(strategy, model, seed, pool, args)
        start = time.perf_counter()
        runner = CampaignRunner.create(app, spec, on_progress=lambda message: progress(f"{label}: {message}"))
        runner.run()
        wall_s = time.perf_counter() - start
        evaluation = runner.world_eval()
        measured = {m.inchikey for m in app.store.measurements(OBJECTIVE, campaign=runner.id)}
    # The BayBE rows use ``true_top``: check that it agrees with ``world_eval`` on every campaign.
    if (evaluation["top2pct_total"], evaluation["top2pct_found"]) != (len(top), len(top & measured)):
        raise RuntimeError(f"{label}: the benchmark's top-2% set disagrees with CampaignRunner.world_eval: {evaluation}")
    result = RunResult(
        strategy=strategy,
        model=model,
        seed=seed,
        found=evaluation["top2pct_found"],
        total=evaluation["top2pct_total"],
        random_expected=evaluation["random_expected"],
        experiments=evaluation["experiments"],
        wall_s=wall_s,
        initial_design=args.initial_design,
    )
    progress(f"{label}: found {result.found}/{result.total} of the top 2% in {result.experiments} measured molecules ({wall_s:.0f} s)")
    return result


# -- BayBE ------------------------------------------------------------------------------------------------------


def baybe_features(pool: Pool, seed: int) -> pd.DataFrame:
    """RDKit 2D descriptors of the pool, processed as BayBE's ``SubstanceParameter.comp_df`` processes its own."""
    import numpy as np
    import pandas as pd
    from baybe.settings import Settings
    from baybe.utils.dataframe import add_noise_to_perturb_degenerate_rows, df_drop_single_value_columns, df_uncorrelated_features
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Descriptors

    RDLogger.DisableLog("rdApp.*")
    rows = [Descriptors.CalcMolDescriptors(Chem.MolFromSmiles(s)) for s in pool.smiles]
    frame = pd.DataFrame(rows, index=pd.Index(pool.keys)).astype(float)
    frame = frame.loc[:, np.isfinite(frame.to_numpy()).all(axis=0)]
    frame = df_uncorrelated_features(df_drop_single_value_columns(frame))
    with Settings(random_seed=seed):
        add_noise_to_perturb_degenerate_rows(frame)  # stereoisomers share 2D descriptors
    return frame


def run_baybe(seed: int, pool: Pool, features: pd.DataFrame, top: frozenset[str], lab_seed: int, args: argparse.Namespace) -> RunResult:
    import pandas as pd
    from baybe import Campaign
    from baybe.parameters import CustomDiscreteParameter
    from baybe.searchspace import SearchSpace
    from baybe.settings import Settings
    from baybe.targets import NumericalTarget

    from agent.lab_access import SimulatedLabAccess

    label = f"{BAYBE_LABEL}/seed {seed}"
    smiles_of = dict(zip(pool.keys, pool.smiles, strict=True))
    measured: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="atomloop-baybe-bench-") as home, Settings(random_seed=seed, cache_directory=None):
        lab = SimulatedLabAccess(Path(home) / "lab.pkl", seed=lab_seed + seed)
        start = time.perf_counter()
        parameter = CustomDiscreteParameter(name="molecule", data=features, decorrelate=False)
        campaign = Campaign(searchspace=SearchSpace.from_product([parameter]), objective=NumericalTarget(OBJECTIVE).to_objective())
        sent, index = 0, 0
        while sent < args.experiments:
            size = min(args.initial if index == 0 else args.batch, args.experiments - sent)
            keys = [str(key) for key in campaign.recommend(size)["molecule"]]
            report = asyncio.run(lab.run_assays([smiles_of[key] for key in keys], ASSAYS, f"baybe-{seed}:{index}"))
            values: dict[str, list[float]] = {}
            for m in report.measurements:
                if m.property == OBJECTIVE:
                    values.setdefault(canonicalize(m.smiles).inchikey, []).append(m.value)
            if values:
                campaign.add_measurements(pd.DataFrame({"molecule": list(values), OBJECTIVE: [statistics.fmean(v) for v in values.values()]}))
            for key, own in values.items():
                measured.setdefault(key, []).extend(own)
            progress(f"{label}: iteration {index}: {len(keys)} sent, {len(values)} measured, {len(report.failures)} failed")
            sent += len(keys)
            index += 1
        wall_s = time.perf_counter() - start
    result = RunResult(
        strategy=BAYBE_LABEL,
        model=BAYBE_MODEL,
        seed=seed,
        found=len(top & measured.keys()),
        total=len(top),
        random_expected=len(measured) * len(top) / len(pool.smiles),
        experiments=len(measured),
        wall_s=wall_s,
    )
    progress(f"{label}: found {result.found}/{result.total} of the top 2% in {result.experiments} measured molecules ({wall_s:.0f} s)")
    return result


def baybe_missing_note() -> str | None:
    """Why BayBE is not beside us, or None when it can be imported."""
    try:
        import baybe  # noqa: F401
    except ImportError as error:
        return f"BayBE is not installed ({error}); `.venv/bin/pip install baybe` adds it (CPU torch is kept)."
    return None


# -- report -----------------------------------------------------------------------------------------------------


def environment() -> str:
    return reporting.environment(("rdkit", "scikit-learn", "torch", "baybe", "botorch"))


@dataclass(frozen=True)
class Row:
    strategy: str
    model: str
    runs: tuple[RunResult, ...]

    @property
    def found_mean(self) -> float:
        return statistics.fmean(r.found for r in self.runs)

    @property
    def found_std(self) -> float | None:
        return statistics.stdev(r.found for r in self.runs) if len(self.runs) > 1 else None

    @property
    def random_expected_mean(self) -> float:
        return statistics.fmean(r.random_expected for r in self.runs)

    @property
    def enrichment(self) -> float:
        return self.found_mean / self.random_expected_mean

    @property
    def wall_mean(self) -> float:
        return statistics.fmean(r.wall_s for r in self.runs)


def group(results: Sequence[RunResult]) -> list[Row]:
    keys = list(dict.fromkeys((r.strategy, r.model) for r in results))
    return [Row(strategy, model, tuple(r for r in results if (r.strategy, r.model) == (strategy, model))) for strategy, model in keys]


def results_table(rows: Sequence[Row], total: int) -> str:
    lines = [
        f"| strategy | model | seeds | top-2% found (mean ± std of {total}) | random expectation (mean)"
        " | enrichment over random | mean measured | mean wall s per campaign |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        std = "—" if row.found_std is None else f"{row.found_std:.2f}"
        seeds = ", ".join(str(r.seed) for r in row.runs)
        measured = statistics.fmean(r.experiments for r in row.runs)
        lines.append(
            f"| {row.strategy} | {row.model} | {seeds} | {row.found_mean:.2f} ± {std} | {row.random_expected_mean:.2f}"
            f" | {row.enrichment:.1f}x | {measured:.1f} | {row.wall_mean:.0f} |"
        )
    return "\n".join(lines)


def per_seed_lines(rows: Sequence[Row]) -> str:
    lines = ["Found per seed:"]
    for row in rows:
        found = ", ".join(f"{r.seed}: {r.found}" for r in row.runs)
        lines.append(f"- {row.strategy} / {row.model}: {found}")
    return "\n".join(lines)


def target_lines(rows: Sequence[Row], model: str) -> str:
    by_strategy = {row.strategy: row for row in rows if row.model == model}
    ei, greedy, random = by_strategy.get("ei"), by_strategy.get("greedy"), by_strategy.get("random")
    lines = ["Targets:"]
    if ei is None:
        return "Targets: not evaluated (no `ei` row)."
    verdict = "holds" if ei.enrichment >= ENRICHMENT_TARGET else "MISSED"
    versus_random = ""
    if random is not None:
        ratio = "∞" if random.found_mean == 0 else f"{ei.found_mean / random.found_mean:.1f}x"
        versus_random = f"; against the random strategy's own mean of {random.found_mean:.2f} found: {ratio}"
    lines.append(
        f"- ei ({model}) finds at least {ENRICHMENT_TARGET:.0f}x the hits of random: {verdict}"
        f" ({ei.found_mean:.2f} found / {ei.random_expected_mean:.2f} expected at random = {ei.enrichment:.1f}x{versus_random})"
    )
    if greedy is not None:
        verdict = "holds" if ei.found_mean > greedy.found_mean else "MISSED"
        lines.append(f"- ei ({model}) finds more than greedy: {verdict} ({ei.found_mean:.2f} against {greedy.found_mean:.2f})")
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data directory (BACE at bace/bace_pic50.csv)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="campaign, model and lab seeds")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=["ei", "ucb", "thompson", "greedy", "random"])
    parser.add_argument(
        "--models", nargs="+", default=["gp", "fingerprint", "unimol"],
        help="model families for the acquisition strategies (gp first: it is the campaign default)",
    )
    parser.add_argument("--experiments", type=int, default=96, help="molecules sent to the lab per campaign, initial batch included")
    parser.add_argument("--batch", type=int, default=8, help="molecules per model-guided iteration")
    parser.add_argument("--initial", type=int, default=16, help="molecules measured before the first model")
    parser.add_argument(
        "--initial-design", choices=["random", "clusters"], default="random",
        help="how a campaign picks them: at random (the default here, as in the first campaign benchmarks), or one per"
        " k-means cluster of the pool (the default of campaign files); BayBE keeps its own random start",
    )
    parser.add_argument(
        "--results", type=Path, default=None,
        help="append each finished campaign to this JSON-lines file, and skip the campaigns already in it",
    )
    parser.add_argument(
        "--incumbent-rank", type=IncumbentRank.parse, default=None, metavar="K|none",
        help="EI's incumbent: the model's K-th best mean over the pool (default: the campaign default, 8); none:"
        " the best fitted mean measured so far (classic EI)",
    )
    parser.add_argument("--baybe-seeds", nargs="*", type=int, default=None, help="seeds for BayBE (default: --seeds; none: skip)")
    parser.add_argument(
        "--conformer-cache", type=Path, default=None, metavar="DIR",
        help="keep unimol's conformers in this directory (ATOMLOOP_CONFORMER_CACHE), so that campaigns after the first"
        " and processes side by side make each once; default: each campaign's temporary home",
    )
    args = parser.parse_args(argv)
    if any(seed < 0 for seed in args.seeds):
        parser.error("seeds must not be negative")
    if not 0 < args.initial < args.experiments or args.batch < 1 or (args.experiments - args.initial) % args.batch:
        parser.error("need 0 < --initial < --experiments and (--experiments - --initial) divisible by --batch")
    if args.baybe_seeds is None:
        args.baybe_seeds = list(args.seeds)
    return args


def load_results(path: Path | None, initial_design: str) -> dict[tuple[str, str, int], RunResult]:
    """Finished campaigns from a ``--results`` file with this initial design (BayBE's: any), by (strategy, model,
    seed)."""
    if path is None or not path.exists():
        return {}
    results = [RunResult(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(r.strategy, r.model, r.seed): r for r in results if r.initial_design == initial_design or r.strategy == BAYBE_LABEL}


def run(args: argparse.Namespace) -> str:
    from tools.predict.registry import default_families

    if args.conformer_cache is not None:  # read by each campaign's fresh app, whose home is temporary
        os.environ["ATOMLOOP_CONFORMER_CACHE"] = str(args.conformer_cache.expanduser().resolve())
    pool = load_pool(bace_path(args.data))
    lab_seed = AtomLoopSettings().lab.seed
    progress(f"pool: {len(pool.smiles)} molecules from {pool.path}")
    tops = {seed: true_top(pool, lab_seed + seed) for seed in sorted({*args.seeds, *args.baybe_seeds})}
    families = default_families()
    notes: list[str] = []
    models = []
    for model in args.models:
        if model in families:
            models.append(model)
        else:
            notes.append(f"Model family {model!r} is not registered in tools.predict.registry.default_families(): its rows are skipped.")
            progress(notes[-1])
    done = load_results(args.results, args.initial_design)
    results: list[RunResult] = []

    def finished(strategy: str, model: str, seed: int) -> RunResult | None:
        return done.get((strategy, model, seed))

    def keep(result: RunResult) -> None:
        results.append(result)
        if args.results is not None:
            with args.results.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(dataclasses.asdict(result)) + "\n")

    for index, model in enumerate(models):
        for strategy in args.strategies:
            if strategy in BASELINES and index > 0:
                continue
            for seed in args.seeds:
                previous = finished(strategy, model, seed)
                if previous is not None:
                    progress(f"{strategy}/{model}/seed {seed}: found {previous.found} (kept from {args.results})")
                    results.append(previous)
                    continue
                keep(run_campaign(strategy, model, seed, pool, tops[seed], args))

    baybe_note = baybe_missing_note() if args.baybe_seeds else "BayBE skipped (no --baybe-seeds)."
    if baybe_note is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            features = baybe_features(pool, seed=0)
            setup_s = time.perf_counter() - start
            progress(f"BayBE encoding: {features.shape[1]} decorrelated RDKit 2D descriptors ({setup_s:.0f} s)")
            for seed in args.baybe_seeds:
                previous = finished(BAYBE_LABEL, BAYBE_MODEL, seed)
                if previous is not None:
                    results.append(previous)
                    continue
                keep(run_baybe(seed, pool, features, tops[seed], lab_seed, args))
        notes.append(
            f"BayBE {reporting.package_version('baybe')}: `Campaign` with its default recommender (random initial batch of"
            f" {args.initial}, then `BotorchRecommender` with BayBE's default GP and acquisition), batches of"
            f" {args.batch} up to {args.experiments} sent, over one `CustomDiscreteParameter` of the {len(pool.smiles)}"
            f" molecules encoded by {features.shape[1]} RDKit 2D descriptors (of 217; NaN/constant columns dropped,"
            " decorrelated at |r| < 0.7, stereoisomers with identical descriptors perturbed by 0.1% noise, exactly as"
            f" `SubstanceParameter` does; computing them took {setup_s:.0f} s once, outside the per-campaign wall time)."
            " Measurements come from the same `SimulatedLabAccess` and world seed as the AtomLoop campaign of that seed;"
            " a failed synthesis gives no measurement, and neither BayBE (discrete space) nor an AtomLoop campaign"
            " sends a molecule twice."
        )
    else:
        notes.append(baybe_note)

    iterations = (args.experiments - args.initial) // args.batch
    parts = [
        f"Command: `{reporting.command_line()}`",
        f"Environment: {environment()}",
        f"Protocol: pool = `{pool.path.relative_to(ROOT.parent) if pool.path.is_relative_to(ROOT.parent) else pool.path}`,"
        f" {len(pool.smiles)} molecules (one per InChIKey). Objective pIC50 (maximize) with no constraints, so the"
        f" true top 2% ({len(next(iter(tops.values())))} molecules: the ceil of 2% of the pool, and the molecules tied with the last) is ranked by the simulated"
        " world's true pIC50 alone. Each campaign: a fresh data directory and store,"
        f" {args.initial} {'random molecules' if args.initial_design == 'random' else 'molecules, one per k-means cluster of the pool (`initial.design: clusters`)'},"
        f" then {iterations} iterations of {args.batch} chosen by the strategy"
        f" ({args.experiments} sent to the simulated lab, potency assay with its noise and synthesis failures);"
        " the seed sets the campaign, the model's training and the lab's world (lab seed + seed). Found = true top-2%"
        " molecules that got a measurement (`CampaignRunner.world_eval`); random expectation = measured × top / pool;"
        " enrichment = mean found / mean random expectation. Greedy ranks by the predicted mean only; random still"
        " trains the model each iteration, which it ignores. std is the sample standard deviation over the seeds.",
    ]
    parts.extend(notes)
    if results:
        rows = group(results)
        total = results[0].total
        parts.append(results_table(rows, total))
        parts.append(per_seed_lines(rows))
        for model in models:
            parts.append(target_lines(rows, model))
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    start = time.perf_counter()
    report = run(args)
    progress(f"done in {time.perf_counter() - start:.0f} s")
    print(report)


if __name__ == "__main__":
    main()
