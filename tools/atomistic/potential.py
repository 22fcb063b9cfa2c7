"""What a potential is: a model of energy and forces (and stress, for a cell) with, where the model has one, an
uncertainty. ``tools.atomistic.calculator.PotentialCalculator`` is the one ASE ``Calculator`` that drives every
potential, so ASE's optimisers and MD run them all.

Implementations (``tools.atomistic.potentials``) wrap SevenNet-0, CHGNet, GFN2-xTB (tblite) and DPA-2 (deepmd-kit).
A ``Committee`` of potentials is itself a potential whose uncertainty is the spread of its members: the largest
deviation of an atom's force across the members (DP-GEN's ``max_devi_f``), which the concurrent-learning loop
selects frames by.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from tools.atomistic.errors import CalculationFailed, PotentialUnsupported

if TYPE_CHECKING:
    from ase import Atoms


class PotentialInfo(BaseModel):
    """What a potential is and can describe: its name and version, the elements it knows (None: any), and whether it
    takes molecules (no cell) and periodic cells."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    elements: frozenset[str] | None = None
    molecules: bool = True
    periodic: bool = True
    description: str = ""


class Evaluation(BaseModel):
    """One structure's energy (eV), forces (eV/Å, atoms x 3), stress (eV/Å³, Voigt order, periodic cells only),
    and the committee's spread where there is one: the standard deviation of the energy and the largest deviation
    of an atom's force (eV/Å)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None = None
    energy_std: float | None = None
    max_force_deviation: float | None = None

    @property
    def fmax(self) -> float:
        """The largest force on an atom (eV/Å)."""
        return float(np.linalg.norm(self.forces, axis=1).max()) if len(self.forces) else 0.0


class Potential(Protocol):
    """A model of a structure's energy and forces."""

    def info(self) -> PotentialInfo: ...

    def evaluate(self, atoms: Atoms) -> Evaluation:
        """Energy and forces (and stress for a periodic cell) of ``atoms``.

        Raises:
            PotentialUnsupported: an element or periodicity the potential does not describe.
            CalculationFailed: the calculation ran and gave no usable result.
        """
        ...


def check_supported(info: PotentialInfo, atoms: Atoms) -> None:
    """Raise ``PotentialUnsupported`` when ``atoms`` has elements or a periodicity ``info`` does not cover."""
    periodic = bool(atoms.pbc.any())
    if periodic and not info.periodic:
        raise PotentialUnsupported(f"{info.name} describes molecules only, and this structure is periodic; use another model")
    if not periodic and not info.molecules:
        raise PotentialUnsupported(f"{info.name} describes periodic cells only, and this structure has no cell; use another model")
    if info.elements is not None:
        unknown = sorted(set(atoms.get_chemical_symbols()) - info.elements)
        if unknown:
            raise PotentialUnsupported(f"{info.name} knows no {', '.join(unknown)} (it knows {', '.join(sorted(info.elements))})")


def checked_evaluation(name: str, energy: Any, forces: Any, stress: Any = None, **spread: float | None) -> Evaluation:
    """An ``Evaluation`` from a model's raw outputs, refused as ``CalculationFailed`` when any is not finite."""
    values = np.asarray(forces, dtype=float).reshape(-1, 3)
    total = float(energy)
    stress_values = None if stress is None else np.asarray(stress, dtype=float).reshape(-1)
    if not np.isfinite(total) or not np.isfinite(values).all() or (stress_values is not None and not np.isfinite(stress_values).all()):
        raise CalculationFailed(f"{name} returned an energy or forces that are not numbers")
    return Evaluation(energy=total, forces=values, stress=stress_values, **spread)


def evaluate_with_calculator(name: str, calculator: Any, atoms: Atoms) -> Evaluation:
    """Evaluate ``atoms`` with an ASE calculator on a copy (stress only for a periodic cell)."""
    work = atoms.copy()
    work.calc = calculator
    try:
        energy = work.get_potential_energy()
        forces = work.get_forces()
        stress = work.get_stress(voigt=True) if work.pbc.all() else None
    except (RuntimeError, ValueError, ArithmeticError) as error:  # an SCF that does not converge, a model error
        raise CalculationFailed(f"{name} failed on {work.get_chemical_formula()}: {error}") from None
    return checked_evaluation(name, energy, forces, stress)


class Committee:
    """Several potentials of one kind (e.g. DPA-2 models trained from different seeds) as one: the mean energy,
    forces and stress, with the members' spread as the uncertainty."""

    def __init__(self, members: Sequence[Potential]) -> None:
        if len(members) < 2:
            raise ValueError("a committee needs at least two members")
        self.members = list(members)

    def info(self) -> PotentialInfo:
        infos = [member.info() for member in self.members]
        first = infos[0]
        elements = None if any(i.elements is None for i in infos) else frozenset.intersection(*(i.elements for i in infos if i.elements is not None))
        return PotentialInfo(
            name=f"committee of {len(infos)} {first.name}", version="+".join(i.version for i in infos), elements=elements,
            molecules=all(i.molecules for i in infos), periodic=all(i.periodic for i in infos),
        )

    def evaluate(self, atoms: Atoms) -> Evaluation:
        results = [member.evaluate(atoms) for member in self.members]
        return committee_evaluation(results)


def committee_evaluation(results: Sequence[Evaluation]) -> Evaluation:
    """The members' mean, with the energy's standard deviation and the largest per-atom force deviation
    (``max_i sqrt(<|F_i - <F_i>|^2>)``, DP-GEN's ``max_devi_f``)."""
    energies = np.array([r.energy for r in results])
    forces = np.stack([r.forces for r in results])
    mean_forces = forces.mean(axis=0)
    deviation = np.sqrt(((forces - mean_forces) ** 2).sum(axis=2).mean(axis=0))
    stresses = [r.stress for r in results]
    stress = None if any(s is None for s in stresses) else np.mean(np.stack([s for s in stresses if s is not None]), axis=0)
    return Evaluation(
        energy=float(energies.mean()), forces=mean_forces, stress=stress,
        energy_std=float(energies.std()), max_force_deviation=float(deviation.max()) if deviation.size else 0.0,
    )
