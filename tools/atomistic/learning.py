"""Concurrent learning of an atomic model, as DP-GEN does it: explore with MD driven by a committee of models, select
the frames the committee disagrees on (its largest per-atom force deviation between a lower and an upper trust
level), label them with an oracle, fine-tune the committee on every label so far, and repeat until the
exploration has converged (at least ``converged_fraction`` of the explored frames below the lower trust level, as in
dpgen2).

This module holds the configuration (``LearnConfig``, read from YAML) and the pure parts of the loop: the trust
bands and the two selections (by deviation, and at random for the comparison the report makes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tools.errors import ToolInputError


class SystemConfig(BaseModel):
    """What is explored: a molecule from SMILES, or a structure file (a molecule, a crystal, a box of water)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    smiles: str | None = None
    structure: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SystemConfig:
        if (self.smiles is None) == (self.structure is None):
            raise ValueError("give the system as one of smiles or structure")
        return self

    @property
    def source(self) -> str:
        return self.smiles if self.smiles is not None else str(self.structure)


class ModelConfig(BaseModel):
    """The committee: ``committee`` DPA-2 models of one size trained from different seeds, first for
    ``initial_steps`` and then fine-tuned for ``finetune_steps`` each iteration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    family: Literal["dpa2"] = "dpa2"
    size: Literal["quick", "small"] = "quick"
    committee: int = Field(default=2, ge=2, le=8)
    initial_steps: int = Field(default=1000, ge=1)
    finetune_steps: int = Field(default=400, ge=1)


class ExploreConfig(BaseModel):
    """The MD each iteration: Langevin NVT at each temperature, a frame kept every ``interval`` steps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperatures: list[float] = Field(default=[300.0, 600.0], min_length=1)
    steps: int = Field(default=300, ge=1)
    interval: int = Field(default=5, ge=1)
    timestep_fs: float = Field(default=0.5, gt=0, le=5)


class SelectConfig(BaseModel):
    """DP-GEN's trust levels on the committee's largest force deviation (eV/Å), and how many frames to label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lower: float = Field(default=0.1, gt=0)
    upper: float = Field(default=0.4, gt=0)
    max_per_iteration: int = Field(default=10, ge=1)
    converged_fraction: float = Field(default=0.9, gt=0, le=1)
    fill_from_failed: bool = Field(default=True, description="Top up too few candidates with the least-failed frames")

    @model_validator(mode="after")
    def _ordered(self) -> SelectConfig:
        if self.upper <= self.lower:
            raise ValueError("the upper trust level must be above the lower")
        return self


class DataConfig(BaseModel):
    """The labelled frames before the first iteration (oracle MD at the lowest temperature) and the fixed held-out
    trajectory every iteration is measured on (oracle MD at the highest)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_frames: int = Field(default=10, ge=2)
    heldout_frames: int = Field(default=20, ge=1)
    interval: int = Field(default=10, ge=1)


class LearnConfig(BaseModel):
    """A concurrent-learning run (``atomloop atoms learn CONFIG.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    system: SystemConfig
    oracle: str = "xtb"
    model: ModelConfig = ModelConfig()
    explore: ExploreConfig = ExploreConfig()
    select: SelectConfig = SelectConfig()
    data: DataConfig = DataConfig()
    iterations: int = Field(default=4, ge=1, le=100)
    label_budget: int = Field(default=60, ge=1, description="Oracle labels at most, the initial frames included")
    compare_random: bool = Field(default=True, description="Also train on as many frames picked at random, for the report")
    seed: int = Field(default=0, ge=0)


def read_config(path: Path) -> LearnConfig:
    """The configuration in a YAML file; relative structure paths are relative to the file.

    Raises:
        ToolInputError: the file cannot be read or is not a valid configuration (every problem named).
    """
    import yaml

    from tools.base import validation_problems

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ToolInputError(f"cannot read the learning configuration {path}: {error}") from None
    if not isinstance(raw, dict):
        raise ToolInputError(f"{path} is not a YAML mapping of settings")
    system = raw.get("system")
    if isinstance(system, dict) and isinstance(system.get("structure"), str) and not Path(system["structure"]).expanduser().is_absolute():
        system = {**system, "structure": str((path.parent / system["structure"]).resolve())}
        raw = {**raw, "system": system}
    try:
        return LearnConfig.model_validate(raw)
    except ValidationError as error:
        raise ToolInputError(f"invalid learning configuration {path}: {validation_problems(error)}") from None


class Bands(BaseModel):
    """The share of explored frames in each trust band: accurate (below lower), candidate, failed (above upper)."""

    model_config = ConfigDict(frozen=True)

    frames: int
    accurate: float
    candidate: float
    failed: float


def trust_bands(deviations: Sequence[float], lower: float, upper: float) -> Bands:
    values = np.asarray(deviations, dtype=float)
    if values.size == 0:
        return Bands(frames=0, accurate=0.0, candidate=0.0, failed=0.0)
    return Bands(
        frames=int(values.size), accurate=float((values < lower).mean()), candidate=float(((values >= lower) & (values < upper)).mean()),
        failed=float((values >= upper).mean()),
    )


def select_by_deviation(deviations: Sequence[float], lower: float, upper: float, count: int, seed: int, fill_from_failed: bool = False) -> list[int]:
    """Up to ``count`` indices of candidate frames (lower <= deviation < upper), drawn at random among them as DP-GEN
    does (the candidates of one trajectory are alike; taking only the largest would label near-duplicates). With
    ``fill_from_failed``, too few candidates are topped up with the failed frames of smallest (finite) deviation: a
    young committee may disagree above the upper level everywhere, and labelling nothing would stall the loop."""
    candidates = [i for i, value in enumerate(deviations) if lower <= value < upper]
    if len(candidates) <= count:
        if fill_from_failed and len(candidates) < count:
            failed = sorted((value, i) for i, value in enumerate(deviations) if value >= upper and np.isfinite(value))
            candidates += [i for _, i in failed[: count - len(candidates)]]
        return sorted(candidates)
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(candidates, size=count, replace=False))


def select_at_random(frames: int, count: int, seed: int, exclude: Sequence[int] = ()) -> list[int]:
    """``count`` frame indices drawn uniformly from ``frames``, none of ``exclude``."""
    pool = [i for i in range(frames) if i not in set(exclude)]
    if len(pool) <= count:
        return pool
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(pool, size=count, replace=False))


def config_key(config: LearnConfig) -> str:
    """The run a configuration means: the same settings resume the same run."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]
