"""Atomic models in the model registry: training (or fine-tuning) a DPA-2 model as a compute job, measuring it on
held-out frames, and recording it as a ``ModelVersion`` (kind ``dpa2``, property ``potential_energy``) with its
parent, its data set's fingerprint, its metrics and whether it is approved.

A model is approved when its held-out force RMSE beats predicting no force at all and, for a fine-tuned model, is
not worse than its parent's on the same held-out frames. Its files live in
``$ATOMLOOP_HOME/models/dpa2/<run>/``: the checkpoint (to fine-tune from), the frozen model (to run), the input,
the learning curve, and the training and held-out frames as DeePMD systems.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from tools.atomistic.errors import PotentialUnsupported, UnknownPotential
from tools.atomistic.models import ModelSpec, file_spec

if TYPE_CHECKING:
    from ase import Atoms

    from knowledge.models import ModelVersion
    from knowledge.store import KnowledgeStore
    from tools.atomistic.training import ModelSize, TrainedFiles
    from tools.compute.jobs import ComputeExecutor

FAMILY = "dpa2"
ATOMIC_PROPERTY = "potential_energy"
PARENT_TOLERANCE = 1.0  # a child's held-out force RMSE may be at most this times its parent's
Progress = Callable[[int, int], None]


class AtomicModel(BaseModel):
    """A registered atomic model: its version, the spec to run it, its parent, its metrics and approval."""

    model_config = ConfigDict(frozen=True)

    version: str
    spec: ModelSpec
    parent: str | None
    approved: bool
    metrics: dict[str, Any]
    folder: str


def models_dir(home: Path) -> Path:
    return home / "models" / FAMILY


def atomic_models(store: KnowledgeStore) -> list[ModelVersion]:
    """The registered atomic models, newest first."""
    from sqlmodel import col, select

    from knowledge.models import ModelVersion

    with store.session() as session:
        statement = select(ModelVersion).where(ModelVersion.kind == FAMILY).order_by(col(ModelVersion.created_at).desc())
        return list(session.exec(statement))


def registered_model(store: KnowledgeStore, reference: str) -> AtomicModel | None:
    """The registered model whose version is ``reference`` or starts with it (a unique prefix), else None.

    Raises:
        UnknownPotential: the prefix fits several versions, or the version's files are gone.
    """
    found = [row for row in atomic_models(store) if row.id == reference or row.id.startswith(reference)]
    exact = [row for row in found if row.id == reference]
    if len(found) > 1 and not exact:
        raise UnknownPotential(f"{reference!r} names {len(found)} {FAMILY} versions ({', '.join(r.id for r in found[:5])}); give more of it")
    if not found:
        return None
    return _model_of(exact[0] if exact else found[0])


def _model_of(row: ModelVersion) -> AtomicModel:
    if row.artifact_path is None or not Path(row.artifact_path).is_file():
        raise UnknownPotential(f"the files of {FAMILY} model {row.id} are gone ({row.artifact_path})")
    return AtomicModel(
        version=row.id, spec=file_spec(FAMILY, Path(row.artifact_path), version=row.id), parent=row.parent_id, approved=row.approved,
        metrics=dict(row.metrics), folder=str(Path(row.artifact_path).parent),
    )


def model_checkpoint(spec: ModelSpec) -> Path:
    """The file to fine-tune from: a registered model's training checkpoint beside its frozen model, or the file
    given (a pretrained checkpoint ``.pt`` or frozen ``.pth``)."""
    assert spec.path is not None
    path = Path(spec.path)
    beside = path.with_name("checkpoint.pt")
    return beside if spec.version is not None and beside.is_file() else path


def train_model(
    store: KnowledgeStore,
    executor: ComputeExecutor,
    home: Path,
    frames: Sequence[Atoms],
    *,
    size: ModelSize = "quick",
    steps: int = 2000,
    seed: int = 1,
    parent: ModelSpec | None = None,
    heldout: Sequence[Atoms] | None = None,
    on_progress: Progress | None = None,
    label: str = "",
) -> AtomicModel:
    """Train (``parent`` None) or fine-tune a DPA-2 model on ``frames`` as a compute job, test it on the held-out
    frames (``heldout``, else a share of ``frames`` picked by content hash), and register it.

    Raises:
        PotentialUnsupported: the frames have elements the parent does not know.
        CalculationFailed: the training job failed.
    """
    return train_models(store, executor, home, frames, [Member(seed=seed, parent=parent)], size=size, steps=steps, heldout=heldout,
                        on_progress=on_progress, label=label)[0]


class Member(BaseModel):
    """One model of a batch: its seed and the model it is fine-tuned from (None: trained from scratch)."""

    model_config = ConfigDict(frozen=True)

    seed: int = 1
    parent: ModelSpec | None = None


def train_models(
    store: KnowledgeStore,
    executor: ComputeExecutor,
    home: Path,
    frames: Sequence[Atoms],
    members: Sequence[Member],
    *,
    size: ModelSize = "quick",
    steps: int = 2000,
    heldout: Sequence[Atoms] | None = None,
    on_progress: Progress | None = None,
    label: str = "",
) -> list[AtomicModel]:
    """``train_model`` for several models on the same frames (a committee), their trainings side by side as one
    batch of compute jobs; the models in the order of ``members``."""
    from tools.atomistic.datasets import prepare_data, read_systems, type_map_of
    from tools.atomistic.potentials.deepmd import DeepmdPotential
    from tools.atomistic.training import TrainingPlan, model_test, neighbour_selection

    nsel = neighbour_selection(frames, stride=max(1, len(frames) // 50)) if any(m.parent is None for m in members) else {}
    plans: list[tuple[Member, Any, Path, Any]] = []
    for member in members:
        parent = member.parent
        parent_map: list[str] = []
        if parent is not None:
            assert parent.path is not None
            parent_map = DeepmdPotential(Path(parent.path)).type_map()
            missing = sorted(set(type_map_of(frames)) - set(parent_map))
            if missing:
                raise PotentialUnsupported(f"the parent {parent.label} knows no {', '.join(missing)}; train a new model (no --finetune) for these frames")
        type_map = type_map_of(frames, parent_map)
        folder = models_dir(home) / f"run-{_run_key(frames, heldout, size, steps, member.seed, parent)[:16]}"
        prepared = prepare_data(frames, folder / "data", type_map, heldout)
        plan = TrainingPlan(
            training=prepared.training, validation=prepared.heldout, type_map=type_map, size=size, steps=steps, seed=member.seed,
            finetune_from=str(model_checkpoint(parent)) if parent is not None else None, nsel={} if parent is not None else nsel,
            **({"start_lr": 1e-3} if parent is not None else {}),
        )
        plans.append((member, plan, folder, prepared))
    what = label or f"{'fine-tune' if members[0].parent else 'train'} {FAMILY} on {plans[0][3].training_frames} frames"
    trained = _train_as_jobs(executor, [(plan, folder) for _, plan, folder, _ in plans], on_progress, what)
    held = read_systems(plans[0][3].heldout)
    from tools.compute.fanout import file_sha256

    models: list[AtomicModel] = []
    for (member, plan, folder, prepared), files in zip(plans, trained, strict=True):
        parent = member.parent
        version = file_sha256(files.frozen)[:16]
        known = registered_model(store, version)
        if known is not None:  # the same training answered by the job book: its measurements stand
            models.append(known.model_copy(update={"folder": str(folder)}))
            continue
        child_test = model_test(DeepmdPotential(Path(files.frozen)), held)
        parent_test = model_test(DeepmdPotential(Path(parent.path)), held) if parent is not None and parent.path else None
        approved = child_test.force_rmse_mev_per_a < child_test.zero_force_rmse_mev_per_a and (
            parent_test is None or child_test.force_rmse_mev_per_a <= parent_test.force_rmse_mev_per_a * PARENT_TOLERANCE
        )
        metrics = {
            "heldout": child_test.model_dump(), "parent_heldout": parent_test.model_dump() if parent_test else None,
            "training_frames": prepared.training_frames, "heldout_frames": prepared.heldout_frames, "type_map": plan.type_map,
            "size": size if parent is None else "finetuned", "steps": steps, "seed": member.seed, "training_seconds": round(files.seconds, 1),
            "finetuned_from": parent.label if parent is not None else None, "checkpoint": files.checkpoint,
        }
        _register(store, version, parent.version if parent is not None else None, prepared.dataset_hash, metrics, files.frozen, approved)
        models.append(AtomicModel(version=version, spec=file_spec(FAMILY, Path(files.frozen), version=version),
                                  parent=parent.version if parent else None, approved=approved, metrics=metrics, folder=str(folder)))
    return models


def _run_key(frames: Sequence[Atoms], heldout: Sequence[Atoms] | None, size: str, steps: int, seed: int, parent: ModelSpec | None) -> str:
    from tools.atomistic.datasets import dataset_hash

    parts = [dataset_hash(frames), dataset_hash(heldout) if heldout else None, size, steps, seed, parent.sha256 if parent else None]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _train_as_jobs(executor: ComputeExecutor, trainings: Sequence[tuple[Any, Path]], on_progress: Progress | None, label: str) -> list[TrainedFiles]:
    """Run the trainings as one batch of jobs (side by side where the executor can), reporting the first one's
    learning curve as progress."""
    from tools.atomistic.errors import CalculationFailed
    from tools.atomistic.jobs import TRAINING_JOB_KIND
    from tools.atomistic.training import TrainedFiles
    from tools.compute.fanout import threads_per_job
    from tools.compute.jobs import JobRequest

    threads = threads_per_job(executor, len(trainings))
    jobs = [
        JobRequest(kind=TRAINING_JOB_KIND, inputs={"plan": plan.model_dump(mode="json"), "folder": str(folder), "threads": threads},
                   label=f"{label} (seed {plan.seed})"[:200])
        for plan, folder in trainings
    ]
    first_plan, first_folder = trainings[0]
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_curve, args=(first_folder / "lcurve.out", first_plan.steps, on_progress, stop), daemon=True)
    if on_progress is not None:
        watcher.start()
    try:
        outcomes = executor.run(jobs, group=f"{FAMILY} training")
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join(timeout=2)
    files: list[TrainedFiles] = []
    for outcome, (_, folder) in zip(outcomes, trainings, strict=True):
        if not outcome.ok:
            from agent.atomistic import job_error

            raise CalculationFailed(f"training {FAMILY} {outcome.status.replace('_', ' ')}: {job_error(outcome.error)}")
        trained = TrainedFiles.model_validate(outcome.result)
        if not Path(trained.frozen).is_file():
            raise CalculationFailed(f"the trained model {trained.frozen} is gone since this training ran; remove {folder} and its job (atomloop jobs) to train again")
        files.append(trained)
    if on_progress is not None:
        on_progress(first_plan.steps, first_plan.steps)
    return files


def _watch_curve(curve: Path, steps: int, on_progress: Progress | None, stop: threading.Event) -> None:
    """Report the last step of the learning curve ``dp`` writes, while the training job runs."""
    while not stop.wait(1.0):
        try:
            lines = [line for line in curve.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
        except OSError:
            continue
        if lines and on_progress is not None:
            try:
                on_progress(int(lines[-1].split()[0]), steps)
            except ValueError:
                continue


def _register(store: KnowledgeStore, version: str, parent: str | None, dataset: str, metrics: dict[str, Any], artifact: str, approved: bool) -> None:
    from knowledge.models import ModelVersion

    def work(writer: Any) -> None:
        if writer.session.get(ModelVersion, version) is None:
            writer.add(ModelVersion(id=version, kind=FAMILY, property=ATOMIC_PROPERTY, parent_id=parent, dataset_hash=dataset,
                                    metrics=metrics, artifact_path=artifact, approved=approved))

    store.write(work)
