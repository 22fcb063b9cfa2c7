"""MoleculeNet regression under the Uni-Mol protocol: scaffold split 80/10/10, three seeds, test RMSE.

Protocol (Uni-Mol paper, regression sets; the split is chemprop's ``scaffold_balanced``):

* Bemis–Murcko scaffolds of every molecule (RDKit ``MurckoScaffold.MurckoScaffoldSmiles``, no chirality).
  SMILES RDKit cannot parse are dropped before splitting (the output gives the count).
* Scaffold sets larger than half the validation or test size are "big"; the big sets and the small sets are
  each shuffled with ``random.Random(seed)`` and the big ones placed first. Sets are then dealt in that order:
  to train while it stays within 80%, else to validation while it stays within 10%, else to test.
  Deterministic per seed, and the seed is also the model's training seed.
* The model is trained on the train split only with ``family.train(rows, seed=seed)``; the validation split
  is not used (no early stopping or model selection). The test split is predicted once.
* Per dataset and model: test RMSE mean ± sample standard deviation over the seeds, and the means over the
  seeds of Spearman(|error|, σ), 90%-interval coverage (fraction with |error| <= 1.645 σ), training time
  (wall s of ``train``, featurization included) and inference molecules/s (``predict`` on the test split,
  featurization included: test molecules are never in the training cache).

Datasets are read from ``--data`` (default ``../shared/data`` relative to the project root); a file missing
there is read from the bundled copy in ``knowledge/bundled/`` of the same name.

    .venv/bin/python benchmarks/moleculenet.py [--data ../shared/data] [--models fingerprint [unimol]] [--seeds 0 1 2]
        [--datasets ESOL FreeSolv Lipophilicity "BACE pIC50"] [--unimol-weights PATH]
        [--unimol-params '{"learning_rate": 3e-4}'] [--conformer-cache DIR]

Markdown goes to stdout, progress lines to stderr.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import reporting  # benchmarks/reporting.py (this folder is on sys.path)

from knowledge.properties import PropertyRegistry
from tools.predict.base import PredictedValue, TrainingRows, regression_metrics
from tools.predict.registry import PredictorFamily, default_families

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "knowledge" / "bundled"
SIZES = (0.8, 0.1, 0.1)
Z90 = 1.645
RATIO_TARGET = 1.25  # fingerprint RMSE within 25% of D-MPNN's
COVERAGE_TARGET = (0.85, 0.95)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    path: str  # relative to the data folder; the bundled copy has the same file name
    column: str
    property: str
    unimol_rmse: float | None  # Uni-Mol paper, scaffold split
    dmpnn_rmse: float | None  # chemprop D-MPNN as reported by the GEM and Uni-Mol papers


DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("ESOL", "moleculenet/delaney.csv", "logp", "logS", 0.788, 1.050),  # 'logp' is logS (sic)
    DatasetSpec("FreeSolv", "moleculenet/freesolv.csv", "freesolv", "hydration_free_energy", 1.480, 2.082),
    DatasetSpec("Lipophilicity", "moleculenet/lipo.csv", "lipo", "logD", 0.603, 0.683),
    DatasetSpec("BACE pIC50", "bace/bace_pic50.csv", "pIC50", "pIC50", None, None),
)


@dataclass(frozen=True)
class Dataset:
    spec: DatasetSpec
    source: Path
    rows: TrainingRows  # parseable molecules only
    scaffolds: tuple[str, ...]  # one per row
    n_unparseable: int


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]
    valid: tuple[int, ...]
    test: tuple[int, ...]


@dataclass(frozen=True)
class SeedResult:
    seed: int
    split: Split
    rmse: float
    spearman_error_sigma: float | None
    coverage90: float
    train_s: float
    inference_per_s: float
    n_failed: int


@dataclass(frozen=True)
class ModelResult:
    dataset: DatasetSpec
    model: str
    seeds: tuple[SeedResult, ...]

    @property
    def rmse_mean(self) -> float:
        return statistics.fmean(r.rmse for r in self.seeds)

    @property
    def rmse_std(self) -> float:
        return statistics.stdev(r.rmse for r in self.seeds) if len(self.seeds) > 1 else 0.0

    @property
    def spearman_mean(self) -> float | None:
        values = [r.spearman_error_sigma for r in self.seeds if r.spearman_error_sigma is not None]
        return statistics.fmean(values) if values else None

    @property
    def coverage_mean(self) -> float:
        return statistics.fmean(r.coverage90 for r in self.seeds)

    @property
    def train_s_mean(self) -> float:
        return statistics.fmean(r.train_s for r in self.seeds)

    @property
    def inference_mean(self) -> float:
        return statistics.fmean(r.inference_per_s for r in self.seeds)

    @property
    def ratio_to_dmpnn(self) -> float | None:
        reference = self.dataset.dmpnn_rmse
        return self.rmse_mean / reference if reference else None


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- data and split -------------------------------------------------------------------------------------------


def murcko_scaffold(mol: object) -> str:
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return str(MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False))


def load_dataset(spec: DatasetSpec, data: Path, properties: PropertyRegistry) -> Dataset:
    """Read one CSV (``data`` or else the bundled copy); drop rows without a value or a parseable SMILES."""
    from rdkit import Chem, rdBase

    source = data / spec.path
    if not source.exists():
        source = BUNDLED / Path(spec.path).name
    if not source.exists():
        raise SystemExit(f"{spec.name}: neither {data / spec.path} nor {source} exists")
    content = source.read_bytes()
    smiles: list[str] = []
    values: list[float] = []
    scaffolds: list[str] = []
    unparseable = 0
    with rdBase.BlockLogs():
        for row in csv.DictReader(content.decode("utf-8").splitlines()):
            text, value = (row.get("smiles") or "").strip(), (row.get(spec.column) or "").strip()
            if not text or not value:
                continue
            mol = Chem.MolFromSmiles(text)
            if mol is None:
                unparseable += 1
                continue
            smiles.append(text)
            values.append(float(value))
            scaffolds.append(murcko_scaffold(mol))
    unit = properties.get(spec.property).canonical_unit
    rows = TrainingRows(
        property=properties.get(spec.property).name,
        unit=unit,
        smiles=tuple(smiles),
        values=tuple(values),
        dataset_hash=hashlib.sha256(content).hexdigest(),
    )
    return Dataset(spec=spec, source=source, rows=rows, scaffolds=tuple(scaffolds), n_unparseable=unparseable)


def scaffold_balanced_split(scaffolds: Sequence[str], seed: int, sizes: tuple[float, float, float] = SIZES) -> Split:
    """chemprop's ``scaffold_split(..., balanced=True)`` on precomputed scaffolds."""
    n = len(scaffolds)
    train_size, valid_size, test_size = (fraction * n for fraction in sizes)
    by_scaffold: dict[str, list[int]] = {}
    for index, scaffold in enumerate(scaffolds):
        by_scaffold.setdefault(scaffold, []).append(index)
    big = [s for s in by_scaffold.values() if len(s) > valid_size / 2 or len(s) > test_size / 2]
    small = [s for s in by_scaffold.values() if not (len(s) > valid_size / 2 or len(s) > test_size / 2)]
    rng = random.Random(seed)
    rng.shuffle(big)
    rng.shuffle(small)
    train: list[int] = []
    valid: list[int] = []
    test: list[int] = []
    for index_set in big + small:
        if len(train) + len(index_set) <= train_size:
            train.extend(index_set)
        elif len(valid) + len(index_set) <= valid_size:
            valid.extend(index_set)
        else:
            test.extend(index_set)
    return Split(train=tuple(train), valid=tuple(valid), test=tuple(test))


# -- one run ----------------------------------------------------------------------------------------------------


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    rho = float(spearmanr(a, b).statistic)
    return rho if math.isfinite(rho) else None


def run_seed(family: PredictorFamily, dataset: Dataset, seed: int, options: dict[str, object] | None = None) -> SeedResult:
    split = scaffold_balanced_split(dataset.scaffolds, seed)
    train_rows = dataset.rows.subset(split.train)
    test_rows = dataset.rows.subset(split.test)

    started = time.perf_counter()
    predictor = family.train(train_rows, seed=seed, **(options or {}))
    train_s = time.perf_counter() - started

    started = time.perf_counter()
    results = predictor.predict(test_rows.smiles)
    inference_s = time.perf_counter() - started

    values, predicted, sigma = [], [], []
    for value, result in zip(test_rows.values, results, strict=True):
        if isinstance(result, PredictedValue):
            values.append(value)
            predicted.append(result.value)
            sigma.append(result.uncertainty)
    metrics = regression_metrics(values, predicted, sigma)
    rmse, coverage = metrics["rmse"], metrics["coverage90"]
    if rmse is None or coverage is None:
        raise SystemExit(f"{dataset.spec.name}, seed {seed}: no test molecule could be predicted")
    errors = [abs(p - y) for p, y in zip(predicted, values, strict=True)]
    return SeedResult(
        seed=seed,
        split=split,
        rmse=rmse,
        spearman_error_sigma=spearman(errors, sigma),
        coverage90=coverage,
        train_s=train_s,
        inference_per_s=len(test_rows) / inference_s,
        n_failed=len(test_rows) - len(values),
    )


# -- output -----------------------------------------------------------------------------------------------------


def environment() -> str:
    return reporting.environment(("rdkit", "scikit-learn", "torch"))


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def results_table(results: Sequence[ModelResult], n_seeds: int) -> str:
    lines = [
        f"| dataset | model | test RMSE (mean ± std, {n_seeds} seeds) | Spearman(\\|err\\|, σ) | coverage 90% | train s"
        " | inference mol/s | Uni-Mol (paper) | D-MPNN (paper) | ratio to D-MPNN |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.dataset.name} | {r.model} | {r.rmse_mean:.3f} ± {r.rmse_std:.3f} | {fmt(r.spearman_mean, 2)}"
            f" | {r.coverage_mean:.2f} | {r.train_s_mean:.1f} | {r.inference_mean:,.0f}"
            f" | {fmt(r.dataset.unimol_rmse)} | {fmt(r.dataset.dmpnn_rmse)} | {fmt(r.ratio_to_dmpnn, 2)} |"
        )
    return "\n".join(lines)


def data_lines(datasets: Sequence[Dataset], seeds: Sequence[int]) -> str:
    lines = []
    for d in datasets:
        try:
            shown = d.source.relative_to(ROOT.parent)
        except ValueError:
            shown = d.source
        splits = [scaffold_balanced_split(d.scaffolds, seed) for seed in seeds]
        sizes = ", ".join(f"seed {s}: {len(x.train)}/{len(x.valid)}/{len(x.test)}" for s, x in zip(seeds, splits, strict=True))
        dropped = f", {d.n_unparseable} unparseable SMILES dropped" if d.n_unparseable else ""
        lines.append(
            f"- {d.spec.name}: `{shown}` column `{d.spec.column}` → {d.rows.property} [{d.rows.unit}],"
            f" {len(d.rows)} molecules{dropped}, {len(set(d.scaffolds))} scaffolds; train/valid/test {sizes}"
        )
    return "\n".join(lines)


def targets(results: Sequence[ModelResult]) -> str:
    lines = ["Targets:"]
    fingerprint = [r for r in results if r.model == "fingerprint"]
    for r in fingerprint:
        ratio = r.ratio_to_dmpnn
        if ratio is None:
            continue
        verdict = "holds" if ratio <= RATIO_TARGET else "MISSED"
        lines.append(
            f"- fingerprint within 25% of D-MPNN on {r.dataset.name} (ratio <= {RATIO_TARGET}):"
            f" {verdict} ({r.rmse_mean:.3f} / {r.dataset.dmpnn_rmse:.3f} = {ratio:.2f})"
        )
    for r in results:
        if not r.model.startswith("unimol") or r.dataset.dmpnn_rmse is None:
            continue
        verdict = "holds" if r.rmse_mean < r.dataset.dmpnn_rmse else "MISSED"
        lines.append(
            f"- {r.model} below D-MPNN on {r.dataset.name}: {verdict} ({r.rmse_mean:.3f} against {r.dataset.dmpnn_rmse:.3f})"
        )
    low, high = COVERAGE_TARGET
    for r in results:
        verdict = "holds" if low <= r.coverage_mean <= high else "MISSED"
        per_seed = ", ".join(f"{s.coverage90:.2f}" for s in r.seeds)
        lines.append(
            f"- 90% coverage in [{low}, {high}] for {r.model} on {r.dataset.name}: {verdict}"
            f" (mean {r.coverage_mean:.3f}; per seed {per_seed})"
        )
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared data directory")
    parser.add_argument(
        "--models", nargs="+", default=["fingerprint"], choices=["fingerprint", "unimol"], help="model families"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="split and training seeds")
    parser.add_argument(
        "--unimol-weights", type=Path, default=None,
        help="start unimol from this pretrained checkpoint (e.g. from `atomloop models pretrain --corpus qm9`);"
        " default: the bundled pretrained backbone (QM9, then drug-like molecules)",
    )
    parser.add_argument(
        "--unimol-params", type=json.loads, default=None, metavar="JSON",
        help="unimol training parameters that differ from the defaults, as JSON (fields of UniMolTrainParams)",
    )
    parser.add_argument(
        "--conformer-cache", type=Path, default=None, metavar="DIR",
        help="read and write unimol conformers in this directory, so that processes run side by side (e.g. one"
        " per seed) or one after another make each conformer once; default: in memory, for this run only",
    )
    parser.add_argument(
        "--datasets", nargs="+", default=[spec.name for spec in DATASETS], choices=[spec.name for spec in DATASETS],
        metavar="NAME", help="datasets to run (default: all of " + ", ".join(spec.name for spec in DATASETS) + ")",
    )
    args = parser.parse_args(argv)
    if any(seed < 0 for seed in args.seeds):
        parser.error("seeds must not be negative")
    if args.unimol_params is not None:
        from pydantic import ValidationError

        from tools.predict.unimol import UniMolTrainParams

        unknown = set(args.unimol_params) - set(UniMolTrainParams.model_fields)
        if unknown:
            parser.error(f"--unimol-params: no such training parameter {', '.join(sorted(unknown))}")
        try:
            args.unimol_params = UniMolTrainParams(**args.unimol_params)
        except (TypeError, ValidationError) as error:
            parser.error(f"--unimol-params: {error}")
    return args


def run(args: argparse.Namespace) -> str:
    properties = PropertyRegistry.default()
    datasets = [load_dataset(spec, args.data, properties) for spec in DATASETS if spec.name in args.datasets]
    # unimol's family holds one conformer cache for the run: each molecule's conformers are made once, not per seed
    # (and once across runs and processes with --conformer-cache)
    families = default_families(conformer_dir=args.conformer_cache)
    notes: list[str] = []
    results: list[ModelResult] = []
    for model in args.models:
        family = families.get(model)
        if family is None:
            note = f"Model family {model!r} is not registered in tools.predict.registry.default_families(): skipped."
            progress(note)
            notes.append(note)
            continue
        options: dict[str, object] = {}
        label = model
        if model == "unimol" and args.unimol_weights is not None:
            options["pretrained"] = args.unimol_weights
            label = f"unimol, pretrained ({args.unimol_weights.name})"
        elif model == "unimol":
            label = "unimol, pretrained (bundled QM9 + drug-like backbone)"
        if model == "unimol" and args.unimol_params is not None:
            options["params"] = args.unimol_params
            changed = args.unimol_params.model_dump(exclude_defaults=True, exclude={"threads", "batch_size_predict"})
            if changed:  # values equal to the defaults name nothing
                label += ", " + ", ".join(f"{name} {value}" for name, value in changed.items())
        for dataset in datasets:
            seed_results = []
            for seed in args.seeds:
                progress(f"{label} / {dataset.spec.name} / seed {seed}: training")
                outcome = run_seed(family, dataset, seed, options)
                progress(
                    f"{model} / {dataset.spec.name} / seed {seed}: RMSE {outcome.rmse:.3f},"
                    f" coverage {outcome.coverage90:.2f}, train {outcome.train_s:.1f} s"
                )
                seed_results.append(outcome)
            results.append(ModelResult(dataset=dataset.spec, model=label, seeds=tuple(seed_results)))

    failed = sum(s.n_failed for r in results for s in r.seeds)
    seeds = ", ".join(str(s) for s in args.seeds)
    parts = [
        f"Command: `{reporting.command_line()}`",
        f"Environment: {environment()}",
        "Protocol: Bemis–Murcko scaffold split 80/10/10 (chemprop `scaffold_balanced`), seeds "
        f"{seeds} (each seed sets both the split and the model's training seed). Models are trained on the train"
        " split only; the validation split is kept unused (no early stopping, no model selection). RMSE is"
        " mean ± sample standard deviation over the seeds; the other columns are means over the seeds. Train s"
        " and inference mol/s include featurization; inference is one `predict` call on the test split.",
        data_lines(datasets, args.seeds),
    ]
    parts.extend(notes)
    if results:
        parts.append(results_table(results, len(args.seeds)))
        parts.append(
            "References: Uni-Mol (Zhou et al., ICLR 2023) and chemprop D-MPNN as reported by the GEM and Uni-Mol"
            " papers, scaffold split, test RMSE; no published regression reference for BACE pIC50 in those papers."
            + (f" Test molecules that failed to predict: {failed}." if failed else "")
        )
        parts.append(targets(results))
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(run(args))


if __name__ == "__main__":
    main()
