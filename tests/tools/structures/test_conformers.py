"""Conformers: seeded ETKDGv3 + MMFF94 geometries, several distinct ones per molecule, with energies."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge.chem import canonicalize
from knowledge.errors import InvalidStructure
from tools.structures.conformers import (
    CONFORMER_SEED,
    ConformerSet,
    embed_conformers,
    generate_conformer,
    kabsch_rmsd,
)

FLEXIBLE = "CCCCOCCN"  # five rotatable bonds: several distinct conformers


def heavy_positions(conformers: ConformerSet, index: int) -> np.ndarray:
    heavy = [a.GetIdx() for a in conformers.mol.GetAtoms() if a.GetAtomicNum() > 1]
    return conformers.positions(index)[heavy]


def test_the_same_seed_gives_the_same_coordinates_and_another_seed_others() -> None:
    first = embed_conformers(FLEXIBLE, 3, seed=7)
    again = embed_conformers(FLEXIBLE, 3, seed=7)
    other = embed_conformers(FLEXIBLE, 3, seed=8)
    assert first.n_conformers == again.n_conformers
    for i in range(first.n_conformers):
        assert np.array_equal(first.positions(i), again.positions(i))
    assert first.energies == again.energies
    assert not np.allclose(first.positions(0), other.positions(0), atol=0.01)


def test_n_conformers_are_distinct_have_hydrogens_and_mmff_energies() -> None:
    conformers = embed_conformers(FLEXIBLE, 6, seed=CONFORMER_SEED)
    assert 3 <= conformers.n_conformers <= 6
    assert conformers.method == "etkdgv3+mmff94" and conformers.force_field == "mmff94"
    assert "H" in conformers.symbols and conformers.mol.GetNumAtoms() == len(conformers.symbols)
    assert len(conformers.energies) == conformers.n_conformers
    assert all(isinstance(e, float) and np.isfinite(e) for e in conformers.energies)
    assert len({round(e, 3) for e in conformers.energies}) == conformers.n_conformers  # distinct minima
    for i in range(conformers.n_conformers):
        assert np.ptp(conformers.positions(i)[:, 2]) > 0.5  # really 3D
        for j in range(i):
            assert kabsch_rmsd(heavy_positions(conformers, i), heavy_positions(conformers, j)) >= 0.5
    assert conformers.energies[conformers.lowest_energy_index()] == min(conformers.energies)


def test_a_rigid_molecule_has_one_conformer_however_many_are_asked() -> None:
    benzene = embed_conformers("c1ccccc1", 5)
    assert benzene.n_conformers == 1 and benzene.mol.GetNumAtoms() == 12


def test_conformer_zero_is_the_uni_mol_conformer_of_the_same_seed() -> None:
    structure = canonicalize("CC(C)Cc1ccc(cc1)C(C)C(=O)O")
    unimol = generate_conformer(structure.smiles, structure.inchikey, CONFORMER_SEED)
    for count in (1, 4):
        conformers = embed_conformers(structure.smiles, count, CONFORMER_SEED)
        assert conformers.symbols == unimol.symbols
        assert np.array_equal(conformers.positions(0), np.asarray(unimol.coordinates))


def test_a_conformer_set_travels_as_plain_data() -> None:
    conformers = embed_conformers("OC(=O)c1ccccc1OC(C)=O", 3)
    data = conformers.to_json()
    assert set(data) == {"method", "seed", "energies", "molblocks"} and len(data["molblocks"]) == conformers.n_conformers
    back = ConformerSet.from_json(data)
    assert (back.n_conformers, back.method, back.seed, back.energies) == (
        conformers.n_conformers, conformers.method, conformers.seed, conformers.energies)
    assert back.smiles == conformers.smiles == "CC(=O)Oc1ccccc1C(=O)O"
    for i in range(conformers.n_conformers):
        assert np.abs(back.positions(i) - conformers.positions(i)).max() < 1e-4
    single = back.single(conformers.n_conformers - 1)
    assert single.GetNumConformers() == 1
    assert np.array_equal(single.GetConformer(0).GetPositions(), back.positions(conformers.n_conformers - 1))


def test_charged_molecules_embed_with_their_charges() -> None:
    zwitterion = embed_conformers("C[C@H]([NH3+])C(=O)[O-]", 2)
    charges = sorted(a.GetFormalCharge() for a in zwitterion.mol.GetAtoms() if a.GetFormalCharge())
    assert charges == [-1, 1] and zwitterion.force_field == "mmff94"
    assert zwitterion.smiles == "C[C@H]([NH3+])C(=O)[O-]"


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidStructure):
        embed_conformers("C1CC", 1)
    with pytest.raises(ValueError, match="at least 1"):
        embed_conformers("CCO", 0)


def test_kabsch_rmsd_ignores_rotation_and_translation() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(12, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q if np.linalg.det(q) > 0 else -q
    assert kabsch_rmsd(points, points @ q.T + [1.0, -2.0, 3.0]) == pytest.approx(0.0, abs=1e-9)
    moved = points.copy()
    moved[0] += [1.2, 0.0, 0.0]
    assert kabsch_rmsd(points, moved) > 0.1
