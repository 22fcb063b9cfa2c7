"""What stands behind the tools' ``LabAccess``: in sim mode, a simulated lab whose state is saved after every
experiment, so a run killed at any point resumes without repeating an operation."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tools.base import LabAccess

log = logging.getLogger(__name__)


class SimulatedLabAccess(LabAccess):
    def __init__(self, state_path: Path, seed: int = 0, transport: str = "in-process") -> None:
        self._state_path = state_path
        self._seed = seed
        self._transport = transport
        self._lab: Any = None

    def _ensure_lab(self, molecules: int) -> Any:
        from simulators.lab import SimLab, SimLabConfig
        from simulators.world import WorldConfig

        if self._lab is None:
            self._lab = SimLab(SimLabConfig.sized_for(max(molecules, 400), world=WorldConfig(seed=self._seed)))
            if self._state_path.exists():
                self._lab.load_state(self._state_path)
                log.info("restored the simulated lab from %s", self._state_path)
        return self._lab

    async def run_assays(self, smiles: list[str], assays: list[str], op_prefix: str) -> Any:
        from simulators.runner import simulate_assays

        lab = self._ensure_lab(len(smiles))
        report = await simulate_assays(lab, smiles, assays, transport=self._transport, protocol_prefix=op_prefix)  # type: ignore[arg-type]
        lab.save_state(self._state_path)
        return report
