"""Closed-loop campaigns: predict, choose, experiment, record, fine-tune, repeat, with no human in the loop.

A campaign is a YAML file validated by ``CampaignSpec``. The first batch comes before any model, by the spec's
initial design (``agent.initial_design``: by default one molecule per k-means cluster of the pool, or at random).
Each later iteration:

    snapshot of the campaign's own measurements -> fine-tune (a new model version per property, parent = the
    previous one) -> predict with uncertainty over the pool -> acquisition (EI, UCB, Thompson, greedy or random,
    times the probability that the constraints hold) -> a batch: with EI or UCB and a model that has a joint
    posterior (the default ``gp``), by the kriging believer (each pick conditions the posterior before the next);
    otherwise the best scores at most ``diversity`` Tanimoto-similar to each other (for Thompson sampling over an
    ensemble, one member drawn per slot of the batch) -> the lab, through the scheduler -> record every
    measurement with the prediction that motivated it -> metrics -> report.

The models learn only from what the campaign measured, never from values already in the store or in the pool
file. Every iteration is recorded (``Iteration`` rows) and the lab's state is saved after each batch, so a campaign
killed at any point resumes with ``atomloop campaign resume ID`` without repeating an experiment: an unfinished
iteration re-runs with the same seed, the same batch and the same op ids.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from knowledge.errors import StoreInputError
from tools.acquisition import infeasibility_penalty
from tools.schemas import Constraint
from tools.errors import ToolInputError

if TYPE_CHECKING:
    from agent.app import App
    from knowledge.store import KnowledgeStore
    from lab.access import AssayReport, LabAccess, MeasurementSource
    from lab.recipes import Assay
    from tools.predict.base import JointPosteriorPredictor

log = logging.getLogger(__name__)


class InvalidCampaign(StoreInputError, ToolInputError):
    """A campaign that cannot start as given: its file, its pool (missing, unreadable, no valid molecule) or its
    model kind. Found before the campaign writes anything. On the command line an input error (exit 2); for the
    ``start_campaign`` tool a call the planner can repair."""

ASSAY_FOR: dict[str, Assay] = {"pIC50": "potency", "logS": "solubility"}
Z90 = 1.6448536269514722
BELIEVER_SHORTLIST_PER_PICK = 32  # the kriging believer's first shortlist: 32 candidates a batch slot (see there)


class Frozen(BaseModel):
    """A part of a campaign file: immutable, no unknown keys, and every number finite (YAML's ``.nan`` and
    ``.inf`` are refused: a NaN target or threshold compares false with everything and an infinite one with
    nothing, so the campaign would run to its budget and say nothing about why)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ObjectiveSpec(Frozen):
    property: str
    direction: Literal["maximize", "minimize"] = "maximize"
    target: float | None = Field(default=None, description="A value that counts as a hit")


class ConstraintSpec(Constraint):
    """A constraint of a campaign file: ``tools.schemas.Constraint`` with every number finite (see ``Frozen``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class PoolSpec(Frozen):
    file: str | None = Field(default=None, description="CSV with a smiles column, or one SMILES per line")
    store: bool = Field(default=False, description="Every molecule in the store")

    @model_validator(mode="after")
    def _one_source(self) -> PoolSpec:
        if (self.file is not None) != self.store:
            return self
        raise ValueError("the pool is either a file or the store (exactly one)")


class BudgetSpec(Frozen):
    experiments: int = Field(default=64, ge=1, description="Molecules sent to the lab, initial batch included")
    iterations: int = Field(default=6, ge=0, description="Model-guided iterations after the initial batch")
    lab_hours: float | None = Field(default=None, gt=0, description="Stop when the simulated lab time exceeds this")


class InitialSpec(Frozen):
    """The molecules measured before the first model (``agent.initial_design``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, populate_by_name=True)

    size: int = Field(
        default=16, ge=1, validation_alias=AliasChoices("size", "random"),
        description="How many molecules (``random: N`` is read as ``size: N, design: random``)",
    )
    design: Literal["random", "clusters"] = Field(
        default="clusters", description="random: drawn uniformly from the pool; clusters: one per k-means cluster"
    )

    @model_validator(mode="before")
    @classmethod
    def _random_count_means_a_random_design(cls, data: Any) -> Any:
        """``random: N`` (how initial batches were written before ``design``) still asks for N random molecules."""
        if isinstance(data, dict) and "random" in data and "design" not in data:
            return {**data, "design": "random"}
        return data

    def identity(self) -> dict[str, Any]:
        """What enters the campaign id: a random design as it was written before ``design`` existed, so such a
        spec keeps its id, its op ids and so its simulated readings."""
        return {"random": self.size} if self.design == "random" else {"size": self.size, "design": self.design}


class AcquisitionSpec(Frozen):
    kind: Literal["ei", "ucb", "thompson", "greedy", "random"] = "ei"
    kappa: float = Field(default=1.0, ge=0, description="UCB exploration weight")
    diversity: float = Field(
        default=0.7, gt=0, le=1, description="Max Tanimoto similarity within a batch filled by the diversity filter"
    )
    batch_method: Literal["kriging_believer", "diversity_filter"] = Field(
        default="kriging_believer",
        description=(
            "How EI and UCB fill a batch when the model has a joint posterior (gp): kriging_believer picks one"
            " molecule at a time and conditions the posterior on it as if measured at its predicted mean, so its"
            " neighbours lose their uncertainty bonus (no similarity threshold); diversity_filter takes the best"
            " scores at most `diversity` Tanimoto-similar to each other. Other models, Thompson sampling, greedy"
            " and random always use the diversity filter."
        ),
    )

    uncertainty: Literal["measurement", "latent"] = Field(
        default="measurement",
        description=(
            "The sigma EI and UCB score with when the model keeps its noise apart from its uncertainty (gp):"
            " measurement, that of a new reading, noise included (the default), or latent, that of the noise-free"
            " property (as BoTorch's analytic EI does; EI's incumbent is already the best fitted mean). On the"
            " simulated lab the two found as many of the top 2% (benchmarks/RESULTS.md). Other models report one"
            " sigma, used as it is."
        ),
    )

    incumbent_rank: int | None = Field(
        default=8,
        ge=1,
        description=(
            "What EI counts as improvement over: the k-th best of the model's means over the pool (measured"
            " molecules at their fitted means, untried ones at their predicted means; with constraints, among those"
            " likely to meet them), so a molecule gains by joining the pool's best k, not only by beating its single"
            " best. null: the best fitted mean measured so far (classic EI, the behaviour before this field). On"
            " BACE, ranks 8 to 31 found more of the top 2% than classic EI, 8 the most (benchmarks/RESULTS.md);"
            " other acquisitions have no incumbent."
        ),
    )

    def identity(self, conditions_batches: bool, separates_noise: bool) -> dict[str, Any]:
        """What enters the campaign id: ``batch_method`` only where it changes the campaign (``conditions_batches``:
        EI or UCB with a model that has a joint posterior), and ``uncertainty`` only where it changes the campaign
        (``separates_noise``: EI or UCB with a model whose noise is apart) and is not ``measurement``, the behaviour
        before it existed, and ``incumbent_rank`` only for EI and when it is set (null is the behaviour before it
        existed), so campaigns either cannot change keep the ids, op ids and simulated readings they had."""
        data = self.model_dump(mode="json")
        if not conditions_batches:
            data.pop("batch_method")
        if not separates_noise or self.uncertainty == "measurement":
            data.pop("uncertainty")
        if self.kind != "ei" or self.incumbent_rank is None:
            data.pop("incumbent_rank")
        return data


class ModelSpec(Frozen):
    """The predictor family fine-tuned for every objective and constraint. The default, ``gp`` (a Gaussian process
    on Morgan and atom-pair counts), found more of the true top 2% than the ``fingerprint`` forests on the simulated
    lab, with and without the demo's solubility constraint (benchmarks/RESULTS.md); a file that names no model
    therefore means a different campaign than it did when the forests were the default, and gets a different id."""

    kind: str = "gp"
    seed: int = Field(default=0, ge=0)


class StageSpec(Frozen):
    """A cheaper evaluation the untried pool passes before the lab (a fidelity stage): each candidate is evaluated
    (``predicted``: the property's model, fine-tuned by the campaign when the campaign measures the property, else
    the newest approved one), then the best ``keep_fraction`` is kept, or those at or beyond ``threshold``."""

    evaluation: Literal["predicted"] = "predicted"
    property: str
    direction: Literal["maximize", "minimize"] = "maximize"
    keep_fraction: float | None = Field(default=None, gt=0, le=1)
    threshold: float | None = Field(default=None, description="Keep values >= this (maximize) or <= this (minimize)")

    @model_validator(mode="after")
    def _one_rule(self) -> StageSpec:
        if (self.keep_fraction is None) == (self.threshold is None):
            raise ValueError("a stage keeps either a keep_fraction of the pool or those past a threshold (exactly one)")
        return self


def _stages_identity(stages: list[StageSpec]) -> dict[str, Any]:
    """What the stages add to the campaign id: none, or one predicted keep-fraction stage, as the ``prefilter``
    they were written as before stages existed (so those specs keep their ids and simulated readings)."""
    if not stages:
        return {"prefilter": None}
    [first, *rest] = stages
    if not rest and first.evaluation == "predicted" and first.keep_fraction is not None:
        return {"prefilter": {"property": first.property, "direction": first.direction, "keep_fraction": first.keep_fraction}}
    return {"stages": [stage.model_dump(mode="json") for stage in stages]}


def pass_stage(stage: StageSpec, candidates: list[str], values: dict[str, float]) -> list[str]:
    """The candidates that pass ``stage`` given each one's evaluated value (a candidate without one does not pass),
    in the order they came."""
    sign = 1.0 if stage.direction == "maximize" else -1.0
    evaluated = [s for s in candidates if s in values and math.isfinite(values[s])]
    if stage.threshold is not None:
        kept = {s for s in evaluated if sign * values[s] >= sign * stage.threshold}
    else:
        assert stage.keep_fraction is not None
        ranked = sorted(evaluated, key=lambda s: (-sign * values[s], s))
        kept = set(ranked[: max(1, int(len(candidates) * stage.keep_fraction))])
    return [s for s in candidates if s in kept]


class CampaignSpec(Frozen):
    name: str = Field(min_length=1, max_length=200)
    objectives: list[ObjectiveSpec] = Field(min_length=1)
    constraints: list[ConstraintSpec] = Field(default_factory=list)
    pool: PoolSpec
    budget: BudgetSpec = BudgetSpec()
    batch_size: int = Field(default=8, ge=1, le=96)
    initial: InitialSpec = InitialSpec()
    acquisition: AcquisitionSpec = AcquisitionSpec()
    models: ModelSpec = ModelSpec()
    stages: list[StageSpec] = Field(default_factory=list, description="Cheaper evaluations the pool passes, in order, before the lab")
    seed: int = Field(default=0, ge=0, description="Seeds the choices and, added to the lab's seed, the simulated world")

    @model_validator(mode="before")
    @classmethod
    def _prefilter_is_a_stage(cls, data: Any) -> Any:
        """``prefilter: {property, direction, keep_fraction}`` (before stages existed) is one predicted stage."""
        if isinstance(data, dict) and "prefilter" in data:
            data = dict(data)
            prefilter = data.pop("prefilter")
            if prefilter is not None:
                if not isinstance(prefilter, dict):
                    raise ValueError("prefilter: give property, direction and keep_fraction (or use stages)")
                data["stages"] = [{"keep_fraction": 0.5, **prefilter}, *data.get("stages", [])]
        return data

    @model_validator(mode="after")
    def _measurable(self) -> CampaignSpec:
        for prop in self.properties():
            if prop not in ASSAY_FOR:
                raise ValueError(f"the lab cannot measure {prop!r}; campaigns can use {', '.join(ASSAY_FOR)}")
        if len(self.objectives) > 1:
            raise ValueError("one objective per campaign for now; express the others as constraints")
        return self

    def properties(self) -> list[str]:
        return list(dict.fromkeys([o.property for o in self.objectives] + [c.property for c in self.constraints]))

    def assays(self) -> list[Assay]:
        return sorted({ASSAY_FOR[p] for p in self.properties()})

    @classmethod
    def from_yaml(cls, path: Path) -> CampaignSpec:
        """The spec in the campaign file ``path``: ``UnreadableFile`` when it cannot be read as text,
        ``InvalidCampaign`` when it is not a valid campaign."""
        from knowledge.textfiles import read_text

        text = read_text(path, what="campaign file")  # UnreadableFile: missing, a folder, binary, not UTF-8/16
        return cls.from_yaml_text(text, str(path))

    @classmethod
    def from_yaml_text(cls, text: str, source: str) -> CampaignSpec:
        """The spec in the YAML ``text`` (from ``source``, named in messages), or ``InvalidCampaign``."""
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InvalidCampaign(f"cannot read campaign file {source}: {error}") from None
        if not isinstance(data, dict):
            raise InvalidCampaign(
                f"invalid campaign file {source}: not a YAML mapping of campaign settings (name, objectives, pool, ...)"
            )
        return cls.from_data(data, f"campaign file {source}")

    @classmethod
    def from_data(cls, data: dict[str, Any], source: str) -> CampaignSpec:
        """The spec in ``data`` (from ``source``, named in messages: "campaign file x.yaml"), or ``InvalidCampaign``."""
        try:
            return cls.model_validate(data)
        except ValueError as error:
            raise InvalidCampaign(f"invalid {source}: {_problems(error)}") from None


def _problems(error: ValueError) -> str:
    """A validation error as one line per problem, each with where it is in the file ("objectives.0.target:
    Input should be a finite number"), without pydantic's links."""
    from pydantic import ValidationError

    from tools.base import validation_problems

    return validation_problems(error) if isinstance(error, ValidationError) else str(error)


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


def read_pool(store: KnowledgeStore, pool: PoolSpec) -> list[str]:
    """Canonical SMILES of a campaign's candidates, one per InChIKey, in file (or store) order; invalid SMILES
    are skipped with a warning.

    Raises:
        InvalidCampaign: the pool file cannot be read (missing, a folder, binary, not UTF-8/16 text), or the pool
            holds no valid molecule (a campaign over nothing would end "done" having measured nothing).
    """
    from knowledge.chem import canonicalize
    from knowledge.errors import InvalidStructure

    texts: list[str] = []
    if pool.file:
        from knowledge.textfiles import UnreadableFile, read_smiles_file

        try:
            texts = read_smiles_file(Path(pool.file), what="pool file")
        except UnreadableFile as error:
            raise InvalidCampaign(f"the campaign's pool: {error}") from error
    else:
        from sqlmodel import col, select

        from knowledge.models import Molecule

        with store.session() as session:
            texts = list(session.exec(select(Molecule.smiles).order_by(col(Molecule.id))))
    seen: dict[str, str] = {}
    for text in texts:
        try:
            structure = canonicalize(text)
        except InvalidStructure:
            log.warning("pool: skipping an invalid SMILES %r", text)
            continue
        seen.setdefault(structure.inchikey, structure.smiles)
    if not seen:
        where = f"the pool file {pool.file}" if pool.file else "the store (the pool is every molecule in it)"
        found = f"none of its {len(texts)} SMILES is a valid molecule" if texts else "it holds no molecules"
        raise InvalidCampaign(f"nothing to measure in {where}: {found}")
    return list(seen.values())


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
        import hashlib
        import json

        from sqlmodel import col, select

        from knowledge.models import Campaign
        from knowledge.textfiles import read_bytes

        pool = cls.check(app, spec)
        spec_json = spec.model_dump(mode="json")
        identity = dict(
            spec_json,
            initial=spec.initial.identity(),
            acquisition=spec.acquisition.identity(
                cls._conditions_batches(app, spec), cls._family_separates_noise(app, spec)
            ),
        )
        del identity["stages"]
        identity.update(_stages_identity(spec.stages))
        if spec.pool.file:  # the pool by content, not by where it lies
            data = read_bytes(spec.pool.file, what="pool file")
            identity["pool"] = {"file_sha256": hashlib.sha256(data).hexdigest()}
        prefix = "cmp-" + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]

        def work(writer: Any) -> str:
            # The id is the spec's hash (its pool file by content) and a run number: the same spec and seed in a
            # fresh store get the same id on any machine,
            # hence the same op ids and the same simulated readings (noise is drawn per op id), so a campaign is
            # reproducible from its file; the run number keeps repeated runs of one spec apart in one store.
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
        return read_pool(app.store, spec.pool)

    @property
    def _sign(self) -> float:
        """+1 when the objective is maximised, -1 when minimised: larger ``sign * value`` is better."""
        return 1.0 if self.spec.objectives[0].direction == "maximize" else -1.0

    def batches_by_believer(self) -> bool:
        """Whether this campaign fills its batches by the kriging believer (else by the diversity filter)."""
        return self._conditions_batches(self.app, self.spec)

    def scores_latent_sigma(self) -> bool:
        """Whether EI or UCB score with the model's noise-free sigma (``acquisition.uncertainty: latent`` with a
        model that keeps its noise apart)."""
        return self.spec.acquisition.uncertainty == "latent" and self._family_separates_noise(self.app, self.spec)

    @staticmethod
    def _conditions_batches(app: App, spec: CampaignSpec) -> bool:
        """Whether batches are filled by conditioning the objective model's joint posterior (kriging believer)."""
        if spec.acquisition.kind not in ("ei", "ucb") or spec.acquisition.batch_method != "kriging_believer":
            return False
        family = CampaignRunner._family(app, spec)
        return callable(getattr(family, "joint_posterior", None))

    @staticmethod
    def _family_separates_noise(app: App, spec: CampaignSpec) -> bool:
        """Whether EI or UCB scores with a model whose noise is apart from its uncertainty (``uncertainty`` applies)."""
        return spec.acquisition.kind in ("ei", "ucb") and hasattr(CampaignRunner._family(app, spec), "noise_variance")

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
        from knowledge.errors import NotFoundError
        from knowledge.models import Campaign

        with app.store.session() as session:
            row = session.get(Campaign, campaign_id)
        if row is None:
            raise NotFoundError(f"no campaign {campaign_id!r}: see `atomloop campaign list`")
        stored = dict(row.spec)
        acquisition = dict(stored.get("acquisition") or {})
        if "batch_method" not in acquisition:  # started before batch_method existed: it resumes as it ran
            acquisition["batch_method"] = "diversity_filter"
        if "uncertainty" not in acquisition:  # started before uncertainty existed: it resumes as it ran
            acquisition["uncertainty"] = "measurement"
        if "incumbent_rank" not in acquisition:  # started before incumbent_rank existed: classic EI, as it ran
            acquisition["incumbent_rank"] = None
        stored["acquisition"] = acquisition
        try:
            spec = CampaignSpec.model_validate(stored)
        except ValueError as error:  # stored before a rule it breaks (a NaN target, say): it cannot continue
            raise InvalidCampaign(f"campaign {campaign_id}'s stored spec is not valid now: {_problems(error)}") from None
        return cls(app, spec, campaign_id, on_progress)

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
            candidates = pass_stage(stage, candidates, self._stage_values(stage, candidates, estimates))
            self.on_progress(f"iteration {index}: stage {stage.evaluation} {stage.property} kept {len(candidates)} of {before}")
            if not candidates:
                return [], {}, versions
        if members:
            batch = self._thompson_batch(index, candidates, estimates, members, size)
        else:
            noise = self._latent_noise_variance(models[objective])
            scores = self._acquisition(index, candidates, estimates, measured, fitted_best, noise_variance=noise)
            if self.batches_by_believer():
                incumbent = self._incumbent(measured, fitted_best, estimates)
                batch = self._believer_batch(
                    candidates, scores, estimates, incumbent, models[objective], size, latent=noise is not None
                )
            else:
                batch = self._diverse(candidates, scores, size)
        return batch, {s: estimates[s] for s in batch}, versions

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

    def _stage_values(self, stage: StageSpec, candidates: list[str], estimates: dict[str, dict[str, tuple[float, float]]]) -> dict[str, float]:
        """Each candidate's value for ``stage``: the campaign's own estimate when it models the property, else the
        prediction of the property's newest approved model (added to ``estimates``)."""
        if stage.property not in self.spec.properties():
            from tools.predict.access import model_for_prediction

            predictor, _ = model_for_prediction(self.app.predictors, stage.property)
            missing = [s for s in candidates if stage.property not in estimates[s]]
            for smiles, item in zip(missing, predictor.predict(missing) if missing else [], strict=True):
                if hasattr(item, "value"):
                    estimates[smiles][stage.property] = (item.value, item.uncertainty)
        return {s: estimates[s][stage.property][0] for s in candidates if stage.property in estimates[s]}

    def _latent_noise_variance(self, model: Any) -> float | None:
        """The objective model's noise variance when EI or UCB score with its latent sigma (``uncertainty:
        latent`` and a model that keeps its noise apart), else None (score with the sigma ``predict`` reports)."""
        acquisition = self.spec.acquisition
        if acquisition.kind not in ("ei", "ucb") or acquisition.uncertainty != "latent":
            return None
        noise_variance = getattr(model, "noise_variance", None)
        return float(noise_variance) if noise_variance is not None else None

    def _acquisition(
        self,
        index: int,
        candidates: list[str],
        estimates: dict[str, dict[str, tuple[float, float]]],
        measured: list[tuple[str, Any]],
        fitted_best: dict[str, float] | None = None,
        *,
        noise_variance: float | None = None,
    ) -> dict[str, float]:
        """Score each candidate by the campaign's acquisition function, weighted by the chance it is feasible.

        Expected improvement is over the plug-in incumbent for noisy observations: the best of the model's means
        at the feasible molecules measured so far (``fitted_best``), not the best single reading, which is the
        luckiest draw of the assay's noise (or a censored value at the top of its range) and would make EI chase
        uncertainty instead of potency. Without fitted means it falls back to the best reading.

        With ``noise_variance`` (``_latent_noise_variance``), the objective's sigma is that of the noise-free
        property, ``sqrt(sigma² - noise_variance)``: the improvement EI and UCB weigh is in the property, not in
        the next reading's noise.

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
            if noise_variance is not None:
                sigma = math.sqrt(max(sigma * sigma - noise_variance, 0.0))
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
        """What expected improvement is over, on the objective's own scale (see ``_acquisition``).

        With ``acquisition.incumbent_rank`` k and ``pool_estimates``: the k-th best of the model's means over the
        molecules of the pool that count, the measured feasible ones at their fitted means (``fitted_best``) and
        the untried ones at their predicted means where the constraints hold with probability at least one half
        (the last of them when fewer count). A campaign after many good molecules (the true top 2%, say) gains
        from each molecule that would join the best few, not only from one that beats the best; EI over the best
        asks for the latter and spends batches on long shots at the top of the model's uncertainty. Without either,
        or with nothing that counts: the best fitted mean so far, else the best feasible reading."""
        sign = self._sign
        rank = self.spec.acquisition.incumbent_rank
        if rank is not None and pool_estimates:
            objective = self.spec.objectives[0].property
            values = [sign * value for value in (fitted_best or {}).values()]
            values += [
                sign * own[objective][0] for own in pool_estimates.values()
                if objective in own and self._feasibility(own) >= 0.5
            ]
            if values:
                values.sort(reverse=True)
                return sign * values[min(rank, len(values)) - 1]
        if fitted_best:
            return sign * max(sign * value for value in fitted_best.values())
        return self._best_feasible(measured)

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
        *,
        latent: bool = False,
    ) -> list[str]:
        """A batch by the kriging believer (Ginsbourger et al., 2010): the best-scoring candidate, then the model's
        joint posterior conditioned on it as if it had been measured at its predicted mean (the mean stays, the
        uncertainty of its neighbours shrinks), the scores recomputed, the best of the rest, and so on. A
        molecule close to one already in the batch keeps a high score only if its own mean earns it.

        The joint posterior is taken over a shortlist of the best ``scores`` (marginal). Conditioning only lowers a
        score (EI and UCB grow with sigma), so a pick that still scores at least the best score left off the
        shortlist is the pick over the whole pool; when one does not, the shortlist grows and the batch is
        chosen again. The incumbent of EI stays that of the real measurements. With ``latent`` the scores use the
        posterior's noise-free sigma (as ``scores`` must then have); each pick is still believed as a noisy reading.
        """
        import numpy as np

        ranked = sorted((s for s in candidates if s in scores), key=lambda s: (-scores[s], s))
        if not ranked or size < 1:
            return []
        width = min(len(ranked), BELIEVER_SHORTLIST_PER_PICK * size)
        while True:
            shortlist = ranked[:width]
            feasible = [self._feasibility(estimates[s]) for s in shortlist]
            posterior = model.joint_posterior(shortlist)
            left_off = scores[ranked[width]] if width < len(ranked) else -math.inf
            chosen: list[int] = []
            exact = True
            while len(chosen) < min(size, len(shortlist)):
                sigma = posterior.sigma(latent=latent)
                current = np.array([
                    -math.inf if i in chosen
                    else self._score(float(posterior.mean[i]), float(sigma[i]), incumbent, feasible[i])
                    for i in range(len(shortlist))
                ])
                pick = int(np.argmax(current))  # the first of equals: the shortlist is in (-score, SMILES) order
                exact = exact and current[pick] >= left_off
                chosen.append(pick)
                posterior = posterior.believe(pick)
            if exact or width == len(ranked):
                break
            log.debug("kriging believer: a pick scored below the shortlist's edge; widening it from %d", width)
            width = min(len(ranked), width * 4)
        return [shortlist[i] for i in chosen]

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
        """Thompson sampling over an ensemble: each slot of the batch goes to the best candidate under one member
        (a joint draw from the model's posterior, drawn anew for every slot), skipping candidates too similar to
        those already chosen. Constraints weigh in as they do for UCB and greedy."""
        import numpy as np

        sign = self._sign
        rng = self._rng(index)
        eligible = [s for s in candidates if s in members]
        if not eligible:
            return []
        draws = sign * np.array([members[s] for s in eligible], dtype=float)
        penalty = np.array([infeasibility_penalty(self._feasibility(estimates[s])) for s in eligible])
        chosen: list[str] = []
        while len(chosen) < min(size, len(eligible)):
            column = draws[:, rng.integers(draws.shape[1])] - penalty
            scores = {s: float(v) for s, v in zip(eligible, column, strict=True) if s not in chosen}
            picked = self._diverse(list(scores), scores, 1, already=chosen)
            if not picked:
                break
            chosen.extend(picked)
        return chosen

    def _diverse(
        self, candidates: list[str], scores: dict[str, float], size: int, already: list[str] | None = None
    ) -> list[str]:
        """Up to ``size`` candidates by descending score, each at most ``acquisition.diversity`` Tanimoto-similar
        to those chosen before it and to ``already`` (molecules already in the batch)."""
        from rdkit import Chem, DataStructs

        from agent.initial_design import similarity_fingerprint_generator

        generator = similarity_fingerprint_generator()
        ranked = sorted((s for s in candidates if s in scores), key=lambda s: (-scores[s], s))
        chosen: list[str] = []
        fingerprints: list[Any] = [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in already or ()]
        for smiles in ranked:
            fingerprint = generator.GetFingerprint(Chem.MolFromSmiles(smiles))
            if fingerprints and max(DataStructs.BulkTanimotoSimilarity(fingerprint, fingerprints)) > self.spec.acquisition.diversity:
                continue
            chosen.append(smiles)
            fingerprints.append(fingerprint)
            if len(chosen) == size:
                break
        return chosen

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
        """After the fact, from the simulated world's ground truth (never shown to the models): how many of the
        true top-2% of the pool (by the objective, among molecules whose true values meet the constraints; ties at
        the cut included, ``simulators.world.best_share``) the campaign measured, and how many a random choice of
        the same size would find on average; and, when the objective has a target, the same for every molecule
        whose true value meets it and the constraints (``target_found``, ``target_total``,
        ``target_random_expected``): a broader, less noisy measure."""
        from knowledge.chem import canonicalize
        from simulators.world import SimWorld, WorldConfig, best_share

        pool = self.pool()  # first: a pool file that is gone fails before the world is built
        world = SimWorld(WorldConfig(seed=self.app.settings.lab.seed + self.spec.seed))
        objective = self.spec.objectives[0]
        sign = self._sign
        truth = []
        for smiles in pool:
            values = {prop: world.true_value(smiles, prop) for prop in self.spec.properties()}
            if all(c.holds(values[c.property]) for c in self.spec.constraints):
                truth.append((sign * values[objective.property], canonicalize(smiles).inchikey))
        top = best_share(truth, 0.02)
        measured = {key for key, _ in self._measured()}
        found = len(top & measured)
        pool_size = max(1, len(self.pool()))
        result: dict[str, Any] = {
            "top2pct_found": found,
            "top2pct_total": len(top),
            "random_expected": len(measured) * len(top) / pool_size,
            "experiments": len(measured),
            "pool": len(self.pool()),
        }
        if objective.target is not None:
            meeting = {key for value, key in truth if value >= sign * objective.target}
            result.update(
                target_found=len(meeting & measured),
                target_total=len(meeting),
                target_random_expected=len(measured) * len(meeting) / pool_size,
            )
        return result
