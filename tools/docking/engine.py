"""What a docking engine is: prepare a receptor once, dock batches of prepared ligands, score a given pose.

Vina (``tools.docking.vina_engine``) is the first engine; a batched torch engine plugs in beside it by implementing
the same two Protocols. Results are plain frozen models, so they cross process boundaries (compute jobs) as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from tools.docking.box import Box
from tools.docking.ligands import PreparedLigand
from tools.docking.receptor import PreparedReceptor

DEFAULT_EXHAUSTIVENESS = 8
DEFAULT_POSES = 9
DEFAULT_ENERGY_RANGE = 3.0  # kcal/mol above the best pose, as Vina's own default


class DockingSettings(BaseModel):
    """The search: how hard (``exhaustiveness``, Vina's independent Monte Carlo runs), how many poses to keep, and
    the seed that makes a run reproducible."""

    model_config = ConfigDict(frozen=True)

    exhaustiveness: int = Field(default=DEFAULT_EXHAUSTIVENESS, ge=1, le=256)
    poses: int = Field(default=DEFAULT_POSES, ge=1, le=40)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    energy_range: float = Field(default=DEFAULT_ENERGY_RANGE, gt=0, le=20)


class Pose(BaseModel):
    """One pose of a ligand: its rank, score (kcal/mol) and RMSD to the best pose (Vina's lower and upper bounds)."""

    model_config = ConfigDict(frozen=True)

    rank: int
    score: float
    rmsd_lb: float
    rmsd_ub: float


class DockedLigand(BaseModel):
    """The result of docking one ligand: its poses best first with their coordinates as PDBQT, or the error."""

    model_config = ConfigDict(frozen=True)

    label: str
    poses: tuple[Pose, ...] = ()
    poses_pdbqt: str = ""
    runtime_s: float = 0.0
    error: str | None = None

    @property
    def score(self) -> float | None:
        return self.poses[0].score if self.poses else None


class PoseScore(BaseModel):
    """A given pose scored where it is: the total (kcal/mol) and its parts by name."""

    model_config = ConfigDict(frozen=True)

    score: float
    terms: dict[str, float]


class DockingSession(Protocol):
    """An engine with one receptor and box loaded (grids computed once for the whole batch)."""

    def dock(self, ligands: Sequence[PreparedLigand], settings: DockingSettings) -> list[DockedLigand]:
        """Dock every ligand; one that fails is a result with its ``error``, and the others go on."""
        ...

    def score(self, pose_pdbqt: str) -> PoseScore:
        """Score a pose (PDBQT of a prepared ligand, in place) without moving it."""
        ...


class DockingEngine(Protocol):
    name: str

    def version(self) -> str: ...

    def open(self, receptor: PreparedReceptor, box: Box) -> DockingSession: ...


ENGINES = ("vina",)


def engine_named(name: str, cpu: int = 0) -> DockingEngine:
    """The engine called ``name`` with ``cpu`` threads per docking (0: all cores).

    Raises ``ToolInputError`` for an engine AtomLoop does not have.
    """
    if name == "vina":
        from tools.docking.vina_engine import VinaEngine

        return VinaEngine(cpu=cpu)
    from tools.errors import ToolInputError

    raise ToolInputError(f"unknown docking engine {name!r}: the engines are {', '.join(ENGINES)}")
