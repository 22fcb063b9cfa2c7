"""Typed errors of the compute executors."""

from __future__ import annotations

from tools.errors import ToolSetupError


class ComputeSetupError(ToolSetupError):
    """The executor cannot run as configured (no Dask installed, a scheduler address that does not answer): fix the
    ``ATOMLOOP_COMPUTE__*`` settings or the cluster."""
