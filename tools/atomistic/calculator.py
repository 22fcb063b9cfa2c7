"""The ASE ``Calculator`` over any ``Potential``: ASE's optimisers, filters and MD drive every model through it.

A committee's spread comes out as the extra results ``energy_std`` and ``max_force_deviation``.
"""

from __future__ import annotations

from typing import Any

from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from tools.atomistic.potential import Potential, check_supported


class PotentialCalculator(Calculator):
    """``potential`` as an ASE calculator; the structure is checked against what the potential describes first."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, potential: Potential) -> None:
        super().__init__()
        self.potential = potential
        self.potential_info = potential.info()

    def calculate(self, atoms: Atoms | None = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties or ["energy"], system_changes)
        assert self.atoms is not None
        check_supported(self.potential_info, self.atoms)
        evaluation = self.potential.evaluate(self.atoms)
        self.results = {"energy": evaluation.energy, "free_energy": evaluation.energy, "forces": evaluation.forces}
        if evaluation.stress is not None:
            self.results["stress"] = evaluation.stress
        if evaluation.max_force_deviation is not None:
            self.results["energy_std"] = evaluation.energy_std
            self.results["max_force_deviation"] = evaluation.max_force_deviation
