"""The potentials AtomLoop has, by the names the command line and tools take (``--model NAME``)."""

from __future__ import annotations

from tools.atomistic.errors import UnknownPotential
from tools.atomistic.models import BUNDLED_MODELS, bundled_spec
from tools.atomistic.potential import Potential

MODEL_NAMES = BUNDLED_MODELS


def potential_named(name: str) -> Potential:
    """The bundled potential called ``name`` (case-insensitive, the aliases ``bundled_spec`` knows): ``sevennet-0``,
    ``chgnet``, ``xtb`` (GFN2-xTB) or ``gfn1-xtb``.

    Raises:
        UnknownPotential: no potential has that name.
    """
    spec = bundled_spec(name)
    if spec is None:
        raise UnknownPotential(f"unknown model {name!r}: the models are {', '.join(MODEL_NAMES)}")
    if spec.name == "sevennet-0":
        from tools.atomistic.potentials.universal import SevenNetPotential

        return SevenNetPotential()
    if spec.name == "chgnet":
        from tools.atomistic.potentials.universal import ChgnetPotential

        return ChgnetPotential()
    from tools.atomistic.potentials.xtb import XTB_METHODS, XtbPotential

    return XtbPotential(XTB_METHODS[spec.name])
