"""Which files a tool may read: only those under the folders the user allowed.

A planner (an LLM above all) chooses tool arguments, and a path in them is untrusted: a call that names
``/etc/passwd`` must not read it, and nothing of a refused file (not even "its lines are invalid SMILES") may
reach the model, the store or the logs. Every tool that takes a path resolves it through ``AllowedPaths``
before it opens anything: the path is made absolute (a relative one from the run's working directory, which
is fixed when the run starts), symlinks are followed, and the real location must lie under one of the allowed
roots (by default the working directory and ``$ATOMLOOP_HOME``, plus the folders the user names in settings or
with ``--allow-path``). Below a root, hidden files and folders (``.ssh``, ``.env``, ``.aws``) are refused too:
they hold credentials far more often than molecules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tools.errors import ToolInputError


class PathNotAllowed(ToolInputError):
    """A tool argument names a path outside the allowed folders. Nothing of it was read."""


def working_directory_root(cwd: Path, home: Path) -> tuple[Path, ...]:
    """The working directory as an allowed root, unless it is the file system's root, the user's home, or a folder
    above it: run from there, it would allow every file the user owns. (Name the folder with ``--allow-path``.)"""
    cwd, home = cwd.resolve(), home.resolve()
    if cwd == Path(cwd.anchor) or home == cwd or home.is_relative_to(cwd):
        return ()
    return (cwd,)


@dataclass(frozen=True)
class AllowedPaths:
    """The folders tools may read under, each absolute and with its symlinks resolved, and the directory relative
    paths are taken from."""

    roots: tuple[Path, ...]
    workdir: Path | None = None

    @classmethod
    def of(cls, roots: Iterable[Path | str], workdir: Path | str | None = None) -> AllowedPaths:
        resolved: list[Path] = []
        for root in roots:
            path = Path(root).expanduser().resolve()
            if path not in resolved:
                resolved.append(path)
        return cls(tuple(resolved), Path(workdir).resolve() if workdir is not None else None)

    def resolve(self, text: str, *, what: str = "file", base: Path | None = None) -> Path:
        """The real path ``text`` names (relative paths: from the run's working directory, else from ``base``), or
        ``PathNotAllowed`` if it lies outside every root or in a hidden folder below one. Existence is not checked."""
        if "\x00" in text:
            raise PathNotAllowed(f"the {what} path contains a NUL character")
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            workdir = self.workdir or Path.cwd()
            if not (workdir / candidate).exists() and base is not None and (base / candidate).exists():
                candidate = base / candidate
            else:
                candidate = workdir / candidate
        real = candidate.resolve()
        for root in sorted(self.roots, key=lambda r: len(r.parts), reverse=True):
            if real == root or real.is_relative_to(root):
                hidden = [part for part in real.relative_to(root).parts if part.startswith(".")]
                if hidden:
                    raise PathNotAllowed(f"the {what} {text!r} is in a hidden file or folder ({hidden[0]}), which tools do not read; nothing was read")
                return real
        raise PathNotAllowed(
            f"the {what} {text!r} is outside the folders tools may read (the working directory, the AtomLoop "
            "home, and folders allowed with --allow-path or ATOMLOOP_ALLOWED_PATHS); nothing was read"
        )
