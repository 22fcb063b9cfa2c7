"""Atomistic calculations as compute jobs: ``calculation_job`` runs one task (single point, relaxation, MD, equation
of state) of one saved structure with one potential and returns what the store records, as plain data. The
structure travels as its extxyz file under ``$ATOMLOOP_HOME/structures`` (checked by hash), so a worker on another
machine that shares the home reads the same atoms; outputs are written there by content hash.

The job's content key is (task, structure hash, model spec, options), so the same calculation asked again is the
job book's stored result, not a second run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.atomistic.models import ModelSpec, potential_for
from tools.atomistic.structure import describe, save_structure, structure_hash, write_trajectory

CALCULATION_JOB_KIND = "tools.atomistic.jobs:calculation_job"
Task = Literal["calc", "relax", "md", "eos"]
TASKS: tuple[Task, ...] = ("calc", "relax", "md", "eos")
XTB_MODELS = ("xtb", "gfn1-xtb")


class StructureRef(BaseModel):
    """A saved structure: its content hash, its file, and what it is in a few words."""

    model_config = ConfigDict(frozen=True)

    hash: str
    path: str
    formula: str
    atoms: int
    periodic: bool
    smiles: str | None = None
    source: str = ""


class CalculationResult(BaseModel):
    """What one calculation gives: the energy (eV) and largest force (eV/Å) of its final structure, that structure
    saved, and the task's own numbers in ``details`` (steps, MD temperatures, the equation of state's fit)."""

    model_config = ConfigDict(frozen=True)

    task: Task
    model: ModelSpec
    potential: str
    potential_version: str
    input: StructureRef
    output: StructureRef | None = None
    energy_ev: float
    energy_per_atom_ev: float
    fmax_ev_per_a: float
    max_force_deviation: float | None = None
    converged: bool | None = None
    steps: int | None = None
    trajectory: str | None = None
    seconds: float
    forces: list[list[float]] | None = Field(default=None, description="A single point's forces (eV/Å, atoms x 3)")
    stress: list[float] | None = Field(default=None, description="A single point's stress (eV/Å³, Voigt), periodic cells only")
    details: dict[str, Any] = {}


def structure_ref(atoms: Any, home: Path) -> StructureRef:
    """Save ``atoms`` under ``home`` and describe it."""
    path = save_structure(atoms, home)
    info = describe(atoms)
    return StructureRef(
        hash=path.stem, path=str(path), formula=info["formula"], atoms=info["atoms"], periodic=info["periodic"],
        smiles=atoms.info.get("smiles"), source=str(atoms.info.get("source", "")),
    )


def calculation_job(task: str, structure: dict[str, Any], model: dict[str, Any], options: dict[str, Any], home: str, threads: int = 1) -> dict[str, Any]:
    """A compute job: run ``task`` on the saved ``structure`` with ``model``; the ``CalculationResult`` as JSON."""
    spec = ModelSpec.model_validate(model)
    limit_threads(threads, torch=spec.name not in XTB_MODELS)
    ref = StructureRef.model_validate(structure)
    atoms = load_structure(ref)
    return run_calculation(task, atoms, ref, spec, options, Path(home)).model_dump(mode="json")


def run_calculation(task: str, atoms: Any, ref: StructureRef, spec: ModelSpec, options: dict[str, Any], home: Path) -> CalculationResult:
    """Run ``task`` on ``atoms`` (saved as ``ref``) with the potential ``spec`` names, in this process."""
    from tools.atomistic import tasks

    potential = potential_for(spec)
    info = potential.info()
    common: dict[str, Any] = {"task": task, "model": spec, "potential": info.name, "potential_version": info.version, "input": ref}
    if task == "calc":
        point = tasks.single_point(potential, atoms)
        return CalculationResult(
            **common, energy_ev=point.energy, energy_per_atom_ev=point.energy_per_atom, fmax_ev_per_a=point.fmax,
            max_force_deviation=point.max_force_deviation, seconds=point.seconds,
            forces=point.structure.get_forces().tolist(),
            stress=point.structure.calc.results["stress"].tolist() if "stress" in point.structure.calc.results else None,
            details={"energy_std_ev": point.energy_std} if point.energy_std is not None else {},
        )
    if task == "relax":
        relaxation = tasks.relax(potential, atoms, tasks.RelaxOptions.model_validate(options))
        return CalculationResult(
            **common, output=structure_ref(_carry_info(relaxation.structure, atoms), home), energy_ev=relaxation.energy,
            energy_per_atom_ev=relaxation.energy_per_atom, fmax_ev_per_a=relaxation.fmax, converged=relaxation.converged,
            steps=relaxation.steps, seconds=relaxation.seconds,
            details={"initial_energy_ev": relaxation.initial_energy, "cell_relaxed": relaxation.cell_relaxed,
                     "volume_a3": float(relaxation.structure.get_volume()) if relaxation.cell_relaxed else None},
        )
    if task == "md":
        md_options = tasks.MdOptions.model_validate(options)
        dynamics = tasks.molecular_dynamics(potential, atoms, md_options)
        last = _carry_info(dynamics.frames[-1], atoms)
        energies = [float(frame.get_potential_energy()) for frame in dynamics.frames]
        forces_max = max(float((frame.get_forces() ** 2).sum(axis=1).max() ** 0.5) for frame in dynamics.frames)
        return CalculationResult(
            **common, output=structure_ref(last, home), energy_ev=energies[-1], energy_per_atom_ev=energies[-1] / len(last),
            fmax_ev_per_a=forces_max, max_force_deviation=max(dynamics.max_force_deviations) if dynamics.max_force_deviations else None,
            steps=dynamics.steps, trajectory=str(write_trajectory(dynamics.frames, home)), seconds=dynamics.seconds,
            details={
                "frames": len(dynamics.frames), "temperature_k": dynamics.temperature_k, "mean_temperature_k": dynamics.mean_temperature_k,
                "timestep_fs": dynamics.timestep_fs, "interval": dynamics.interval, "atom_steps_per_s": dynamics.atom_steps_per_s,
                "mean_energy_ev": sum(energies) / len(energies),
            },
        )
    if task == "eos":
        fit = tasks.equation_of_state(potential, atoms, tasks.EosOptions.model_validate(options))
        equilibrium = _carry_info(fit.structure, atoms)
        return CalculationResult(
            **common, output=structure_ref(equilibrium, home), energy_ev=fit.energy, energy_per_atom_ev=fit.energy / len(atoms),
            fmax_ev_per_a=float((fit.structure.get_forces() ** 2).sum(axis=1).max() ** 0.5), seconds=fit.seconds,
            details={"volume_a3": fit.volume, "bulk_modulus_gpa": fit.bulk_modulus_gpa, "scale": fit.scale,
                     "volumes_a3": fit.volumes, "energies_ev": fit.energies},
        )
    raise ValueError(f"unknown atomistic task {task!r}: one of {', '.join(TASKS)}")


def load_structure(ref: StructureRef) -> Any:
    """The atoms of a saved structure, refused when the file is not the structure its hash names."""
    from ase.io import read

    atoms = read(ref.path, index=-1, format="extxyz")
    assert not isinstance(atoms, list)
    if structure_hash(atoms) != ref.hash:
        raise RuntimeError(f"the structure file {ref.path} is not the structure {ref.hash[:12]} (it changed since it was saved)")
    if ref.smiles:
        atoms.info["smiles"] = ref.smiles
    atoms.info["source"] = ref.source
    return atoms


def _carry_info(atoms: Any, original: Any) -> Any:
    """``atoms`` with the original's charge, SMILES and source (ASE's copies keep ``info``, results do not)."""
    for key in ("charge", "multiplicity", "smiles", "source"):
        if key in original.info:
            atoms.info[key] = original.info[key]
    return atoms


def limit_threads(threads: int, *, torch: bool = True) -> None:
    """Keep OpenMP (tblite, BLAS) and, for a torch model, torch to ``threads`` threads: several jobs on one machine
    that each take every core run far slower than one at a time."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    if not torch:
        return
    from importlib.util import find_spec

    if find_spec("torch") is not None:
        import torch as torch_module

        if torch_module.get_num_threads() != threads:
            torch_module.set_num_threads(threads)


TRAINING_JOB_KIND = "tools.atomistic.jobs:training_job"


def training_job(plan: dict[str, Any], folder: str, threads: int = 1) -> dict[str, Any]:
    """A compute job: train (or fine-tune) and freeze the DeePMD model ``plan`` describes in ``folder``; the
    ``TrainedFiles`` as JSON. Its progress (steps done) is recorded with the job."""
    from tools.atomistic.training import TrainingPlan, train
    from tools.compute.calling import report_progress

    def progress(step: int, steps: int) -> None:
        report_progress(step / steps if steps else 1.0, f"step {step} of {steps}")

    return train(TrainingPlan.model_validate(plan), Path(folder), progress, threads=threads).model_dump(mode="json")


EXPLORATION_JOB_KIND = "tools.atomistic.jobs:exploration_job"


def exploration_job(models: list[dict[str, Any]], structure: dict[str, Any], options: dict[str, Any], home: str, threads: int = 1) -> dict[str, Any]:
    """A compute job: Langevin MD of the saved ``structure`` driven by the committee of ``models`` (their mean
    forces), keeping every ``interval``-th frame with the committee's largest force deviation; the trajectory's
    file and the deviations."""
    from tools.atomistic.potential import Committee
    from tools.atomistic.tasks import MdOptions, molecular_dynamics

    limit_threads(threads)
    atoms = load_structure(StructureRef.model_validate(structure))
    committee = Committee([potential_for(ModelSpec.model_validate(model)) for model in models])
    md_options = MdOptions.model_validate(options)
    dynamics = molecular_dynamics(committee, atoms, md_options)
    deviations = list(dynamics.max_force_deviations or [])
    for frame, deviation in zip(dynamics.frames, deviations, strict=False):
        frame.info["max_force_deviation"] = deviation
    trajectory = write_trajectory(dynamics.frames, Path(home)) if dynamics.frames else None
    return {
        "trajectory": str(trajectory) if trajectory else None, "deviations": deviations, "steps": dynamics.steps,
        "stopped_early": dynamics.stopped_early, "expected_frames": md_options.steps // md_options.interval + 1,
        "mean_temperature_k": dynamics.mean_temperature_k, "seconds": dynamics.seconds,
    }
