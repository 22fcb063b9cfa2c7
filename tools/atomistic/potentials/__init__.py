"""The potentials AtomLoop has, by the names the command line and tools take (``--model NAME``)."""

from __future__ import annotations

from tools.atomistic.errors import UnknownPotential
from tools.atomistic.potential import Potential

MODEL_NAMES = ("sevennet-0", "chgnet", "xtb", "gfn1-xtb")


def potential_named(name: str) -> Potential:
    """The potential called ``name`` (case-insensitive): ``sevennet-0``, ``chgnet``, ``xtb`` (GFN2-xTB) or ``gfn1-xtb``.

    Raises:
        UnknownPotential: no potential has that name.
    """
    key = name.strip().lower()
    if key in ("sevennet-0", "sevennet", "7net-0"):
        from tools.atomistic.potentials.universal import SevenNetPotential

        return SevenNetPotential()
    if key == "chgnet":
        from tools.atomistic.potentials.universal import ChgnetPotential

        return ChgnetPotential()
    if key in ("xtb", "gfn2-xtb", "gfn1-xtb"):
        from tools.atomistic.potentials.xtb import XTB_METHODS, XtbPotential

        return XtbPotential(XTB_METHODS[key])
    raise UnknownPotential(f"unknown model {name!r}: the models are {', '.join(MODEL_NAMES)}")
