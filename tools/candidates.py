"""Molecules a tool was given: SMILES or names in its arguments, or a file of them the planner named."""

from __future__ import annotations

from tools.base import ToolContext
from tools.errors import ToolInputError
from tools.names import resolve_molecule
from tools.schemas import InvalidInput


def resolve_all(molecules: list[str]) -> list[str]:
    return [resolve_molecule(m) for m in molecules]


def read_candidates(ctx: ToolContext, path_text: str, what: str) -> list[str]:
    """SMILES from a file the planner named: only under the allowed folders (a relative path is looked up in the
    working directory, then in the data directory), decoded by the one text reader."""
    from knowledge.textfiles import UnreadableFile, read_smiles_file

    path = ctx.paths.resolve(path_text, what=what, base=ctx.data_dir)
    try:
        return read_smiles_file(path, what=what)
    except UnreadableFile as error:
        raise ToolInputError(f"{path_text}: {error.reason}") from error


def invalid_input(text: str, error: ToolInputError, index_in_file: int, file: str | None) -> InvalidInput:
    """An input that is not a molecule. One read from a file is named by its place in the file, not by its text: a
    file of the wrong kind (a key, a config) must not have its lines sent to the model as "invalid SMILES"."""
    if file is None or index_in_file < 0:
        return InvalidInput(input=text, error=str(error))
    return InvalidInput(input=f"{file}: entry {index_in_file + 1}", error="not a valid SMILES or a known molecule name")
