"""Docking fixtures: the bundled 1IEP target (Abl kinase with imatinib) and a synthetic receptor file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.docking.targets import TARGETS_DIR

pytest.importorskip("vina")
pytest.importorskip("meeko")


@pytest.fixture(scope="session")
def receptor_1iep() -> Path:
    return TARGETS_DIR / "1iep_receptor.pdb"


@pytest.fixture(scope="session")
def crystal_1iep() -> Path:
    return TARGETS_DIR / "1iep_ligand.sdf"


@pytest.fixture(scope="session")
def raw_4ivt() -> Path:
    return TARGETS_DIR / "4ivt.pdb"
