"""Vina itself on the bundled 1IEP target: docking small molecules reproducibly, the cache (scoring a pose in place is
tested through ``atomloop dock --score-only``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdkit import Chem

from tools.docking.engine import DockingSettings
from tools.docking.service import LigandInput, dock_ligands
from tools.docking.targets import bundled_target
from tools.docking.vina_engine import VinaEngine

FAST = DockingSettings(exhaustiveness=1, poses=3, seed=42)


def test_docking_is_reproducible_from_the_seed_and_a_second_run_is_a_cache_hit(tmp_path: Path) -> None:
    target = bundled_target("1IEP")
    assert target is not None
    ligands = [LigandInput(label="benzamide", smiles="NC(=O)c1ccccc1"), LigandInput(label="junk", smiles="C1CC(")]
    engine = VinaEngine(cpu=1)
    first = dock_ligands(target, ligands, engine, tmp_path / "a", settings=FAST)
    again = dock_ligands(target, ligands, engine, tmp_path / "b", settings=FAST)  # a fresh home: docked anew
    benzamide, junk = first.results
    assert junk.error is not None and "not a valid structure" in junk.error
    assert benzamide.error is None and benzamide.score is not None
    assert -8.0 < benzamide.score < -3.0
    assert [pose.score for pose in again.results[0].poses] == [pose.score for pose in benzamide.poses]
    assert benzamide.poses[0].rmsd_lb == 0.0 and len(benzamide.poses) <= 3
    assert not benzamide.cached
    poses = [m for m in Chem.SDMolSupplier(benzamide.pose_file, removeHs=False)]
    assert len(poses) == len(benzamide.poses)
    assert poses[0].GetProp("score_kcal_mol") == f"{benzamide.score:.3f}"
    assert target.box is not None and target.box.contains(poses[0].GetConformer().GetPositions()).all()
    cached = dock_ligands(target, ligands[:1], engine, tmp_path / "a", settings=FAST)
    assert cached.results[0].cached and cached.results[0].poses == benzamide.poses
    other_seed = dock_ligands(target, ligands[:1], engine, tmp_path / "a", settings=FAST.model_copy(update={"seed": 7}))
    assert not other_seed.results[0].cached
    (measurement,) = first.measurements()
    assert measurement.property == "docking_score" and measurement.source == "computed"
    assert measurement.value == benzamide.score and measurement.conditions["target"] == "1IEP"
    assert measurement.provenance["exhaustiveness"] == 1 and measurement.provenance["pose_file"] == benzamide.pose_file


@pytest.mark.slow
def test_imatinib_redocks_into_1iep_within_2_angstrom(tmp_path: Path) -> None:
    target = bundled_target("1IEP")
    assert target is not None
    report = dock_ligands(target, [LigandInput(label="imatinib", smiles=target.reference_smiles)], VinaEngine(), tmp_path)
    (result,) = report.results
    assert result.reference_rmsd is not None and result.reference_rmsd[0] < 2.0
