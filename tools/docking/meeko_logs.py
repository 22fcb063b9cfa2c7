"""meeko logs a warning per residue or atom it cannot template or type; the docking modules report those
themselves (a receptor's ``removed`` and ``typed_from_atoms``, a ligand's typed error), so they quiet it meanwhile."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_meeko() -> Iterator[None]:
    """meeko's logger at ERROR for the block, its level restored after."""
    logger = logging.getLogger("meeko")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
