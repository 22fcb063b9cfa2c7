"""Hard limits, the reagent allow-list, and the approval gate. A violation raises ``SafetyViolation``
before anything moves."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from lab.errors import SafetyViolation
from lab.models import Operation

log = logging.getLogger(__name__)


class SafetyLimits(BaseModel):
    """Limits of one instrument. None means 'no limit of this kind'."""

    model_config = ConfigDict(frozen=True)

    max_volume_ul: float | None = Field(default=1000.0, description="Largest volume one operation may move")
    min_volume_ul: float | None = Field(default=0.5, description="Smallest volume one operation can move accurately")
    min_temperature_c: float | None = -20.0
    max_temperature_c: float | None = 150.0
    allowed_reagents: frozenset[str] | None = Field(
        default=frozenset({"DMSO", "water", "buffer", "assay buffer", "PBS", "methanol", "acetonitrile"}),
        description="Solvents and reagents the instrument may handle (compound stocks are always allowed)",
    )

    def check_volume(self, volume_ul: float, what: str) -> None:
        if self.max_volume_ul is not None and volume_ul > self.max_volume_ul:
            raise SafetyViolation(
                f"{what}: {volume_ul:g} µL is above the hard limit of {self.max_volume_ul:g} µL per operation"
            )
        if self.min_volume_ul is not None and volume_ul < self.min_volume_ul:
            raise SafetyViolation(f"{what}: {volume_ul:g} µL is below the {self.min_volume_ul:g} µL this instrument can move")

    def check_temperature(self, celsius: float, what: str) -> None:
        if self.min_temperature_c is not None and celsius < self.min_temperature_c:
            raise SafetyViolation(f"{what}: {celsius:g} °C is below the limit of {self.min_temperature_c:g} °C")
        if self.max_temperature_c is not None and celsius > self.max_temperature_c:
            raise SafetyViolation(f"{what}: {celsius:g} °C is above the limit of {self.max_temperature_c:g} °C")

    def check_reagent(self, reagent: str | None, what: str) -> None:
        if reagent is None or self.allowed_reagents is None:
            return
        allowed = {r.lower() for r in self.allowed_reagents}
        if reagent.strip().lower() not in allowed:
            raise SafetyViolation(
                f"{what}: {reagent!r} is not on the reagent allow-list ({', '.join(sorted(self.allowed_reagents))})"
            )


@runtime_checkable
class ApprovalHook(Protocol):
    """Asked before a physical operation runs in real mode. Return False (or raise) to refuse."""

    async def approve(self, instrument: str, operation: Operation) -> bool: ...


class ApproveAll:
    """The simulated lab's default: every operation is approved."""

    async def approve(self, instrument: str, operation: Operation) -> bool:
        return True


class SafetyGate:
    """What every physical operation passes through first: limits, then the approval hook."""

    def __init__(self, limits: SafetyLimits, approval: ApprovalHook | None = None) -> None:
        self.limits = limits
        self.approval = approval or ApproveAll()

    async def approve(self, instrument: str, operation: Operation) -> None:
        if not await self.approval.approve(instrument, operation):
            log.warning("approval refused for %s on %s", operation.op_id, instrument)
            raise SafetyViolation(f"{instrument}: operation {operation.op_id} was not approved")
