"""Typed errors of the literature reader.

Both are ``ToolInputError``: the file handed in cannot be read as given; the caller supplies another file
(or the password-free copy). Problems on single pages are not errors: they are recorded in
``ReadDocument.flagged_pages`` and the rest of the document is kept.
"""

from __future__ import annotations

from pathlib import Path

from tools.errors import ToolInputError


class DocumentError(ToolInputError):
    """Base of the errors about a whole document."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DocumentUnreadable(DocumentError):
    """The file is missing, empty, not a PDF, or too corrupt for MuPDF to open."""


class DocumentEncrypted(DocumentError):
    """The PDF needs a password to be read."""
