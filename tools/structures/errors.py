"""Typed errors of the 3D-structure module, split by who can fix them (DESIGN.md, Errors).

* ``StructureFileError``: a structure file the caller named cannot be read as what it claims to be (missing,
  binary, not an SDF/PDB/XYZ, a record RDKit refuses). The caller fixes the file; nothing was written.
* ``EmbeddingMismatch``: a worker's RDKit or dimorphite-dl differs from the one its job was keyed for, so its
  geometries would not be the ones that key promises. The operator aligns the environments.
"""

from __future__ import annotations

from pathlib import Path

from tools.errors import ToolFailed, ToolInputError


class StructureFileError(ToolInputError):
    """A structure file that cannot be read: ``path`` is the file, ``line`` (1-based) where the problem is, when
    known, and ``reason`` what is wrong with it."""

    def __init__(self, path: Path | str, reason: str, *, line: int | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.line = line
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


class EmbeddingMismatch(ToolFailed):
    """A compute job for a 3D structure ran with other chemistry software than its content key names."""
