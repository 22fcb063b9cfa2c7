"""RDKit's MMFF94 as OpenMM custom forces: the same energy and forces as RDKit's own MMFF at the same geometry
(away from the minimum, so every term is at work), for molecules that exercise every term."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openmm")

import openmm  # noqa: E402
import openmm.unit as unit  # noqa: E402
from rdkit.Chem import rdForceFieldHelpers  # noqa: E402

from tools.freeenergy.errors import ParametrizationFailed  # noqa: E402
from tools.freeenergy.mmff import mmff_properties, mmff_system  # noqa: E402
from tools.freeenergy.solute import read_solute  # noqa: E402

MOLECULES = [
    "CCO",  # alcohol
    "CC#N",  # a linear angle
    "NC(=O)c1ccccc1",  # amide, aromatic ring, out-of-plane
    "ClC=CC1CC1",  # halogen, alkene, three-membered ring
    "CC(=O)[O-]",  # an anion
    "C[NH3+]",  # a cation
    "O=[N+]([O-])c1ccc(S(N)(=O)=O)cc1",  # nitro and sulfonamide
    "COP(=O)(OC)OC",  # phosphate
    "c1ccncc1C#CC",  # pyridine, alkyne
]


@pytest.mark.parametrize("smiles", MOLECULES)
def test_openmm_reproduces_rdkit_mmff94_energy_and_forces(smiles: str) -> None:
    mol = read_solute(smiles).mol()
    positions = mol.GetConformer().GetPositions() + np.random.default_rng(len(smiles)).normal(0.0, 0.08, (mol.GetNumAtoms(), 3))
    system, charges, method, _ = mmff_system(mol, smiles)
    reference = rdForceFieldHelpers.MMFFGetMoleculeForceField(mol, mmff_properties(mol, smiles), nonBondedThresh=1000.0)
    expected_energy = reference.CalcEnergy(positions.ravel().tolist())
    expected_forces = -np.asarray(reference.CalcGrad(positions.ravel().tolist())).reshape(-1, 3)  # kcal/mol/Å
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions / 10.0)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(unit.kilocalorie_per_mole)
    forces = state.getForces(asNumpy=True).value_in_unit(unit.kilocalorie_per_mole / unit.angstrom)
    assert energy == pytest.approx(expected_energy, abs=1e-6)
    assert np.abs(forces - expected_forces).max() < 1e-4
    assert method == "mmff94" and sum(charges) == pytest.approx(sum(a.GetFormalCharge() for a in mol.GetAtoms()), abs=1e-6)
    hydrogens = {a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() == 1}
    constrained = [system.getConstraintParameters(k)[:2] for k in range(system.getNumConstraints())]
    assert len(constrained) == len(hydrogens) and all(i in hydrogens or j in hydrogens for i, j in constrained)


def test_a_molecule_mmff94_cannot_type_is_a_parametrization_error() -> None:
    mol = read_solute("C[Se]C").mol()
    with pytest.raises(ParametrizationFailed, match="MMFF94 has no atom types"):
        mmff_system(mol, "dimethyl selenide")
