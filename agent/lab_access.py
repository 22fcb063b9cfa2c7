"""What stands behind the tools' ``LabAccess``: in sim mode, a simulated lab whose state is saved after every
experiment, so a run killed at any point resumes without repeating an operation.

The state file is shared by every process that uses the same home: each experiment holds an exclusive lock on
it from loading the state to saving it, so two runs measuring at once both keep their journals (the second
waits for the first, then continues from the state it left).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.access import AssayReport, MeasurementSource

if TYPE_CHECKING:
    from lab.recipes import Assay
    from simulators.runner import Transport

log = logging.getLogger(__name__)


class SimulatedLabAccess:
    """``lab.access.LabAccess`` over a simulated lab kept in a state file."""

    source: MeasurementSource = "simulated"

    def __init__(self, state_path: Path, seed: int = 0, transport: Transport = "in-process") -> None:
        self._state_path = state_path
        self._seed = seed
        self._transport = transport
        self._lab: Any = None
        # (inode, mtime_ns, size) of the state file our lab matches; save_state replaces the file, so a save by
        # another process always changes the inode
        self._loaded_stamp: tuple[int, int, int] | None = None

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            info = self._state_path.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def _current_lab(self, molecules: int) -> Any:
        """The lab as the state file has it now (reloaded when another process saved since we last did)."""
        from simulators.lab import SimLab, SimLabConfig
        from simulators.world import WorldConfig

        stamp = self._stamp()
        if self._lab is None or stamp != self._loaded_stamp:
            self._lab = SimLab(SimLabConfig.sized_for(max(molecules, 400), world=WorldConfig(seed=self._seed)))
            if stamp is not None:
                self._lab.load_state(self._state_path)
                log.info("restored the simulated lab from %s", self._state_path)
            self._loaded_stamp = stamp
        return self._lab

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """Hold the state file's lock (waiting, without blocking the event loop, while another process has it)."""
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._state_path.with_name(self._state_path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.05)
            yield
        finally:
            os.close(fd)

    async def run_assays(self, smiles: list[str], assays: Sequence[Assay], op_prefix: str) -> AssayReport:
        from simulators.runner import simulate_assays

        async with self._exclusive():
            lab = self._current_lab(len(smiles))
            report = await simulate_assays(lab, smiles, assays, transport=self._transport, protocol_prefix=op_prefix)
            lab.save_state(self._state_path)
            self._loaded_stamp = self._stamp()
        return report
