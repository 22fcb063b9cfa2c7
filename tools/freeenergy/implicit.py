"""OBC2 implicit solvent (OpenMM's ``GBSAOBCForce``, with its ACE surface-area term) for a solute: Amber's
mbondi2 radii and tleap's default screening factors, chosen per atom from its element and, for hydrogens, the atom
it is bonded to (the radii ``tleap`` gives GAFF molecules for ``igb=5``)."""

from __future__ import annotations

from typing import Any

# mbondi2 (Å); Br and I, which mbondi2 leaves at the 1.5 Å default, take Bondi's radii.
MBONDI2_RADII = {"H": 1.2, "C": 1.7, "N": 1.55, "O": 1.5, "F": 1.5, "Si": 2.1, "P": 1.85, "S": 1.8, "Cl": 1.7, "Br": 1.85, "I": 1.98}
SCREENING = {"H": 0.85, "C": 0.72, "N": 0.79, "O": 0.85, "F": 0.88, "P": 0.86, "S": 0.96}
DEFAULT_RADIUS, DEFAULT_SCREENING = 1.5, 0.8
SOLVENT_DIELECTRIC, SOLUTE_DIELECTRIC = 78.5, 1.0


def obc2_parameters(mol: Any) -> list[tuple[float, float]]:
    """(radius in nm, screening factor) of each atom of the RDKit molecule ``mol``."""
    parameters = []
    for atom in mol.GetAtoms():
        symbol = atom.GetSymbol()
        radius = MBONDI2_RADII.get(symbol, DEFAULT_RADIUS)
        if symbol == "H" and any(neighbour.GetSymbol() == "N" for neighbour in atom.GetNeighbors()):
            radius = 1.3
        parameters.append((radius / 10.0, SCREENING.get(symbol, DEFAULT_SCREENING)))
    return parameters


def obc2_force(mol: Any, charges: list[float]) -> Any:
    """A ``GBSAOBCForce`` (no cut-off) for ``mol`` with these partial charges (e)."""
    import openmm

    force = openmm.GBSAOBCForce()
    force.setNonbondedMethod(openmm.GBSAOBCForce.NoCutoff)
    force.setSoluteDielectric(SOLUTE_DIELECTRIC)
    force.setSolventDielectric(SOLVENT_DIELECTRIC)
    for charge, (radius, screening) in zip(charges, obc2_parameters(mol), strict=True):
        force.addParticle(charge, radius, screening)
    return force
