"""Model versions of the predictors: train, evaluate, approve, save, load, and find the newest approved one.

* ``train`` fits a new version (or fine-tunes a parent), measures it on a held-out split, applies the approval
  rule and saves the artifact under ``models_dir/<version>/``. It does **not** write the store: tools never do;
  the agent's record step writes the ``ModelVersion`` row from ``TrainedModel.record``.
* ``register`` is the explicit, idempotent exception for the CLI and the agent: it writes that row.
* ``latest`` returns the newest approved version of a property; ``ensure`` also trains and registers one
  (on the store's measurements, or on the bundled dataset) when there is none.

Held-out split: a molecule is held out when the sha256 of its InChIKey falls in the lowest ``test_fraction``
of the hash range. The split does not depend on the seed or on what else is in the data set, so a molecule held
out from a parent is held out from its children too: parent and child are compared on molecules neither saw
(when the parent was trained through this registry). ``holdout=`` replaces the split by fixed rows.

Approval: a version without a parent is approved; a child is approved when its held-out RMSE is not worse than
its parent's RMSE on the same held-out rows (both are recorded, as ``rmse`` and ``parent_rmse``).

Compute jobs: a registry given an ``executor`` hands it to the families whose ``train`` (and predictors whose
``fine_tune``) take one, which fit their members as jobs where that pays (``tools.predict.fingerprint``,
``tools.predict.unimol``), with their files in a folder under ``models_dir``. ``predict`` has the molecules of a
pool of at least ``MIN_POOL_TO_FAN_OUT`` prepared by jobs of chunks of it (canonical structures and features, or
conformers: a predictor that ``PreparesInJobs``) when the executor runs several at once, then predicts the pool in
one call here, so the predictions are those of the call without jobs (a chunk whose job fails is prepared by that
call).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from tools.errors import ToolFailed, ToolInputError
from tools.predict.base import PredictedValue, PredictionFailure, Predictor, TrainingRows, evaluate, json_safe

if TYPE_CHECKING:
    from knowledge.models import ModelVersion
    from knowledge.store import KnowledgeStore
    from tools.compute.jobs import ComputeExecutor, JobRequest

log = logging.getLogger(__name__)

MIN_TEST_ROWS = 2
_HOLDOUT_SALT = "atomloop-holdout:"
# Smaller pools are prepared in seconds (fingerprints) or far fewer conformers: not worth the jobs' start.
MIN_POOL_TO_FAN_OUT = 2000
MIN_POOL_CHUNK = 500  # molecules per job at least


class PredictorFamily(Protocol):
    """What the registry needs of a predictor class (``FingerprintPredictor`` is one)."""

    def train(self, rows: TrainingRows, seed: int = 0) -> Predictor: ...

    def load(self, directory: Path) -> Predictor: ...


@runtime_checkable
class PreparesInJobs(Protocol):
    """A predictor whose per-molecule preparation (RDKit canonicalisation and features, 3D conformers: most of the
    cost of predicting a new molecule) can be made by compute jobs ahead of ``predict``."""

    def preparation_job(self, smiles: list[str]) -> JobRequest:
        """The job that prepares ``smiles`` (its result is for ``take_prepared``)."""
        ...

    def take_prepared(self, smiles: list[str], result: Any) -> int:
        """Keep what the job of ``smiles`` made for the next ``predict``; returns how many molecules it prepared."""
        ...


class ModelRecord(BaseModel):
    """The ``ModelVersion`` row a trained model is recorded as (``to_row()`` builds it)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The predictor's version (content hash)")
    kind: str
    property: str
    parent_id: str | None
    dataset_hash: str | None
    metrics: dict[str, Any]
    artifact_path: str | None
    approved: bool

    def to_row(self) -> ModelVersion:
        from knowledge.models import ModelVersion

        return ModelVersion(
            id=self.id,
            kind=self.kind,
            property=self.property,
            parent_id=self.parent_id,
            dataset_hash=self.dataset_hash,
            metrics=dict(self.metrics),
            artifact_path=self.artifact_path,
            approved=self.approved,
        )


class TrainedModel(BaseModel):
    """A newly trained predictor and the record that describes it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    predictor: Predictor
    record: ModelRecord


def default_families(conformer_dir: Path | None = None) -> dict[str, PredictorFamily]:
    """The three families; unimol keeps the 3D conformers it makes in ``conformer_dir`` (None: in memory only)."""
    from tools.predict.fingerprint import FingerprintPredictor
    from tools.predict.gp import FingerprintGPPredictor
    from tools.predict.unimol import UniMolFamily

    return {"fingerprint": FingerprintPredictor, "gp": FingerprintGPPredictor, "unimol": UniMolFamily(conformer_dir)}


def model_conditions(metrics: Mapping[str, Any] | None) -> dict[str, str]:
    """The measurement conditions a model version learnt under, from its metrics (none: the property as such)."""
    conditions = (metrics or {}).get("conditions")
    return {str(k): str(v) for k, v in conditions.items()} if isinstance(conditions, dict) else {}


def holdout_fraction(inchikey: str) -> float:
    """Where a molecule falls in [0, 1): below ``test_fraction`` means held out."""
    digest = hashlib.sha256((_HOLDOUT_SALT + inchikey).encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def split_rows(rows: TrainingRows, test_fraction: float) -> tuple[TrainingRows, TrainingRows]:
    """(train, test) by the hash of each molecule's InChIKey; rows that do not parse go to train (and are
    skipped there with a warning)."""
    from knowledge.chem import canonicalize
    from knowledge.errors import InvalidStructure

    train: list[int] = []
    test: list[int] = []
    keys: dict[str, str] = {}
    for index, smiles in enumerate(rows.smiles):
        try:
            key = keys.get(smiles) or canonicalize(smiles).inchikey
        except InvalidStructure:
            train.append(index)
            continue
        keys[smiles] = key
        (test if holdout_fraction(key) < test_fraction else train).append(index)
    return rows.subset(train), rows.subset(test)


class PredictorRegistry:
    """Trains, saves, loads and finds predictor versions; loaded predictors are cached on the instance."""

    def __init__(
        self,
        store: KnowledgeStore,
        models_dir: Path,
        *,
        families: Mapping[str, PredictorFamily] | None = None,
        test_fraction: float = 0.2,
        min_store_rows: int = 30,
        executor: ComputeExecutor | None = None,
    ) -> None:
        """``executor``: where training fans out ensemble members and ``predict`` prepares large pools (None: all in
        this process)."""
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
        self.store = store
        self.models_dir = Path(models_dir)
        self.test_fraction = test_fraction
        self.min_store_rows = min_store_rows
        self.executor = executor
        self._families: dict[str, PredictorFamily] = dict(families) if families is not None else default_families()
        self._loaded: dict[str, Predictor] = {}
        self._bundled: dict[str, TrainedModel] = {}

    def bundled_model(self, property: str) -> TrainedModel:
        """A model trained on the bundled dataset of ``property``, trained once per registry and not registered
        (the caller records it). For predictions before the store holds a model of its own."""
        name = self._property_name(property)
        if name not in self._bundled:
            self._bundled[name] = self.train(name, TrainingRows.from_bundled(name))
        return self._bundled[name]

    # -- finding -----------------------------------------------------------------------------------

    def latest(self, property: str, conditions: Mapping[str, str] | None = None) -> Predictor | None:
        """The newest approved version for ``property`` (name or alias) trained on measurements under
        ``conditions`` (a docking score's target, say; none: a model of the property as such), or None."""
        from sqlmodel import col, select

        from knowledge.models import ModelVersion

        name = self._property_name(property)
        wanted = dict(conditions or {})
        statement = (
            select(ModelVersion)
            .where(ModelVersion.property == name, col(ModelVersion.approved).is_(True))
            .order_by(col(ModelVersion.created_at).desc(), col(ModelVersion.id).desc())
        )
        with self.store.session() as session:
            # conditions compared here: JSON columns query differently in SQLite and PostgreSQL
            row = next((r for r in session.exec(statement) if model_conditions(r.metrics) == wanted), None)
        if row is None:
            return None
        return self._load(row.id, row.kind, row.artifact_path)

    def get(self, version: str) -> Predictor:
        """The predictor of ``version``: cached, or loaded from its ModelVersion row's artifact, or from
        ``models_dir/<version>/`` (a version trained here and not registered yet).

        Raises:
            ToolFailed: no such version, or its artifact cannot be loaded.
        """
        from knowledge.models import ModelVersion

        if version in self._loaded:
            return self._loaded[version]
        with self.store.session() as session:
            row = session.get(ModelVersion, version)
        if row is not None:
            return self._load(row.id, row.kind, row.artifact_path)
        directory = self.models_dir / version
        try:
            kind = json.loads((directory / "meta.json").read_text(encoding="utf-8"))["family"]
        except (OSError, ValueError, KeyError):
            raise ToolFailed(f"no model version {version!r} in the store or in {self.models_dir}") from None
        return self._load(version, kind, str(directory))

    def _conditions_of(self, version: str) -> dict[str, str]:
        """The conditions model ``version`` was trained under (none for a version not in the store)."""
        from knowledge.models import ModelVersion

        with self.store.session() as session:
            row = session.get(ModelVersion, version)
        return model_conditions(row.metrics) if row is not None else {}

    def _load(self, version: str, kind: str, artifact_path: str | None) -> Predictor:
        cached = self._loaded.get(version)
        if cached is not None:
            return cached
        family = self.family(kind)
        directory = Path(artifact_path) if artifact_path else self.models_dir / version
        if not directory.exists():
            raise ToolFailed(f"the artifact of model version {version} is missing (expected at {directory})")
        predictor = family.load(directory)
        if predictor.version != version:
            raise ToolFailed(f"the artifact at {directory} is version {predictor.version}, not {version}")
        self._loaded[version] = predictor
        return predictor

    # -- training ----------------------------------------------------------------------------------

    def train(
        self,
        property: str,
        rows: TrainingRows,
        kind: str = "fingerprint",
        seed: int = 0,
        parent: str | None = None,
        *,
        holdout: TrainingRows | None = None,
        train_on_all: bool = False,
        options: Mapping[str, Any] | None = None,
        conditions: Mapping[str, str] | None = None,
    ) -> TrainedModel:
        """Train a new version on ``rows`` (fine-tune ``parent`` on them if given), measure it on a held-out
        split of ``rows`` (or on ``holdout``), decide its approval and save its artifact. Writes no store row.

        ``train_on_all=True`` trains on every row and, without ``holdout``, measures nothing: for a campaign,
        whose few measurements are too precious to set a fifth aside and whose models are judged prospectively, on
        the next batch (``CampaignRunner``). A fine-tuned child trained so is not approved (there is nothing to
        compare on).

        A fine-tuned child keeps its parent's seed and hyperparameters (``seed`` applies to new models).
        ``options`` are passed to the family's ``train`` for a new model (e.g. ``pretrained`` and ``config`` for
        unimol). ``conditions``: what the rows were measured under (a docking score's target), kept in the version's
        metrics so that ``latest`` finds it only for those conditions; a parent must have the same.

        Raises:
            ToolInputError: unknown property or kind, rows of another property, a parent of another property
                or kind.
            ToolFailed: too few rows to train on, or the parent cannot be loaded.
        """
        name = self._property_name(property)
        family = self.family(kind)
        for given in (rows, holdout):
            if given is not None and self._property_name(given.property) != name:
                raise ToolInputError(f"rows of {given.property} cannot train a {name} model")
        started = time.perf_counter()
        if holdout is not None:
            train_rows, test_rows = rows, holdout
        elif train_on_all:
            train_rows, test_rows = rows, rows.subset([])
        else:
            train_rows, test_rows = split_rows(rows, self.test_fraction)
        parent_predictor: Predictor | None = None
        if parent is not None:
            parent_predictor = self.get(parent)
            if parent_predictor.property != name or parent_predictor.name != kind:
                raise ToolInputError(
                    f"model {parent} is a {parent_predictor.name} model of {parent_predictor.property}; "
                    f"cannot fine-tune it into a {kind} model of {name}"
                )
            if options:
                raise ToolInputError(f"a fine-tuned model keeps its parent's settings: {', '.join(options)} not allowed")
            parent_conditions = self._conditions_of(parent)
            if parent_conditions != dict(conditions or {}):
                raise ToolInputError(
                    f"model {parent} learnt {name} under {parent_conditions or 'no conditions'}, not under"
                    f" {dict(conditions or {}) or 'no conditions'}"
                )
            predictor = parent_predictor.fine_tune(train_rows, **self._fan_out_options(parent_predictor.fine_tune))
        else:
            try:
                predictor = family.train(train_rows, seed=seed, **dict(options or {}), **self._fan_out_options(family.train))
            except TypeError as error:
                if "unexpected keyword" not in str(error):
                    raise
                raise ToolInputError(f"{kind} models do not take {', '.join(options or {})}: {error}") from error

        metrics: dict[str, Any] = {}
        if len(test_rows) >= MIN_TEST_ROWS:
            measured = evaluate(predictor, test_rows)
            metrics.update({k: measured[k] for k in ("rmse", "mae", "spearman", "coverage90")})
        else:
            metrics.update({"rmse": None, "mae": None, "spearman": None, "coverage90": None})
        training = getattr(predictor, "training_rows", None)
        metrics["n_train"] = len(training) if isinstance(training, TrainingRows) else len(train_rows)
        metrics["n_test"] = len(test_rows)
        if holdout is not None:
            metrics["split"] = "holdout rows"
        elif train_on_all:
            metrics["split"] = "none: trained on every row"
        else:
            metrics["split"] = f"inchikey hash, test fraction {self.test_fraction}"
        if parent_predictor is None:
            approved = True
        else:
            parent_rmse = evaluate(parent_predictor, test_rows)["rmse"] if len(test_rows) >= MIN_TEST_ROWS else None
            metrics["parent_rmse"] = parent_rmse
            if metrics["rmse"] is None or parent_rmse is None:
                approved = False
                metrics["approval_note"] = f"fewer than {MIN_TEST_ROWS} held-out rows: cannot compare with the parent"
            else:
                approved = metrics["rmse"] <= parent_rmse
        metrics["train_seconds"] = round(time.perf_counter() - started, 3)
        if conditions:
            metrics["conditions"] = dict(conditions)

        directory = self._save(predictor)
        self._loaded[predictor.version] = predictor
        record = ModelRecord(
            id=predictor.version,
            kind=kind,
            property=name,
            parent_id=parent,
            dataset_hash=rows.dataset_hash,
            metrics=json_safe(metrics),
            artifact_path=str(directory),
            approved=approved,
        )
        log.info(
            "model %s (%s, %s): held-out rmse %s, parent rmse %s, approved %s",
            record.id, kind, name, metrics["rmse"], metrics.get("parent_rmse"), approved,
        )
        return TrainedModel(predictor=predictor, record=record)

    def _fan_out_options(self, train: Callable[..., Any]) -> dict[str, Any]:
        """``executor`` and ``work_dir`` for a ``train`` or ``fine_tune`` that takes them, when this registry has an
        executor (nothing otherwise: the call is the one it always was)."""
        if self.executor is None or "executor" not in inspect.signature(train).parameters:
            return {}
        return {"executor": self.executor, "work_dir": self.models_dir}

    def _save(self, predictor: Predictor) -> Path:
        """Save under models_dir/<version>/ once (same version, same content); atomic via a rename."""
        target = self.models_dir / predictor.version
        if (target / "meta.json").exists():
            return target
        self.models_dir.mkdir(parents=True, exist_ok=True)
        staging = self.models_dir / f".{predictor.version}.{os.getpid()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        predictor.save(staging)
        try:
            os.replace(staging, target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not (target / "meta.json").exists():
                raise
        return target

    # -- the explicit store write ------------------------------------------------------------------

    def register(self, trained: TrainedModel) -> None:
        """Write the ModelVersion row of ``trained`` (nothing if a row with its id exists)."""
        from sqlalchemy.exc import IntegrityError

        from knowledge.models import ModelVersion

        record = trained.record

        def work(writer: Any) -> None:
            if writer.session.get(ModelVersion, record.id) is None:
                writer.add(record.to_row())

        try:
            self.store.write(work)
        except IntegrityError:  # another process registered the same version at the same moment
            with self.store.session() as session:
                if session.get(ModelVersion, record.id) is None:
                    raise
        self._loaded.setdefault(record.id, trained.predictor)

    def ensure(self, property: str) -> Predictor:
        """The newest approved version, or else one trained now, registered and returned: on the store's
        training set if it has at least ``min_store_rows`` molecules, else on the bundled dataset.

        Raises:
            ToolFailed: neither enough measurements nor a bundled dataset.
        """
        name = self._property_name(property)
        existing = self.latest(name)
        if existing is not None:
            return existing
        unit = self.store.properties.get(name).canonical_unit
        snapshot = self.store.training_set(name)
        if snapshot.row_count >= self.min_store_rows:
            rows = TrainingRows.from_snapshot_csv(snapshot.path, name, unit, snapshot.content_hash)
            log.info("training the first %s model on %d molecules from the store", name, len(rows))
        else:
            try:
                rows = TrainingRows.from_bundled(name)
            except ToolFailed:
                have = f"only {snapshot.row_count} molecules with" if snapshot.row_count else "no"
                raise ToolFailed(
                    f"{have} measurements of {name} in the store (need {self.min_store_rows}) and no bundled "
                    f"dataset; import some with `atomloop db import`"
                ) from None
            log.info("training the first %s model on the bundled dataset (%d molecules)", name, len(rows))
        trained = self.train(name, rows)
        self.register(trained)
        return trained.predictor

    # -- predicting --------------------------------------------------------------------------------

    def predict(
        self, predictor: Predictor, smiles: Sequence[str], *, executor: ComputeExecutor | None = None
    ) -> list[PredictedValue | PredictionFailure]:
        """``predictor.predict(smiles)``; for a pool of at least ``MIN_POOL_TO_FAN_OUT`` molecules, when
        ``executor`` (else this registry's) runs several jobs at once and the predictor ``PreparesInJobs``, each
        molecule's preparation (canonical structure and features, or 3D conformers) is made first by compute jobs
        of chunks of the pool. The predictions are then made here in one call, so they are those of the call
        without jobs, bit for bit (batched numerics need not be the same in other batches)."""
        from tools.compute.fanout import job_results, parallel_slots

        if len(smiles) < MIN_POOL_TO_FAN_OUT or not isinstance(predictor, PreparesInJobs):
            return predictor.predict(smiles)
        executor = executor if executor is not None else self.executor
        slots = parallel_slots(executor)
        if executor is None or slots < 2:
            return predictor.predict(smiles)
        pool = list(smiles)
        size = max(MIN_POOL_CHUNK, math.ceil(len(pool) / (2 * slots)))
        chunks = [pool[start : start + size] for start in range(0, len(pool), size)]
        results = job_results(executor, [predictor.preparation_job(chunk) for chunk in chunks],
                              group=f"prepare {len(pool)} molecules for {predictor.property} ({predictor.version})")
        taken = sum(predictor.take_prepared(chunk, result) for chunk, result in zip(chunks, results, strict=True)
                    if result is not None)
        log.info("prepared %d of %d molecules in %d jobs on %s", taken, len(pool), len(chunks), executor.name)
        return predictor.predict(pool)

    # -- helpers -----------------------------------------------------------------------------------

    def _property_name(self, property: str) -> str:
        from knowledge.errors import UnknownProperty

        try:
            return self.store.properties.get(property).name
        except UnknownProperty as error:
            raise ToolInputError(str(error)) from error

    def family(self, kind: str) -> PredictorFamily:
        """The registered family called ``kind`` (raises ToolInputError for an unknown one)."""
        try:
            return self._families[kind]
        except KeyError:
            raise ToolInputError(f"unknown predictor kind {kind!r}; kinds: {', '.join(sorted(self._families))}") from None
