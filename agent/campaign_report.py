"""The campaign report: best molecules (drawn with RDKit), the best-so-far curve, predicted vs measured per
iteration, and the model versions used. Markdown with PNG figures beside it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.campaign import CampaignRunner, CampaignStatus


def write_campaign_report(reports_dir: Path, runner: CampaignRunner, status: CampaignStatus) -> Path:
    reports_dir.mkdir(parents=True, exist_ok=True)
    spec = runner.spec
    objective = spec.objectives[0]
    stem = runner.id
    filled = (
        "filled by the kriging believer" if runner.batches_by_believer()
        else f"with at most {spec.acquisition.diversity:g} Tanimoto similarity between molecules"
    )
    if spec.acquisition.kind == "ei":
        rank = spec.acquisition.incumbent_rank
        filled += (
            ", improvement counted over the best mean measured so far" if rank is None
            else f", improvement counted over the model's {_ordinal(rank)} best mean in the pool"
        )
    lines = [
        f"# Campaign `{runner.id}`: {spec.name}",
        "",
        f"Objective: {objective.direction} {objective.property}"
        + "".join(f"; constraint {c.property} {c.op} {c.value:g}" for c in spec.constraints)
        + f". Acquisition: {spec.acquisition.kind}, batches of {spec.batch_size} {filled}, models: {spec.models.kind}.",
        "",
        f"{status.experiments} molecules measured over {len(status.iterations)} iterations "
        f"({sum(i.lab_hours for i in status.iterations):.1f} h of simulated lab time).",
        "",
        "## Best molecules",
        "",
    ]
    props = spec.properties()
    lines += ["| # | molecule | " + " | ".join(props) + " | meets constraints |", "|---|---|" + "---|" * len(props) + "---|"]
    for rank, entry in enumerate(status.best, start=1):
        values = " | ".join(f"{entry[p]:.2f}" if p in entry else "" for p in props)
        lines.append(f"| {rank} | `{entry['smiles']}` | {values} | {'yes' if entry.get('feasible') else 'no'} |")
    grid = _draw_best(reports_dir / f"{stem}-best.png", status.best[:8], objective.property)
    if grid:
        lines += ["", f"![best molecules]({grid.name})"]
    curve = _best_so_far(reports_dir / f"{stem}-curve.png", status, objective.property)
    lines += ["", "## Iterations", "", "| iteration | measured | failed | best feasible so far | prediction RMSE | 90% coverage | lab h | model versions |", "|---|---|---|---|---|---|---|---|"]
    for it in status.iterations:
        versions = ", ".join(f"{p}: {v}" for p, v in it.model_versions.items()) or "(initial batch, no model)"
        lines.append(
            f"| {it.index} | {it.measured} | {it.failed} | {_f(it.best_feasible)} | {_f(it.rmse)} | {_f(it.coverage90)} | {it.lab_hours:.1f} | {versions} |"
        )
    if curve:
        lines += ["", f"![best so far]({curve.name})"]
    scatter = _predicted_vs_measured(reports_dir / f"{stem}-parity.png", runner)
    if scatter:
        lines += ["", "## Predicted vs measured", "", f"![predicted vs measured]({scatter.name})"]
    for target in _docking_targets(spec):
        lines += _docking_section(reports_dir / f"{stem}-docking-{_slug(target)}.png", runner, target)
    path = reports_dir / f"{stem}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _draw_best(path: Path, best: list[dict[str, Any]], prop: str) -> Path | None:
    from rdkit import Chem
    from rdkit.Chem import Draw

    molecules = [Chem.MolFromSmiles(entry["smiles"]) for entry in best]
    if not molecules:
        return None
    legends = [f"{prop} {entry.get(prop, float('nan')):.2f}" for entry in best]
    image = Draw.MolsToGridImage(molecules, molsPerRow=4, subImgSize=(260, 220), legends=legends)
    image.save(str(path))
    return path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _best_so_far(path: Path, status: CampaignStatus, prop: str) -> Path | None:
    points = [(it.index, it.best_feasible) for it in status.iterations if it.best_feasible is not None]
    if not points:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5, 3.2))
    axis.plot([p[0] for p in points], [p[1] for p in points], marker="o")
    axis.set_xlabel("iteration (0 = the initial batch)")
    axis.set_ylabel(f"best feasible {prop}")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _predicted_vs_measured(path: Path, runner: CampaignRunner) -> Path | None:
    from sqlmodel import col, select

    from knowledge.models import Measurement, Prediction

    with runner.store.session() as session:
        rows = session.exec(
            # sqlmodel types select() for at most four columns; it takes any number at run time
            select(Prediction.property, Prediction.value, Prediction.uncertainty, Measurement.value, Measurement.provenance)  # type: ignore[call-overload]
            .join(Measurement, col(Measurement.prediction_id) == col(Prediction.id))
            .where(Measurement.qc_status == "passed", Measurement.campaign_id == runner.id)
        ).all()
    if not rows:
        return None
    props = sorted({r[0] for r in rows})
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(props), figsize=(4.5 * len(props), 4), squeeze=False)
    for axis, prop in zip(axes[0], props, strict=True):
        mine = [r for r in rows if r[0] == prop]
        iterations = [r[4]["iteration"] for r in mine]
        scatter = axis.scatter([r[3] for r in mine], [r[1] for r in mine], c=iterations, cmap="viridis", s=18)
        axis.errorbar([r[3] for r in mine], [r[1] for r in mine], yerr=[r[2] for r in mine], fmt="none", alpha=0.3, color="grey")
        low = min(min(r[1] for r in mine), min(r[3] for r in mine))
        high = max(max(r[1] for r in mine), max(r[3] for r in mine))
        axis.plot([low, high], [low, high], color="black", lw=0.8)
        axis.set_xlabel(f"measured {prop}")
        axis.set_ylabel(f"predicted {prop}")
        figure.colorbar(scatter, ax=axis, label="iteration")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _docking_targets(spec: Any) -> list[str]:
    """The targets the campaign's docking stages dock to or predict, each once, in stage order."""
    return list(dict.fromkeys(stage.target for stage in spec.stages if stage.target is not None))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _docking_section(path: Path, runner: CampaignRunner, target: str) -> list[str]:
    """The docking score against the measured objective, for the molecules the campaign measured that have a
    docking score for ``target`` in the store: a scatter plot and the rank correlation (is docking telling the
    campaign anything about potency?)."""
    from tools.docking.targets import UnknownTarget, resolve_target

    objective = runner.spec.objectives[0].property
    try:
        name = resolve_target(runner.store, target).name
    except UnknownTarget:  # a stored target removed since the campaign ran
        name = target
    measured: dict[str, list[float]] = {}
    for m in runner.store.measurements(objective, campaign=runner.id, qc_status="passed"):
        measured.setdefault(m.inchikey, []).append(m.value)
    scores: dict[str, float] = {}
    for m in runner.store.measurements("docking_score", source="computed"):
        if m.conditions.get("target") == name:
            scores[m.inchikey] = m.value  # newest last: the newest docking of the molecule
    keys = sorted(set(measured) & set(scores))
    lines = ["", f"## Docking score ({name}) against measured {objective}", ""]
    if len(keys) < 2:
        lines.append(f"{len(keys)} of the {len(measured)} measured molecules have a docking score for {name}: too few to compare.")
        return lines
    xs = [scores[k] for k in keys]
    ys = [sum(measured[k]) / len(measured[k]) for k in keys]
    rho = _spearman(xs, ys)
    lines.append(
        f"{len(keys)} of the {len(measured)} measured molecules were docked to {name}; Spearman correlation of"
        f" the docking score with {objective}: {_f(rho)} (lower scores bind better, so a useful docking stage"
        " correlates negatively with a potency)."
    )
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(4.8, 4))
    axis.scatter(xs, ys, s=18)
    axis.set_xlabel(f"Vina docking score to {name} (kcal/mol)")
    axis.set_ylabel(f"measured {objective}")
    axis.set_title(f"Spearman {_f(rho)}, n = {len(keys)}", fontsize=9)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    lines += ["", f"![docking score against {objective}]({path.name})"]
    return lines


def _spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (None when either side is constant)."""
    from scipy.stats import spearmanr

    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return float(spearmanr(xs, ys).statistic)


def _ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, ..."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
