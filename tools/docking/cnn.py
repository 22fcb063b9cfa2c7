"""GNINA's CNN scoring of docked poses, through ``gninatorch`` (its published weights ship in the wheel; MIT).

For each pose the default GNINA ensemble (five models) gives a pose score (the probability that the pose is within
2 Å of the crystal pose) and an affinity (in pK units, higher binds better). Re-ranking Vina's poses by the pose
score is GNINA's "rescore" mode: in the GNINA paper it raised redocking top-1 from 58% to 73%.

``molgrid`` reads the receptor PDBQT and each pose's SDF with its bundled OpenBabel, in a process of its own (see
``CnnRescorer``); this module imports nothing heavy.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)

CNN_MODEL = "default"  # GNINA's default ensemble: dense, general_default2018_3, dense_3, crossdock_default2018, redock_default2018_2
GRID_DIMENSION_A = 23.5
GRID_RESOLUTION_A = 0.5


class CnnScore(BaseModel):
    """GNINA's scores of one pose."""

    model_config = ConfigDict(frozen=True)

    pose_score: float  # 0..1: how likely the pose is right
    affinity: float  # pK units (higher binds better)
    affinity_variance: float


def cnn_available() -> bool:
    """Whether gninatorch and molgrid are installed (found, not imported: molgrid must not load beside RDKit)."""
    from importlib.util import find_spec

    return find_spec("gninatorch") is not None and find_spec("molgrid") is not None


class CnnRescorer:
    """GNINA's default CNN ensemble scoring poses in a process of its own.

    molgrid's Boost.Python module cannot be imported after RDKit's in one process (its vector converters clash), and
    it bundles its own OpenBabel; so the scoring runs in a fresh interpreter (``python -m tools.docking.cnn``) that
    imports molgrid first, loads the models once, and scores every pose file it is given.
    """

    def __init__(self, device: str = "cpu", timeout_s: float = 3600.0) -> None:
        self.device = device
        self.timeout_s = timeout_s

    def score_all(self, receptor_pdbqt: Path | str, pose_files: list[str]) -> list[list[CnnScore]]:
        """The CNN scores of every pose of every file, in file and pose order.

        Raises:
            DockingEngineMissing: gninatorch or molgrid is not installed.
            DockingFailed: the scoring process failed (its last error line is the message).
        """
        import json
        import subprocess
        import sys

        from tools.docking.errors import DockingEngineMissing, DockingFailed

        if not cnn_available():
            raise DockingEngineMissing("GNINA CNN rescoring", "gninatorch")
        request = json.dumps({"receptor": str(receptor_pdbqt), "poses": pose_files, "device": self.device})
        done = subprocess.run([sys.executable, "-m", "tools.docking.cnn"], input=request, capture_output=True, text=True, timeout=self.timeout_s, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
            raise DockingFailed(f"CNN rescoring failed: {last}")
        return [[CnnScore.model_validate(score) for score in scores] for scores in json.loads(done.stdout.strip().splitlines()[-1])]


def _score_files(request: dict[str, Any]) -> list[list[dict[str, float]]]:
    """In the scoring process: molgrid first, then torch, gninatorch and RDKit."""
    import argparse

    import molgrid  # noqa: F401  (before RDKit: see CnnRescorer)
    import torch
    from gninatorch import dataloaders, gnina, setup
    from rdkit import Chem, rdBase

    rdBase.DisableLog("rdApp.*")
    device = torch.device(request.get("device", "cpu"))
    model, _ensemble = gnina.setup_gnina_model(CNN_MODEL, GRID_DIMENSION_A, GRID_RESOLUTION_A)
    model = model.to(device).eval()
    results = []
    for pose_file in request["poses"]:
        poses = [mol for mol in Chem.SDMolSupplier(str(pose_file), removeHs=False) if mol is not None]
        scores: list[dict[str, float]] = []
        with tempfile.TemporaryDirectory(prefix="atomloop-cnn-") as folder:
            lines = []
            for index, pose in enumerate(poses):
                path = Path(folder) / f"pose{index}.sdf"
                with Chem.SDWriter(str(path)) as writer:
                    writer.write(pose)
                lines.append(f"0 0 {request['receptor']} {path}\n")
            types = Path(folder) / "poses.types"
            types.write_text("".join(lines), encoding="utf-8")
            options = argparse.Namespace(
                data_root="", batch_size=16, ligmolcache="", recmolcache="", cache_structures=True,
                resolution=GRID_RESOLUTION_A, dimension=GRID_DIMENSION_A,
            )
            if poses:
                provider = setup.setup_example_provider(str(types), options, training=False)
                loader = dataloaders.GriddedExamplesLoader(
                    example_provider=provider, grid_maker=setup.setup_grid_maker(options), random_translation=0.0,
                    random_rotation=False, device=device, grids_only=True,
                )
                with torch.no_grad():
                    for batch in loader:
                        log_pose, affinity, variance = model(batch)
                        scores += [
                            {"pose_score": round(float(p), 4), "affinity": round(float(a), 3), "affinity_variance": round(float(v), 4)}
                            for p, a, v in zip(torch.exp(log_pose[:, -1]), affinity, variance, strict=True)
                        ]
        results.append(scores[: len(poses)])
    return results


def cnn_order(scores: list[CnnScore]) -> list[int]:
    """Pose indices by descending CNN pose score (ties kept in Vina's order)."""
    return sorted(range(len(scores)), key=lambda index: (-scores[index].pose_score, index))




if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(_score_files(json.loads(sys.stdin.read()))))
