"""``atomloop atoms``: energies, forces, relaxations, molecular dynamics and equations of state with atomic
potentials (SevenNet-0, CHGNet, GFN2-xTB, DPA-2 models), each run as a compute job and recorded in the store.

STRUCTURE is a SMILES (embedded in 3D), a structure file (extxyz/XYZ, CIF, POSCAR, PDB, SDF) or a DeePMD data
folder (``--frame`` picks the frame). Exit codes: 0 when the calculation was done (and, for ``relax``, converged);
2 for input to fix (a structure that cannot be read, a model that does not describe it, an unknown model); 3 when
the model's package is not installed; 4 when the calculation failed while running or a relaxation ran out of steps.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agent.cli_common import EXIT_RUN_FAILED, JsonOption, cells, console, emit_json, handles_errors, progress_bar, shown

if TYPE_CHECKING:
    from tools.atomistic.jobs import CalculationResult

atoms_cli = typer.Typer(help="Atomic models: energies, forces, relaxations and dynamics (SevenNet-0, CHGNet, GFN2-xTB, DPA-2).", no_args_is_help=True)

StructureArgument = Annotated[str, typer.Argument(help="A SMILES, a structure file (XYZ/extxyz, CIF, POSCAR, PDB, SDF) or a DeePMD data folder.")]
ModelOption = Annotated[str, typer.Option("--model", "-m", help="sevennet-0, chgnet, xtb (GFN2-xTB), gfn1-xtb, or dpa2:VERSION / dpa2:MODEL_FILE.")]
FrameOption = Annotated[int, typer.Option(help="The frame of a file or folder with several (0: first, -1: last).")]
OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Also write the resulting structure (or trajectory) here; the format from the suffix.")]
TASK_NAMES = {"calc": "Single point", "relax": "Relaxation", "md": "Molecular dynamics", "eos": "Equation of state"}


@atoms_cli.command("calc")
@handles_errors
def calc(structure: StructureArgument, model: ModelOption = "sevennet-0", frame: FrameOption = 0, as_json: JsonOption = False) -> None:
    """Energy and forces of a structure (and, for a committee, their spread)."""
    _run("calc", structure, model, frame, {}, None, as_json)


@atoms_cli.command("relax")
@handles_errors
def relax(
    structure: StructureArgument,
    model: ModelOption = "sevennet-0",
    fmax: Annotated[float, typer.Option(help="Stop when every force is below this (eV/A).")] = 0.05,
    steps: Annotated[int, typer.Option(help="At most this many optimiser steps.")] = 500,
    cell: Annotated[str, typer.Option(help="auto (relax a periodic cell too), fixed, or relax.")] = "auto",
    frame: FrameOption = 0,
    out: OutOption = None,
    as_json: JsonOption = False,
) -> None:
    """Relax a structure (BFGS; the cell too for a crystal): its energy, largest force and the relaxed structure's file.

    Exits 4 when the forces did not fall below --fmax within --steps (the last structure is still saved)."""
    _run("relax", structure, model, frame, {"fmax": fmax, "steps": steps, "cell": cell}, out, as_json)


@atoms_cli.command("md")
@handles_errors
def md(
    structure: StructureArgument,
    model: ModelOption = "sevennet-0",
    temperature: Annotated[float, typer.Option(help="Temperature of the Langevin thermostat (K).")] = 300.0,
    steps: Annotated[int, typer.Option(help="MD steps.")] = 200,
    timestep: Annotated[float, typer.Option(help="Time step (fs).")] = 0.5,
    friction: Annotated[float, typer.Option(help="Langevin friction (1/fs).")] = 0.01,
    interval: Annotated[int, typer.Option(help="Keep a frame every this many steps.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the initial velocities and the thermostat.")] = 0,
    frame: FrameOption = 0,
    out: OutOption = None,
    as_json: JsonOption = False,
) -> None:
    """NVT molecular dynamics (Langevin): the trajectory (extxyz, frames with energies and forces) and its temperature."""
    options = {"temperature_k": temperature, "steps": steps, "timestep_fs": timestep, "friction_per_fs": friction, "interval": interval, "seed": seed}
    _run("md", structure, model, frame, options, out, as_json)


@atoms_cli.command("eos")
@handles_errors
def eos(
    structure: StructureArgument,
    model: ModelOption = "sevennet-0",
    strain: Annotated[float, typer.Option(help="Largest linear strain either way (0.04: lattice lengths from 96% to 104%).")] = 0.04,
    points: Annotated[int, typer.Option(help="Strained cells to compute.")] = 7,
    fixed_positions: Annotated[bool, typer.Option("--fixed-positions", help="Scale the atoms with the cell without relaxing them.")] = False,
    frame: FrameOption = 0,
    out: OutOption = None,
    as_json: JsonOption = False,
) -> None:
    """A crystal's equation of state (Birch-Murnaghan): its equilibrium volume, energy and bulk modulus."""
    _run("eos", structure, model, frame, {"strain": strain, "points": points, "relax_positions": not fixed_positions}, out, as_json)


def _run(task: str, structure: str, model: str, frame: int, options: dict[str, Any], out: Path | None, as_json: bool) -> None:
    from agent.app import build_app
    from agent.atomistic import calculate, model_spec, prepare_structure, record_calculation
    from tools.atomistic.errors import CalculationFailed
    from tools.atomistic.structure import read_structure
    from tools.atomistic.tasks import EosOptions, MdOptions, RelaxOptions

    validated = _validated(task, options, {"relax": RelaxOptions, "md": MdOptions, "eos": EosOptions})
    atoms = read_structure(structure, frame=frame)
    with build_app() as app:
        spec = model_spec(model, app.store)
        home = app.settings.home_dir
        ref = prepare_structure(atoms, spec, home, task)
        with console().status(f"{TASK_NAMES[task]} of {shown(ref.formula)} with {shown(spec.label)} (a compute job) ...") if not as_json else nullcontext():
            try:
                result, key, reused = calculate(app.executor, task, ref, spec, validated, home)
            except CalculationFailed as error:
                sys.stderr.write(f"atomloop: run error: {error}\n")
                if as_json:
                    emit_json({"error": str(error), "type": type(error).__name__})
                raise typer.Exit(EXIT_RUN_FAILED) from None
        row, new = record_calculation(app.store, home, result, key)
    written = _write_out(result, out) if out is not None else None
    payload = _payload(result, reused, new, row.id, written)
    if as_json:
        emit_json(payload)
    else:
        _print(result, payload)
    if task == "relax" and result.converged is False:
        sys.stderr.write(
            f"atomloop: run error: the relaxation did not converge in {result.steps} steps (fmax {result.fmax_ev_per_a:.3f} eV/A > "
            f"{validated['fmax']:g}); the last structure is {payload['structure']}: give more --steps or start from it\n"
        )
        raise typer.Exit(EXIT_RUN_FAILED)


def _validated(task: str, options: dict[str, Any], models: dict[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError

    from tools.base import validation_problems
    from tools.errors import ToolInputError

    if task not in models:
        return options
    try:
        return dict(models[task].model_validate(options).model_dump(mode="json"))
    except ValidationError as error:
        raise ToolInputError(f"invalid {task} options: {validation_problems(error)}") from None


def _write_out(result: CalculationResult, out: Path) -> str:
    """Write the result's trajectory (MD) or final structure to ``out`` in the format its suffix names."""
    from ase.io import read, write

    from tools.atomistic.errors import StructureInputError

    out = out.expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    source = result.trajectory or (result.output.path if result.output is not None else None)
    if source is None:
        raise StructureInputError(out, f"a {result.task} has no structure to write")
    frames = list(read(source, index=":", format="extxyz"))
    try:
        write(str(out), frames if result.trajectory and len(frames) > 1 else frames[-1])
    except (ValueError, KeyError, NotImplementedError) as error:  # ASE's "unknown format" and one-frame-only formats
        raise StructureInputError(out, f"ASE cannot write this format ({error}); use .extxyz, .xyz, .cif or .vasp") from None
    return str(out)


def _payload(result: CalculationResult, reused: bool, new: bool, row_id: int | None, written: str | None) -> dict[str, Any]:
    output = result.output
    return {
        "task": result.task,
        "model": result.model.label,
        "potential": result.potential,
        "potential_version": result.potential_version,
        "input": result.input.model_dump(mode="json"),
        "energy": result.energy_ev,
        "energy_per_atom": result.energy_per_atom_ev,
        "fmax": result.fmax_ev_per_a,
        "max_force_deviation": result.max_force_deviation,
        "converged": result.converged,
        "steps": result.steps,
        "structure": written if written and not result.trajectory else (output.path if output is not None else result.input.path),
        "trajectory": written if written and result.trajectory else result.trajectory,
        "seconds": round(result.seconds, 3),
        **({"forces": result.forces} if result.forces is not None else {}),
        **({"stress": result.stress} if result.stress is not None else {}),
        "details": result.details,
        "cached": reused,
        "result_id": row_id,
        "new_result": new,
    }


def _print(result: CalculationResult, payload: dict[str, Any]) -> None:
    from rich.table import Table

    ref = result.input
    table = Table(title=f"{TASK_NAMES[result.task]} of {shown(ref.formula)} ({ref.atoms} atoms{', periodic' if ref.periodic else ''}) with {shown(result.model.label)}", show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [("energy (eV)", f"{result.energy_ev:.6f}"), ("energy per atom (eV)", f"{result.energy_per_atom_ev:.6f}")]
    label = "largest force over the trajectory (eV/A)" if result.task == "md" else "largest force (eV/A)"
    rows.append((label, f"{result.fmax_ev_per_a:.4f}"))
    if result.max_force_deviation is not None:
        rows.append(("committee force deviation (eV/A)", f"{result.max_force_deviation:.4f}"))
    details = result.details
    if result.task == "relax":
        rows += [("converged", "yes" if result.converged else "no"), ("steps", str(result.steps)),
                 ("energy change (eV)", f"{result.energy_ev - details['initial_energy_ev']:.6f}")]
        if details.get("volume_a3") is not None:
            rows.append(("cell volume (A^3)", f"{details['volume_a3']:.3f}"))
    if result.task == "md":
        rows += [("frames", str(details["frames"])), ("mean temperature (K)", f"{details['mean_temperature_k']:.1f} (target {details['temperature_k']:g})"),
                 ("speed (atom-steps/s)", f"{details['atom_steps_per_s']:,.0f}")]
    if result.task == "eos":
        rows += [("equilibrium volume (A^3)", f"{details['volume_a3']:.3f}"), ("bulk modulus (GPa)", f"{details['bulk_modulus_gpa']:.1f}"),
                 ("lattice scale", f"{details['scale']:.4f}")]
    rows.append(("time (s)", "cached" if payload["cached"] else f"{result.seconds:.2f}"))
    for name, value in rows:
        table.add_row(*cells(name, value))
    out = console()
    out.print(table)
    if payload["trajectory"]:
        out.print(f"Trajectory: {shown(payload['trajectory'])}")
    elif result.output is not None:
        out.print(f"Structure: {shown(payload['structure'])}")
    out.print(f"{TASK_NAMES[result.task]} recorded in the store as result {payload['result_id']}" + ("" if payload["new_result"] else " (recorded before)"))


@atoms_cli.command("results")
@handles_errors
def results(
    task: Annotated[str | None, typer.Option(help="Only this task: calc, relax, md or eos.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model (as named in the table).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The atomistic calculations in the store, newest first."""
    from agent.app import build_app

    with build_app() as app:
        rows = app.store.atomistic_results(task=task, potential=model, limit=limit)
    items: list[dict[str, Any]] = [
        {"id": result.id, "task": result.task, "formula": structure.formula, "atoms": structure.n_atoms, "model": result.potential,
         "energy": result.energy_ev, "fmax": result.fmax_ev_per_a, "converged": result.converged, "created_at": result.created_at.isoformat()}
        for result, structure in rows
    ]
    if as_json:
        emit_json({"results": items})
        return
    from rich.table import Table

    table = Table(title="Atomistic calculations")
    for column in ("id", "task", "structure", "model", "energy (eV)", "fmax (eV/A)", "when"):
        table.add_column(column, justify="right" if column in {"id", "energy (eV)", "fmax (eV/A)"} else "left")
    for item in items:
        table.add_row(*cells(item["id"], item["task"], f"{item['formula']} ({item['atoms']})", item["model"], f"{item['energy']:.4f}",
                             f"{item['fmax']:.4f}" if item["fmax"] is not None else "-", item["created_at"][:19]))
    console().print(table)


@atoms_cli.command("train")
@handles_errors
def train(
    data: Annotated[list[Path], typer.Option("--data", "-d", help="Labelled frames: a DeePMD data folder (or a folder of them) or an extxyz file with energies and forces (repeatable).")],
    model: Annotated[str, typer.Option("--model", "-m", help="The model family: dpa2.")] = "dpa2",
    finetune: Annotated[str | None, typer.Option("--finetune", help="Fine-tune from this model: a version (atomloop atoms models) or a checkpoint file (.pt/.pth, e.g. a pretrained DPA-2).")] = None,
    validation: Annotated[list[Path] | None, typer.Option("--validation", help="Held-out frames to test on (default: a tenth of --data, by content hash).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A small model and step budget that trains in minutes on a CPU.")] = False,
    steps: Annotated[int | None, typer.Option(help="Training steps (default: 3000 with --quick, 20000 otherwise; 1000 when fine-tuning).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the model's initial weights and the batches.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Train (or fine-tune) a DPA-2 model with deepmd-kit and register it as a version, tested on held-out frames."""
    from agent.app import build_app
    from agent.atomic_models import train_model
    from agent.atomistic import model_spec
    from tools.atomistic.datasets import labelled_frames
    from tools.errors import ToolInputError

    if model.strip().lower() != "dpa2":
        raise ToolInputError(f"atoms train trains dpa2 models, not {model!r}")
    frames = labelled_frames(data)
    heldout = labelled_frames(validation) if validation else None
    budget = steps if steps is not None else (1000 if finetune else 3000 if quick else 20000)
    if budget < 1:
        raise ToolInputError(f"--steps must be at least 1, not {budget}")
    with build_app() as app:
        parent = model_spec(f"dpa2:{finetune}", app.store) if finetune else None
        with progress_bar(f"{'Fine-tuning' if parent else 'Training'} dpa2 on {len(frames)} frames", budget, as_json) as advance:
            trained = train_model(
                app.store, app.executor, app.settings.home_dir, frames, size="quick" if quick else "small", steps=budget, seed=seed,
                parent=parent, heldout=heldout, on_progress=advance,
            )
    held = trained.metrics["heldout"]
    payload = {
        "version": trained.version, "model": trained.spec.label, "approved": trained.approved, "parent": trained.parent,
        "finetuned_from": trained.metrics["finetuned_from"], "model_file": trained.spec.path, "folder": trained.folder,
        "energy_rmse_per_atom_mev": held["energy_rmse_per_atom_mev"], "force_rmse_mev_per_a": held["force_rmse_mev_per_a"],
        "zero_force_rmse_mev_per_a": held["zero_force_rmse_mev_per_a"], "metrics": trained.metrics,
    }
    if as_json:
        emit_json(payload)
        return
    out = console()
    out.print(f"Registered {shown(trained.spec.label)} ({'approved' if trained.approved else 'not approved'}; {trained.metrics['training_frames']} training frames, "
              f"{trained.metrics['training_seconds']:.0f} s)")
    _print_test(f"Held-out frames ({trained.metrics['heldout_frames']})", held, trained.metrics.get("parent_heldout"))


@atoms_cli.command("test")
@handles_errors
def test(
    model: ModelOption,
    data: Annotated[list[Path], typer.Option("--data", "-d", help="Labelled frames: DeePMD data folders or extxyz files with energies and forces (repeatable).")],
    as_json: JsonOption = False,
) -> None:
    """Measure a model on labelled frames: energy RMSE per atom (meV/atom) and force RMSE (meV/A)."""
    from agent.app import build_app
    from agent.atomistic import model_spec
    from tools.atomistic.datasets import labelled_frames
    from tools.atomistic.models import potential_for
    from tools.atomistic.potential import check_supported
    from tools.atomistic.training import model_test

    frames = labelled_frames(data)
    with build_app() as app:
        spec = model_spec(model, app.store)
    potential = potential_for(spec)
    info = potential.info()
    for frame in frames[:1]:
        check_supported(info, frame)
    with console().status(f"Testing {shown(spec.label)} on {len(frames)} frames ...") if not as_json else nullcontext():
        result = model_test(potential, frames)
    payload = {"model": spec.label, "potential_version": info.version, **result.model_dump()}
    if as_json:
        emit_json(payload)
        return
    _print_test(f"{shown(spec.label)} on {result.frames} frames ({result.atoms:,} atoms)", result.model_dump(), None)


@atoms_cli.command("models")
@handles_errors
def models(as_json: JsonOption = False) -> None:
    """The registered atomic models (DPA-2 versions), newest first, with their held-out accuracy and lineage."""
    from agent.app import build_app
    from agent.atomic_models import atomic_models

    with build_app() as app:
        rows = atomic_models(app.store)
    items: list[dict[str, Any]] = [
        {"version": row.id, "parent": row.parent_id, "approved": row.approved, "finetuned_from": row.metrics.get("finetuned_from"),
         "training_frames": row.metrics.get("training_frames"), "size": row.metrics.get("size"), "steps": row.metrics.get("steps"),
         "energy_rmse_per_atom_mev": (row.metrics.get("heldout") or {}).get("energy_rmse_per_atom_mev"),
         "force_rmse_mev_per_a": (row.metrics.get("heldout") or {}).get("force_rmse_mev_per_a"),
         "model_file": row.artifact_path, "created_at": row.created_at.isoformat()}
        for row in rows
    ]
    if as_json:
        emit_json({"models": items})
        return
    from rich.table import Table

    table = Table(title="Atomic models")
    for column in ("version", "parent", "approved", "frames", "size/steps", "E RMSE (meV/atom)", "F RMSE (meV/A)", "created"):
        table.add_column(column, justify="right" if "RMSE" in column or column == "frames" else "left")
    for item in items:
        energy, force = item["energy_rmse_per_atom_mev"], item["force_rmse_mev_per_a"]
        table.add_row(*cells(item["version"], item["parent"] or item["finetuned_from"] or "-", "yes" if item["approved"] else "no", item["training_frames"],
                             f"{item['size']}/{item['steps']}", f"{energy:.2f}" if energy is not None else "-", f"{force:.1f}" if force is not None else "-",
                             item["created_at"][:19]))
    console().print(table)


def _print_test(title: str, result: dict[str, Any], parent: dict[str, Any] | None) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("model", justify="right")
    if parent:
        table.add_column("parent", justify="right")
    rows = [("energy RMSE (meV/atom)", "energy_rmse_per_atom_mev", ".2f"), ("energy MAE (meV/atom)", "energy_mae_per_atom_mev", ".2f"),
            ("force RMSE (meV/A)", "force_rmse_mev_per_a", ".1f"), ("force MAE (meV/A)", "force_mae_mev_per_a", ".1f"),
            ("force RMSE of no model (meV/A)", "zero_force_rmse_mev_per_a", ".1f")]
    for name, key, spec in rows:
        table.add_row(*cells(name, format(result[key], spec), *((format(parent[key], spec),) if parent else ())))
    console().print(table)


@atoms_cli.command("learn")
@handles_errors
def learn(
    config_file: Annotated[Path, typer.Argument(help="The run's YAML configuration (examples/learn_ethanol.yaml).")],
    as_json: JsonOption = False,
) -> None:
    """Concurrent learning (DP-GEN style): explore with a DPA-2 committee, label the frames it disagrees on with the
    oracle, fine-tune, repeat. The same configuration again resumes the run where it stopped (nothing is relabelled).

    Exits 0 when the run converged or spent its iterations or labels, 2 for a bad configuration, 4 when it failed."""
    from agent.app import build_app
    from agent.learning import run_learning
    from tools.atomistic.learning import read_config
    from tools.errors import ToolFailed

    config = read_config(config_file.expanduser())
    out = console()
    with build_app() as app:
        try:
            with out.status(f"Learning {shown(config.name)} ...") if not as_json else nullcontext() as status:
                def event(message: str) -> None:
                    if status is not None:
                        status.update(shown(message))
                        out.log(shown(message))

                row = run_learning(app, config, event)
        except ToolFailed as error:  # a step failed while running (input and setup errors exit 2 and 3 as usual)
            sys.stderr.write(f"atomloop: run error: the learning run {config.name} failed: {error}\n")
            if as_json:
                emit_json({"error": str(error), "type": type(error).__name__})
            raise typer.Exit(EXIT_RUN_FAILED) from None
        plot = _learning_plot(row.iterations, app.settings.home_dir / row.folder / "learning.png")
    payload = {"run": row.id, "name": row.name, "status": row.status, "labels_spent": row.labels_spent, "folder": row.folder,
               "plot": plot, "iterations": row.iterations}
    if as_json:
        emit_json(payload)
        return
    from rich.table import Table

    table = Table(title=f"Learning {shown(row.name)}: {row.status}, {row.labels_spent} labels")
    for column in ("iteration", "accurate", "candidate", "failed", "selected", "labels", "F RMSE committee (meV/A)", "F RMSE random (meV/A)"):
        table.add_column(column, justify="right")
    for it in row.iterations:
        random = it.get("random_heldout_force_rmse_mev_per_a")
        table.add_row(*cells(it["iteration"], _share(it["accurate"]), _share(it["candidate"]), _share(it["failed"]), it["selected"], it["labels_spent"],
                             f"{it['heldout_force_rmse_mev_per_a']:.0f}", f"{random:.0f}" if random is not None else "-"))
    out.print(table)
    if plot:
        out.print(f"Plot: {shown(plot)}")


def _share(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "-"


def _learning_plot(iterations: list[dict[str, Any]], path: Path) -> str | None:
    """Held-out force RMSE against labels spent, the committee beside random selection (PNG), or None without
    matplotlib or iterations."""
    if len(iterations) < 2:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels = [it["labels_spent"] for it in iterations]
    figure, axis = plt.subplots(figsize=(5.5, 4))
    axis.plot(labels, [it["heldout_force_rmse_mev_per_a"] for it in iterations], "o-", label="selected by committee deviation")
    if all(it.get("random_heldout_force_rmse_mev_per_a") is not None for it in iterations):
        axis.plot(labels, [it["random_heldout_force_rmse_mev_per_a"] for it in iterations], "s--", label="selected at random")
    axis.set_xlabel("oracle labels spent")
    axis.set_ylabel("held-out force RMSE (meV/Å)")
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return str(path)
