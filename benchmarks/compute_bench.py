"""Compute-executor scaling: one fan-out (an RDKit ETKDGv3 + MMFF94 conformer for each of N molecules, one job per
molecule) on the local process pool and on a Dask LocalCluster, with 1 and 2 workers, side by side; then the
per-task overhead of each executor from a batch of no-op jobs, and of bare Dask tasks for reference.

Each configuration gets a fresh job book (nothing is reused); a second run of the same fan-out shows what reuse
costs. Start-up (the local job processes, the Dask cluster) is timed apart from the fan-out.

    .venv/bin/python benchmarks/compute_bench.py [--n 2000] [--noop 1000] [--workers 1 2] [--data ../shared/data]
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
        cell = lambda row, key, fmt: format(row[key], fmt) if row else "–"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="molecules in the fan-out")
    parser.add_argument("--noop", type=int, default=1000, help="no-op jobs for the per-task overhead (0: skip)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--executors", nargs="+", default=["local", "dask"], choices=["local", "dask"])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

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
