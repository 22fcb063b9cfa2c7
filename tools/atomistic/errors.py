"""Typed errors of the atomistic leg, split by who can fix them (DESIGN.md, Errors).

* ``StructureInputError``: a structure the user gave that cannot be read (a file in no format ASE or AtomLoop reads,
  a SMILES that does not parse or embed, an empty DeePMD folder).
* ``PotentialUnsupported``: a potential asked for a structure it cannot describe (an element outside its type map or
  parametrisation, a periodic cell for a molecular method); the user picks another model.
* ``UnknownPotential``: a model name AtomLoop has no potential for, or a model version the registry does not hold.
* ``PotentialMissing``: the potential's package (or its bundled weights) is not installed: setup
  (``pip install 'atomloop[atomistic]'``).
* ``CalculationFailed``: the calculation ran and failed (an SCF that did not converge, a model that returned NaN).
"""

from __future__ import annotations

from pathlib import Path

from tools.errors import ToolFailed, ToolInputError, ToolSetupError


class StructureInputError(ToolInputError):
    """A structure that cannot be read: ``source`` is the file or text given and ``reason`` what is wrong with it."""

    def __init__(self, source: Path | str, reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"structure {source}: {reason}")


class PotentialUnsupported(ToolInputError):
    """A structure outside what a potential can describe."""


class UnknownPotential(ToolInputError):
    """A model name or version that names no potential."""


class PotentialMissing(ToolSetupError):
    """A potential whose package or weights are not installed."""

    def __init__(self, potential: str, package: str) -> None:
        self.potential = potential
        self.package = package
        super().__init__(f"the {potential} potential needs the {package!r} package: pip install 'atomloop[atomistic]'")


class CalculationFailed(ToolFailed):
    """A calculation that ran and produced no usable energy or forces."""
