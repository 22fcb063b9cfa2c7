"""Typed errors of docking, split by who can fix them (DESIGN.md, Errors).

* ``ReceptorError``: a receptor file that cannot be prepared (unreadable, no protein, no atom in the box). The
  user fixes the file or the box.
* ``BoxError``: a box that Vina cannot grid (a side of 0 or more than 126 Angstrom, a malformed box file).
* ``LigandPreparationError``: one ligand that cannot be protonated, embedded or typed. In a batch it is reported
  beside the others, which go on.
* ``DockingEngineMissing``: the engine's package is not installed (``pip install 'atomloop[docking]'``): setup.
"""

from __future__ import annotations

from pathlib import Path

from tools.errors import ToolFailed, ToolInputError, ToolSetupError


class ReceptorError(ToolInputError):
    """A receptor that cannot be prepared: ``path`` is the file and ``reason`` what is wrong with it."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"receptor {path}: {reason}")


class BoxError(ToolInputError):
    """A docking box Vina cannot use, or a box file that cannot be read."""


class LigandPreparationError(ToolInputError):
    """A ligand that cannot be made ready for docking: ``ligand`` is its input as given."""

    def __init__(self, ligand: str, reason: str) -> None:
        self.ligand = ligand
        self.reason = reason
        super().__init__(f"ligand {ligand}: {reason}")


class DockingFailed(ToolFailed):
    """The engine ran on a prepared ligand and produced no pose."""


class DockingEngineMissing(ToolSetupError):
    """A docking engine whose Python package is not installed."""

    def __init__(self, engine: str, package: str) -> None:
        super().__init__(f"the {engine} docking engine needs the {package!r} package: pip install 'atomloop[docking]'")
