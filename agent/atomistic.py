"""Atomistic calculations for the command line and the agent: the model a name means, one calculation run as a
compute job, and its record in the knowledge store (the input and output structures by content hash, one
``AtomisticResult`` whose ``op_id`` is the job's content key, so the same calculation recorded twice is one row).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from tools.atomistic.errors import CalculationFailed, PotentialUnsupported, UnknownPotential
from tools.atomistic.jobs import CALCULATION_JOB_KIND, CalculationResult, StructureRef, structure_ref
from tools.atomistic.models import BUNDLED_MODELS, DEEPMD_MODELS, ModelSpec, bundled_spec, file_spec, potential_for
from tools.atomistic.potential import check_supported

if TYPE_CHECKING:
    from ase import Atoms

    from knowledge.models import AtomisticResult
    from knowledge.store import KnowledgeStore, StoreWriter
    from tools.compute.jobs import ComputeExecutor

JOB_TIMEOUT_S = 6 * 3600.0
DOWNLOADING_MODELS = frozenset({"mace", "mace-mp", "mace-off", "orb", "mattersim", "fairchem", "uma", "m3gnet", "torchani", "ani2x", "dpa3", "dpa-3"})


def model_spec(name: str, store: KnowledgeStore | None = None) -> ModelSpec:
    """The potential ``name`` means: a bundled one (``sevennet-0``, ``chgnet``, ``xtb``, ``gfn1-xtb``), a registered
    DPA-2 version (``dpa2:VERSION``), or a DeePMD model file (``dpa2:PATH``, e.g. a pretrained checkpoint).

    Raises:
        UnknownPotential: no potential, version or file of that name.
    """
    spec = bundled_spec(name)
    if spec is not None:
        return spec
    family, _, reference = name.partition(":")
    family = family.strip().lower()
    if family not in DEEPMD_MODELS or not reference.strip():
        known = ", ".join((*BUNDLED_MODELS, *(f"{m}:VERSION" for m in DEEPMD_MODELS)))
        if family in DOWNLOADING_MODELS:
            raise UnknownPotential(
                f"{name!r} downloads its weights at run time, which AtomLoop does not do (it runs offline); the models are {known}, "
                "or a DeePMD checkpoint file as dpa2:PATH"
            )
        raise UnknownPotential(f"unknown model {name!r}: the models are {known}")
    reference = reference.strip()
    path = Path(reference).expanduser()
    if path.is_file():
        return file_spec(family, path)
    if store is not None:
        from agent.atomic_models import registered_model

        registered = registered_model(store, reference)
        if registered is not None:
            return registered.spec
    raise UnknownPotential(f"no {family} model {reference!r}: give a version (atomloop atoms models) or a model file")


def prepare_structure(atoms: Atoms, spec: ModelSpec, home: Path, task: str = "calc") -> StructureRef:
    """Check that the potential describes ``atoms`` (its elements, its periodicity) and that the task applies (an
    equation of state needs a cell), then save it under ``home``.

    Raises:
        PotentialUnsupported: the potential or the task does not apply to this structure.
    """
    check_supported(potential_for(spec).info(), atoms)
    if task == "eos" and not atoms.pbc.all():
        raise PotentialUnsupported("an equation of state needs a periodic cell (a CIF, a POSCAR, an extxyz with a lattice); this structure has none")
    return structure_ref(atoms, home)


class Calculation(BaseModel):
    """One calculation to run: the task, the saved structure, the potential and the task's options."""

    model_config = ConfigDict(frozen=True)

    task: str
    structure: StructureRef
    model: ModelSpec
    options: dict[str, Any] = {}


def calculate(
    executor: ComputeExecutor, task: str, ref: StructureRef, spec: ModelSpec, options: dict[str, Any], home: Path, threads: int | None = None
) -> tuple[CalculationResult, str, bool]:
    """Run one calculation as a compute job: (its result, the job's content key, whether the job book answered it
    from an earlier run).

    Raises:
        CalculationFailed: the job failed, timed out or was cancelled (the reason is its error's first line).
    """
    return calculate_batch(executor, [Calculation(task=task, structure=ref, model=spec, options=options)], home, threads=threads or os.cpu_count() or 1)[0]


def calculate_batch(
    executor: ComputeExecutor, calculations: Sequence[Calculation], home: Path, *, threads: int = 1, group: str | None = None
) -> list[tuple[CalculationResult, str, bool]]:
    """Run calculations as one batch of compute jobs (side by side where the executor can); each one's result,
    content key and whether it was reused, in order.

    Raises:
        CalculationFailed: a job failed, timed out or was cancelled (the first such, with its reason).
    """
    answers = calculate_each(executor, calculations, home, threads=threads, group=group)
    for answer in answers:
        if isinstance(answer, CalculationFailed):
            raise answer
    return [answer for answer in answers if not isinstance(answer, CalculationFailed)]


def calculate_each(
    executor: ComputeExecutor, calculations: Sequence[Calculation], home: Path, *, threads: int = 1, group: str | None = None
) -> list[tuple[CalculationResult, str, bool] | CalculationFailed]:
    """``calculate_batch``, with each failed calculation's ``CalculationFailed`` in its place instead of raised."""
    from tools.compute.jobs import JobRequest

    jobs = [
        JobRequest(
            kind=CALCULATION_JOB_KIND,
            inputs={"task": c.task, "structure": c.structure.model_dump(mode="json"), "model": c.model.model_dump(mode="json"),
                    "options": c.options, "home": str(home), "threads": threads},
            label=f"{c.task} {c.structure.formula} with {c.model.label}"[:200],
            timeout_s=JOB_TIMEOUT_S,
        )
        for c in calculations
    ]
    outcomes = executor.run(jobs, group=group or f"atoms {calculations[0].task}") if jobs else []
    answers: list[tuple[CalculationResult, str, bool] | CalculationFailed] = []
    for c, outcome in zip(calculations, outcomes, strict=True):
        if not outcome.ok:
            answers.append(CalculationFailed(
                f"the {c.task} of {c.structure.formula} with {c.model.label} {outcome.status.replace('_', ' ')}: {job_error(outcome.error)}"))
        else:
            answers.append((CalculationResult.model_validate(outcome.result), outcome.key, outcome.reused))
    return answers


def job_error(error: str | None) -> str:
    """The message of a failed job's error: its first line (``Type: message``; the frames follow)."""
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    return lines[0][:500] if lines else "no error given"


def record_calculation(
    store: KnowledgeStore, home: Path, result: CalculationResult, op_id: str, context: dict[str, Any] | None = None
) -> tuple[AtomisticResult, bool]:
    """Write the calculation (and its structures) to the store, ``context`` (what it was for) in its details; (its
    row, whether it is new)."""
    return store.write(lambda writer: write_calculation(writer, home, result, op_id, context))


def write_calculation(
    writer: StoreWriter, home: Path, result: CalculationResult, op_id: str, context: dict[str, Any] | None = None
) -> tuple[AtomisticResult, bool]:
    """The calculation's rows inside an open transaction."""
    structure = _structure_row(writer, home, result.input)
    output = _structure_row(writer, home, result.output) if result.output is not None else None
    return writer.add_atomistic_result(
        op_id,
        task=result.task,
        structure_id=structure.id,
        output_structure_id=output.id if output is not None else None,
        potential=result.model.label,
        potential_version=result.potential_version,
        energy_ev=result.energy_ev,
        energy_per_atom_ev=result.energy_per_atom_ev,
        fmax_ev_per_a=result.fmax_ev_per_a,
        max_force_deviation=result.max_force_deviation,
        converged=result.converged,
        steps=result.steps,
        trajectory_path=_relative(result.trajectory, home) if result.trajectory else None,
        details={**result.details, "seconds": result.seconds, "model": result.model.model_dump(mode="json"), **(context or {})},
    )


def _structure_row(writer: StoreWriter, home: Path, ref: StructureRef) -> Any:
    return writer.upsert_atomic_structure(
        ref.hash, formula=ref.formula[:200], n_atoms=ref.atoms, periodic=ref.periodic, path=_relative(ref.path, home),
        source=ref.source[:2000], smiles=ref.smiles,
    )


def _relative(path: str, home: Path) -> str:
    """``path`` relative to the home when it lies under it (the home can move), else as it is."""
    try:
        return str(Path(path).resolve().relative_to(home.resolve()))
    except ValueError:
        return path
