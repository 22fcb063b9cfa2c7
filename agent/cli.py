"""The ``atomloop`` command line: ``atomloop <noun> <verb>`` for things, a plain verb for the main jobs.

Every command prints for people by default and takes ``--json`` for machines. Heavy packages load inside
the commands, so ``atomloop --help`` starts fast.
"""

from __future__ import annotations

import logging
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli_atoms import atoms_cli
from agent.cli_campaign import campaign_cli
from agent.cli_common import EXIT_INPUT, JsonOption, cells, console, emit_json, handles_errors, shown
from agent.cli_dock import dock_cli
from agent.cli_fe import fe_cli
from agent.cli_jobs import jobs_cli
from agent.cli_lab import lab_cli
from agent.cli_models import models_cli
from agent.cli_read import register as register_read
from agent.cli_runs import register as register_runs
from agent.cli_structures import structures_cli

if TYPE_CHECKING:
    from agent.app import App

log = logging.getLogger("atomloop")

cli = typer.Typer(
    name="atomloop",
    help="AtomLoop: an autonomous closed-loop lab agent for molecular and materials design.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="The knowledge store: schema, imports, exports, statistics.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(lab_cli, name="lab")
cli.add_typer(models_cli, name="models")
cli.add_typer(campaign_cli, name="campaign")
cli.add_typer(jobs_cli, name="jobs")
cli.add_typer(structures_cli, name="structures")
cli.add_typer(dock_cli, name="dock")
cli.add_typer(atoms_cli, name="atoms")
cli.add_typer(fe_cli, name="fe")
register_runs(cli)
register_read(cli)


@cli.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # HTTP clients log every request URL at INFO; an endpoint URL may carry credentials
    for name in ("httpx", "httpx2", "httpcore", "httpcore2", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _app() -> App:
    from agent.app import build_app

    return build_app()


# ---------------------------------------------------------------------------------------------- db


@db_cli.command("init")
@handles_errors
def db_init(as_json: JsonOption = False) -> None:
    """Create the data directory and the database, migrated to the newest schema."""
    from knowledge.database import redact_url, upgrade

    app = _app()
    revision = upgrade(app.unchecked_store.engine)
    url = redact_url(app.settings.resolved_database_url)
    if as_json:
        emit_json({"home": str(app.settings.home_dir), "database_url": url, "revision": revision})
        return
    console().print(
        f"[green]Ready[/]: {shown(url)} at schema revision [bold]{shown(revision)}[/] (home {shown(app.settings.home_dir)})"
    )


@db_cli.command("upgrade")
@handles_errors
def db_upgrade(as_json: JsonOption = False) -> None:
    """Apply any pending schema migrations (Alembic)."""
    from knowledge.database import current_revision, upgrade

    app = _app()
    before = current_revision(app.unchecked_store.engine)
    after = upgrade(app.unchecked_store.engine)
    if as_json:
        emit_json({"from_revision": before, "to_revision": after})
        return
    if before == after:
        console().print(f"Already at the newest schema revision [bold]{shown(after)}[/].")
    else:
        console().print(f"Upgraded the schema from [bold]{shown(before or '(empty)')}[/] to [bold]{shown(after)}[/].")


@db_cli.command("stats")
@handles_errors
def db_stats(as_json: JsonOption = False) -> None:
    """Count what the store holds."""
    stats = _app().store.stats()
    if as_json:
        emit_json(stats.model_dump())
        return
    from rich.table import Table

    table = Table(title="Knowledge store", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in stats.model_dump().items():
        if isinstance(value, dict):
            for key, n in value.items():
                table.add_row(*cells(f"  {name.removeprefix('measurements_')}: {key}", f"{n:,}"))
        else:
            table.add_row(*cells(name.replace("_", " "), f"{value:,}"))
    console().print(table)


@db_cli.command("import")
@handles_errors
def db_import(
    file: Annotated[Path, typer.Argument(help="A CSV (or .tsv) file with a SMILES column and a value column.")],
    property: Annotated[str, typer.Option("--property", "-p", help="Property name, e.g. logS, pIC50.")],
    unit: Annotated[str | None, typer.Option(help="Unit of the values (default: the property's own).")] = None,
    smiles_col: Annotated[str | None, typer.Option(help="SMILES column (default 'smiles').")] = None,
    value_col: Annotated[str | None, typer.Option(help="Value column (default: the only other column).")] = None,
    uncertainty_col: Annotated[str | None, typer.Option(help="Column of standard deviations.")] = None,
    source: Annotated[str, typer.Option(help="measured | simulated | literature | computed")] = "literature",
    skip_invalid: Annotated[bool, typer.Option(help="Import the valid rows and list the skipped ones.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Import measurements of one property from a table. Atomic unless --skip-invalid."""
    from knowledge.errors import StoreInputError
    from knowledge.importing import import_measurements_csv
    from knowledge.models import MEASUREMENT_SOURCES

    if source not in MEASUREMENT_SOURCES:
        raise StoreInputError(f"--source must be one of {', '.join(MEASUREMENT_SOURCES)}, not {source!r}")
    store = _app().store
    out = console()
    with out.status(f"Importing {shown(file.name)} ...", spinner="dots") if not as_json else nullcontext():
        report = import_measurements_csv(
            store,
            file,
            property,
            unit=unit,
            smiles_col=smiles_col,
            value_col=value_col,
            uncertainty_col=uncertainty_col,
            source=source,  # type: ignore[arg-type]
            skip_invalid=skip_invalid,
        )
    # --skip-invalid with every row invalid served nothing: the file is what must change
    nothing_valid = report.imported == 0 and not report.already_present and bool(report.skipped)
    if as_json:
        emit_json(report.model_dump())
        if nothing_valid:
            raise typer.Exit(EXIT_INPUT)
        return
    out.print(
        f"[green]Imported[/] {report.imported:,} {shown(report.property)} measurements ({shown(report.unit)}) from "
        f"{shown(report.path)} [dim](columns {shown(repr(report.smiles_column))} -> {shown(repr(report.value_column))})[/]"
    )
    if report.already_present:
        out.print(f"{report.already_present:,} rows were already in the store (same file and line).")
    if report.skipped:
        from rich.table import Table

        table = Table(title=f"Skipped {len(report.skipped)} invalid rows")
        table.add_column("line", justify="right")
        table.add_column("why")
        for row in report.skipped:
            table.add_row(*cells(row.line, row.reason))
        out.print(table)
    if nothing_valid:
        sys.stderr.write(f"atomloop: input error: no row of {report.path} is valid; nothing was imported\n")
        raise typer.Exit(EXIT_INPUT)


@db_cli.command("export")
@handles_errors
def db_export(
    property: Annotated[str, typer.Option("--property", "-p", help="Property name.")],
    out: Annotated[Path, typer.Option(help="Folder to write data.csv/parquet and manifest.json into.")],
    format: Annotated[str, typer.Option(help="csv | parquet")] = "csv",
    as_json: JsonOption = False,
) -> None:
    """Export the training set of a property: one row per molecule, content-hashed."""
    from knowledge.errors import StoreInputError
    from knowledge.snapshots import DatasetSpec

    if format not in ("csv", "parquet"):
        raise StoreInputError(f"--format must be csv or parquet, not {format!r}")
    store = _app().store
    store.properties.get(property)  # an unknown property before any folder is made
    _writable_folder(out, "--out")
    snapshot = store.training_set(property, DatasetSpec(format=format), out_dir=out)  # type: ignore[arg-type]
    payload = {
        "property": snapshot.property,
        "rows": snapshot.row_count,
        "content_hash": snapshot.content_hash,
        "path": snapshot.path,
        "manifest": str(out / "manifest.json"),
    }
    if as_json:
        emit_json(payload)
        return
    console().print(
        f"[green]Exported[/] {snapshot.row_count:,} {shown(snapshot.property)} rows to {shown(snapshot.path)}\n"
        f"content hash {shown(snapshot.content_hash)}"
    )


def _writable_folder(path: Path, option: str) -> None:
    """Make ``path`` a folder we can write into (created with its parents if missing), or say why it cannot be:
    an existing file, a file where a parent folder should be, no permission. An input error: the user named it."""
    import os

    from knowledge.errors import StoreInputError

    if path.exists() and not path.is_dir():
        raise StoreInputError(f"{option} {path} is a file, not a folder: name a folder to write data and manifest.json into")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreInputError(f"{option} {path}: cannot create the folder ({error.strerror or error})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StoreInputError(f"{option} {path}: no permission to write into the folder")


@db_cli.command("properties")
def db_properties(as_json: JsonOption = False) -> None:
    """List the properties the store accepts, with their canonical units."""
    from knowledge.properties import PropertyRegistry

    specs = list(PropertyRegistry.default())
    if as_json:
        emit_json([spec.model_dump() for spec in specs])
        return
    from rich.table import Table

    table = Table(title="Properties")
    for column in ("name", "canonical unit", "aliases", "description"):
        table.add_column(column)
    for spec in specs:
        table.add_row(*cells(spec.name, spec.canonical_unit, ", ".join(spec.aliases), spec.description))
    console().print(table)


# -------------------------------------------------------------------------------------------- demo

DEMO_MARKER = ".atomloop-demo"  # in every folder the demo made: the only folders it deletes to start afresh


# what a demo's home holds: the store, its journals, and the folders the app makes under its home
_DEMO_MADE = frozenset(
    {"atomloop.db", "atomloop.db-wal", "atomloop.db-shm", "checkpoints.sqlite", "reports", "lab", "models", "datasets", "conformers", "locks"}
)


def _check_demo_home(path: Path, default: Path) -> None:
    """Refuse a ``--home`` the demo must not wipe: the demo starts afresh by deleting its folder, so the folder must
    be missing, empty, the default one, or one it made before (``DEMO_MARKER``); never a file, and never a folder
    of the user's (``--home ~`` would otherwise delete their home directory)."""
    from knowledge.errors import StoreInputError

    if not path.exists():
        return
    if not path.is_dir():
        raise StoreInputError(f"--home {path} is a file, not a folder: name a new folder for the demo's store")
    if (path / DEMO_MARKER).is_file() or not any(path.iterdir()):
        return
    if path == default and {entry.name for entry in path.iterdir()} <= _DEMO_MADE:
        return  # made by a demo from before the marker existed: only the demo's own files are in it
    raise StoreInputError(
        f"--home {path} is a folder the demo did not make, and the demo starts by deleting its folder: name a new "
        "(or empty) folder"
    )


@cli.command("demo")
@handles_errors
def demo(
    home: Annotated[
        Path | None, typer.Option(help="Where the demo's store goes (default: <ATOMLOOP_HOME>/demo, made afresh).")
    ] = None,
    store_walkthrough: Annotated[bool, typer.Option(help="Instead, walk through the knowledge store's features.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The main job, offline: a closed-loop campaign for potent, soluble BACE-1 inhibitors on the simulated lab."""
    import os
    import shutil

    from agent.settings import AtomLoopSettings

    settings = AtomLoopSettings()
    default_home = (settings.home_dir / "demo").expanduser().resolve()
    demo_home = (home or default_home).expanduser().resolve()
    _check_demo_home(demo_home, default_home)
    if store_walkthrough:
        from agent.demo import run_store_walkthrough

        summary = run_store_walkthrough(demo_home, console=None if as_json else console())
        (demo_home / DEMO_MARKER).touch()
        if as_json:
            emit_json(summary)
        return
    from agent.demo import demo_campaign_spec
    from knowledge.database import make_engine, upgrade

    if demo_home.exists():
        shutil.rmtree(demo_home)
    demo_home.mkdir(parents=True)
    (demo_home / DEMO_MARKER).touch()
    os.environ["ATOMLOOP_HOME"] = str(demo_home)
    os.environ.pop("ATOMLOOP_DATABASE_URL", None)
    engine = make_engine(f"sqlite:///{demo_home / 'atomloop.db'}")
    upgrade(engine)
    engine.dispose()
    if not as_json:
        console().print(
            "[bold]AtomLoop demo[/]: find potent BACE-1 inhibitors (pIC50) that stay soluble (logS ≥ -5) among the 1,513 "
            "MoleculeNet BACE compounds, on the simulated lab: 16 random molecules, then 6 iterations of 8 chosen by "
            f"expected improvement, fine-tuning the models between iterations. Data directory: {shown(demo_home)}"
        )
    from agent.cli_campaign import run_campaign

    run_campaign(None, demo_campaign_spec(), as_json)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
