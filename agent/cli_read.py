"""``atomloop read FILE_OR_DIR``: PDFs into the knowledge store as documents and facts, with provenance.

Exit codes follow the CLI's rule (``agent.cli_common``): 0 when at least one document was read (the failures
are listed beside it); 2 when the user must fix the input: a path that does not exist or cannot be used (a loop
of symbolic links, a broken link, no permission, a pipe or device), a folder without PDFs, or documents none of
which could be read (each failure is listed, and with ``--json`` the payload is still printed). A document that
failed is never stored.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli_common import EXIT_INPUT, JsonOption, cells, console, emit_json, handles_errors, shown

logger = logging.getLogger(__name__)


def check_path(path: Path) -> None:
    """Raise ``ToolInputError`` naming ``path`` when it cannot be read as a PDF or a folder of them, with the
    reason in words; a typed path that is wrong is the user's to fix, and it is told apart here from a folder
    that merely holds no PDF."""
    from tools.errors import ToolInputError
    from tools.literature.pdf import path_error_reason

    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise ToolInputError(f"{path}: {path_error_reason(path, error)}") from None
    if stat.S_ISDIR(mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise ToolInputError(f"{path}: permission denied (the folder cannot be listed)")
    elif not stat.S_ISREG(mode):
        raise ToolInputError(f"{path}: not a regular file or folder (a pipe, socket or device)")
    elif not os.access(path, os.R_OK):
        raise ToolInputError(f"{path}: permission denied")


def _failure(path: Path, error: Exception) -> dict[str, str]:
    """A document that could not be read, for the table and the JSON payload (``reason`` without the path)."""
    return {"path": str(path), "error": str(error), "reason": str(getattr(error, "reason", error)), "type": type(error).__name__}


def register(cli: typer.Typer) -> None:
    @cli.command("read")
    @handles_errors
    def read(
        # readable=False: click's own check would answer outside the JSON payload; check_path says why instead
        paths: Annotated[list[Path], typer.Argument(help="PDF files or folders of PDFs.", readable=False)],
        as_json: JsonOption = False,
    ) -> None:
        """Read papers: tables and property values with units, linked to compound labels, stored with page and snippet.

        Exits 0 when at least one document was read, 2 when none could be (or a path cannot be used)."""
        from rich.progress import Progress

        from agent.app import build_app
        from agent.literature import store_document
        from tools.errors import ToolInputError
        from tools.literature.read_literature import literature_files, read_one_document

        for path in paths:
            check_path(path.expanduser())
        files = literature_files([str(p) for p in paths])
        if not files:
            raise ToolInputError(f"no PDF found in {', '.join(map(str, paths))}")
        app = build_app()
        store = app.store
        documents: list[dict[str, Any]] = []
        failures: list[dict[str, str]] = []
        with app, Progress(console=console(), disable=as_json, transient=True) as progress:
            task = progress.add_task("Reading", total=len(files))
            for path in files:
                progress.update(task, description=f"Reading {shown(path.name)}")
                try:
                    document = read_one_document(path, store.properties, store.units, app.executor).model_dump(mode="json")
                except ToolInputError as error:
                    logger.debug("read: %s failed: %s", path, error)
                    failures.append(_failure(path, error))
                else:
                    _, added = store_document(store, document)
                    document["new_facts"] = added
                    documents.append(document)
                progress.advance(task)
        served = bool(documents)
        problem = None if served else f"none of the {len(files)} document(s) could be read"
        if as_json:
            emit_json({"documents": documents, "failures": failures, **({"error": problem} if problem else {})})
        else:
            _print(documents, failures, len(files))
        if problem is not None:
            sys.stderr.write(f"atomloop: input error: {problem}\n")
            raise typer.Exit(EXIT_INPUT)


def _print(documents: list[dict[str, Any]], failures: list[dict[str, str]], total: int) -> None:
    """The documents read as a table (none when nothing was read), then one line per failure."""
    from rich.table import Table

    out = console()
    if documents:
        table = Table(title=f"Read {len(documents)} of {total} documents")
        for column in ("document", "pages", "facts", "new in store", "flagged pages"):
            table.add_column(column)
        for d in documents:
            flagged = ", ".join(f"{page} ({reason.split(':')[0][:30]})" for page, reason in d["flagged_pages"])
            table.add_row(*cells((d["title"] or Path(d["path"]).name)[:60], d["pages"], len(d["facts"]), d["new_facts"], flagged))
        out.print(table)
    for failure in failures:
        out.print(f"[red]could not read[/] {shown(failure['path'])}: {shown(failure['reason'])}")
