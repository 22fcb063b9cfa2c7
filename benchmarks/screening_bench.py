"""Docking (issue #22): virtual screening enrichment on DUD-E, and the throughput of AtomLoop's docking path.

**Screening** (the default): DUD-E's DEF target (peptide deformylase; ``--data``, default ``../shared/data``, folder
``docking/dude_def_unidock/``: the receptor and 102 actives and 5696 decoys as the Uni-Dock repository prepared them,
already protonated and typed as PDBQT, with Uni-Dock's box). A stratified random subset (``--actives``, ``--decoys``:
the two classes sampled apart, with ``--seed``, so the subset keeps the chosen ratio) is docked by AtomLoop's Vina
engine (``tools.docking.vina_engine``: one Vina thread a ligand, ``--workers`` processes side by side, grids computed
once a process) with ``--exhaustiveness`` (default 8) and seed 0, and ranked by the best score. Reported: ROC AUC and BEDROC
(α = 20) with 95% bootstrap intervals (classes resampled apart), the enrichment factor at 1% and 5% (and the most
each could be on this subset), and ligands a minute a core. Beside it, the same metrics for ranking by heavy-atom
count alone: DUD-E's decoys match the actives' size, so a score that only counts atoms should be near 0.5. The
ligands' own preparation is not measured here (they come prepared); the redocking benchmark starts from SMILES.

Rows go to ``--out`` (CSV) as they are docked, and a rerun with the same ``--out`` docks only the missing ones.

**Throughput** (``--throughput``): the same ``--molecules`` BACE-1 inhibitors from the bundled set (SMILES, a random
draw with ``--seed``) docked to the bundled 4IVT target with exhaustiveness 8, one Vina thread, in one run:

* ``plain vina``: the ``vina`` Python API in a loop, on the PDBQTs AtomLoop's preparation made (set_receptor and
  grids once, then per ligand ``set_ligand_from_string``, ``dock``, ``poses``): the reference;
* ``atomloop (fresh)``: ``tools.docking.service.dock_ligands`` with an empty home: receptor preparation, ligand
  preparation from SMILES, docking, pose files and cache entries;
* ``atomloop (cached)``: the same call again (every molecule a cache hit).

The ratio ``atomloop / (preparation + plain vina)`` is the docking path's overhead; the scores of the two must agree.

    python benchmarks/screening_bench.py [--actives 24 --decoys 240 --workers 2] [--out CSV]
    python benchmarks/screening_bench.py --throughput [--molecules 16]
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import command_line, environment, progress  # noqa: E402

log = logging.getLogger("screening_bench")

DEF_BOX_CENTER = (-36.0095, 25.6285, 67.492)  # Uni-Dock's screening example for DEF (SOURCE.txt)
DEF_BOX_SIZE = (22.0, 22.0, 22.0)
DEFAULT_EXHAUSTIVENESS = 8
BOOTSTRAP = 2000
BEDROC_ALPHA = 20.0


@dataclass
class ScreenRow:
    label: str
    active: int
    score: float | None
    heavy_atoms: int
    torsions: int
    seconds: float
    error: str | None = None


def dude_ligands(folder: Path) -> tuple[list[Path], list[Path]]:
    ligands = folder / "def_unique_charged"
    return sorted(ligands.glob("actives*.pdbqt")), sorted(ligands.glob("decoys*.pdbqt"))


def stratified_subset(actives: list[Path], decoys: list[Path], n_actives: int, n_decoys: int, seed: int) -> list[tuple[Path, int]]:
    """``n_actives`` actives and ``n_decoys`` decoys drawn apart (so the ratio is the one asked), shuffled together."""
    rng = random.Random(seed)
    chosen = [(p, 1) for p in rng.sample(actives, min(n_actives, len(actives)))]
    chosen += [(p, 0) for p in rng.sample(decoys, min(n_decoys, len(decoys)))]
    rng.shuffle(chosen)
    return chosen


def pdbqt_counts(text: str) -> tuple[int, int]:
    """Heavy atoms (atom types other than H and HD) and rotatable bonds (BRANCH records) of a ligand PDBQT."""
    heavy = sum(1 for line in text.splitlines() if line.startswith(("ATOM", "HETATM")) and line[77:79].strip() not in ("H", "HD"))
    return heavy, sum(1 for line in text.splitlines() if line.startswith("BRANCH"))


_SESSION: Any = None


def _open_session(receptor_path: str) -> None:
    """A worker's Vina session: the receptor and box loaded once, one thread."""
    global _SESSION
    from tools.docking.box import Box
    from tools.docking.receptor import prepare_receptor
    from tools.docking.vina_engine import VinaEngine

    receptor = prepare_receptor(Path(receptor_path), Path(tempfile.mkdtemp(prefix="screen-receptor-")))
    _SESSION = VinaEngine(cpu=1).open(receptor, Box.of(DEF_BOX_CENTER, DEF_BOX_SIZE))


def _dock_file(item: tuple[str, int, int]) -> ScreenRow:
    from tools.docking.engine import DockingSettings
    from tools.docking.ligands import PreparedLigand

    path, active, exhaustiveness = Path(item[0]), item[1], item[2]
    text = path.read_text(encoding="utf-8")
    heavy, torsions = pdbqt_counts(text)
    ligand = PreparedLigand(label=path.stem, input=str(path), smiles="", parent_smiles="", inchikey="", pdbqt=text, torsions=torsions, heavy_atoms=heavy)
    started = time.perf_counter()
    (docked,) = _SESSION.dock([ligand], DockingSettings(exhaustiveness=exhaustiveness, seed=0))
    return ScreenRow(path.stem, active, docked.score, heavy, torsions, time.perf_counter() - started, docked.error)


def read_rows(path: Path) -> list[ScreenRow]:
    if not path.exists():
        return []
    with path.open() as handle:
        return [
            ScreenRow(r["label"], int(r["active"]), float(r["score"]) if r["score"] else None, int(r["heavy_atoms"]), int(r["torsions"]), float(r["seconds"]), r["error"] or None)
            for r in csv.DictReader(handle)
        ]


def screen(args: argparse.Namespace) -> int:
    folder = args.data / "docking" / "dude_def_unidock"
    actives, decoys = dude_ligands(folder)
    if not actives or not decoys:
        print(f"no DUD-E DEF ligands under {folder}", file=sys.stderr)
        return 2
    subset = stratified_subset(actives, decoys, args.actives, args.decoys, args.seed)
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="screen-")) / "screen.csv"
    rows = [row for row in read_rows(out) if row.label in {p.stem for p, _ in subset}]
    done = {row.label for row in rows}
    todo = [(str(p), active, args.exhaustiveness) for p, active in subset if p.stem not in done]
    progress(f"{len(subset)} ligands ({sum(a for _, a in subset)} actives), {len(done)} already in {out}; docking {len(todo)} on {args.workers} processes")
    out.parent.mkdir(parents=True, exist_ok=True)
    new_file = not out.exists() or out.stat().st_size == 0
    started = time.perf_counter()
    with out.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(ScreenRow)])
        if new_file:
            writer.writeheader()
        with get_context("spawn").Pool(args.workers, initializer=_open_session, initargs=(str(folder / "def_receptor.pdbqt"),)) as pool:
            for index, row in enumerate(pool.imap_unordered(_dock_file, todo), start=1):
                rows.append(row)
                writer.writerow(asdict(row))
                handle.flush()
                if index % 10 == 0 or index == len(todo):
                    rate = index / (time.perf_counter() - started) * 60
                    progress(f"[{index}/{len(todo)}] {rate:.1f} ligands/min on {args.workers} processes")
    print(screening_report(rows, out, args.exhaustiveness))
    return 0


def screening_report(rows: list[ScreenRow], out: Path, exhaustiveness: int) -> str:
    docked = [row for row in rows if row.score is not None]
    n_act = sum(row.active for row in docked)
    lines = [f"`{command_line()}`", "", environment(["vina", "rdkit", "meeko"]), "",
             f"DUD-E DEF, {len(docked)} ligands docked ({n_act} actives, {len(docked) - n_act} decoys; {len(rows) - len(docked)} failed); rows in {out}", "",
             "| ranking | ROC AUC (95% CI) | BEDROC20 (95% CI) | EF1% (max) | EF5% (max) |", "|---|---|---|---|---|"]
    for name, values in [("Vina score (lower first)", [-row.score for row in docked if row.score is not None]), ("heavy atoms (more first)", [float(row.heavy_atoms) for row in docked])]:
        labels = [row.active for row in docked]
        m = enrichment(values, labels)
        low, high = bootstrap(values, labels, seed=0)
        lines.append(
            f"| {name} | {m['auc']:.3f} ({low['auc']:.3f}–{high['auc']:.3f}) | {m['bedroc']:.3f} ({low['bedroc']:.3f}–{high['bedroc']:.3f}) "
            f"| {m['ef1']:.1f} ({m['ef1_max']:.1f}) | {m['ef5']:.1f} ({m['ef5_max']:.1f}) |"
        )
    seconds = [row.seconds for row in docked]
    if seconds:
        mean = sum(seconds) / len(seconds)
        actives_s = [row.seconds for row in docked if row.active]
        decoys_s = [row.seconds for row in docked if not row.active]
        lines += ["", f"{60 / mean:.2f} ligands a minute a core (mean {mean:.1f} s a ligand, exhaustiveness {exhaustiveness}; "
                  f"actives {sum(actives_s) / max(len(actives_s), 1):.1f} s, decoys {sum(decoys_s) / max(len(decoys_s), 1):.1f} s)"]
    return "\n".join(lines)


def enrichment(values: list[float], labels: list[int]) -> dict[str, float]:
    """ROC AUC, BEDROC(α=20) and EF at 1% and 5% of ``values`` (higher = ranked first) against ``labels``."""
    from rdkit.ML.Scoring import Scoring

    ranked = sorted(zip(values, labels, strict=True), key=lambda pair: -pair[0])
    table = [[value, label] for value, label in ranked]
    ef1, ef5 = Scoring.CalcEnrichment(table, 1, [0.01, 0.05])
    return {
        "auc": Scoring.CalcAUC(table, 1),
        "bedroc": Scoring.CalcBEDROC(table, 1, BEDROC_ALPHA),
        "ef1": ef1, "ef5": ef5, "ef1_max": best_enrichment(labels, 0.01), "ef5_max": best_enrichment(labels, 0.05),
    }


def best_enrichment(labels: list[int], fraction: float) -> float:
    """The enrichment factor a perfect ranking reaches in the top ``fraction`` (as RDKit counts it: ceil(N·f))."""
    total, hits = len(labels), sum(labels)
    top = math.ceil(total * fraction)
    return (min(hits, top) / top) / (hits / total) if hits else 0.0


def bootstrap(values: list[float], labels: list[int], seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """2.5% and 97.5% quantiles of AUC and BEDROC over resamples drawn with replacement within each class."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pos = [i for i, label in enumerate(labels) if label]
    neg = [i for i, label in enumerate(labels) if not label]
    aucs, bedrocs = [], []
    for _ in range(BOOTSTRAP):
        picked = list(rng.choice(pos, len(pos))) + list(rng.choice(neg, len(neg)))
        m = enrichment([values[i] for i in picked], [labels[i] for i in picked])
        aucs.append(m["auc"])
        bedrocs.append(m["bedroc"])
    return ({"auc": float(np.quantile(aucs, 0.025)), "bedroc": float(np.quantile(bedrocs, 0.025))},
            {"auc": float(np.quantile(aucs, 0.975)), "bedroc": float(np.quantile(bedrocs, 0.975))})


def throughput(args: argparse.Namespace) -> int:
    import vina

    from knowledge.bundled import bundled_dir
    from tools.docking.engine import DockingSettings
    from tools.docking.ligands import prepare_ligand
    from tools.docking.receptor import prepare_receptor
    from tools.docking.service import LigandInput, dock_ligands
    from tools.docking.targets import bundled_target
    from tools.docking.vina_engine import VinaEngine, parse_vina_results

    with (bundled_dir() / "bace_pic50.csv").open() as handle:
        smiles = [row["smiles"] for row in csv.DictReader(handle)]
    molecules = random.Random(args.seed).sample(smiles, args.molecules)
    target = bundled_target("4IVT")
    assert target is not None and target.box is not None
    settings = DockingSettings(exhaustiveness=args.exhaustiveness, seed=0)
    with tempfile.TemporaryDirectory(prefix="throughput-") as folder:
        home = Path(folder)
        started = time.perf_counter()
        prepared = [prepare_ligand(s) for s in molecules]
        prep_s = time.perf_counter() - started
        receptor = prepare_receptor(Path(target.receptor_path), home / "plain-receptor")
        progress(f"prepared {len(prepared)} ligands in {prep_s:.1f} s; plain vina ...")
        started = time.perf_counter()
        docker = vina.Vina(sf_name="vina", seed=0, cpu=1, verbosity=0)
        docker.set_receptor(receptor.pdbqt_path)
        docker.compute_vina_maps(center=list(target.box.center), box_size=list(target.box.size))
        plain_scores = []
        for ligand in prepared:
            docker.set_ligand_from_string(ligand.pdbqt)
            docker.dock(exhaustiveness=settings.exhaustiveness, n_poses=20, min_rmsd=1.0)
            plain_scores.append(parse_vina_results(docker.poses(n_poses=settings.poses, energy_range=settings.energy_range, coordinates_only=False))[0].score)
        plain_s = time.perf_counter() - started
        progress(f"plain vina {plain_s:.1f} s; atomloop (fresh) ...")
        inputs = [LigandInput(label=s, smiles=s) for s in molecules]
        started = time.perf_counter()
        fresh = dock_ligands(target, inputs, VinaEngine(cpu=1), home / "atomloop", settings=settings)
        fresh_s = time.perf_counter() - started
        started = time.perf_counter()
        again = dock_ligands(target, inputs, VinaEngine(cpu=1), home / "atomloop", settings=settings)
        cached_s = time.perf_counter() - started
    ours = [result.score for result in fresh.results]
    differences = [abs(a - b) for a, b in zip(ours, plain_scores, strict=True) if a is not None]
    n = len(molecules)
    lines = [f"`{command_line()}`", "", environment(["vina", "rdkit", "meeko", "dimorphite_dl"]), "",
             f"{n} BACE-1 inhibitors (bundled set, seed {args.seed}) on 4IVT, exhaustiveness {args.exhaustiveness}, one Vina thread", "",
             "| path | wall s | s a molecule | ratio to preparation + plain vina |", "|---|---:|---:|---:|"]
    reference = prep_s + plain_s
    for name, seconds in [("ligand preparation (SMILES → PDBQT)", prep_s), ("plain vina (API loop)", plain_s),
                          ("atomloop dock_ligands, fresh", fresh_s), ("atomloop dock_ligands, cached", cached_s)]:
        lines.append(f"| {name} | {seconds:.1f} | {seconds / n:.2f} | {seconds / reference:.3f} |")
    lines += ["", f"scores: {sum(r.cached for r in again.results)} of {n} cache hits on the rerun; "
              f"largest |atomloop − plain vina| {max(differences, default=float('nan')):.3f} kcal/mol over {len(differences)} molecules; "
              f"overhead of the docking path {100 * (fresh_s - reference) / reference:+.1f}%"]
    print("\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--actives", type=int, default=24)
    parser.add_argument("--decoys", type=int, default=240)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--exhaustiveness", type=int, default=DEFAULT_EXHAUSTIVENESS, help="Vina's search effort (a CSV holds one setting)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="CSV of the docked ligands (appended, resumed)")
    parser.add_argument("--throughput", action="store_true", help="measure the docking path against plain vina instead")
    parser.add_argument("--molecules", type=int, default=16)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return throughput(args) if args.throughput else screen(args)


if __name__ == "__main__":
    raise SystemExit(main())
