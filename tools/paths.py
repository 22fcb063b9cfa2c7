"""Which files a tool may read: only those under the folders the user allowed.

A planner (an LLM above all) chooses tool arguments, and a path in them is untrusted: a call that names
``/etc/passwd`` must not read it, and nothing of a refused file (not even "its lines are invalid SMILES") may
reach the model, the store or the logs. Every tool that takes a path resolves it through ``AllowedPaths``
before it opens anything: the path is made absolute, symlinks are followed, and the real location must lie
under one of the allowed roots (by default the working directory and ``$ATOMLOOP_HOME``, plus the folders the
user names in settings or with ``--allow-path``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tools.errors import ToolInputError


class PathNotAllowed(ToolInputError):
    """A tool argument names a path outside the allowed folders. Nothing of it was read."""


@dataclass(frozen=True)
class AllowedPaths:
    """The folders tools may read under, each absolute and with its symlinks resolved."""

    roots: tuple[Path, ...]

    @classmethod
    def of(cls, roots: Iterable[Path | str]) -> AllowedPaths:
        resolved: list[Path] = []
        for root in roots:
            path = Path(root).expanduser().resolve()
            if path not in resolved:
                resolved.append(path)
        return cls(tuple(resolved))

    def resolve(self, text: str, *, what: str = "file", base: Path | None = None) -> Path:
        """The real path ``text`` names (relative paths: from the working directory, else from ``base``), or
        ``PathNotAllowed`` if it lies outside every root. Existence is not checked here."""
        if "\x00" in text:
            raise PathNotAllowed(f"the {what} path contains a NUL character")
        candidate = Path(text).expanduser()
        if not candidate.is_absolute() and base is not None and not candidate.exists() and (base / candidate).exists():
            candidate = base / candidate
        real = candidate.resolve()
        if not any(real == root or real.is_relative_to(root) for root in self.roots):
            raise PathNotAllowed(
                f"the {what} {text!r} is outside the folders tools may read (the working directory, the AtomLoop "
                "home, and folders allowed with --allow-path or ATOMLOOP_ALLOWED_PATHS); nothing was read"
            )
        return real
