"""Sampling protocols: the λ states, how long each window is equilibrated and sampled, and the thermostat."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ProtocolName = Literal["quick", "standard"]
TEMPERATURE_K = 298.15  # FreeSolv's hydration free energies are at 298.15 K


class WindowTiming(BaseModel):
    """How each window runs: equilibration, then production sampled every ``sample_interval_ps``, with a Langevin
    thermostat of this friction at this temperature."""

    model_config = ConfigDict(frozen=True)

    equilibration_ps: float = Field(gt=0)
    production_ps: float = Field(gt=0)
    sample_interval_ps: float = Field(default=0.5, gt=0)
    timestep_fs: float = Field(default=2.0, gt=0, le=4.0)
    friction_per_ps: float = Field(default=1.0, gt=0)
    temperature_k: float = Field(default=TEMPERATURE_K, gt=0)

    @property
    def steps_per_sample(self) -> int:
        return max(1, round(self.sample_interval_ps * 1000.0 / self.timestep_fs))

    @property
    def samples(self) -> int:
        return max(1, round(self.production_ps / self.sample_interval_ps))

    @property
    def equilibration_steps(self) -> int:
        return max(1, round(self.equilibration_ps * 1000.0 / self.timestep_fs))


class SamplingProtocol(WindowTiming):
    """Independent Langevin windows at the λ values, each equilibrated then sampled every ``sample_interval_ps``;
    λ = 0 is the solute alone (vacuum), λ = 1 fully coupled to the solvent."""

    name: str
    lambdas: tuple[float, ...]

    @field_validator("lambdas")
    @classmethod
    def _ordered_from_zero_to_one(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) < 2 or value[0] != 0.0 or value[-1] != 1.0 or any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError("λ values must rise from 0 to 1 (at least the two end states)")
        return value


def _evenly(windows: int) -> tuple[float, ...]:
    return tuple(round(i / (windows - 1), 6) for i in range(windows))


IMPLICIT_PROTOCOLS: dict[str, SamplingProtocol] = {
    "quick": SamplingProtocol(name="quick", lambdas=_evenly(5), equilibration_ps=10.0, production_ps=100.0),
    "standard": SamplingProtocol(name="standard", lambdas=_evenly(11), equilibration_ps=50.0, production_ps=1000.0),
}


def implicit_protocol(name: str) -> SamplingProtocol:
    """The implicit-solvent protocol ``name`` (quick or standard)."""
    from tools.errors import ToolInputError

    if name not in IMPLICIT_PROTOCOLS:
        raise ToolInputError(f"unknown protocol {name!r}: one of {', '.join(IMPLICIT_PROTOCOLS)}")
    return IMPLICIT_PROTOCOLS[name]
