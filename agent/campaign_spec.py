"""What a campaign is: its file's schema (``CampaignSpec``), the versions of that schema, its pool, and its id.

A spec names its ``spec_version``. A campaign file or request that names none is read as the current version (a
file is what its user asks for now). A spec stored with a campaign before versions existed is version 1: it loads
with the defaults it ran with (the diversity filter for EI and UCB, classic EI over the best mean), so a campaign
resumes as it ran; version 2 is the current schema. The campaign id is a hash of the canonical spec (every field
written out, the pool file by the SHA-256 of its content) and a run number. A stored campaign keeps the id it was
given: ``CampaignRunner.load`` reads it, nothing recomputes it, so a version-1 campaign keeps the id (and with it
the op ids and simulated readings) its version gave it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from knowledge.errors import StoreInputError
from tools.errors import ToolInputError
from tools.schemas import Constraint

if TYPE_CHECKING:
    from knowledge.store import KnowledgeStore
    from lab.recipes import Assay

log = logging.getLogger(__name__)

SPEC_VERSION = 2  # the current campaign schema; 1: specs stored before spec_version existed
ASSAY_FOR: dict[str, Assay] = {"pIC50": "potency", "logS": "solubility"}


class InvalidCampaign(StoreInputError, ToolInputError):
    """A campaign that cannot start as given: its file, its pool (missing, unreadable, no valid molecule) or its
    model kind. Found before the campaign writes anything. On the command line an input error (exit 2); for the
    ``start_campaign`` tool a call the planner can repair."""


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
        """``random: N`` (how initial batches were written before ``design``) asks for N random molecules."""
        if isinstance(data, dict) and "random" in data and "design" not in data:
            return {**data, "design": "random"}
        return data


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
    incumbent_rank: int | None = Field(
        default=8,
        ge=1,
        description=(
            "What EI counts as improvement over: the k-th best of the model's means over the pool (measured"
            " molecules at their fitted means, untried ones at their predicted means; with constraints, among those"
            " likely to meet them), so a molecule gains by joining the pool's best k, not only by beating its single"
            " best. null: the best fitted mean measured so far (classic EI). On the simulated lab the default found"
            " more of the top 2% than classic EI (benchmarks/RESULTS.md); other acquisitions have no incumbent."
        ),
    )


class ModelSpec(Frozen):
    """The predictor family fine-tuned for every objective and constraint. The default, ``gp`` (a Gaussian process
    on Morgan and atom-pair counts), found more of the true top 2% than the ``fingerprint`` forests on the simulated
    lab, with and without the demo's solubility constraint (benchmarks/RESULTS.md)."""

    kind: str = "gp"
    seed: int = Field(default=0, ge=0)


DOCKING_PROPERTY = "docking_score"
DEFAULT_DOCK_TOP = 32  # candidates a docking stage docks per iteration when the spec does not say
DEFAULT_STAGE_EXHAUSTIVENESS = 8  # Vina's own default
DOCKING_ONLY = ("dock_top", "exhaustiveness")  # fields of a docked stage alone


class StageSpec(Frozen):
    """A cheaper evaluation the untried pool passes before the lab (a fidelity stage), then the best
    ``keep_fraction`` of the candidates is kept, or those at or beyond ``threshold``. Two kinds:

    * ``predicted``: the property's model: fine-tuned by the campaign when the campaign measures the property,
      else the newest approved one. For ``docking_score`` (with its ``target``), a surrogate of docking: a model of
      the campaign's kind trained on every docking score the store holds for that target, the docking stages' own
      included, predicts the rest of the pool (with too few scores yet, every candidate passes).
    * ``docked``: the ``dock_top`` candidates with the best predicted objective are docked to ``target`` (a bundled
      or stored docking target) with Vina; each score is recorded as a ``docking_score`` measurement (a molecule
      docked before with the same settings is a cache hit), a candidate that was not docked does not pass, and a
      ``keep_fraction`` is of the docked candidates.

    A docked stage (and a ``docking_score`` stage) is minimised unless it says otherwise: lower scores bind better.
    """

    evaluation: Literal["predicted", "docked"] = "predicted"
    property: str
    direction: Literal["maximize", "minimize"] = "maximize"
    keep_fraction: float | None = Field(default=None, gt=0, le=1)
    threshold: float | None = Field(default=None, description="Keep values >= this (maximize) or <= this (minimize)")
    target: str | None = Field(default=None, description="The docking target (docked stages and docking_score)")
    dock_top: int | None = Field(default=None, ge=1, le=5000, description="docked: how many candidates to dock")
    exhaustiveness: int | None = Field(default=None, ge=1, le=64, description="docked: Vina's search effort")

    @model_validator(mode="before")
    @classmethod
    def _docking_defaults(cls, data: Any) -> Any:
        """A docked stage scores ``docking_score`` of its best ``DEFAULT_DOCK_TOP`` candidates at Vina's default
        exhaustiveness; docking scores are minimised."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("evaluation") == "docked":
            data.setdefault("property", DOCKING_PROPERTY)
            data.setdefault("dock_top", DEFAULT_DOCK_TOP)
            data.setdefault("exhaustiveness", DEFAULT_STAGE_EXHAUSTIVENESS)
        if data.get("property") == DOCKING_PROPERTY:
            data.setdefault("direction", "minimize")
        return data

    @model_validator(mode="after")
    def _one_rule(self) -> StageSpec:
        if (self.keep_fraction is None) == (self.threshold is None):
            raise ValueError("a stage keeps either a keep_fraction of the pool or those past a threshold (exactly one)")
        if self.evaluation == "docked":
            if self.property != DOCKING_PROPERTY:
                raise ValueError(f"a docked stage scores {DOCKING_PROPERTY}, not {self.property!r}")
            if not self.target:
                raise ValueError("a docked stage needs a target: a docking target's name, e.g. 4IVT")
        else:
            given = [name for name in DOCKING_ONLY if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{', '.join(given)}: only a docked stage docks (evaluation: docked)")
            if self.property == DOCKING_PROPERTY and not self.target:
                raise ValueError(f"a predicted {DOCKING_PROPERTY} stage needs the target whose scores its model learns")
            if self.target is not None and self.property != DOCKING_PROPERTY:
                raise ValueError(f"target: only docking stages have one, not a predicted {self.property} stage")
        return self

    def identity(self) -> dict[str, Any]:
        """The stage as it enters the campaign id: the docking fields only where given, so a stage that does not
        dock hashes as it did before docking stages existed."""
        dumped = self.model_dump(mode="json")
        for name in ("target", *DOCKING_ONLY):
            if dumped[name] is None:
                del dumped[name]
        return dumped


def pass_stage(stage: StageSpec, candidates: list[str], values: dict[str, float]) -> list[str]:
    """The candidates that pass ``stage`` given each one's evaluated value (a candidate without one does not pass),
    in the order they came. A keep_fraction is of the candidates, or for a docked stage of those it docked."""
    sign = 1.0 if stage.direction == "maximize" else -1.0
    evaluated = [s for s in candidates if s in values and math.isfinite(values[s])]
    if stage.threshold is not None:
        kept = {s for s in evaluated if sign * values[s] >= sign * stage.threshold}
    else:
        assert stage.keep_fraction is not None
        ranked = sorted(evaluated, key=lambda s: (-sign * values[s], s))
        judged = len(evaluated) if stage.evaluation == "docked" else len(candidates)
        kept = set(ranked[: max(1, int(judged * stage.keep_fraction))])
    return [s for s in candidates if s in kept]


class CampaignSpec(Frozen):
    spec_version: int = Field(
        default=SPEC_VERSION, ge=1, le=SPEC_VERSION,
        description="The schema this spec is written in: how the fields it leaves out default (see the module)",
    )
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
        """The spec in ``data`` (from ``source``, named in messages: "campaign file x.yaml"), or ``InvalidCampaign``.
        Without a ``spec_version``, the current version."""
        return cls._validated(data, SPEC_VERSION, f"invalid {source}")

    @classmethod
    def from_stored(cls, data: dict[str, Any], campaign_id: str) -> CampaignSpec:
        """The spec stored with campaign ``campaign_id``, as it ran: without a ``spec_version``, version 1.

        Raises:
            InvalidCampaign: the stored spec breaks a rule made since (a NaN target, say) or asks for an option
                since removed; such a campaign cannot continue.
        """
        return cls._validated(data, 1, f"campaign {campaign_id}'s stored spec is not valid now")

    @classmethod
    def _validated(cls, data: dict[str, Any], unversioned: int, problem: str) -> CampaignSpec:
        """``data`` in its version (``unversioned`` when it names none) brought to the current schema, validated."""
        version = data.get("spec_version", unversioned)
        try:
            return cls.model_validate(_in_current_schema(data, version))
        except ValueError as error:
            raise InvalidCampaign(f"{problem}: {_problems(error)}") from None


def _in_current_schema(data: dict[str, Any], version: Any) -> dict[str, Any]:
    """``data``, written in schema ``version``, with the fields the current schema would default differently written
    out as that version meant them (version 1: the diversity filter and classic EI), and the removed option
    ``acquisition.uncertainty`` dropped where it asked for what every campaign does now (``measurement``: the
    sigma of the next reading; any other value is a ``ValueError``). Another ``version`` is left for validation to
    refuse."""
    acquisition = data.get("acquisition")
    if not isinstance(acquisition, dict):
        return {**data, "spec_version": version}
    acquisition = dict(acquisition)
    if "uncertainty" in acquisition:
        if version != 1 or acquisition["uncertainty"] != "measurement":
            raise ValueError(  # named with its source by the caller, as validation problems are
                f"acquisition.uncertainty: {acquisition['uncertainty']!r} was removed: EI and UCB score with the"
                " uncertainty of the next reading, noise included (what 'measurement' meant); leave the key out"
            )
        del acquisition["uncertainty"]
    if version == 1:
        acquisition.setdefault("batch_method", "diversity_filter")  # before batch_method: the diversity filter
        acquisition.setdefault("incumbent_rank", None)  # before incumbent_rank: over the best fitted mean
    return {**data, "spec_version": version, "acquisition": acquisition}


def _problems(error: ValueError) -> str:
    """A validation error as one line per problem, each with where it is in the file ("objectives.0.target:
    Input should be a finite number"), without pydantic's links."""
    from pydantic import ValidationError

    from tools.base import validation_problems

    return validation_problems(error) if isinstance(error, ValidationError) else str(error)


def campaign_id_prefix(spec: CampaignSpec) -> str:
    """The part of a campaign id that is the spec's: ``cmp-`` and 8 hex digits of the SHA-256 of the canonical spec
    (every field, sorted keys; a pool file by the SHA-256 of its content, not by where it lies). The same spec
    gets the same prefix on any machine, hence the same op ids and simulated readings; a run number follows it.

    Raises:
        InvalidCampaign: the pool file cannot be read.
    """
    import hashlib
    import json

    from knowledge.textfiles import UnreadableFile, read_bytes

    identity = spec.model_dump(mode="json")
    identity["stages"] = [stage.identity() for stage in spec.stages]
    if spec.pool.file:
        try:
            content = read_bytes(spec.pool.file, what="pool file")
        except UnreadableFile as error:
            raise InvalidCampaign(f"the campaign's pool: {error}") from error
        identity["pool"] = {"file_sha256": hashlib.sha256(content).hexdigest()}
    return "cmp-" + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]


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
