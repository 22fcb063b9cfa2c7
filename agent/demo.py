"""The offline demo: the closed-loop campaign on embedded defaults (``demo_campaign_spec``), and a walkthrough of
the knowledge store on the embedded datasets (imports with provenance, idempotency, unit conversion, typed
rejection of bad input, a deterministic training-set snapshot)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)


def demo_campaign_spec() -> Any:
    """The demo campaign: potent BACE-1 inhibitors that stay soluble, from the bundled BACE pool."""
    from agent.campaign_spec import CampaignSpec
    from knowledge.bundled import bundled_dataset

    _, pool = bundled_dataset("bace")
    return CampaignSpec.model_validate(
        {
            "name": "potent, soluble BACE-1 inhibitors (demo)",
            "objectives": [{"property": "pIC50", "direction": "maximize", "target": 8.0}],
            "constraints": [{"property": "logS", "op": ">=", "value": -5.0}],
            "pool": {"file": str(pool)},
            "budget": {"experiments": 64, "iterations": 6},
            "batch_size": 8,
            "initial": {"size": 16, "design": "random"},
            "acquisition": {"kind": "ei"},
            "models": {"kind": "fingerprint"},
            "seed": 0,
        }
    )


def run_store_walkthrough(home: Path, console: Console | None) -> dict[str, Any]:
    """Build a fresh store in ``home`` and exercise it; returns a summary (and prints it if ``console``)."""
    from agent.cli_common import cells, shown
    from knowledge.bundled import BUNDLED_DATASETS, bundled_dir
    from knowledge.database import make_engine, upgrade
    from knowledge.errors import StoreInputError
    from knowledge.importing import import_measurements_csv
    from knowledge.store import KnowledgeStore, NewMeasurement

    say = console.print if console is not None else (lambda *a, **k: None)
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{home / 'atomloop.db'}")
    revision = upgrade(engine)
    store = KnowledgeStore(engine, snapshot_dir=home / "datasets")
    say(f"[bold]AtomLoop demo[/]: a fresh knowledge store at {shown(home)} (schema {shown(revision)})\n")

    imports = []
    from rich.progress import Progress

    with Progress(disable=console is None, console=console, transient=True) as progress:
        task = progress.add_task("Importing the bundled datasets", total=len(BUNDLED_DATASETS))
        for dataset in BUNDLED_DATASETS:
            report = import_measurements_csv(
                store,
                bundled_dir() / dataset.filename,
                dataset.property,
                smiles_col=dataset.smiles_column,
                value_col=dataset.value_column,
            )
            imports.append(
                {"dataset": dataset.name, "property": report.property, "unit": report.unit, "rows": report.imported}
            )
            progress.advance(task)
    if console is not None:
        from rich.table import Table

        table = Table(title="1. Bundled datasets imported (source = literature, provenance = file + line)")
        for column in ("dataset", "property", "canonical unit", "measurements"):
            table.add_column(column)
        for row in imports:
            table.add_row(*cells(row["dataset"], row["property"], row["unit"], f"{row['rows']:,}"))
        console.print(table)

    stats = store.stats()
    say(
        f"   {stats.measurements:,} measurements of {stats.molecules:,} distinct molecules "
        "(one row per InChIKey, however the SMILES was written).\n"
    )

    again = import_measurements_csv(store, bundled_dir() / "delaney.csv", "logS", value_col="logp")
    say(f"2. Importing ESOL a second time adds {again.imported} rows ({again.already_present:,} already present).\n")

    conversions = [
        NewMeasurement(smiles="CC(=O)Oc1ccccc1C(=O)O", property="IC50", value=0.04, unit="\u00b5M", uncertainty=0.004),
        NewMeasurement(smiles="OC(=O)c1ccccc1OC(C)=O", property="pIC50", value=40, unit="nM", uncertainty=4),
        NewMeasurement(smiles="Cn1cnc2c1c(=O)n(C)c(=O)n2C", property="logS", value=21.6, unit="mg/mL"),
        NewMeasurement(smiles="Cn1cnc2c1c(=O)n(C)c(=O)n2C", property="melting_point", value=235, unit="\u00b0C"),
    ]
    converted = []
    for new in conversions:
        stored = store.record_measurement(new)
        converted.append(
            {
                "smiles": new.smiles,
                "input": f"{new.value:g} {new.unit}",
                "property": stored.property,
                "stored": f"{stored.value:.4g} {stored.unit}",
                "uncertainty": stored.uncertainty,
            }
        )
    if console is not None:
        from rich.table import Table

        table = Table(title="3. Values in any compatible unit are stored in the canonical one (pint)")
        for column in ("molecule", "as given", "property", "stored as", "\u03c3 stored"):
            table.add_column(column)
        for conversion in converted:
            sigma = "" if conversion["uncertainty"] is None else f"{conversion['uncertainty']:.3g}"
            table.add_row(*cells(conversion["smiles"], conversion["input"], conversion["property"], conversion["stored"], sigma))
        console.print(table)

    before = store.stats().measurements
    rejected = []
    for bad in (
        NewMeasurement(smiles="C1CC", property="logS", value=-2.0),
        NewMeasurement(smiles="CCO", property="logS", value=-2.0, unit="kelvin"),
        NewMeasurement(smiles="CCO", property="yield", value=140.0, unit="%"),
        NewMeasurement(smiles="CCO", property="boiling_pointz", value=351.0),
    ):
        try:
            store.record_measurement(bad)
        except StoreInputError as error:
            rejected.append({"error": type(error).__name__, "message": str(error)})
    after = store.stats().measurements
    if console is not None:
        from rich.table import Table

        table = Table(title=f"4. Bad input gets a typed error and writes nothing ({before:,} -> {after:,} rows)")
        table.add_column("error")
        table.add_column("message")
        for failure in rejected:
            table.add_row(*cells(failure["error"], failure["message"][:110]))
        console.print(table)

    first = store.training_set("logS")
    second = store.training_set("logS")
    say(
        f"\n5. Training set for logS: {first.row_count:,} molecules, content hash {shown(first.content_hash[:16])}... "
        f"(asked again: {'same hash' if first.content_hash == second.content_hash else 'DIFFERENT HASH'})\n"
        f"   written to {shown(first.path)}"
    )

    best = sorted(store.measurements("pIC50"), key=lambda m: m.value, reverse=True)[:5]
    if console is not None:
        from rich.table import Table

        table = Table(title="6. Query: the five most potent BACE-1 inhibitors on record")
        table.add_column("pIC50", justify="right")
        table.add_column("SMILES")
        for m in best:
            table.add_row(*cells(f"{m.value:.2f}", m.smiles))
        console.print(table)
        console.print(
            f"\nThe demo store is at {shown(home / 'atomloop.db')}: try `atomloop db stats` with ATOMLOOP_HOME={shown(home)}"
        )

    return {
        "home": str(home),
        "schema_revision": revision,
        "imports": imports,
        "stats": store.stats().model_dump(),
        "reimport_added": again.imported,
        "conversions": converted,
        "rejected": rejected,
        "rows_before_rejections": before,
        "rows_after_rejections": after,
        "snapshot": {"property": "logS", "rows": first.row_count, "content_hash": first.content_hash, "path": first.path},
        "snapshot_repeat_hash": second.content_hash,
        "top_pic50": [{"smiles": m.smiles, "pIC50": m.value} for m in best],
    }
