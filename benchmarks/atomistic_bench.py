"""Atomic models (issue #23): DPA-2 on DeePMD's DFT water, the universal calculators side by side, and concurrent
learning against random selection.

**water** (the default): AtomLoop's own training path (``agent.atomic_models.train_model`` on a fresh home, the
inline executor) trains a DPA-2 (``--size``, default ``quick``; ``--steps``) on ``data_0`` and ``data_1`` of
``deepmd-water`` (``--data``, default ``../shared/data``), fine-tunes it on ``data_2`` (``--finetune-steps``), and
tests both on ``data_3``, which neither saw (deepmd-kit's validation during training is ``data_3`` too, but nothing
is chosen by it: no early stopping). Reported: energy RMSE per atom and force RMSE beside the force RMSE of no model,
training time, and the MD speed of the ASE calculator (atom-steps a second, Langevin on a 192-atom frame).

**calculators**: SevenNet-0, CHGNet, GFN2-xTB and a DPA-2 model (``--dpa2 FILE``, optional) on the same structures
(molecules from SMILES, crystals built by ASE, a DFT water frame): milliseconds per single point, and the force
RMSE of each against DFT on held-out water frames.

**learning**: ``atomloop atoms learn`` on ``--config`` (default ``examples/learn_ethanol.yaml``) for each
``--seeds``; per seed the held-out force RMSE of the committee's first model and of the model trained on as many
frames chosen at random (same seed, same steps), at the last iteration.

    python benchmarks/atomistic_bench.py water [--size quick --steps 3000 --finetune-steps 1000]
    python benchmarks/atomistic_bench.py calculators [--dpa2 MODEL.pth]
    python benchmarks/atomistic_bench.py learning [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import command_line, environment, progress  # noqa: E402

PACKAGES = ("torch", "deepmd-kit", "ase", "sevenn", "chgnet", "tblite")
PUBLISHED = "DPA2-L6, averaged over six DFT sets (Zhang et al. 2024): 12.1 meV/atom energy, 109 meV/Å force"


def _app(home: Path) -> Any:
    os.environ["ATOMLOOP_HOME"] = str(home)
    os.environ.setdefault("ATOMLOOP_COMPUTE__EXECUTOR", "inline")
    from agent.app import build_app
    from knowledge.database import upgrade

    app = build_app()
    upgrade(app.unchecked_store.engine)
    return app


def water(args: argparse.Namespace) -> None:
    from agent.atomic_models import Member, train_models
    from tools.atomistic.potentials.deepmd import DeepmdPotential
    from tools.atomistic.structure import read_deepmd
    from tools.atomistic.tasks import MdOptions, molecular_dynamics
    from tools.atomistic.training import model_test

    data = args.data / "deepmd-water" / "examples" / "water" / "data"
    frames = {name: read_deepmd(data / name) for name in ("data_0", "data_1", "data_2", "data_3")}
    test = frames["data_3"]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, _app(Path(tmp)) as app:
        home = app.settings.home_dir
        progress(f"training {args.size} DPA-2 for {args.steps} steps on {len(frames['data_0']) + len(frames['data_1'])} frames")
        base = train_models(app.store, app.executor, home, frames["data_0"] + frames["data_1"], [Member(seed=1)], size=args.size,
                            steps=args.steps, heldout=test)[0]
        rows.append(_water_row("trained on data_0 + data_1", base, model_test(DeepmdPotential(Path(base.spec.path or "")), test)))
        progress(f"fine-tuning for {args.finetune_steps} steps on data_2")
        child = train_models(app.store, app.executor, home, frames["data_2"], [Member(seed=1, parent=base.spec)], size=args.size,
                             steps=args.finetune_steps, heldout=test)[0]
        rows.append(_water_row("then fine-tuned on data_2", child, model_test(DeepmdPotential(Path(child.spec.path or "")), test)))
        progress("MD speed of the ASE calculator")
        md = molecular_dynamics(DeepmdPotential(Path(child.spec.path or "")), test[0], MdOptions(steps=args.md_steps, interval=args.md_steps))
    print(f"\n{command_line()}\n{environment(PACKAGES)}\n")
    print("| model | frames | steps | training (s) | energy RMSE (meV/atom) | force RMSE (meV/Å) | no model (meV/Å) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['frames']} | {row['steps']} | {row['seconds']:.0f} | {row['energy']:.1f} | {row['force']:.0f} | {row['zero']:.0f} |")
    print(f"\nMD (Langevin, 300 K, 192 atoms, deepmd-kit's ASE calculator): {md.atom_steps_per_s:,.0f} atom-steps/s over {md.steps} steps")
    print(f"Published: {PUBLISHED}")


def _water_row(name: str, model: Any, test: Any) -> dict[str, Any]:
    return {"model": name, "frames": model.metrics["training_frames"], "steps": model.metrics["steps"],
            "seconds": model.metrics["training_seconds"], "energy": test.energy_rmse_per_atom_mev, "force": test.force_rmse_mev_per_a,
            "zero": test.zero_force_rmse_mev_per_a}


def calculators(args: argparse.Namespace) -> None:
    from ase.build import bulk

    from tools.atomistic.models import ModelSpec, file_spec, potential_for
    from tools.atomistic.structure import read_deepmd, read_structure
    from tools.atomistic.training import model_test

    structures = {
        "ethanol (SMILES)": read_structure("CCO"), "benzene (SMILES)": read_structure("c1ccccc1"),
        "aspirin (SMILES)": read_structure("CC(=O)Oc1ccccc1C(=O)O"), "Si diamond (8 atoms)": bulk("Si", "diamond", a=5.43, cubic=True),
        "water, DFT frame (192)": read_deepmd(args.data / "deepmd-water" / "examples" / "water" / "data" / "data_3")[0],
    }
    water_test = read_deepmd(args.data / "deepmd-water" / "examples" / "water" / "data" / "data_3")[::8]
    specs = [ModelSpec(name="sevennet-0"), ModelSpec(name="chgnet"), ModelSpec(name="xtb")]
    if args.dpa2 is not None:
        specs.append(file_spec("dpa2", args.dpa2))
    table: list[tuple[str, dict[str, float], float]] = []
    for spec in specs:
        potential = potential_for(spec)
        timings: dict[str, float] = {}
        for name, atoms in structures.items():
            potential.evaluate(atoms)  # the first call loads the model
            started = time.perf_counter()
            for _ in range(args.repeats):
                potential.evaluate(atoms)
            timings[name] = (time.perf_counter() - started) / args.repeats * 1000
            progress(f"{spec.label} {name}: {timings[name]:.0f} ms")
        force = model_test(potential, water_test).force_rmse_mev_per_a
        table.append((spec.label, timings, force))
    print(f"\n{command_line()}\n{environment(PACKAGES)}\n")
    print("| model | " + " | ".join(f"{name} (ms)" for name in structures) + f" | force RMSE vs DFT water, {len(water_test)} frames (meV/Å) |")
    print("|---|" + "---:|" * (len(structures) + 1))
    for label, timings, force in table:
        print(f"| {label} | " + " | ".join(f"{timings[name]:.0f}" for name in structures) + f" | {force:.0f} |")


def learning(args: argparse.Namespace) -> None:
    from agent.learning import run_learning
    from tools.atomistic.learning import read_config

    base = read_config(args.config)
    rows = []
    for seed in args.seeds:
        config = base.model_copy(update={"seed": seed, "name": f"{base.name}-seed{seed}"})
        with tempfile.TemporaryDirectory() as tmp, _app(Path(tmp)) as app:
            started = time.perf_counter()
            row = run_learning(app, config, progress)
            seconds = time.perf_counter() - started
        last = row.iterations[-1]
        rows.append({"seed": seed, "status": row.status, "iterations": len(row.iterations) - 1, "labels": row.labels_spent,
                     "selected": last["heldout_force_rmse_mev_per_a"], "random": last["random_heldout_force_rmse_mev_per_a"],
                     "initial": row.iterations[0]["heldout_force_rmse_mev_per_a"], "seconds": seconds,
                     "zero": row.iterations[0].get("zero_force_rmse_mev_per_a"),
                     "bands": [(it["accurate"], it["candidate"], it["failed"]) for it in row.iterations[1:]]})
        progress(json.dumps(rows[-1]))
    print(f"\n{command_line()}\n{environment(PACKAGES)}\n")
    print("| seed | status | iterations | labels | no model (meV/Å) | initial (meV/Å) | selected by deviation (meV/Å) | random (meV/Å) | time (s) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        zero = f"{r['zero']:.0f}" if r["zero"] is not None else "-"
        print(f"| {r['seed']} | {r['status']} | {r['iterations']} | {r['labels']} | {zero} | {r['initial']:.0f} | {r['selected']:.0f} | {r['random']:.0f} | {r['seconds']:.0f} |")
    selected, random = [r["selected"] for r in rows], [r["random"] for r in rows]
    print(f"\nmean over {len(rows)} seeds: selected {statistics.mean(selected):.0f}, random {statistics.mean(random):.0f} meV/Å; "
          f"selection better in {sum(s < r for s, r in zip(selected, random, strict=True))} of {len(rows)}")
    for r in rows:
        print(f"seed {r['seed']} trust bands (accurate, candidate, failed) per iteration: "
              + "; ".join(f"{a:.0%}/{c:.0%}/{f:.0%}" for a, c, f in r["bands"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="water", choices=("water", "calculators", "learning"))
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--size", default="quick", choices=("quick", "small"))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--finetune-steps", type=int, default=1000)
    parser.add_argument("--md-steps", type=int, default=50)
    parser.add_argument("--dpa2", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "learn_ethanol.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    {"water": water, "calculators": calculators, "learning": learning}[args.mode](args)


if __name__ == "__main__":
    main()
