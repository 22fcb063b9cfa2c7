"""The atomistic tasks: a single point, a geometry optimisation (with the cell, for a crystal), NVT molecular
dynamics (Langevin) and a crystal's equation of state, each on any ``Potential`` through ``PotentialCalculator``
and ASE.

Results are plain frozen models with the final structure as ASE ``Atoms`` (its energy and forces attached as
single-point results), so callers save them (``tools.atomistic.structure.save_structure``) and record them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tools.atomistic.errors import CalculationFailed
from tools.atomistic.potential import Evaluation, Potential

if TYPE_CHECKING:
    from ase import Atoms

DEFAULT_FMAX = 0.05  # eV/Å, the usual convergence of a relaxation
DEFAULT_RELAX_STEPS = 500
DEFAULT_TEMPERATURE_K = 300.0
DEFAULT_TIMESTEP_FS = 0.5
DEFAULT_FRICTION_PER_FS = 0.01
DEFAULT_MD_STEPS = 200
DEFAULT_FRAME_INTERVAL = 10

Progress = Callable[[int, int], None]


class SinglePoint(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    structure: Any  # ase.Atoms with its results attached
    energy: float
    fmax: float
    seconds: float
    energy_std: float | None = None
    max_force_deviation: float | None = None

    @property
    def energy_per_atom(self) -> float:
        return self.energy / len(self.structure)


class Relaxation(BaseModel):
    """A geometry optimisation: the relaxed structure, its energy and largest force, the steps taken and whether the
    forces fell below ``fmax`` within the step budget."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    structure: Any
    initial_energy: float
    energy: float
    fmax: float
    steps: int
    converged: bool
    cell_relaxed: bool
    seconds: float

    @property
    def energy_per_atom(self) -> float:
        return self.energy / len(self.structure)


class Dynamics(BaseModel):
    """An NVT trajectory: frames every ``interval`` steps (each with its energy and forces), the mean temperature
    after the first fifth, and the speed in atom-steps a second."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    frames: list[Any]
    temperature_k: float
    mean_temperature_k: float
    timestep_fs: float
    steps: int
    interval: int
    seconds: float
    max_force_deviations: list[float] | None = None
    stopped_early: bool = False

    @property
    def atom_steps_per_s(self) -> float:
        return len(self.frames[0]) * self.steps / self.seconds if self.seconds > 0 else 0.0


class RelaxOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    fmax: float = Field(default=DEFAULT_FMAX, gt=0, le=10)
    steps: int = Field(default=DEFAULT_RELAX_STEPS, ge=1, le=100_000)
    cell: Literal["auto", "fixed", "relax"] = "auto"  # auto: relax the cell of a periodic structure


class MdOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    temperature_k: float = Field(default=DEFAULT_TEMPERATURE_K, gt=0, le=10_000)
    timestep_fs: float = Field(default=DEFAULT_TIMESTEP_FS, gt=0, le=10)
    steps: int = Field(default=DEFAULT_MD_STEPS, ge=1, le=10_000_000)
    friction_per_fs: float = Field(default=DEFAULT_FRICTION_PER_FS, gt=0, le=1)
    interval: int = Field(default=DEFAULT_FRAME_INTERVAL, ge=1)
    seed: int = Field(default=0, ge=0)
    stop_deviation: float | None = Field(default=None, gt=0, description="Stop when a committee's force deviation passes this (eV/Å)")


def single_point(potential: Potential, atoms: Atoms) -> SinglePoint:
    started = time.perf_counter()
    evaluation = potential.evaluate(atoms)
    return SinglePoint(
        structure=_with_results(atoms, evaluation), energy=evaluation.energy, fmax=evaluation.fmax, seconds=time.perf_counter() - started,
        energy_std=evaluation.energy_std, max_force_deviation=evaluation.max_force_deviation,
    )


def relax(potential: Potential, atoms: Atoms, options: RelaxOptions | None = None, on_step: Progress | None = None) -> Relaxation:
    """Optimise ``atoms`` (a copy) with BFGS until every force is below ``options.fmax`` or the steps run out; the
    cell relaxes too (ASE's ``FrechetCellFilter``) for a periodic structure unless ``options.cell`` is ``fixed``."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    from tools.atomistic.calculator import PotentialCalculator

    options = options or RelaxOptions()
    work = atoms.copy()
    work.calc = PotentialCalculator(potential)
    started = time.perf_counter()
    initial_energy = float(work.get_potential_energy())
    cell_relaxed = options.cell == "relax" or (options.cell == "auto" and bool(work.pbc.all()))
    target: Any = FrechetCellFilter(work) if cell_relaxed else work
    optimizer = BFGS(target, logfile=None)
    if on_step is not None:
        optimizer.attach(lambda: on_step(optimizer.nsteps, options.steps), interval=1)
    converged = bool(optimizer.run(fmax=options.fmax, steps=options.steps))
    evaluation = potential.evaluate(work)
    return Relaxation(
        structure=_with_results(work, evaluation), initial_energy=initial_energy, energy=evaluation.energy,
        fmax=evaluation.fmax, steps=int(optimizer.nsteps), converged=converged, cell_relaxed=cell_relaxed,
        seconds=time.perf_counter() - started,
    )


def molecular_dynamics(potential: Potential, atoms: Atoms, options: MdOptions | None = None, on_step: Progress | None = None) -> Dynamics:
    """Langevin NVT at ``options.temperature_k`` from Maxwell-Boltzmann velocities (seeded), keeping the first frame
    and one every ``options.interval`` steps with its energy, forces and, for a committee, its force deviation."""
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    from tools.atomistic.calculator import PotentialCalculator

    options = options or MdOptions()
    work = atoms.copy()
    work.calc = PotentialCalculator(potential)
    rng = np.random.default_rng(options.seed)
    thermalize_momenta(work, temperature_K=options.temperature_k, rng=rng)
    Stationary(work)
    work.set_constraint(FixCom())  # the centre of mass stays put (ASE's recommended way, not Langevin's fixcm)
    dynamics = Langevin(
        work, timestep=options.timestep_fs * units.fs, temperature_K=options.temperature_k,
        friction=options.friction_per_fs / units.fs, fixcm=False, rng=rng, logfile=None,
    )
    frames: list[Any] = []
    deviations: list[float] = []
    temperatures: list[float] = []

    def keep() -> None:
        calc = work.calc
        frame = work.copy()
        frame.set_constraint()
        evaluation = Evaluation(energy=float(calc.results["energy"]), forces=np.asarray(calc.results["forces"]), stress=calc.results.get("stress"))
        frames.append(_with_results(frame, evaluation))
        temperatures.append(float(work.get_temperature()))
        if "max_force_deviation" in calc.results:
            deviations.append(float(calc.results["max_force_deviation"]))
        if on_step is not None:
            on_step(int(dynamics.nsteps), options.steps)

    def watch() -> None:
        deviation = work.calc.results.get("max_force_deviation")
        if options.stop_deviation is not None and deviation is not None and deviation > options.stop_deviation:
            raise _Diverged

    dynamics.attach(keep, interval=options.interval)
    dynamics.attach(watch, interval=1)
    started = time.perf_counter()
    stopped_at: int | None = None
    try:
        dynamics.run(options.steps)
    except _Diverged:  # the committee disagrees so much that what follows is not worth exploring
        stopped_at = int(dynamics.nsteps)
        keep()
    except CalculationFailed:  # the model gave no usable forces (atoms thrown together): keep what came before
        stopped_at = int(dynamics.nsteps)
    seconds = time.perf_counter() - started
    settled = temperatures[len(temperatures) // 5 :] or temperatures
    return Dynamics(
        frames=frames, temperature_k=options.temperature_k, mean_temperature_k=float(np.mean(settled)) if settled else 0.0,
        timestep_fs=options.timestep_fs, steps=stopped_at if stopped_at is not None else options.steps, interval=options.interval, seconds=seconds,
        max_force_deviations=deviations or None, stopped_early=stopped_at is not None,
    )


class _Diverged(Exception):
    """Raised inside an MD run to stop it (the committee's deviation passed ``stop_deviation``)."""


class EquationOfState(BaseModel):
    """A crystal's energy against its volume under isotropic strain, fitted with the Birch-Murnaghan equation: the
    equilibrium volume (Å³) and energy (eV), the bulk modulus (GPa), and the lattice scale at the minimum (the
    factor on the input cell's lengths)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    structure: Any  # the input cell scaled to the equilibrium volume
    volumes: list[float]
    energies: list[float]
    volume: float
    energy: float
    bulk_modulus_gpa: float
    scale: float
    seconds: float


class EosOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    strain: float = Field(default=0.04, gt=0, le=0.2, description="Largest linear strain either way")
    points: int = Field(default=7, ge=5, le=41)
    relax_positions: bool = Field(default=True, description="Relax the atoms inside each strained cell")
    fmax: float = Field(default=DEFAULT_FMAX, gt=0, le=10)


def equation_of_state(potential: Potential, atoms: Atoms, options: EosOptions | None = None, on_step: Progress | None = None) -> EquationOfState:
    """Energies of ``atoms`` (periodic) at ``options.points`` isotropic strains, fitted by Birch-Murnaghan (ASE's
    ``EquationOfState``).

    Raises:
        PotentialUnsupported: the structure has no cell.
        CalculationFailed: the energies have no minimum inside the strained range (the fit is not a bowl).
    """
    from ase.eos import EquationOfState as AseEos
    from ase.units import GPa

    from tools.atomistic.errors import CalculationFailed, PotentialUnsupported

    options = options or EosOptions()
    if not atoms.pbc.all():
        raise PotentialUnsupported("an equation of state needs a periodic cell; this structure has none")
    started = time.perf_counter()
    scales = np.linspace(1 - options.strain, 1 + options.strain, options.points)
    volumes: list[float] = []
    energies: list[float] = []
    for index, scale in enumerate(scales):
        strained = _scaled(atoms, float(scale))
        if options.relax_positions and len(atoms) > 1:
            energy = relax(potential, strained, RelaxOptions(fmax=options.fmax, cell="fixed")).energy
        else:
            energy = potential.evaluate(strained).energy
        volumes.append(float(strained.get_volume()))
        energies.append(float(energy))
        if on_step is not None:
            on_step(index + 1, options.points)
    try:
        volume, energy, bulk_modulus = AseEos(volumes, energies, eos="birchmurnaghan").fit(warn=False)
    except (RuntimeError, ValueError) as error:
        raise CalculationFailed(f"the equation of state could not be fitted: {error}") from None
    if not (min(volumes) <= volume <= max(volumes)) or not np.isfinite(bulk_modulus) or bulk_modulus <= 0:
        raise CalculationFailed(
            f"the energy has no minimum between {min(volumes):.2f} and {max(volumes):.2f} Å³: relax the structure first or widen the strain"
        )
    scale = float((volume / atoms.get_volume()) ** (1 / 3))
    equilibrium = _scaled(atoms, scale)
    evaluation = potential.evaluate(equilibrium)
    return EquationOfState(
        structure=_with_results(equilibrium, evaluation), volumes=volumes, energies=energies, volume=float(volume),
        energy=float(energy), bulk_modulus_gpa=float(bulk_modulus / GPa), scale=scale, seconds=time.perf_counter() - started,
    )


def _scaled(atoms: Atoms, scale: float) -> Atoms:
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array * scale, scale_atoms=True)
    return strained


def _with_results(atoms: Atoms, evaluation: Evaluation) -> Atoms:
    """A copy of ``atoms`` carrying ``evaluation`` as ASE single-point results (so extxyz writes them)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    frame = atoms.copy()
    results: dict[str, Any] = {"energy": evaluation.energy, "forces": evaluation.forces}
    if evaluation.stress is not None:
        results["stress"] = evaluation.stress
    frame.calc = SinglePointCalculator(frame, **results)
    return frame
