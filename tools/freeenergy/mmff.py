"""RDKit's MMFF94 as an OpenMM ``System``, term by term, so that OpenMM's energy of a geometry is RDKit's
(``MMFFGetMoleculeForceField(...).CalcEnergy()``): the fall-back force field that needs nothing but RDKit.

MMFF94's functional forms (Halgren 1996) have no OpenMM built-in: each is a custom force whose expression works in
MMFF's units (Å, degrees, kcal/mol) and converts at its ends. Parameters come from RDKit's ``MMFFMolProperties``
(atom types, charges, bond, angle, stretch-bend, out-of-plane, torsion and pair van der Waals parameters), so any
molecule RDKit can type gets them. Non-bonded pairs: 1-2 and 1-3 excluded, 1-4 electrostatics scaled by 0.75,
buffered 14-7 van der Waals and buffered Coulomb (ε = 1, δ = 0.05 Å) for every other pair, as explicit pair lists
(a solute has few atoms). Bonds to hydrogen are constrained at their MMFF reference lengths.
"""

from __future__ import annotations

import math
from importlib.metadata import version
from typing import Any

from tools.freeenergy.errors import FreeEnergySetupError, ParametrizationFailed

KJ = 4.184  # kJ per kcal
MDYNE_A = 143.9325  # MMFF's md·Å → kcal/mol
DEG = 180.0 / math.pi
BOND_CUBIC = -2.0  # cs, 1/Å
ANGLE_CUBIC = -0.006981317  # cb, 1/degree
COULOMB = 332.0716
ELECTROSTATIC_BUFFER = 0.05  # δ, Å
SCALE_14_ELECTROSTATICS = 0.75
LINEAR_TYPES = frozenset({4, 42, 53, 61})  # MMFF atom types whose angles are linear (MMFFPROP's linh)


def mmff_properties(mol: Any, name: str) -> Any:
    """RDKit's MMFF94 properties of ``mol`` (its defaults: constant dielectric 1), or ``ParametrizationFailed``."""
    from rdkit import rdBase
    from rdkit.Chem import rdForceFieldHelpers

    with rdBase.BlockLogs():
        properties = rdForceFieldHelpers.MMFFGetMoleculeProperties(mol, mmffVariant="MMFF94")
    if properties is None or not rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol):
        raise ParametrizationFailed(f"{name}: MMFF94 has no atom types or parameters for this molecule; try --forcefield gaff-2.11")
    return properties


def mmff_system(mol: Any, name: str) -> tuple[Any, tuple[float, ...], str, dict[str, str]]:
    """(the OpenMM ``System``, the MMFF94 partial charges, "mmff94", the software) for the RDKit molecule ``mol``
    (with hydrogens)."""
    try:
        import openmm
    except ImportError as error:
        raise FreeEnergySetupError(f"free energies need OpenMM (the free-energy extra): {error}") from None
    properties = mmff_properties(mol, name)
    system = openmm.System()
    for atom in mol.GetAtoms():
        system.addParticle(atom.GetMass())
    bonds = _bonds(mol, properties)
    for force in (bonds, *_angles(mol, properties), _torsions(mol, properties), _out_of_plane(mol, properties), *_nonbonded(mol, properties)):
        if force.getNumBonds() if hasattr(force, "getNumBonds") else force.getNumAngles() if hasattr(force, "getNumAngles") else force.getNumTorsions():
            system.addForce(force)
    for index in range(bonds.getNumBonds()):
        i, j, (_, r0) = bonds.getBondParameters(index)
        if mol.GetAtomWithIdx(i).GetAtomicNum() == 1 or mol.GetAtomWithIdx(j).GetAtomicNum() == 1:
            system.addConstraint(i, j, r0 / 10.0)
    charges = tuple(float(properties.GetMMFFPartialCharge(i)) for i in range(mol.GetNumAtoms()))
    from rdkit import rdBase

    return system, charges, "mmff94", {"openmm": openmm.__version__, "rdkit": rdBase.rdkitVersion, "atomloop-mmff": version("atomloop")}


def _bonds(mol: Any, properties: Any) -> Any:
    import openmm

    force = openmm.CustomBondForce(f"{KJ * MDYNE_A / 2}*kb*dr^2*(1 + cs*dr + {7.0 / 12.0}*cs^2*dr^2); dr = 10*r - r0; cs = {BOND_CUBIC}")
    force.addPerBondParameter("kb")
    force.addPerBondParameter("r0")
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        _, kb, r0 = properties.GetMMFFBondStretchParams(mol, i, j)
        force.addBond(i, j, [kb, r0])
    return force


def _angles(mol: Any, properties: Any) -> tuple[Any, Any, Any]:
    """The bent angles (cubic in Δθ), the linear ones (1 + cos θ) and the stretch-bend coupling."""
    import openmm

    bent = openmm.CustomAngleForce(f"{KJ * MDYNE_A / DEG**2 / 2}*ka*dt^2*(1 + {ANGLE_CUBIC}*dt); dt = theta*{DEG} - t0")
    linear = openmm.CustomAngleForce(f"{KJ * MDYNE_A}*ka*(1 + cos(theta))")
    stretch_bend = openmm.CustomCompoundBondForce(
        3, f"{KJ * MDYNE_A / DEG}*(kijk*(10*distance(p1, p2) - rij) + kkji*(10*distance(p3, p2) - rkj))*(angle(p1, p2, p3)*{DEG} - t0)"
    )
    for force, names in ((bent, ("ka", "t0")), (linear, ("ka",)), (stretch_bend, ("kijk", "kkji", "rij", "rkj", "t0"))):
        for parameter in names:
            force.addPerAngleParameter(parameter) if isinstance(force, openmm.CustomAngleForce) else force.addPerBondParameter(parameter)
    for j, centre in enumerate(mol.GetAtoms()):
        neighbours = sorted(n.GetIdx() for n in centre.GetNeighbors())
        is_linear = properties.GetMMFFAtomType(j) in LINEAR_TYPES
        for a in range(len(neighbours)):
            for b in range(a + 1, len(neighbours)):
                i, k = neighbours[a], neighbours[b]
                _, ka, t0 = properties.GetMMFFAngleBendParams(mol, i, j, k)
                if is_linear:
                    linear.addAngle(i, j, k, [ka])
                    continue
                bent.addAngle(i, j, k, [ka, t0])
                coupling = properties.GetMMFFStretchBendParams(mol, i, j, k)
                if coupling is not None:
                    _, kijk, kkji = coupling
                    rij = properties.GetMMFFBondStretchParams(mol, i, j)[2]
                    rkj = properties.GetMMFFBondStretchParams(mol, k, j)[2]
                    stretch_bend.addBond([i, j, k], [kijk, kkji, rij, rkj, t0])
    return bent, linear, stretch_bend


def _torsions(mol: Any, properties: Any) -> Any:
    import openmm

    force = openmm.CustomTorsionForce(f"{KJ / 2}*(v1*(1 + cos(theta)) + v2*(1 - cos(2*theta)) + v3*(1 + cos(3*theta)))")
    for parameter in ("v1", "v2", "v3"):
        force.addPerTorsionParameter(parameter)
    for bond in mol.GetBonds():
        j, k = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        for i in (n.GetIdx() for n in mol.GetAtomWithIdx(j).GetNeighbors() if n.GetIdx() != k):
            for m in (n.GetIdx() for n in mol.GetAtomWithIdx(k).GetNeighbors() if n.GetIdx() != j):
                if i == m:  # a three-membered ring
                    continue
                parameters = properties.GetMMFFTorsionParams(mol, i, j, k, m)  # (type, V1, V2, V3)
                if parameters is not None and any(parameters[1:]):
                    force.addTorsion(i, j, k, m, list(parameters[1:]))
    return force


def _out_of_plane(mol: Any, properties: Any) -> Any:
    """Wilson angle χ of bond j-l out of the plane i-j-k, for each of a trivalent centre's three neighbours as l."""
    import openmm

    # n = (r_ji × r_jk); sin χ = n·r_jl / (|n| |r_jl|); particles p1 = i, p2 = j (centre), p3 = k, p4 = l
    expression = (
        f"{KJ * MDYNE_A / DEG**2 / 2}*koop*(asin(s)*{DEG})^2;"
        "s = min(1, max(-1, (nx*lx + ny*ly + nz*lz) / (sqrt(nx^2 + ny^2 + nz^2)*sqrt(lx^2 + ly^2 + lz^2))));"
        "nx = ay*bz - az*by; ny = az*bx - ax*bz; nz = ax*by - ay*bx;"
        "ax = x1 - x2; ay = y1 - y2; az = z1 - z2; bx = x3 - x2; by = y3 - y2; bz = z3 - z2;"
        "lx = x4 - x2; ly = y4 - y2; lz = z4 - z2"
    )
    force = openmm.CustomCompoundBondForce(4, expression)
    force.addPerBondParameter("koop")
    for centre in mol.GetAtoms():
        if centre.GetDegree() != 3:
            continue
        j = centre.GetIdx()
        n = [atom.GetIdx() for atom in centre.GetNeighbors()]
        for i, k, m in ((n[0], n[1], n[2]), (n[0], n[2], n[1]), (n[1], n[2], n[0])):
            koop = properties.GetMMFFOopBendParams(mol, i, j, k, m)
            if koop:
                force.addBond([i, j, k, m], [koop])
    return force


def _nonbonded(mol: Any, properties: Any) -> tuple[Any, Any]:
    """Buffered 14-7 van der Waals and buffered Coulomb over the pairs three or more bonds apart."""
    import openmm
    from rdkit import Chem

    vdw = openmm.CustomBondForce(f"{KJ}*eps*(1.07*rs/(R + 0.07*rs))^7*(1.12*rs^7/(R^7 + 0.12*rs^7) - 2); R = 10*r")
    vdw.addPerBondParameter("rs")
    vdw.addPerBondParameter("eps")
    coulomb = openmm.CustomBondForce(f"{KJ * COULOMB}*qq/(10*r + {ELECTROSTATIC_BUFFER})")
    coulomb.addPerBondParameter("qq")
    distances = Chem.GetDistanceMatrix(mol)
    charges = [properties.GetMMFFPartialCharge(i) for i in range(mol.GetNumAtoms())]
    for i in range(mol.GetNumAtoms()):
        for j in range(i + 1, mol.GetNumAtoms()):
            separation = distances[i][j]
            if separation < 3:
                continue
            _, _, rs, eps = properties.GetMMFFVdWParams(i, j)
            vdw.addBond(i, j, [rs, eps])
            scale = SCALE_14_ELECTROSTATICS if separation == 3 else 1.0
            if charges[i] and charges[j]:
                coulomb.addBond(i, j, [scale * charges[i] * charges[j]])
    return vdw, coulomb
