from __future__ import annotations

import pytest

from simulators.world import SimWorld, WorldConfig


@pytest.fixture(scope="session")
def world() -> SimWorld:
    """One world for the session: loading the ground truth takes a few seconds."""
    return SimWorld(WorldConfig(seed=0))
