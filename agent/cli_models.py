"""``atomloop models ...``: train, fine-tune, list and inspect predictor versions."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated, Any

import typer

from agent.cli_common import JsonOption, console, emit_json, handles_errors

models_cli = typer.Typer(help="Predictor versions: train, fine-tune, list, show (with calibration).", no_args_is_help=True)


def _rows_for(app: Any, property: str) -> tuple[Any, str]:
    """The newest training snapshot of ``property``, or the bundled dataset if the store holds too few rows."""
    from pathlib import Path

    from tools.predict.base import TrainingRows

    spec = app.store.properties.get(property)
    snapshot = app.store.training_set(spec.name)
    if snapshot.row_count >= app.predictors.min_store_rows:
        rows = TrainingRows.from_snapshot_csv(Path(snapshot.path), spec.name, spec.canonical_unit, snapshot.content_hash)
        return rows, f"snapshot {snapshot.content_hash[:16]} ({snapshot.row_count} molecules)"
    return TrainingRows.from_bundled(spec.name), f"the bundled dataset (the store holds {snapshot.row_count} {spec.name} molecules)"


def _record_payload(record: Any) -> dict[str, Any]:
    return {k: getattr(record, k) for k in ("id", "kind", "property", "parent_id", "dataset_hash", "metrics", "artifact_path", "approved")}


def _report_trained(trained: Any, source: str, as_json: bool) -> None:
    record = trained.record
    if as_json:
        emit_json({**_record_payload(record), "trained_on": source})
        return
    metrics = record.metrics
    verdict = "[green]approved[/]" if record.approved else "[red]not approved[/]"
    console().print(
        f"{record.kind} model [bold]{record.id}[/] for {record.property}, trained on {source}: {verdict}\n"
        f"held-out RMSE {metrics.get('rmse', float('nan')):.3f}, Spearman {metrics.get('spearman', float('nan')):.3f}, "
        f"90% coverage {metrics.get('coverage90', float('nan')):.2f}"
        + (f" (parent RMSE {metrics['parent_rmse']:.3f})" if metrics.get("parent_rmse") is not None else "")
    )


@models_cli.command("train")
@handles_errors
def models_train(
    property: Annotated[str, typer.Option("--property", "-p", help="Property to model, e.g. logS.")],
    model: Annotated[str, typer.Option("--model", help="fingerprint (default) or unimol.")] = "fingerprint",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Train a new model version on the store's training set (or the bundled data when the store has too few)."""
    from agent.app import build_app

    app = build_app()
    rows, source = _rows_for(app, property)
    with console().status(f"Training a {model} model for {property} on {source} ...") if not as_json else nullcontext():
        trained = app.predictors.train(property, rows, kind=model, seed=seed)
    app.predictors.register(trained)
    _report_trained(trained, source, as_json)


@models_cli.command("finetune")
@handles_errors
def models_finetune(
    property: Annotated[str, typer.Option("--property", "-p", help="Property of the parent model.")],
    parent: Annotated[str, typer.Option("--from", help="The version to continue from.")],
    as_json: JsonOption = False,
) -> None:
    """Continue a version on the newest snapshot; the child is approved only if not worse than its parent."""
    from agent.app import build_app
    from knowledge.errors import NotFoundError
    from knowledge.models import ModelVersion

    app = build_app()
    with app.store.session() as session:
        row = session.get(ModelVersion, parent)
    if row is None:
        raise NotFoundError(f"no model version {parent!r}: see `atomloop models list`")
    rows, source = _rows_for(app, property)
    with console().status(f"Fine-tuning {parent} on {source} ...") if not as_json else nullcontext():
        trained = app.predictors.train(property, rows, kind=row.kind, parent=parent)
    app.predictors.register(trained)
    _report_trained(trained, source, as_json)


@models_cli.command("list")
@handles_errors
def models_list(
    property: Annotated[str | None, typer.Option("--property", "-p", help="Only this property.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Model versions, newest first, with their held-out metrics."""
    from sqlmodel import select

    from agent.app import build_app
    from knowledge.models import ModelVersion

    app = build_app()
    query = select(ModelVersion).order_by(ModelVersion.created_at.desc())  # type: ignore[attr-defined]
    if property:
        query = query.where(ModelVersion.property == app.store.properties.get(property).name)
    with app.store.session() as session:
        versions = list(session.exec(query))
    if as_json:
        emit_json([_record_payload(v) | {"created_at": v.created_at} for v in versions])
        return
    from rich.table import Table

    table = Table(title="Model versions")
    for column in ("version", "kind", "property", "parent", "approved", "RMSE", "Spearman", "cov90", "n train"):
        table.add_column(column, no_wrap=column in ("version", "parent", "property"))
    for v in versions:
        m = v.metrics or {}
        table.add_row(
            v.id, v.kind, v.property, v.parent_id or "", "yes" if v.approved else "no",
            _fmt(m.get("rmse")), _fmt(m.get("spearman")), _fmt(m.get("coverage90"), 2), str(m.get("n_train", "")),
        )
    console().print(table)


@models_cli.command("show")
@handles_errors
def models_show(version: str, as_json: JsonOption = False) -> None:
    """A version's lineage, metrics, and calibration against the measurements its predictions motivated."""
    from agent.app import build_app
    from knowledge.errors import NotFoundError
    from knowledge.models import ModelVersion
    from tools.predict.calibration import calibration

    app = build_app()
    with app.store.session() as session:
        row = session.get(ModelVersion, version)
    if row is None:
        raise NotFoundError(f"no model version {version!r}: see `atomloop models list`")
    report = calibration(app.store, version)
    payload = _record_payload(row) | {"calibration": report.model_dump(exclude={"pairs"}) | {"pairs": len(report.pairs)}}
    if as_json:
        emit_json(payload)
        return
    out = console()
    out.print(f"[bold]{row.id}[/] {row.kind} model for {row.property} (parent {row.parent_id or 'none'}, approved: {row.approved})")
    out.print(f"held-out metrics: {row.metrics}")
    if report.n == 0:
        out.print("No measurement has followed a prediction of this version yet.")
    else:
        out.print(
            f"calibration over {report.n} measured molecules: RMSE {report.rmse:.3f}, mean σ {report.mean_sigma:.3f}, "
            f"90% interval coverage {report.coverage90:.2f}, z RMS {report.z_rms:.2f} (1 is honest)"
        )


def _fmt(value: Any, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"
