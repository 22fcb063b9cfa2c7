"""Compute-executor scaling: one fan-out (an RDKit ETKDGv3 + MMFF94 conformer for each of N molecules, one job per
molecule) on the local process pool and on a Dask LocalCluster, with 1 and 2 workers, side by side; then the
per-task overhead of each executor from a batch of no-op jobs, and of bare Dask tasks for reference.

Each configuration gets a fresh job book (nothing is reused); a second run of the same fan-out shows what reuse
costs. Start-up (the local job processes, the Dask cluster) is timed apart from the fan-out.

``--fanout`` measures instead the callers that fan out through the executor, each on the local pool with 1 and 2
workers (one worker: the in-process loop, which is what a pool of one gets): training a Uni-Mol ensemble's three
members (``--unimol-rows`` ESOL molecules, ``--unimol-epochs`` epochs, conformers made before the clock starts),
preparing a pool of ``--pool`` molecules for a fingerprint model's prediction, and reading the staged PDFs. Each
result is checked to be identical across worker counts.

    .venv/bin/python benchmarks/compute_bench.py [--n 2000] [--noop 1000] [--workers 1 2] [--data ../shared/data]
    .venv/bin/python benchmarks/compute_bench.py --fanout [--workers 1 2] [--unimol-rows 300] [--unimol-epochs 30] [--pool 5000]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from knowledge.bundled import bundled_dir

log = logging.getLogger("compute_bench")


def embed_one(smiles: str, seed: int = 0) -> dict[str, Any]:
    """One ETKDGv3 conformer of ``smiles`` with hydrogens, MMFF94-optimised: its energy and atom count."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    molecule = Chem.AddHs(Chem.MolFromSmiles(smiles))
    parameters = AllChem.ETKDGv3()
    parameters.randomSeed = seed
    if AllChem.EmbedMolecule(molecule, parameters) != 0:
        raise ValueError(f"ETKDGv3 could not embed {smiles}")
    properties = AllChem.MMFFGetMoleculeProperties(molecule)
    if properties is None:
        raise ValueError(f"no MMFF94 parameters for {smiles}")
    field = AllChem.MMFFGetMoleculeForceField(molecule, properties)
    field.Minimize(maxIts=500)
    return {"atoms": molecule.GetNumAtoms(), "energy": field.CalcEnergy()}


def noop(i: int = 0) -> int:
    return i


def load_smiles(data: Path, n: int) -> list[str]:
    files = [data / "moleculenet" / "delaney.csv", data / "moleculenet" / "lipo.csv"]
    if not all(path.exists() for path in files):
        files = sorted(bundled_dir().glob("*.csv"))
    seen: dict[str, None] = {}
    for path in files:
        with path.open() as handle:
            for row in csv.DictReader(handle):
                seen.setdefault(row["smiles"], None)
                if len(seen) == n:
                    return list(seen)
    return list(seen)


def _executor(kind: str, workers: int, root: Path) -> Any:
    from knowledge.database import make_engine, upgrade
    from tools.compute.book import JobBook

    engine = make_engine(f"sqlite:///{root / 'store.db'}")
    upgrade(engine)
    book = JobBook.open(engine, root / "jobs")
    if kind == "dask":
        from tools.compute.dask import DaskExecutor

        return DaskExecutor(book, workers=workers)
    from tools.compute.local import LocalExecutor

    return LocalExecutor(book, workers=workers)


def _warm(executor: Any, workers: int) -> float:
    """Start the executor's workers (and their job processes) with one tiny job per worker; return the seconds."""
    from tools.compute.jobs import JobRequest

    started = time.perf_counter()
    executor.run([JobRequest(kind="compute_bench:embed_one", inputs={"smiles": "C", "seed": s}) for s in range(workers)])
    return time.perf_counter() - started


def fan_out(kind: str, workers: int, smiles: list[str], noop_n: int) -> dict[str, Any]:
    from tools.compute.jobs import JobRequest

    jobs = [JobRequest(kind="compute_bench:embed_one", inputs={"smiles": s}, label=s) for s in smiles]
    noops = [JobRequest(kind="compute_bench:noop", inputs={"i": i}) for i in range(noop_n)]
    with tempfile.TemporaryDirectory(prefix=f"compute-bench-{kind}-") as folder:
        executor = _executor(kind, workers, Path(folder))
        try:
            startup = _warm(executor, workers)
            started = time.perf_counter()
            outcomes = executor.run(jobs, group=f"bench {kind} {workers}")
            wall = time.perf_counter() - started
            started = time.perf_counter()
            again = executor.run(jobs)
            reuse = time.perf_counter() - started
            started = time.perf_counter()
            noop_outcomes = executor.run(noops) if noops else []
            noop_wall = time.perf_counter() - started
        finally:
            executor.close()
    assert all(second.reused for first, second in zip(outcomes, again, strict=True) if first.status == "succeeded")
    assert all(o.status == "succeeded" for o in noop_outcomes)
    return {
        "executor": kind, "workers": workers, "n": len(jobs), "startup_s": startup, "wall_s": wall,
        "per_second": len(jobs) / wall, "succeeded": sum(o.status == "succeeded" for o in outcomes),
        "failed": sum(o.status != "succeeded" for o in outcomes), "reuse_s": reuse, "noop_n": len(noops), "noop_wall_s": noop_wall,
        "noop_ms_per_task": 1000 * noop_wall / max(len(noops), 1),
    }


def bare_dask_overhead(n: int, workers: int) -> dict[str, Any]:
    """The same number of no-op tasks as bare Dask tasks (no job process, no bookkeeping)."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # its shutdown logs closed heartbeats as errors
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.gather(client.map(noop, range(workers), pure=False))
        started = time.perf_counter()
        client.gather(client.map(noop, range(n), pure=False))
        wall = time.perf_counter() - started
    return {"n": n, "workers": workers, "wall_s": wall, "ms_per_task": 1000 * wall / n}


def table(rows: list[dict[str, Any]], bare: dict[str, Any] | None) -> str:
    by = {(row["executor"], row["workers"]): row for row in rows}
    counts = sorted({row["workers"] for row in rows})
    n = rows[0]["n"]
    failed = rows[0]["failed"]
    lines = [
        (f"Fan-out: one ETKDGv3 + MMFF94 conformer per molecule, {n} molecules, one job each (fresh job book; "
         f"{failed} molecules RDKit cannot embed or parametrise fail and run again on the re-run)."),
        "",
        "| workers | local: wall s | local: mol/s | dask: wall s | dask: mol/s | local start s | dask start s | re-run (finished jobs reused) local / dask s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in counts:
        local, dask = by.get(("local", w)), by.get(("dask", w))

        def cell(row: dict[str, Any] | None, key: str, fmt: str) -> str:
            return format(row[key], fmt) if row else "–"

        lines.append(
            f"| {w} | {cell(local, 'wall_s', '.1f')} | {cell(local, 'per_second', '.0f')} | {cell(dask, 'wall_s', '.1f')} | "
            f"{cell(dask, 'per_second', '.0f')} | {cell(local, 'startup_s', '.1f')} | {cell(dask, 'startup_s', '.1f')} | "
            f"{cell(local, 'reuse_s', '.2f')} / {cell(dask, 'reuse_s', '.2f')} |"
        )
    base = {kind: by.get((kind, counts[0])) for kind in ("local", "dask")}
    top = {kind: by.get((kind, counts[-1])) for kind in ("local", "dask")}
    if len(counts) > 1:
        speedups = [f"{kind} {base[kind]['wall_s'] / top[kind]['wall_s']:.2f}x" for kind in ("local", "dask")
                    if base[kind] and top[kind]]
        lines += ["", f"Speed-up from {counts[0]} to {counts[-1]} workers: " + ", ".join(speedups) + "."]
    noop_rows = [row for row in rows if row["noop_n"]]
    if noop_rows:
        lines += ["", "Per-task overhead (no-op jobs, wall time / jobs):", "",
                  "| executor | workers | no-op jobs | wall s | ms per job |", "|---|---:|---:|---:|---:|"]
        for row in noop_rows:
            lines.append(f"| {row['executor']} | {row['workers']} | {row['noop_n']} | {row['noop_wall_s']:.2f} | "
                         f"{row['noop_ms_per_task']:.2f} |")
        if bare:
            lines.append(f"| bare Dask tasks (client.map) | {bare['workers']} | {bare['n']} | {bare['wall_s']:.2f} | "
                         f"{bare['ms_per_task']:.2f} |")
    return "\n".join(lines)


def _local(workers: int, root: Path) -> Any:
    """A local pool of ``workers`` on a fresh job book under ``root``, its processes started by one no-op each."""
    from tools.compute.jobs import JobRequest

    executor = _executor("local", workers, root)
    executor.run([JobRequest(kind="compute_bench:noop", inputs={"i": -1 - i}) for i in range(workers)])
    return executor


def fanout_unimol(workers: int, rows: Any, epochs: int, conformer_dir: Path) -> dict[str, Any]:
    from tools.predict.unimol import UniMolPredictor
    from tools.structures.cache import ConformerCache

    with tempfile.TemporaryDirectory(prefix="fanout-unimol-") as folder:
        executor = _local(workers, Path(folder))
        try:
            started = time.perf_counter()
            model = UniMolPredictor.train(rows, seed=0, epochs=epochs, conformers=ConformerCache(conformer_dir),
                                          executor=executor, work_dir=Path(folder))
            wall = time.perf_counter() - started
        finally:
            executor.close()
    probe = list(rows.smiles[:50])
    return {"what": "unimol-train", "workers": workers, "wall_s": wall,
            "check": [p.model_dump() for p in model.predict(probe)], "n": len(rows)}


def fanout_pool(workers: int, model_dir: Path, pool: list[str]) -> dict[str, Any]:
    from knowledge.database import make_engine, upgrade
    from knowledge.store import KnowledgeStore
    from tools.predict.fingerprint import FingerprintPredictor
    from tools.predict.registry import PredictorRegistry

    with tempfile.TemporaryDirectory(prefix="fanout-pool-") as folder:
        executor = _local(workers, Path(folder))
        engine = make_engine(f"sqlite:///{Path(folder) / 'models.db'}")
        upgrade(engine)
        registry = PredictorRegistry(KnowledgeStore(engine, snapshot_dir=Path(folder) / "snapshots"), Path(folder) / "models")
        try:
            predictor = FingerprintPredictor.load(model_dir)  # empty caches: every molecule is new
            started = time.perf_counter()
            results = registry.predict(predictor, pool, executor=executor)
            wall = time.perf_counter() - started
        finally:
            executor.close()
            engine.dispose()
    return {"what": "fingerprint-pool", "workers": workers, "wall_s": wall, "n": len(pool),
            "check": [r.model_dump() for r in results]}


def fanout_pdfs(workers: int, pdfs: list[Path]) -> dict[str, Any]:
    from knowledge.properties import PropertyRegistry
    from knowledge.units import UnitConverter
    from tools.literature.pdf import read_pdf

    properties, units = PropertyRegistry.default(), UnitConverter()
    with tempfile.TemporaryDirectory(prefix="fanout-pdf-") as folder:
        executor = _local(workers, Path(folder))
        try:
            started = time.perf_counter()
            documents = [read_pdf(path, properties=properties, units=units, executor=executor) for path in pdfs]
            wall = time.perf_counter() - started
        finally:
            executor.close()
    return {"what": "pdf-read", "workers": workers, "wall_s": wall, "n": sum(d.pages for d in documents),
            "check": [d.model_dump(mode="json") for d in documents]}


def fanout(args: argparse.Namespace) -> None:
    """The ``--fanout`` measurements (see the module docstring)."""
    from tools.predict.base import TrainingRows
    from tools.predict.fingerprint import FingerprintPredictor
    from tools.structures.cache import ConformerCache

    rows = TrainingRows.from_bundled("logS").subset(range(args.unimol_rows))
    pool = load_smiles(args.data, args.pool)
    pdfs = sorted((args.data / "literature" / "pdfs").glob("*.pdf"))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fanout-setup-") as folder:
        conformer_dir, model_dir = Path(folder) / "conformers", Path(folder) / "model"
        started = time.perf_counter()
        cache = ConformerCache(conformer_dir)
        for k in range(5):  # the default n_conformers: made once, read from disk by every configuration
            seeded = ConformerCache(conformer_dir, seed=cache.seed + k)
            for smiles in rows.smiles:
                seeded.conformer(smiles)
        FingerprintPredictor.train(TrainingRows.from_bundled("logS"), seed=0).save(model_dir)
        log.warning("set-up (conformers, the fingerprint model) took %.1f s", time.perf_counter() - started)
        for measure in ("unimol-train", "fingerprint-pool", "pdf-read"):
            for workers in args.workers:
                if measure == "unimol-train":
                    row = fanout_unimol(workers, rows, args.unimol_epochs, conformer_dir)
                elif measure == "fingerprint-pool":
                    row = fanout_pool(workers, model_dir, pool)
                elif pdfs:
                    row = fanout_pdfs(workers, pdfs)
                else:
                    continue
                print(json.dumps({k: v for k, v in row.items() if k != "check"}), flush=True)
                results.append(row)
    lines = ["| what | size | " + " | ".join(f"{w} worker{'s' if w > 1 else ''}: wall s" for w in args.workers)
             + " | speed-up | identical |", "|---|---:|" + "---:|" * len(args.workers) + "---:|---|"]
    for measure in ("unimol-train", "fingerprint-pool", "pdf-read"):
        group = [row for row in results if row["what"] == measure]
        if not group:
            continue
        same = all(row["check"] == group[0]["check"] for row in group)
        walls = " | ".join(f"{row['wall_s']:.1f}" for row in group)
        unit = {"unimol-train": "rows", "fingerprint-pool": "molecules", "pdf-read": "pages"}[measure]
        lines.append(f"| {measure} | {group[0]['n']} {unit} | {walls} | {group[0]['wall_s'] / group[-1]['wall_s']:.2f}x | "
                     f"{'yes' if same else 'NO'} |")
    print()
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps([{k: v for k, v in row.items() if k != "check"} for row in results], indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="molecules in the fan-out")
    parser.add_argument("--noop", type=int, default=1000, help="no-op jobs for the per-task overhead (0: skip)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--executors", nargs="+", default=["local", "dask"], choices=["local", "dask"])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--fanout", action="store_true", help="measure the callers that fan out (see above)")
    parser.add_argument("--unimol-rows", type=int, default=300)
    parser.add_argument("--unimol-epochs", type=int, default=30)
    parser.add_argument("--pool", type=int, default=5000, help="molecules in the prediction pool")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.fanout:
        fanout(args)
        return

    smiles = load_smiles(args.data, args.n)
    rows = []
    for workers in args.workers:
        for kind in args.executors:
            row = fan_out(kind, workers, smiles, args.noop if workers == max(args.workers) else 0)
            print(json.dumps(row), flush=True)
            rows.append(row)
    bare = bare_dask_overhead(args.noop, max(args.workers)) if args.noop and "dask" in args.executors else None
    if bare:
        print(json.dumps({"bare_dask": bare}), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "bare_dask": bare}, indent=2))
    print()
    print(table(rows, bare))


if __name__ == "__main__":
    main()
