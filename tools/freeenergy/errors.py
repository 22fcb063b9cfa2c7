"""Typed free-energy errors, split by who can fix them."""

from __future__ import annotations

from tools.errors import ToolFailed, ToolInputError, ToolSetupError


class SoluteInputError(ToolInputError):
    """The molecule cannot be read or made 3D (an invalid SMILES, an unreadable or empty file)."""


class ParametrizationFailed(ToolInputError):
    """The force field has no parameters for this molecule (an element GAFF or MMFF94 does not cover, a charge
    calculation that did not converge): choose the other force field or another molecule."""


class FreeEnergySetupError(ToolSetupError):
    """A package or program the calculation needs is not installed (OpenMM, pymbar, AmberTools' sqm), or the
    configured OpenMM platform is not available."""


class FreeEnergyFailed(ToolFailed):
    """The calculation ran and failed: a window's simulation blew up, a job failed or timed out."""
