"""Run and campaign ids are names, not paths: they name report files, lock files and LangGraph threads, so they
are checked at the edge (the command line, the run manager) before anything uses them."""

from __future__ import annotations

import re

from knowledge.errors import StoreInputError

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class InvalidIdentifier(StoreInputError):
    """A run or campaign id with characters or a length we do not allow."""


def checked_id(text: str, what: str = "run id") -> str:
    """``text`` if it is a safe id (letters, digits, '.', '_', '-'; starts with a letter or digit; at most 128
    characters; not '.' or '..'), else ``InvalidIdentifier`` naming the rule."""
    if not ID_PATTERN.fullmatch(text) or set(text) <= {"."}:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise InvalidIdentifier(
            f"invalid {what} {shown!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(an id is a name, not a path)"
        )
    return text
