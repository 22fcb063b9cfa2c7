from __future__ import annotations

from collections.abc import Callable

import pytest

from simulators.world import PropertyTruth, SimWorld, WorldConfig


@pytest.fixture(scope="session")
def world(_bundled_truth: Callable[[], dict[str, PropertyTruth]]) -> SimWorld:
    """One world for the session, on the session's ground truth (reading it takes seconds; tests/conftest.py)."""
    return SimWorld(WorldConfig(seed=0), truths=_bundled_truth())
