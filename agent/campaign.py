"""Closed-loop campaigns: predict, choose, experiment, record, fine-tune, repeat, with no human in the loop.

A campaign is a YAML file validated by ``agent.campaign_spec.CampaignSpec``. The first batch comes before any model,
by the spec's initial design (``agent.initial_design``: by default one molecule per k-means cluster of the pool, or
at random). Each later iteration:

    snapshot of the campaign's own measurements -> fine-tune (a new model version per property, parent = the
    previous one) -> predict with uncertainty over the pool -> acquisition (EI, UCB, Thompson, greedy or random,
    times the probability that the constraints hold) -> a batch: with EI or UCB and a model that has a joint
    posterior (the default ``gp``), by the kriging believer (each pick conditions the posterior before the next);
    otherwise the best scores at most ``diversity`` Tanimoto-similar to each other (for Thompson sampling over an
    ensemble, one member drawn per slot of the batch) -> the lab, through the scheduler -> record every
    measurement with the prediction that motivated it -> metrics -> report.

The acquisition functions and batch rules are pure functions of ``tools.acquisition``; this module gathers what
they take from the store and the models. The models learn only from what the campaign measured, never from values
already in the store or in the pool file. Every iteration is recorded (``Iteration`` rows) and the lab's state is
saved after each batch, so a campaign killed at any point resumes with ``atomloop campaign resume ID`` without
repeating an experiment: an unfinished iteration re-runs with the same seed, the same batch and the same op ids.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from agent.campaign_spec import DOCKING_PROPERTY, CampaignSpec, InvalidCampaign, StageSpec, campaign_id_prefix, pass_stage, read_pool
from tools.errors import ToolInputError

if TYPE_CHECKING:
    from agent.app import App
    from lab.access import AssayReport, LabAccess, MeasurementSource
    from tools.predict.base import JointPosteriorPredictor

log = logging.getLogger(__name__)

Z90 = 1.6448536269514722
MIN_SURROGATE_SCORES = 8  # docking scores of a target before a surrogate model of them judges a stage


class IterationSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    measured: int
    failed: int
    best_feasible: float | None
    hits: int
    model_versions: dict[str, str]
    coverage90: float | None
    rmse: float | None
    lab_hours: float


class CampaignStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    status: str
    iterations: list[IterationSummary]
    experiments: int
    best: list[dict[str, Any]]
    report_path: str | None
    world_eval: dict[str, Any] | None = None



class CampaignRunner:
    """Runs one campaign against the app's store, predictors and (simulated) lab.

    A campaign is run by one process at a time: ``run`` holds the campaign's lease (``agent.leases``) for as long
    as it runs, so a second ``run`` of the same campaign, here or in another process, gets ``AlreadyRunning``
    before it touches the lab. A campaign that raises while running is marked "failed" (``failure`` holds the
    error); one whose process died stays "running" in the store and is shown as "interrupted".
    """

    def __init__(self, app: App, spec: CampaignSpec, campaign_id: str, on_progress: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.spec = spec
        self.id = campaign_id
        self.on_progress = on_progress or (lambda message: None)
        self.store = app.store
        self._pool: list[str] | None = None
        self.failure: Exception | None = None

    # -- set-up ----------------------------------------------------------------------------------------

    @classmethod
    def create(cls, app: App, spec: CampaignSpec, on_progress: Callable[[str], None] | None = None) -> CampaignRunner:
        """A new campaign of ``spec`` in the store (status "running"), ready to ``run``.

        Everything the campaign needs is checked first (``check``), so a campaign that cannot run writes nothing.
        """
        from sqlmodel import col, select

        from knowledge.models import Campaign

        pool = cls.check(app, spec)
        spec_json = spec.model_dump(mode="json")
        prefix = campaign_id_prefix(spec)

        def work(writer: Any) -> str:
            # The id is the spec's hash and a run number (``campaign_id_prefix``): the same spec in a fresh store
            # gets the same id, hence the same op ids and simulated readings; the run number keeps repeated runs of
            # one spec apart in one store.
            runs = writer.session.exec(select(Campaign.id).where(col(Campaign.id).startswith(prefix + "-"))).all()
            campaign_id = f"{prefix}-{len(runs) + 1}"
            writer.add(Campaign(id=campaign_id, name=spec.name, spec=spec_json, status="running"))
            return campaign_id

        runner = cls(app, spec, app.store.write(work), on_progress)
        runner._pool = pool
        return runner

    @classmethod
    def check(cls, app: App, spec: CampaignSpec) -> list[str]:
        """What a campaign needs before it writes anything, checked: a model kind the registry knows and a pool
        with at least one valid molecule (returned, as ``read_pool`` reads it). The spec's numbers (finite
        targets and thresholds, budgets, seeds) were checked when it was read.

        Raises:
            InvalidCampaign: what is wrong, and where.
        """
        app.check_lab()  # lab.errors.SetupError: a real lab that is not configured (never a silent simulated one)
        try:
            app.predictors.family(spec.models.kind)
        except ToolInputError as error:
            raise InvalidCampaign(f"models.kind: {error}") from None
        cls._check_docking_stages(app, spec)
        return read_pool(app.store, spec.pool)

    @staticmethod
    def _check_docking_stages(app: App, spec: CampaignSpec) -> None:
        """Every docking stage's target known and, for a docked stage, Vina installed (``DockingEngineMissing``:
        setup) and the target's box usable."""
        from tools.docking.targets import UnknownTarget, resolve_target

        for position, stage in enumerate(spec.stages):
            if stage.target is None:
                continue
            try:
                target = resolve_target(app.store, stage.target)
            except UnknownTarget as error:
                raise InvalidCampaign(f"stages.{position}.target: {error}") from None
            if stage.evaluation == "docked":
                from tools.docking.vina_engine import VinaEngine

                VinaEngine().version()
                if target.box is None:
                    raise InvalidCampaign(f"stages.{position}.target: {target.name} has no box to dock into")

    @property
    def _sign(self) -> float:
        """+1 when the objective is maximised, -1 when minimised: larger ``sign * value`` is better."""
        return 1.0 if self.spec.objectives[0].direction == "maximize" else -1.0

    def batches_by_believer(self) -> bool:
        """Whether this campaign fills its batches by the kriging believer (else by the diversity filter)."""
        return self._conditions_batches(self.app, self.spec)

    @staticmethod
    def _conditions_batches(app: App, spec: CampaignSpec) -> bool:
        """Whether batches are filled by conditioning the objective model's joint posterior (kriging believer)."""
        if spec.acquisition.kind not in ("ei", "ucb") or spec.acquisition.batch_method != "kriging_believer":
            return False
        family = CampaignRunner._family(app, spec)
        return callable(getattr(family, "joint_posterior", None))

    @staticmethod
    def _family(app: App, spec: CampaignSpec) -> Any:
        """The class (or family object) of the campaign's models; None for an unknown one (``check`` refuses it
        before the campaign starts)."""
        try:
            return app.predictors.family(spec.models.kind)
        except ToolInputError:
            return None

    @classmethod
    def load(cls, app: App, campaign_id: str, on_progress: Callable[[str], None] | None = None) -> CampaignRunner:
        """The stored campaign ``campaign_id`` with the spec it ran with (``CampaignSpec.from_stored``: one stored
        before spec versions is version 1) and the id it was given.

        Raises:
            NotFoundError: no such campaign.
            InvalidCampaign: its stored spec cannot be read now (``CampaignSpec.from_stored``).
        """
        from knowledge.errors import NotFoundError
        from knowledge.models import Campaign

        with app.store.session() as session:
            row = session.get(Campaign, campaign_id)
        if row is None:
            raise NotFoundError(f"no campaign {campaign_id!r}: see `atomloop campaign list`")
        return cls(app, CampaignSpec.from_stored(dict(row.spec), campaign_id), campaign_id, on_progress)

    def pool(self) -> list[str]:
        """Canonical SMILES of the candidates, one per InChIKey, in file order (``read_pool``; read once)."""
        if self._pool is None:
            self._pool = read_pool(self.store, self.spec.pool)
        return self._pool

    @property
    def lab(self) -> LabAccess:
        """The campaign's own lab (its state apart from runs' and other campaigns'), as the composition root makes it."""
        return self.app.lab_for(self.id, seed_offset=self.spec.seed)

    # -- the loop --------------------------------------------------------------------------------------

    @property
    def locks_dir(self) -> Path:
        return self.app.settings.home_dir / "locks"

    def run(self) -> CampaignStatus:
        """Run (or continue) the campaign to its budget, holding its lease; the finished campaign's status.

        Raises:
            AlreadyRunning: another process (or another runner here) is running this campaign; nothing was done.
            InvalidCampaign: the campaign cannot run (its pool file is gone, its model kind unknown); nothing was
                written and its stored status is as it was.
            Any error of the loop itself (the lab, training, the store): the campaign is marked "failed" first.
        """
        from agent import leases

        with leases.hold(self.locks_dir, "campaign", self.id):
            if self._pool is None:  # loaded to resume: checked as ``create`` checks a new one, before any write
                self._pool = self.check(self.app, self.spec)
            self._set_status("running")
            try:
                self._run_iterations()
                return self.finish()
            except Exception as error:
                self.failure = error
                log.error("campaign %s failed while running: %s: %s", self.id, type(error).__name__, error)
                try:
                    self._set_status("failed")
                except Exception:  # the store itself may be what failed: the original error is the one to see
                    log.exception("campaign %s: could not mark it failed", self.id)
                raise

    def _set_status(self, status: str) -> None:
        from knowledge.models import Campaign

        def work(writer: Any) -> None:
            row = writer.session.get(Campaign, self.id)
            if row is not None and row.status != status:
                row.status = status
                writer.session.add(row)

        self.store.write(work)

    def _run_iterations(self) -> None:
        import asyncio

        lab = self.lab
        done = self._finished_iterations()
        total = self.spec.budget.iterations + 1
        for index in range(total):
            if index in done:
                continue
            measured = self._measured()
            used = len({key for key, _ in measured})
            remaining = self.spec.budget.experiments - used
            if remaining <= 0:
                self.on_progress(f"budget of {self.spec.budget.experiments} experiments used")
                break
            hours = self._lab_hours()
            if self.spec.budget.lab_hours is not None and hours >= self.spec.budget.lab_hours:
                self.on_progress(f"lab-time budget of {self.spec.budget.lab_hours} h used")
                break
            size = min(self.spec.initial.size if index == 0 else self.spec.batch_size, remaining)
            predictions: dict[str, dict[str, tuple[float, float]]]
            versions: dict[str, str]
            if index == 0:
                batch, predictions, versions = self._initial_batch(size, measured), {}, {}
            else:
                batch, predictions, versions = self._model_batch(index, size, measured)
            if not batch:
                self.on_progress("no candidates left in the pool")
                break
            start = f" ({self.spec.initial.design} start)" if index == 0 else ""
            self.on_progress(f"iteration {index}: measuring {len(batch)} molecules{start}")
            prediction_ids = self._record_predictions(index, predictions, versions)
            report = asyncio.run(lab.run_assays(batch, self.spec.assays(), f"{self.id}:{index}"))
            self._record_measurements(index, report, prediction_ids, lab.source)
            self._finish_iteration(index, report, versions, predictions)

    def _finished_iterations(self) -> set[int]:
        from sqlmodel import select

        from knowledge.models import Iteration

        with self.store.session() as session:
            rows = session.exec(select(Iteration).where(Iteration.campaign_id == self.id, Iteration.status == "done"))
            return {row.index for row in rows}

    def _measured(self) -> list[tuple[str, Any]]:
        """(InChIKey, measurement) of this campaign, QC passed or flagged (censored values are still data)."""
        records = []
        for prop in self.spec.properties():
            for m in self.store.measurements(prop, campaign=self.id):
                records.append((m.inchikey, m))
        return records

    def _lab_hours(self) -> float:
        from sqlmodel import select

        from knowledge.models import Iteration

        with self.store.session() as session:
            return sum(row.metrics.get("lab_hours", 0.0) for row in session.exec(select(Iteration).where(Iteration.campaign_id == self.id)))

    def _rng(self, index: int) -> Any:
        import numpy as np

        return np.random.default_rng([self.spec.seed, index, 7919])

    def _tried(self, measured: list[tuple[str, Any]]) -> set[str]:
        """InChIKeys already measured, or already sent to the lab and failed (a failed synthesis is not retried)."""
        from sqlmodel import select

        from knowledge.chem import canonicalize
        from knowledge.models import Iteration

        tried = {key for key, _ in measured}
        with self.store.session() as session:
            for row in session.exec(select(Iteration).where(Iteration.campaign_id == self.id)):
                tried.update(canonicalize(smiles).inchikey for smiles in row.metrics.get("batch", []))
        return tried

    def _untried(self, measured: list[tuple[str, Any]]) -> list[str]:
        from knowledge.chem import canonicalize

        done = self._tried(measured)
        return [s for s in self.pool() if canonicalize(s).inchikey not in done]

    def _random_batch(self, size: int, measured: list[tuple[str, Any]]) -> list[str]:
        candidates = self._untried(measured)
        order = self._rng(0).permutation(len(candidates))
        return [candidates[i] for i in order[:size]]

    def _initial_batch(self, size: int, measured: list[tuple[str, Any]]) -> list[str]:
        """The batch before any model, by ``initial.design``."""
        if self.spec.initial.design == "random":
            return self._random_batch(size, measured)
        from agent.initial_design import cluster_representatives

        return cluster_representatives(self._untried(measured), size, seed=int(self._rng(0).integers(2**31 - 1)))

    def _model_batch(self, index: int, size: int, measured: list[tuple[str, Any]]) -> tuple[list[str], dict[str, dict[str, tuple[float, float]]], dict[str, str]]:
        candidates = self._untried(measured)
        if not candidates:
            return [], {}, {}
        versions: dict[str, str] = {}
        models: dict[str, Any] = {}
        estimates: dict[str, dict[str, tuple[float, float]]] = {s: {} for s in candidates}
        objective = self.spec.objectives[0].property
        fitted_best: dict[str, float] = {}  # InChIKey of a measured feasible molecule -> the model's mean there
        members: dict[str, tuple[float, ...]] = {}  # SMILES -> each ensemble member's objective (Thompson sampling)
        from tools.errors import ToolFailed
        from tools.predict.base import EnsemblePredictor

        for prop in self.spec.properties():
            try:
                predictor = self._fine_tune(index, prop)
            except ToolFailed as error:  # e.g. too few measurements yet for this model family: keep going at random
                log.warning("iteration %d: no %s model (%s); choosing this batch at random", index, prop, error)
                self.on_progress(f"iteration {index}: no {prop} model yet ({error}); choosing at random")
                return self._random_batch(size, measured), {}, {}
            versions[prop] = predictor.version
            models[prop] = predictor
            thompson = self.spec.acquisition.kind == "thompson"
            if prop == objective and thompson and isinstance(predictor, EnsemblePredictor):
                results: list[Any] = predictor.predict_with_members(candidates)
            else:
                results = predictor.predict(candidates)
            for smiles, item in zip(candidates, results, strict=True):
                if isinstance(item, tuple):
                    item, members[smiles] = item
                if hasattr(item, "value"):
                    estimates[smiles][prop] = (item.value, item.uncertainty)
            if prop == objective:
                feasible = self._feasible_measured(measured)
                for item in predictor.predict(list(feasible.values())):
                    if hasattr(item, "value"):
                        fitted_best[item.inchikey] = item.value
        for stage in self.spec.stages:
            before = len(candidates)
            values = self._stage_values(stage, candidates, estimates, versions)
            if values is None:
                continue  # nothing to judge by yet (a surrogate before enough docking scores): every candidate passes
            candidates = pass_stage(stage, candidates, values)
            self.on_progress(f"iteration {index}: stage {stage.evaluation} {stage.property} kept {len(candidates)} of {before}")
            if not candidates:
                return [], {}, versions
        if members:
            batch = self._thompson_batch(index, candidates, estimates, members, size)
        else:
            scores = self._acquisition(index, candidates, estimates, measured, fitted_best)
            if self.batches_by_believer():
                incumbent = self._incumbent(measured, fitted_best, estimates)
                batch = self._believer_batch(candidates, scores, estimates, incumbent, models[objective], size)
            else:
                batch = self._diverse(candidates, scores, size)
        # the predictions that chose the batch, of the models that made them (a docked score is a measurement)
        return batch, {s: {p: v for p, v in estimates[s].items() if p in versions} for s in batch}, versions

    def _fine_tune(self, index: int, prop: str) -> Any:
        """A model version trained on this campaign's measurements of ``prop`` (censored readings included), parent
        = the previous one. The training data is a content-hashed ``DatasetSnapshot`` of those measurements (one row
        per molecule, replicates averaged), whose hash the model version carries."""
        from pathlib import Path

        from sqlmodel import col, select

        from knowledge.models import Iteration
        from knowledge.snapshots import DatasetSpec
        from tools.predict.base import TrainingRows

        unit = self.store.properties.get(prop).canonical_unit
        snapshot = self.store.training_set(
            prop, DatasetSpec(sources=("simulated", "measured"), qc_statuses=("passed", "flagged"), campaign_id=self.id)
        )
        rows = TrainingRows.from_snapshot_csv(Path(snapshot.path), prop, unit, snapshot.content_hash)
        parent = None
        with self.store.session() as session:
            previous = session.exec(select(Iteration).where(Iteration.campaign_id == self.id, Iteration.index < index, Iteration.status == "done").order_by(col(Iteration.index).desc())).first()
        if previous is not None:
            parent = previous.metrics.get("model_versions", {}).get(prop)
        registry = self.app.predictors
        # Every measurement trains the model (none is set aside to approve it): the campaign checks each version
        # prospectively, on the batch it chose (prediction RMSE and coverage in the iteration's metrics).
        trained = registry.train(
            prop, rows, kind=self.spec.models.kind, seed=self.spec.models.seed, parent=parent, train_on_all=True
        )
        registry.register(trained)
        return trained.predictor

    def _stage_values(
        self,
        stage: StageSpec,
        candidates: list[str],
        estimates: dict[str, dict[str, tuple[float, float]]],
        versions: dict[str, str] | None = None,
    ) -> dict[str, float] | None:
        """Each candidate's value for ``stage`` (added to ``estimates``; a model's version to ``versions`` when it
        is in the store): the campaign's own estimate when it models the property, a docking score (docked
        stages), a surrogate's prediction (predicted docking scores), else the prediction of the property's newest
        approved model. None when there is nothing to judge by yet: every candidate passes."""
        if stage.evaluation == "docked":
            return self._docked_values(stage, candidates, estimates)
        if stage.property == DOCKING_PROPERTY:
            return self._surrogate_values(stage, candidates, estimates, versions if versions is not None else {})
        if stage.property not in self.spec.properties():
            from tools.predict.access import model_for_prediction

            predictor, _ = model_for_prediction(self.app.predictors, stage.property)
            missing = [s for s in candidates if stage.property not in estimates[s]]
            for smiles, item in zip(missing, predictor.predict(missing) if missing else [], strict=True):
                if hasattr(item, "value"):
                    estimates[smiles][stage.property] = (item.value, item.uncertainty)
        return {s: estimates[s][stage.property][0] for s in candidates if stage.property in estimates[s]}

    def _docked_values(self, stage: StageSpec, candidates: list[str], estimates: dict[str, dict[str, tuple[float, float]]]) -> dict[str, float]:
        """Dock the ``dock_top`` candidates with the best predicted objective to the stage's target (compute jobs
        on the app's executor; cached by content, so a resumed iteration docks nothing again), record their scores
        as ``docking_score`` measurements, and return them. A molecule that fails to dock is logged and does not
        pass."""
        from agent.docking import record_docking
        from tools.docking.engine import DockingSettings
        from tools.docking.service import LigandInput, dock_ligands
        from tools.docking.targets import resolve_target
        from tools.docking.vina_engine import VinaEngine

        assert stage.target is not None and stage.dock_top is not None and stage.exhaustiveness is not None
        chosen = self._best_predicted(candidates, estimates)[: stage.dock_top]
        target = resolve_target(self.store, stage.target)
        self.on_progress(f"docking {len(chosen)} of {len(candidates)} candidates to {target.name}")
        report = dock_ligands(
            target,
            [LigandInput(label=smiles, smiles=smiles) for smiles in chosen],
            VinaEngine(),
            self.app.settings.home_dir,
            settings=DockingSettings(exhaustiveness=stage.exhaustiveness),
            executor=self.app.executor,
        )
        report, added = record_docking(self.store, report, description=f"docked by campaign {self.id}")
        values: dict[str, float] = {}
        for smiles, result in zip(chosen, report.results, strict=True):
            if result.score is None:
                log.warning("campaign %s: %s was not docked to %s: %s", self.id, smiles, report.target, result.error)
                continue
            values[smiles] = result.score
            estimates[smiles][DOCKING_PROPERTY] = (result.score, 0.0)
        cached = sum(result.cached for result in report.results)
        self.on_progress(
            f"docked {len(values)} of {len(chosen)} to {report.target} ({cached} from the cache,"
            f" {len(chosen) - len(values)} failed; {added} new docking scores in the store)"
        )
        return values

    def _surrogate_values(
        self,
        stage: StageSpec,
        candidates: list[str],
        estimates: dict[str, dict[str, tuple[float, float]]],
        versions: dict[str, str],
    ) -> dict[str, float] | None:
        """A surrogate's predicted docking scores: a model of the campaign's kind trained (and registered, with the
        target as its condition) on every docking score the store holds for the stage's target; None with fewer
        than ``MIN_SURROGATE_SCORES`` of them (every candidate passes, so a docked stage after it can gather them)."""
        from pathlib import Path

        from knowledge.snapshots import DatasetSpec
        from tools.docking.targets import resolve_target
        from tools.predict.base import TrainingRows

        assert stage.target is not None
        target = resolve_target(self.store, stage.target).name
        conditions = {"target": target}
        snapshot = self.store.training_set(DOCKING_PROPERTY, DatasetSpec(sources=("computed",), conditions=conditions))
        if snapshot.row_count < MIN_SURROGATE_SCORES:
            self.on_progress(
                f"surrogate docking: {snapshot.row_count} docking scores for {target} in the store (need"
                f" {MIN_SURROGATE_SCORES}); every candidate passes"
            )
            return None
        unit = self.store.properties.get(DOCKING_PROPERTY).canonical_unit
        rows = TrainingRows.from_snapshot_csv(Path(snapshot.path), DOCKING_PROPERTY, unit, snapshot.content_hash)
        registry = self.app.predictors
        trained = registry.train(
            DOCKING_PROPERTY, rows, kind=self.spec.models.kind, seed=self.spec.models.seed, train_on_all=True, conditions=conditions
        )
        registry.register(trained)
        versions[DOCKING_PROPERTY] = trained.predictor.version
        for smiles, item in zip(candidates, trained.predictor.predict(candidates), strict=True):
            if hasattr(item, "value"):
                estimates[smiles][DOCKING_PROPERTY] = (item.value, item.uncertainty)
        return {s: estimates[s][DOCKING_PROPERTY][0] for s in candidates if DOCKING_PROPERTY in estimates[s]}

    def _best_predicted(self, candidates: list[str], estimates: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
        """``candidates`` best first by the objective's predicted mean (those without a prediction last, in order)."""
        objective = self.spec.objectives[0].property
        order = {smiles: position for position, smiles in enumerate(candidates)}
        return sorted(
            candidates,
            key=lambda s: (0, -self._sign * estimates[s][objective][0], order[s]) if objective in estimates[s] else (1, 0.0, order[s]),
        )

    def _acquisition(
        self,
        index: int,
        candidates: list[str],
        estimates: dict[str, dict[str, tuple[float, float]]],
        measured: list[tuple[str, Any]],
        fitted_best: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """Score each candidate by the campaign's acquisition function, weighted by the chance it is feasible.

        Expected improvement is over the plug-in incumbent for noisy observations: the best of the model's means
        at the feasible molecules measured so far (``fitted_best``), not the best single reading, which is the
        luckiest draw of the assay's noise (or a censored value at the top of its range) and would make EI chase
        uncertainty instead of potency. Without fitted means it falls back to the best reading.

        With ``acquisition.incumbent_rank``, the incumbent is the k-th best of the model's means over the pool
        instead (``_incumbent``): ``estimates`` holds every untried molecule's predictions, not only those of the
        ``candidates`` left after a prefilter.
        """
        objective = self.spec.objectives[0]
        sign = self._sign
        rng = self._rng(index)
        incumbent = self._incumbent(measured, fitted_best, estimates)
        kind = self.spec.acquisition.kind
        scores: dict[str, float] = {}
        for smiles in candidates:
            own = estimates[smiles]
            if objective.property not in own:
                continue
            mu, sigma = own[objective.property]
            if kind == "thompson":  # marginal draws: only for models without ensemble members (_thompson_batch)
                mu, sigma = sign * float(rng.normal(sign * mu, max(sigma, 1e-6))), 0.0
            elif kind == "random":
                scores[smiles] = float(rng.random())
                continue
            scores[smiles] = self._score(mu, sigma, incumbent, self._feasibility(own))
        return scores

    def _incumbent(
        self,
        measured: list[tuple[str, Any]],
        fitted_best: dict[str, float] | None,
        pool_estimates: dict[str, dict[str, tuple[float, float]]] | None = None,
    ) -> float | None:
        """What expected improvement is over, on the objective's own scale (``tools.acquisition.incumbent``).

        With ``acquisition.incumbent_rank`` k and ``pool_estimates``: the k-th best of the model's means over the
        molecules of the pool that count, the measured feasible ones at their fitted means (``fitted_best``) and
        the untried ones at their predicted means where the constraints hold with probability at least one half.
        EI over the single best asks for a molecule that beats it and spends batches on long shots at the top of
        the model's uncertainty. Without either, or with nothing that counts: the best fitted mean so far, else
        the best feasible reading."""
        from tools.acquisition import incumbent

        sign = self._sign
        objective = self.spec.objectives[0].property
        pool_means = None
        if pool_estimates:
            pool_means = [
                sign * own[objective][0] for own in pool_estimates.values()
                if objective in own and self._feasibility(own) >= 0.5
            ]
        best_reading = self._best_feasible(measured)
        value = incumbent(
            [sign * value for value in (fitted_best or {}).values()], pool_means, self.spec.acquisition.incumbent_rank,
            sign * best_reading if best_reading is not None else None,
        )
        return sign * value if value is not None else None

    def _score(self, mu: float, sigma: float, incumbent: float | None, feasible: float) -> float:
        """The acquisition value of one candidate with predicted ``mu`` and ``sigma`` for the objective
        (``tools.acquisition.acquisition_score``); larger is better whatever the objective's direction."""
        from tools.acquisition import acquisition_score

        sign = self._sign
        return acquisition_score(
            self.spec.acquisition.kind, sign * mu, sigma, incumbent=sign * incumbent if incumbent is not None else None,
            feasible=feasible, kappa=self.spec.acquisition.kappa,
        )

    def _believer_batch(
        self,
        candidates: list[str],
        scores: dict[str, float],
        estimates: dict[str, dict[str, tuple[float, float]]],
        incumbent: float | None,
        model: JointPosteriorPredictor,
        size: int,
    ) -> list[str]:
        """A batch by the kriging believer over ``model``'s joint posterior
        (``tools.acquisition.kriging_believer_batch``), each candidate rescored by the campaign's acquisition with
        its chance of meeting the constraints. The incumbent of EI stays that of the real measurements."""
        from tools.acquisition import kriging_believer_batch

        feasibility: dict[str, float] = {}

        def score(smiles: str, mean: float, sigma: float) -> float:
            if smiles not in feasibility:
                feasibility[smiles] = self._feasibility(estimates[smiles])
            return self._score(mean, sigma, incumbent, feasibility[smiles])

        return kriging_believer_batch(candidates, scores, model.joint_posterior, score, size)

    def _feasibility(self, own: dict[str, tuple[float, float]]) -> float:
        """The probability that every constraint holds, from the predicted (mean, sigma) of each (0 if one is
        not predicted)."""
        from tools.acquisition import probability_feasible

        return probability_feasible(own, self.spec.constraints)

    def _thompson_batch(
        self,
        index: int,
        candidates: list[str],
        estimates: dict[str, dict[str, tuple[float, float]]],
        members: dict[str, tuple[float, ...]],
        size: int,
    ) -> list[str]:
        """Thompson sampling over an ensemble (``tools.acquisition.thompson_batch``): each slot of the batch goes to
        the best candidate under one member, drawn anew for every slot with the iteration's seed, skipping
        candidates too similar to those already chosen. Constraints weigh in as they do for UCB and greedy."""
        from tools.acquisition import thompson_batch

        sign = self._sign
        eligible = [s for s in candidates if s in members]
        return thompson_batch(
            {s: tuple(sign * value for value in members[s]) for s in eligible},
            {s: self._feasibility(estimates[s]) for s in eligible},
            size, self._rng(index), self.spec.acquisition.diversity, _similarity_fingerprint(),
        )

    def _diverse(self, candidates: list[str], scores: dict[str, float], size: int) -> list[str]:
        """Up to ``size`` candidates by descending score, each at most ``acquisition.diversity`` Tanimoto-similar
        to those chosen before it (``tools.acquisition.diverse_batch``)."""
        from tools.acquisition import diverse_batch

        return diverse_batch(candidates, scores, size, self.spec.acquisition.diversity, _similarity_fingerprint())

    def _feasible_readings(self, measured: list[tuple[str, Any]]) -> dict[str, float]:
        """InChIKey -> objective reading of each measured molecule whose readings meet every constraint."""
        objective = self.spec.objectives[0]
        by_molecule: dict[str, dict[str, float]] = {}
        for key, m in measured:
            by_molecule.setdefault(key, {})[m.property] = m.value
        return {
            key: props[objective.property]
            for key, props in by_molecule.items()
            if objective.property in props
            and all(c.property in props and c.holds(props[c.property]) for c in self.spec.constraints)
        }

    def _feasible_measured(self, measured: list[tuple[str, Any]]) -> dict[str, str]:
        """InChIKey -> SMILES of the measured molecules that meet every constraint."""
        feasible = self._feasible_readings(measured)
        return {key: m.smiles for key, m in measured if key in feasible}

    def _best_feasible(self, measured: list[tuple[str, Any]]) -> float | None:
        values = list(self._feasible_readings(measured).values())
        if not values:
            return None
        return max(values) if self.spec.objectives[0].direction == "maximize" else min(values)

    # -- recording -------------------------------------------------------------------------------------

    def _record_predictions(self, index: int, predictions: dict[str, dict[str, tuple[float, float]]], versions: dict[str, str]) -> dict[tuple[str, str], int]:
        """Store the predictions that chose this batch, once per (iteration, molecule, property)."""
        from sqlmodel import select

        from knowledge.chem import canonicalize
        from knowledge.models import Prediction

        ids: dict[tuple[str, str], int] = {}

        def work(writer: Any) -> None:
            for smiles, props in predictions.items():
                molecule = writer.upsert_molecule(smiles)
                for prop, (value, sigma) in props.items():
                    existing = writer.session.exec(
                        select(Prediction).where(Prediction.molecule_id == molecule.id, Prediction.model_version_id == versions[prop], Prediction.property == prop)
                    ).first()
                    row = existing or writer.add(
                        Prediction(molecule_id=molecule.id, model_version_id=versions[prop], property=prop, value=value, uncertainty=sigma, unit=self.store.properties.get(prop).canonical_unit)
                    )
                    ids[(canonicalize(smiles).inchikey, prop)] = row.id

        if predictions:
            self.store.write(work)
        return ids

    def _record_measurements(self, index: int, report: AssayReport, prediction_ids: dict[tuple[str, str], int], source: MeasurementSource) -> None:
        preparer = self.store.preparer()
        prepared = []
        for m in report.measurements:
            if m.property not in self.spec.properties() and m.property != "purity":
                continue
            structure = preparer.structure(m.smiles)
            new = m.to_new_measurement(
                source=source,
                provenance={"campaign_id": self.id, "iteration": index},
                prediction_id=prediction_ids.get((structure.inchikey, m.property)),
                campaign_id=self.id,
            )
            prepared.append(preparer.prepare(new))
        self.store.write(lambda writer: writer.add_measurements(prepared))

    def _finish_iteration(self, index: int, report: Any, versions: dict[str, str], predictions: dict[str, dict[str, tuple[float, float]]]) -> None:
        from sqlmodel import select

        from knowledge.models import Iteration

        measured = self._measured()
        objective = self.spec.objectives[0]
        errors, covered = [], []
        for m in report.measurements:
            own = predictions.get(m.smiles, {}).get(m.property)
            if own is not None and m.status == "ok":
                errors.append(m.value - own[0])
                covered.append(abs(m.value - own[0]) <= Z90 * own[1])
        best = self._best_feasible(measured)
        hits = 0
        if objective.target is not None:
            hits = sum(1 for key, m in measured if m.property == objective.property and (m.value >= objective.target if objective.direction == "maximize" else m.value <= objective.target))
        metrics = {
            "measured": len({m.smiles for m in report.measurements}),
            "failed": len(report.failures),
            "best_feasible": best,
            "hits": hits,
            "model_versions": versions,
            "rmse": math.sqrt(sum(e * e for e in errors) / len(errors)) if errors else None,
            "coverage90": sum(covered) / len(covered) if covered else None,
            "lab_hours": report.makespan_s / 3600.0,
            "batch": sorted({m.smiles for m in report.measurements} | {f.smiles for f in report.failures}),
        }

        def work(writer: Any) -> None:
            row = writer.session.exec(select(Iteration).where(Iteration.campaign_id == self.id, Iteration.index == index)).first()
            if row is None:
                writer.add(Iteration(campaign_id=self.id, index=index, status="done", model_version_id=next(iter(versions.values()), None), metrics=metrics))
            else:
                row.status, row.metrics = "done", metrics
                writer.session.add(row)

        self.store.write(work)
        self.on_progress(
            f"iteration {index}: best feasible {objective.property} so far "
            + ("—" if best is None else f"{best:.2f}")
            + (f", prediction RMSE {metrics['rmse']:.2f}, 90% coverage {metrics['coverage90']:.2f}" if errors else "")
        )

    def finish(self) -> CampaignStatus:
        """Write the report and mark the campaign done; its status."""
        from agent.campaign_report import write_campaign_report

        status = self.status()
        report = write_campaign_report(self.app.settings.reports_dir, self, status)
        self._set_status("done")
        return status.model_copy(update={"status": "done", "report_path": str(report)})

    # -- status ------------------------------------------------------------------------------------------

    def status(self) -> CampaignStatus:
        """Where the campaign stands; a stored "running" that no live process holds is shown as "interrupted"."""
        from sqlmodel import col, select

        from agent.leases import shown_status
        from knowledge.models import Campaign, Iteration

        with self.store.session() as session:
            row = session.get(Campaign, self.id)
            iterations = list(session.exec(select(Iteration).where(Iteration.campaign_id == self.id).order_by(col(Iteration.index))))
        summaries = [
            IterationSummary(
                index=it.index,
                measured=it.metrics.get("measured", 0),
                failed=it.metrics.get("failed", 0),
                best_feasible=it.metrics.get("best_feasible"),
                hits=it.metrics.get("hits", 0),
                model_versions=it.metrics.get("model_versions", {}),
                coverage90=it.metrics.get("coverage90"),
                rmse=it.metrics.get("rmse"),
                lab_hours=it.metrics.get("lab_hours", 0.0),
            )
            for it in iterations
        ]
        measured = self._measured()
        table: dict[str, dict[str, Any]] = {}
        for _, m in measured:
            entry = table.setdefault(m.smiles, {"smiles": m.smiles})
            entry[m.property] = round(m.value, 3)
        objective = self.spec.objectives[0]
        sign = -1.0 if objective.direction == "maximize" else 1.0

        def feasible(entry: dict[str, Any]) -> bool:
            return all(c.property in entry and c.holds(entry[c.property]) for c in self.spec.constraints)

        best = sorted((e for e in table.values() if objective.property in e), key=lambda e: (not feasible(e), sign * e[objective.property]))[:10]
        for entry in best:
            entry["feasible"] = feasible(entry)
        return CampaignStatus(
            id=self.id,
            name=self.spec.name,
            status=shown_status(self.locks_dir, "campaign", self.id, row.status) if row else "unknown",
            iterations=summaries,
            experiments=len({m.smiles for _, m in measured}),
            best=best,
            report_path=str(self.app.settings.reports_dir / f"{self.id}.md"),
        )

    def world_eval(self) -> dict[str, Any]:
        """After the fact, from the simulated world's ground truth (never shown to the models): what the campaign
        found of the pool's best (``agent.campaign_world.world_eval``).

        Raises:
            InvalidCampaign: the pool file is gone (checked before the world is built).
        """
        from agent.campaign_world import world_eval

        pool = self.pool()
        measured = {key for key, _ in self._measured()}
        return world_eval(self.spec, pool, measured, self.app.settings.lab.seed + self.spec.seed)


def _similarity_fingerprint() -> Callable[[str], Any]:
    """The fingerprint (of a SMILES) a campaign's batches are kept diverse by: the one its clustered initial design
    compares molecules by (``agent.initial_design.similarity_fingerprint_generator``)."""
    from rdkit import Chem

    from agent.initial_design import similarity_fingerprint_generator

    generator = similarity_fingerprint_generator()
    return lambda smiles: generator.GetFingerprint(Chem.MolFromSmiles(smiles))
