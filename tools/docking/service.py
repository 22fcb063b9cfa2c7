"""Docking a list of molecules to a target: preparation, the engine, pose files, a results cache.

``dock_ligands`` is the one path every caller takes (the CLI, the agent's tool, a campaign's docking stage). For
each molecule it prepares the ligand, looks for the same docking done before (the same prepared receptor, box,
engine version, settings and ligand state: a cache file under ``$ATOMLOOP_HOME/docking``), and otherwise docks it
with the engine's session, which computes the receptor's grids once for the batch. The poses are written as one SDF
per molecule under ``$ATOMLOOP_HOME/poses`` named by their content hash. A molecule that fails (it cannot be
prepared, Vina finds no pose) is a result with its reason; the others go on. Nothing is written to the knowledge
store here: ``DockingReport.measurements()`` are the rows a caller records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from tools.compute.fanout import parallel_slots
from tools.docking.box import Box
from tools.docking.cnn import CnnScore
from tools.docking.engine import DockingEngine, DockingSession, DockingSettings, Pose
from tools.docking.errors import LigandPreparationError
from tools.docking.ligands import DEFAULT_LIGAND_SEED, LIGAND_METHOD, PreparedLigand, ligand_key, prepare_ligand
from tools.docking.receptor import PreparedReceptor, ReceptorOptions, prepare_receptor
from tools.docking.targets import DockingTargetSpec

if TYPE_CHECKING:
    from tools.compute.jobs import ComputeExecutor
from tools.structures.io import write_atomically

log = logging.getLogger(__name__)

DOCKING_CACHE_VERSION = 1
Rescore = Literal["none", "cnn"]
DOCK_JOB_KIND = "tools.docking.service:dock_job"
MAX_LIGANDS_PER_JOB = 8  # a job's receptor grids cost about a second: amortised over a few molecules
JOBS_PER_SLOT = 4  # jobs per worker, so the last ones do not leave workers idle
JOB_TIMEOUT_PER_LIGAND_S = 1800.0


class LigandInput(BaseModel):
    """A molecule to dock: its label (a name, or the SMILES itself) and SMILES; ``error`` when the input entry is
    not a molecule at all (it is reported, not docked)."""

    model_config = ConfigDict(frozen=True)

    label: str
    smiles: str | None
    error: str | None = None


class LigandResult(BaseModel):
    """One molecule's docking: the molecule (as given and as docked), its best score, its poses and pose file."""

    model_config = ConfigDict(frozen=True)

    input: str
    smiles: str | None = None
    docked_smiles: str | None = None
    inchikey: str | None = None
    score: float | None = None
    poses: tuple[Pose, ...] = ()
    pose_file: str | None = None
    pose_sha256: str | None = None
    runtime_s: float = 0.0
    cached: bool = False
    reference_rmsd: tuple[float, ...] | None = None  # each pose's heavy-atom RMSD to the target's crystal ligand
    cnn: tuple[CnnScore, ...] | None = None  # GNINA's CNN scores of the poses, in Vina's order (with rescore="cnn")

    @property
    def cnn_top(self) -> int | None:
        """The index of the pose the CNN ranks first (None without CNN scores)."""
        from tools.docking.cnn import cnn_order

        return cnn_order(list(self.cnn))[0] if self.cnn else None
    key: str | None = None
    error: str | None = None


class DockingReport(BaseModel):
    """A batch docked to one target with one engine and settings."""

    model_config = ConfigDict(frozen=True)

    target: str
    target_source: str
    engine: str
    engine_version: str
    receptor: PreparedReceptor
    box: Box
    settings: DockingSettings
    ph: float | None
    results: tuple[LigandResult, ...]
    rescore: Rescore = "none"

    @property
    def docked(self) -> list[LigandResult]:
        return [result for result in self.results if result.error is None]

    def measurements(self) -> list[Any]:
        """A ``docking_score`` measurement (``knowledge.store.NewMeasurement``) for every docked molecule."""
        from knowledge.store import NewMeasurement

        rows = []
        for result in self.docked:
            assert result.smiles is not None and result.score is not None
            rows.append(
                NewMeasurement(
                    smiles=result.smiles,
                    property="docking_score",
                    value=result.score,
                    unit="kcal/mol",
                    source="computed",
                    conditions={"target": self.target, "receptor_hash": self.receptor.receptor_hash},
                    provenance={
                        "engine": self.engine,
                        "engine_version": self.engine_version,
                        "exhaustiveness": self.settings.exhaustiveness,
                        "seed": self.settings.seed,
                        "poses": [pose.model_dump() for pose in result.poses],
                        "pose_file": result.pose_file,
                        "pose_sha256": result.pose_sha256,
                        "docked_smiles": result.docked_smiles,
                        "ph": self.ph,
                        "box": self.box.model_dump(mode="json"),
                        "runtime_s": round(result.runtime_s, 2),
                        "receptor_method": self.receptor.method,
                        "ligand_method": LIGAND_METHOD,
                        **_cnn_provenance(result),
                    },
                    op_id=f"dock:{result.key}",
                )
            )
        return rows


def _cnn_provenance(result: LigandResult) -> dict[str, Any]:
    top = result.cnn_top
    if top is None or result.cnn is None:
        return {}
    best = result.cnn[top]
    return {"cnn_model": "gnina-default-ensemble", "cnn_top_pose_rank": top + 1, "cnn_pose_score": best.pose_score, "cnn_affinity_pK": best.affinity}


def dock_ligands(
    target: DockingTargetSpec,
    ligands: Sequence[LigandInput],
    engine: DockingEngine,
    home: Path,
    *,
    settings: DockingSettings | None = None,
    ph: float | None = 7.4,
    receptor_options: ReceptorOptions | None = None,
    on_progress: Callable[[int, int, LigandResult | None], None] | None = None,
    reference_ligand: Path | None = None,
    executor: ComputeExecutor | None = None,
    rescore: Rescore = "none",
) -> DockingReport:
    """Dock ``ligands`` to ``target`` (which must have a box) with ``engine``; see the module's docstring. Each
    pose's RMSD to a crystal ligand (``reference_ligand``, else the target's own) is reported for the molecules
    that are that ligand. With an ``executor`` that runs jobs side by side, the molecules not in the cache are
    docked as compute jobs (a few molecules each, one Vina thread per job); a job that fails is redone here.
    ``rescore="cnn"`` adds GNINA's CNN scores to every pose (``tools.docking.cnn``).

    Raises:
        ReceptorError: the receptor cannot be prepared, or no receptor atom lies in the box.
        BoxError: the target has no box.
        DockingEngineMissing: the engine's package is not installed.
    """
    from tools.docking.errors import BoxError

    settings = settings or DockingSettings()
    if target.box is None:
        raise BoxError(f"target {target.name} has no box: give --box FILE, --center X Y Z --size X Y Z, or --autobox-ligand FILE")
    box = target.box
    engine_version = engine.version()
    receptor = prepare_receptor(Path(target.receptor_path), home / "receptors", receptor_options)
    receptor.check_box(box)
    reference = _reference(reference_ligand or (Path(target.reference_ligand) if target.reference_ligand else None))
    cached = [_cached_or_none(ligand, receptor, box, engine.name, engine_version, settings, ph, home) for ligand in ligands]
    results: list[LigandResult | None] = list(cached)
    done = sum(result is not None for result in results)

    def report_progress(index: int | None, result: LigandResult | None) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(min(done, len(ligands)), len(ligands), result)

    todo = [index for index, result in enumerate(results) if result is None]
    if executor is not None and parallel_slots(executor) > 1 and len(todo) > 1:
        for index, result in _dock_as_jobs(executor, todo, ligands, receptor, box, engine, engine_version, settings, ph, home, target.name, report_progress):
            results[index] = result
    session: DockingSession | None = None
    for index in [i for i in todo if results[i] is None]:  # in this process: no executor, or a job that failed
        if session is None:
            session = engine.open(receptor, box)
        docked = _dock_one(ligands[index], session, receptor, box, engine.name, engine_version, settings, ph, home)
        results[index] = docked
        report_progress(index, docked)
    cnn_scores: dict[str, list[CnnScore]] = {}
    pose_files = list(dict.fromkeys(r.pose_file for r in results if r is not None and r.pose_file is not None))
    if rescore == "cnn" and pose_files:
        from tools.docking.cnn import CnnRescorer

        cnn_scores = dict(zip(pose_files, CnnRescorer().score_all(receptor.pdbqt_path, pose_files), strict=True))
    final: list[LigandResult] = []
    for maybe in results:
        assert maybe is not None
        result = maybe
        if result.pose_file in cnn_scores:
            result = result.model_copy(update={"cnn": tuple(cnn_scores[result.pose_file])})
        if reference is not None and result.pose_file is not None:
            from tools.docking.poses import reference_rmsds

            result = result.model_copy(update={"reference_rmsd": reference_rmsds(result.pose_file, reference)})
        final.append(result)
    return DockingReport(
        target=target.name,
        target_source=target.source,
        engine=engine.name,
        engine_version=engine_version,
        receptor=receptor,
        box=box,
        settings=settings,
        ph=ph,
        results=tuple(final),
        rescore=rescore,
    )


def _dock_as_jobs(
    executor: ComputeExecutor,
    todo: Sequence[int],
    ligands: Sequence[LigandInput],
    receptor: PreparedReceptor,
    box: Box,
    engine: DockingEngine,
    engine_version: str,
    settings: DockingSettings,
    ph: float | None,
    home: Path,
    target: str,
    report_progress: Callable[[int | None, LigandResult | None], None],
) -> list[tuple[int, LigandResult]]:
    """The molecules at ``todo`` docked as compute jobs: (index, result) for each one whose job succeeded."""
    from tools.compute.fanout import file_sha256, package_versions
    from tools.compute.jobs import JobRequest

    slots = parallel_slots(executor)
    size = max(1, min(MAX_LIGANDS_PER_JOB, math.ceil(len(todo) / (slots * JOBS_PER_SLOT))))
    chunks = [list(todo[start : start + size]) for start in range(0, len(todo), size)]
    common = {
        "receptor": receptor.model_dump(mode="json"),
        "receptor_sha256": file_sha256(receptor.pdbqt_path),
        "box": box.model_dump(mode="json"),
        "settings": settings.model_dump(mode="json"),
        "ph": ph,
        "home": str(home),
        "engine": engine.name,
        "engine_version": engine_version,
        "software": package_versions("rdkit", "meeko", "dimorphite_dl"),
    }
    jobs = [
        JobRequest(
            kind=DOCK_JOB_KIND,
            inputs={**common, "ligands": [ligands[index].model_dump(mode="json") for index in chunk]},
            label=(ligands[chunk[0]].label + (f" and {len(chunk) - 1} more" if len(chunk) > 1 else ""))[:200],
            timeout_s=JOB_TIMEOUT_PER_LIGAND_S * len(chunk),
        )
        for chunk in chunks
    ]
    finished = 0

    def progress(done_jobs: int, _total: int) -> None:
        nonlocal finished
        while finished < done_jobs:
            for _ in chunks[finished]:
                report_progress(None, None)
            finished += 1

    outcomes = executor.run(jobs, group=f"dock to {target}", on_progress=progress)
    docked: list[tuple[int, LigandResult]] = []
    for chunk, outcome in zip(chunks, outcomes, strict=True):
        if outcome.ok and isinstance(outcome.result, list) and len(outcome.result) == len(chunk):
            docked += [(index, LigandResult.model_validate(raw)) for index, raw in zip(chunk, outcome.result, strict=True)]
        else:
            log.warning("docking job %s %s (%s); docking its molecules in this process", outcome.label, outcome.status, (outcome.error or "").strip()[:200])
    return docked


def dock_job(
    receptor: dict[str, Any],
    receptor_sha256: str,
    box: dict[str, Any],
    settings: dict[str, Any],
    ph: float | None,
    home: str,
    engine: str,
    engine_version: str,
    software: dict[str, str],
    ligands: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """A compute job: dock ``ligands`` with one engine thread, writing pose files and cache entries under ``home``
    as the caller's process would; the results as plain data. The receptor file must be the one the caller
    prepared (checked by its hash), and the engine the same version."""
    from tools.compute.fanout import check_file
    from tools.docking.engine import engine_named

    prepared = PreparedReceptor.model_validate(receptor)
    check_file(prepared.pdbqt_path, receptor_sha256)
    docking_engine = engine_named(engine, cpu=1)
    if docking_engine.version() != engine_version:
        raise RuntimeError(f"this worker has {engine} {docking_engine.version()}, the job was made for {engine_version}")
    del software  # part of the job's key only: a worker of other chemistry versions is another job
    session = docking_engine.open(prepared, Box.model_validate(box))
    options = DockingSettings.model_validate(settings)
    return [
        _dock_one(LigandInput.model_validate(raw), session, prepared, Box.model_validate(box), engine, engine_version, options, ph, Path(home)).model_dump(mode="json")
        for raw in ligands
    ]


def _reference(path: Path | None) -> Any:
    from tools.docking.poses import read_reference_ligand

    if path is None:
        return None
    try:
        return read_reference_ligand(path)
    except (OSError, ValueError) as error:
        raise LigandPreparationError(str(path), f"cannot be read as a reference ligand ({error})") from None


def docking_key(receptor: PreparedReceptor, box: Box, engine: str, engine_version: str, settings: DockingSettings, ligand_state_key: str) -> str:
    """What decides a docking result: the prepared receptor, the box, the engine and its version, the settings and
    the prepared ligand (molecule, pH, seed, tool versions)."""
    payload = {
        "version": DOCKING_CACHE_VERSION,
        "receptor": receptor.receptor_hash,
        "box": box.model_dump(mode="json"),
        "engine": engine,
        "engine_version": engine_version,
        "settings": settings.model_dump(mode="json"),
        "ligand": ligand_state_key,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:40]


def _failed(ligand: LigandInput, reason: str, **fields: Any) -> LigandResult:
    return LigandResult(input=ligand.label, error=reason, **fields)


def _key_for(ligand: LigandInput, receptor: PreparedReceptor, box: Box, engine: str, engine_version: str, settings: DockingSettings, ph: float | None) -> str | None:
    if ligand.smiles is None:
        return None
    return docking_key(receptor, box, engine, engine_version, settings, ligand_key(ligand.smiles, ph, DEFAULT_LIGAND_SEED))


def _cached_or_none(
    ligand: LigandInput, receptor: PreparedReceptor, box: Box, engine: str, engine_version: str, settings: DockingSettings, ph: float | None, home: Path
) -> LigandResult | None:
    key = _key_for(ligand, receptor, box, engine, engine_version, settings, ph)
    if key is None:
        return None
    path = home / "docking" / f"{key}.json"
    if not path.exists():
        return None
    try:
        result = LigandResult.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        log.warning("docking cache %s is unreadable; docking again", path)
        return None
    if result.pose_file is None or not Path(result.pose_file).exists():
        return None
    return result.model_copy(update={"input": ligand.label, "cached": True})


def _dock_one(
    ligand: LigandInput,
    session: DockingSession,
    receptor: PreparedReceptor,
    box: Box,
    engine: str,
    engine_version: str,
    settings: DockingSettings,
    ph: float | None,
    home: Path,
) -> LigandResult:
    from tools.docking.poses import pose_molecule, poses_sdf

    if ligand.smiles is None:
        return _failed(ligand, ligand.error or "not a molecule")
    started = time.perf_counter()
    try:
        prepared: PreparedLigand = prepare_ligand(ligand.smiles, label=ligand.label, ph=ph)
    except LigandPreparationError as error:
        return _failed(ligand, error.reason)
    known: dict[str, Any] = {"smiles": prepared.parent_smiles, "docked_smiles": prepared.smiles, "inchikey": prepared.inchikey}
    docked = session.dock([prepared], settings)[0]
    if docked.error is not None:
        return _failed(ligand, docked.error, **known)
    try:
        mol = pose_molecule(docked.poses_pdbqt)
    except ValueError as error:
        return _failed(ligand, f"the poses could not be rebuilt as a molecule: {error}", **known)
    sdf = poses_sdf(mol, docked.poses, ligand.label, {"target_receptor": receptor.receptor_hash, "engine": f"{engine} {engine_version}"})
    digest = hashlib.sha256(sdf.encode()).hexdigest()
    pose_path = home / "poses" / f"{digest[:32]}.sdf"
    pose_path.parent.mkdir(parents=True, exist_ok=True)
    if not pose_path.exists():
        write_atomically(pose_path, [sdf])
    key = _key_for(ligand, receptor, box, engine, engine_version, settings, ph)
    result = LigandResult(
        input=ligand.label,
        score=docked.poses[0].score,
        poses=docked.poses,
        pose_file=str(pose_path),
        pose_sha256=digest,
        runtime_s=time.perf_counter() - started,
        key=key,
        **known,
    )
    cache = home / "docking" / f"{key}.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(cache, [result.model_dump_json()])
    return result

