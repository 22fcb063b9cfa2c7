"""``atomloop read FILE_OR_DIR``: PDFs into the knowledge store as documents and facts, with provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli_common import JsonOption, console, emit_json, handles_errors


def register(cli: typer.Typer) -> None:
    @cli.command("read")
    @handles_errors
    def read(
        paths: Annotated[list[Path], typer.Argument(help="PDF files or folders of PDFs.")],
        as_json: JsonOption = False,
    ) -> None:
        """Read papers: tables and property values with units, linked to compound labels, stored with page and snippet."""
        from rich.progress import Progress

        from agent.app import build_app
        from agent.literature import store_document
        from tools.catalog import literature_files, read_one_document
        from tools.errors import ToolInputError

        store = build_app().store
        files = literature_files([str(p) for p in paths])
        if not files:
            raise ToolInputError(f"no PDF found in {', '.join(map(str, paths))}")
        documents: list[dict[str, Any]] = []
        failures: list[dict[str, str]] = []
        with Progress(console=console(), disable=as_json, transient=True) as progress:
            task = progress.add_task("Reading", total=len(files))
            for path in files:
                progress.update(task, description=f"Reading {path.name}")
                try:
                    document = read_one_document(store, path).model_dump(mode="json")
                except ToolInputError as error:
                    failures.append({"path": str(path), "error": str(error)})
                else:
                    _, added = store_document(store, document)
                    document["new_facts"] = added
                    documents.append(document)
                progress.advance(task)
        if as_json:
            emit_json({"documents": documents, "failures": failures})
            return
        from rich.table import Table

        table = Table(title=f"Read {len(documents)} of {len(files)} documents")
        for column in ("document", "pages", "facts", "new in store", "flagged pages"):
            table.add_column(column)
        for d in documents:
            flagged = ", ".join(f"{page} ({reason.split(':')[0][:30]})" for page, reason in d["flagged_pages"])
            table.add_row((d["title"] or Path(d["path"]).name)[:60], str(d["pages"]), str(len(d["facts"])), str(d["new_facts"]), flagged)
        out = console()
        out.print(table)
        for failure in failures:
            out.print(f"[red]could not read[/] {failure['path']}: {failure['error']}")
