"""AutoDock Vina 1.2 as a ``DockingEngine``, through its Python API.

The receptor's grid maps are computed once per session for every atom type, so a batch of ligands shares them.
``import vina`` must come before openbabel's ``pybel`` in a process (the other order aborts), so this module
imports nothing of openbabel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tools.docking.box import Box, box_around
from tools.docking.engine import DockedLigand, DockingSettings, Pose, PoseScore
from tools.docking.errors import DockingEngineMissing, DockingFailed
from tools.docking.ligands import PreparedLigand
from tools.docking.receptor import PreparedReceptor

log = logging.getLogger(__name__)

# Vina's default weights, in its order: gauss1, gauss2, repulsion, hydrophobic, hydrogen, glue, rotatable bonds.
VINA_WEIGHTS = (-0.035579, -0.005156, 0.840245, -0.035069, -0.587439, 50.0, 0.05846)
INTERMOLECULAR_TERMS = ("gauss1", "gauss2", "repulsion", "hydrophobic", "hydrogen")
SCORE_PADDING_A = 2.0  # the grid need only hold the pose: receptor atoms beyond it still count (8 Angstrom cut-off)


def _vina_module() -> Any:
    try:
        import vina
    except ImportError:
        raise DockingEngineMissing("vina", "vina") from None
    return vina


class VinaEngine:
    """AutoDock Vina with the ``vina`` scoring function; ``cpu`` threads per ligand (0: all cores)."""

    name = "vina"

    def __init__(self, cpu: int = 0) -> None:
        self.cpu = cpu

    def version(self) -> str:
        from importlib.metadata import version

        _vina_module()
        return version("vina")

    def open(self, receptor: PreparedReceptor, box: Box) -> VinaSession:
        receptor.check_box(box)
        return VinaSession(receptor, box, self.cpu)


class VinaSession:
    """Vina with a receptor and a box loaded; the maps are computed on first use."""

    def __init__(self, receptor: PreparedReceptor, box: Box, cpu: int) -> None:
        self.receptor = receptor
        self.box = box
        self.cpu = cpu
        self._vina: Any = None
        self._seed: int | None = None

    def _docker(self, seed: int) -> Any:
        if self._vina is None or self._seed != seed:
            vina = _vina_module()
            docker = vina.Vina(sf_name="vina", seed=seed, cpu=self.cpu, verbosity=0)
            docker.set_receptor(self.receptor.pdbqt_path)
            docker.compute_vina_maps(center=list(self.box.center), box_size=list(self.box.size))
            self._vina, self._seed = docker, seed
        return self._vina

    def dock(self, ligands: Sequence[PreparedLigand], settings: DockingSettings) -> list[DockedLigand]:
        return [self._dock_one(ligand, settings) for ligand in ligands]

    def _dock_one(self, ligand: PreparedLigand, settings: DockingSettings) -> DockedLigand:
        started = time.perf_counter()
        docker = self._docker(settings.seed)
        try:
            docker.set_ligand_from_string(ligand.pdbqt)
            docker.dock(exhaustiveness=settings.exhaustiveness, n_poses=max(settings.poses, 20), min_rmsd=1.0)
            text = docker.poses(n_poses=settings.poses, energy_range=settings.energy_range, coordinates_only=False)
        except (RuntimeError, TypeError, ValueError) as error:  # Vina reports an unusable ligand as RuntimeError
            return DockedLigand(label=ligand.label, runtime_s=time.perf_counter() - started, error=f"vina: {error}")
        poses = parse_vina_results(text)
        if not poses:
            return DockedLigand(label=ligand.label, runtime_s=time.perf_counter() - started, error="vina returned no pose")
        return DockedLigand(label=ligand.label, poses=tuple(poses), poses_pdbqt=text, runtime_s=time.perf_counter() - started)

    def score(self, pose_pdbqt: str) -> PoseScore:
        """Vina's score of the pose in place, and its weighted parts: each intermolecular term alone (the maps
        recomputed with only its weight), the ligand's intramolecular energy, and the torsion penalty."""
        vina = _vina_module()
        # the grid around the pose itself: a pose is scored where it is, inside the docking box or not
        box = box_around(np.asarray(_pdbqt_coordinates(pose_pdbqt)), SCORE_PADDING_A)
        scorer = vina.Vina(sf_name="vina", cpu=1, verbosity=0)
        scorer.set_receptor(self.receptor.pdbqt_path)
        try:
            scorer.set_ligand_from_string(pose_pdbqt)
        except RuntimeError as error:  # a ligand Vina cannot read
            raise DockingFailed(f"vina cannot score the pose: {error}") from None

        def energies(weights: tuple[float, ...]) -> Any:
            scorer.set_weights(list(weights))
            scorer.compute_vina_maps(center=list(box.center), box_size=list(box.size))
            return scorer.score()

        terms: dict[str, float] = {}
        for index, name in enumerate(INTERMOLECULAR_TERMS):
            weights = [0.0] * len(VINA_WEIGHTS)
            weights[index] = VINA_WEIGHTS[index]
            weights[5] = VINA_WEIGHTS[5]
            terms[name] = round(float(energies(tuple(weights))[1]), 3)
        totals = energies(VINA_WEIGHTS)
        # Vina's energy vector: total, ligand-receptor, flex-receptor, other, flex intra, ligand intra, torsions, unbound
        terms["intermolecular"] = round(float(totals[1]), 3)
        terms["intramolecular"] = round(float(totals[5]), 3)
        terms["torsion_penalty"] = round(float(totals[6]), 3)
        terms["unbound"] = round(float(totals[7]), 3)
        return PoseScore(score=round(float(totals[0]), 3), terms=terms)


def parse_vina_results(text: str) -> list[Pose]:
    """The poses of Vina's output PDBQT, from its ``REMARK VINA RESULT: score rmsd_lb rmsd_ub`` lines."""
    poses: list[Pose] = []
    for line in text.splitlines():
        if line.startswith("REMARK VINA RESULT:"):
            score, lower, upper = (float(value) for value in line.split(":", 1)[1].split()[:3])
            poses.append(Pose(rank=len(poses) + 1, score=score, rmsd_lb=lower, rmsd_ub=upper))
    return poses


def _pdbqt_coordinates(text: str) -> list[list[float]]:
    rows = [
        [float(line[30:38]), float(line[38:46]), float(line[46:54])]
        for line in text.splitlines()
        if line.startswith(("ATOM  ", "HETATM"))
    ]
    if not rows:
        raise DockingFailed("the pose to score has no atoms")
    return rows
