"""GNINA's CNN (gninatorch's shipped weights) tells the crystal pose from a displaced one."""

from __future__ import annotations

from pathlib import Path

from rdkit import Chem

from tools.docking.cnn import CnnRescorer, cnn_order
from tools.docking.receptor import prepare_receptor


def test_the_cnn_scores_the_crystal_pose_above_the_same_pose_moved_off_the_site(receptor_1iep: Path, crystal_1iep: Path, tmp_path: Path) -> None:
    receptor = prepare_receptor(receptor_1iep, tmp_path)
    crystal = Chem.AddHs(Chem.MolFromMolFile(str(crystal_1iep)), addCoords=True)
    moved = Chem.Mol(crystal)
    conformer = moved.GetConformer()
    for index in range(moved.GetNumAtoms()):
        position = conformer.GetAtomPosition(index)
        conformer.SetAtomPosition(index, (position.x + 4.0, position.y, position.z))
    poses = tmp_path / "poses.sdf"
    with Chem.SDWriter(str(poses)) as writer:
        writer.write(moved)
        writer.write(crystal)
    (scores,) = CnnRescorer().score_all(receptor.pdbqt_path, [str(poses)])
    assert len(scores) == 2
    assert scores[1].pose_score > 0.5 > scores[0].pose_score
    assert 5.0 < scores[1].affinity < 11.0  # pK units; imatinib binds Abl at about 8 (Kd in the tens of nM)
    assert cnn_order(scores) == [1, 0]
