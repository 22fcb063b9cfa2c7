"""``atomloop models ...``: train, fine-tune, list and inspect predictor versions."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from agent.cli_common import JsonOption, cells, console, emit_json, handles_errors, shown

models_cli = typer.Typer(help="Predictor versions: train, fine-tune, list, show (with calibration).", no_args_is_help=True)


def _rows_for(app: Any, property: str, conditions: dict[str, str] | None = None) -> tuple[Any, str]:
    """The newest training snapshot of ``property``, or the bundled dataset if the store holds too few rows.
    Docking scores are per target: their snapshot holds the computed scores under ``conditions`` (the target)."""
    from pathlib import Path

    from agent.campaign_spec import DOCKING_PROPERTY
    from knowledge.snapshots import DatasetSpec
    from tools.errors import ToolInputError
    from tools.predict.base import TrainingRows

    spec = app.store.properties.get(property)
    if spec.name == DOCKING_PROPERTY or conditions:
        if not conditions:
            raise ToolInputError(f"{DOCKING_PROPERTY} is measured per docking target: give --target NAME (e.g. 4IVT)")
        snapshot = app.store.training_set(
            spec.name, DatasetSpec(sources=("measured", "simulated", "literature", "computed"), conditions=conditions)
        )
        if snapshot.row_count == 0:
            raise ToolInputError(f"the store holds no {spec.name} under {conditions}: dock some molecules first (`atomloop dock`)")
        rows = TrainingRows.from_snapshot_csv(Path(snapshot.path), spec.name, spec.canonical_unit, snapshot.content_hash)
        return rows, f"snapshot {snapshot.content_hash[:16]} ({snapshot.row_count} molecules, {_conditions_text(conditions)})"
    snapshot = app.store.training_set(spec.name)
    if snapshot.row_count >= app.predictors.min_store_rows:
        rows = TrainingRows.from_snapshot_csv(Path(snapshot.path), spec.name, spec.canonical_unit, snapshot.content_hash)
        return rows, f"snapshot {snapshot.content_hash[:16]} ({snapshot.row_count} molecules)"
    return TrainingRows.from_bundled(spec.name), f"the bundled dataset (the store holds {snapshot.row_count} {spec.name} molecules)"


def _conditions_text(conditions: dict[str, str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(conditions.items()))


def _target_conditions(app: Any, target: str | None) -> dict[str, str] | None:
    """``{"target": NAME}`` for a docking target's name (as the store and bundled targets spell it), or None."""
    if target is None:
        return None
    from tools.docking.targets import resolve_target

    return {"target": resolve_target(app.store, target).name}


def _unimol_config(name: str) -> Any:
    from tools.errors import ToolInputError
    from tools.predict.unimol import UniMolConfig

    if name not in ("small", "full"):
        raise ToolInputError(f"unknown unimol configuration {name!r}: small or full")
    return UniMolConfig.small() if name == "small" else UniMolConfig.full()


def _unimol_options(
    model: str, weights: Path | None, config: str, epochs: int | None, from_scratch: bool = False
) -> dict[str, Any]:
    """The family options of ``models train``; unimol's only (a clear error for other families)."""
    from tools.errors import ToolInputError

    if model != "unimol":
        given = [flag for flag, value in (("--weights", weights), ("--epochs", epochs)) if value is not None]
        if from_scratch:
            given.append("--from-scratch")
        if config != "small":
            given.append("--config")
        if given:
            raise ToolInputError(f"{', '.join(given)} apply to unimol models, not {model}")
        return {}
    options: dict[str, Any] = {"config": _unimol_config(config)}
    if weights is not None and from_scratch:
        raise ToolInputError("--weights and --from-scratch exclude each other")
    if from_scratch:
        options["pretrained"] = None
    if weights is not None:
        options["pretrained"] = _checked_checkpoint(weights, options["config"], "--weights")
    if epochs is not None:
        options["epochs"] = epochs
    return options


def _checked_checkpoint(path: Path, network: Any, option: str) -> Path:
    """``path`` if it is a unimol checkpoint that fits ``network`` (a ``UniMolConfig``), read as training will read
    it; else a ``ToolInputError`` naming the option and the file (missing, a folder, not a torch checkpoint, or
    tensors of another shape). Checked before anything is trained or written."""
    from tools.errors import ToolInputError
    from tools.predict.unimol import UniMolWeightsError, load_unimol_weights

    if path.is_dir():
        raise ToolInputError(f"{option} {path}: a folder, not a checkpoint file")
    if not path.is_file():
        raise ToolInputError(f"{option} {path}: no checkpoint file (no such path)")
    try:
        load_unimol_weights(path, network)
    except UniMolWeightsError as error:
        raise ToolInputError(f"{option} {path}: {error}") from None
    return path


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
        f"{shown(record.kind)} model [bold]{shown(record.id)}[/] for {shown(record.property)}, trained on {shown(source)}: {verdict}\n"
        f"held-out RMSE {metrics.get('rmse', float('nan')):.3f}, Spearman {metrics.get('spearman', float('nan')):.3f}, "
        f"90% coverage {metrics.get('coverage90', float('nan')):.2f}"
        + (f" (parent RMSE {metrics['parent_rmse']:.3f})" if metrics.get("parent_rmse") is not None else "")
    )


@models_cli.command("train")
@handles_errors
def models_train(
    property: Annotated[str, typer.Option("--property", "-p", help="Property to model, e.g. logS.")],
    model: Annotated[str, typer.Option("--model", help="fingerprint (default), gp (Gaussian process on Morgan and atom-pair counts) or unimol.")] = "fingerprint",
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
    weights: Annotated[
        Path | None,
        typer.Option(
            help="unimol: start from this checkpoint (official Uni-Mol, or from `atomloop models pretrain`); default:"
            " the bundled pretrained backbone (small configuration: QM9, then drug-like molecules)."
        ),
    ] = None,
    from_scratch: Annotated[bool, typer.Option("--from-scratch", help="unimol: no pretrained backbone.")] = False,
    config: Annotated[
        str, typer.Option(help="unimol: network size, small (the CPU default: 4 x 128) or full (15 x 512, Uni-Mol's).")
    ] = "small",
    epochs: Annotated[int | None, typer.Option(min=1, help="unimol: training epochs, exactly (default: 80, more for small sets so each member takes 1600 steps, at most 200).")] = None,
    target: Annotated[
        str | None,
        typer.Option(help="docking_score: the docking target whose scores to learn (a surrogate of docking to it), e.g. 4IVT."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Train a new model version on the store's training set (or the bundled data when the store has too few)."""
    from agent.app import build_app

    app = build_app()
    app.predictors.family(model)  # an unknown kind before a snapshot is written
    options = _unimol_options(model, weights, config, epochs, from_scratch)
    conditions = _target_conditions(app, target)
    rows, source = _rows_for(app, property, conditions)
    with console().status(f"Training a {shown(model)} model for {shown(property)} on {shown(source)} ...") if not as_json else nullcontext():
        trained = app.predictors.train(property, rows, kind=model, seed=seed, options=options, conditions=conditions)
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
    from tools.errors import ToolInputError

    app = build_app()
    with app.store.session() as session:
        row = session.get(ModelVersion, parent)
    if row is None:
        raise NotFoundError(f"no model version {parent!r}: see `atomloop models list`")
    wanted = app.store.properties.get(property).name
    if row.property != wanted:  # before a snapshot of the wrong property is written
        raise ToolInputError(f"model version {parent} predicts {row.property}, not {wanted}: fine-tune it with -p {row.property}")
    from tools.predict.registry import model_conditions

    conditions = model_conditions(row.metrics) or None  # a child learns under its parent's conditions
    rows, source = _rows_for(app, property, conditions)
    with console().status(f"Fine-tuning {shown(parent)} on {shown(source)} ...") if not as_json else nullcontext():
        trained = app.predictors.train(property, rows, kind=row.kind, parent=parent, conditions=conditions)
    app.predictors.register(trained)
    _report_trained(trained, source, as_json)


@models_cli.command("pretrain")
@handles_errors
def models_pretrain(
    corpus: Annotated[
        str,
        typer.Option(help="qm9 (DFT geometries from the qm9pack package), or a SMILES file (conformers from RDKit)."),
    ] = "qm9",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many molecules (default: all).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the corpus.")] = 1,
    config: Annotated[str, typer.Option(help="small (CPU default) or full (Uni-Mol's size, for GPUs).")] = "small",
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
    output: Annotated[Path | None, typer.Option(help="Checkpoint to write (default: under the data directory).")] = None,
    initial: Annotated[
        Path | None,
        typer.Option(help="Continue from this checkpoint (ours or Uni-Mol's; 'bundled': the backbone shipped)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Self-supervised pretraining of a unimol backbone (masked atoms + coordinate denoising) on unlabelled molecules.

    The checkpoint is what `atomloop models train --model unimol --weights PATH` starts from.
    """
    from agent.app import build_app
    from tools.errors import ToolInputError
    from tools.predict.corpora import CorpusStats, read_qm9
    from tools.predict.unimol import bundled_backbone, pretrain
    from tools.structures.cache import ConformerCache

    app = build_app()
    network = _unimol_config(config)
    if initial is not None and str(initial) == "bundled":
        initial = bundled_backbone(network)
        if initial is None:
            raise ToolInputError(f"no bundled backbone for the {config} configuration")
    elif initial is not None:
        initial = _checked_checkpoint(initial, network, "--initial")
    stats = CorpusStats()
    if corpus == "qm9":
        conformers = ConformerCache(capacity=(limit or 140_000) + 1)
        smiles = []
        with console().status("Reading QM9 geometries ...") if not as_json else nullcontext():
            for conformer in read_qm9(limit=limit, stats=stats):
                conformers.add(conformer)
                smiles.append(conformer.smiles)
        label = "qm9"
    else:
        from knowledge.textfiles import read_smiles_file

        smiles = read_smiles_file(Path(corpus), what="corpus file")[:limit]
        conformers = ConformerCache(app.settings.conformer_dir)
        label = Path(corpus).stem
    target = output or app.settings.home_dir / "models" / "pretrained" / f"unimol-{config}-{label}-{len(smiles)}-e{epochs}-s{seed}.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[loss]}"))
    with Progress(*columns, console=console(), disable=as_json, transient=True) as bar:
        task = bar.add_task(f"Pretraining on {len(smiles)} molecules", total=None, loss="")

        def on_step(step: int, total: int, losses: dict[str, float]) -> None:
            bar.update(task, completed=step, total=total, loss=f"loss {losses['total']:.3f}")

        result = pretrain(
            smiles, network, epochs=epochs, seed=seed, output=target, conformers=conformers, initial=initial,
            on_step=on_step,
        )
    payload = {
        "path": str(result.path), "sha256": result.sha256, "corpus": corpus, "n_molecules": result.n_molecules,
        "n_failed": result.n_failed, "skipped_in_corpus": stats.skipped, "steps": result.steps,
        "seconds": result.seconds, "final_loss": result.history[-1] if result.history else None,
    }
    if as_json:
        emit_json(payload)
        return
    last = result.history[-1] if result.history else {}
    console().print(
        f"pretrained a {shown(config)} unimol backbone on {result.n_molecules} molecules ({shown(corpus)}; {result.n_failed} failed,"
        f" {stats.skipped} corpus rows skipped) in {result.steps} steps, {result.seconds:.0f} s; last loss"
        f" {last.get('total', float('nan')):.3f}\ncheckpoint: [bold]{shown(result.path)}[/]\n"
        f"next: atomloop models train --property P --model unimol --weights {shown(result.path)}"
    )


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
        conditions = m.get("conditions")
        shown_property = f"{v.property} ({_conditions_text(conditions)})" if isinstance(conditions, dict) and conditions else v.property
        table.add_row(*cells(
            v.id, v.kind, shown_property, v.parent_id or "", "yes" if v.approved else "no",
            _fmt(m.get("rmse")), _fmt(m.get("spearman")), _fmt(m.get("coverage90"), 2), m.get("n_train", ""),
        ))
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
    out.print(
        f"[bold]{shown(row.id)}[/] {shown(row.kind)} model for {shown(row.property)} (parent {shown(row.parent_id or 'none')},"
        f" approved: {row.approved})"
    )
    out.print(f"held-out metrics: {shown(row.metrics)}")
    if report.n == 0:
        out.print("No measurement has followed a prediction of this version yet.")
    else:
        out.print(
            f"calibration over {report.n} measured molecules: RMSE {report.rmse:.3f}, mean σ {report.mean_sigma:.3f}, "
            f"90% interval coverage {report.coverage90:.2f}, z RMS {report.z_rms:.2f} (1 is honest)"
        )


def _fmt(value: Any, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"
