"""Docking in a campaign: a docked fidelity stage between the models and the lab, and a surrogate model of docking
scores (the surrogate-docking pattern) as a predicted stage."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from rdkit import Chem

from agent.app import build_app
from agent.campaign import MIN_SURROGATE_SCORES, CampaignRunner
from agent.campaign_spec import CampaignSpec, InvalidCampaign, StageSpec
from knowledge.bundled import bundled_dir
from knowledge.chem import canonicalize
from knowledge.database import upgrade
from knowledge.store import NewMeasurement


def _smallest_bace(count: int, min_pic50: float = 0.0) -> list[str]:
    """The ``count`` BACE-1 inhibitors with the fewest heavy atoms (they dock fastest), of pIC50 at least
    ``min_pic50`` (within the simulated assay's range: an inactive molecule is a censored reading)."""
    rows = [r for r in csv.DictReader((bundled_dir() / "bace_pic50.csv").open()) if float(r["pIC50"]) >= min_pic50]
    return sorted((r["smiles"] for r in rows), key=lambda s: (Chem.MolFromSmiles(s).GetNumHeavyAtoms(), s))[:count]


def _pool(tmp_path: Path, smiles: list[str]) -> Path:
    pool = tmp_path / "pool.csv"
    pool.write_text("smiles\n" + "".join(f"{s}\n" for s in smiles))
    return pool


def _spec(pool: Path, **extra: object) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": "docking stage",
            "objectives": [{"property": "pIC50"}],
            "pool": {"file": str(pool)},
            "models": {"kind": "fingerprint"},
            **extra,
        }
    )


def test_a_docked_stage_defaults_to_minimised_docking_scores_and_keeps_old_campaign_ids(tmp_path: Path) -> None:
    stage = StageSpec.model_validate({"evaluation": "docked", "target": "4IVT", "threshold": -8.0})
    assert (stage.property, stage.direction, stage.dock_top, stage.exhaustiveness) == ("docking_score", "minimize", 32, 8)
    surrogate = StageSpec.model_validate({"property": "docking_score", "target": "4IVT", "keep_fraction": 0.2})
    assert surrogate.direction == "minimize" and surrogate.dock_top is None
    for bad, message in [
        ({"evaluation": "docked", "threshold": -8.0}, "needs a target"),
        ({"evaluation": "docked", "property": "logS", "target": "4IVT", "threshold": -8.0}, "scores docking_score"),
        ({"property": "logS", "dock_top": 5, "keep_fraction": 0.5}, "only a docked stage"),
        ({"property": "docking_score", "keep_fraction": 0.5}, "needs the target"),
        ({"property": "logS", "target": "4IVT", "keep_fraction": 0.5}, "only docking stages"),
    ]:
        with pytest.raises(ValueError, match=message):
            StageSpec.model_validate(bad)
    # a stage that does not dock enters the campaign id as it did before docking stages existed
    assert StageSpec(property="logS", keep_fraction=0.5).identity() == {
        "evaluation": "predicted", "property": "logS", "direction": "maximize", "keep_fraction": 0.5, "threshold": None,
    }


def test_a_docking_stage_with_an_unknown_target_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    app = build_app()
    upgrade(app.unchecked_store.engine)
    spec = _spec(_pool(tmp_path, _smallest_bace(4)), stages=[{"evaluation": "docked", "target": "NOPE1", "threshold": -7}])
    with pytest.raises(InvalidCampaign, match=r"stages\.0\.target: no docking target 'NOPE1'"):
        CampaignRunner.create(app, spec)
    from sqlmodel import select

    from knowledge.models import Campaign

    with app.store.session() as session:
        assert session.exec(select(Campaign)).first() is None


def test_a_campaign_docks_its_best_predicted_candidates_and_sends_only_the_best_scores_to_the_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve BACE-1 inhibitors; six measured at random, then the three with the best predicted pIC50 are docked
    to 4IVT, the two best docking scores pass, and those two are the next batch. The report plots score against
    the measured potency. (Docked in this process: starting job processes would take longer than three dockings;
    docking's fan-out over jobs is tested in tests/tools/docking.)"""
    monkeypatch.setenv("ATOMLOOP_COMPUTE__EXECUTOR", "inline")
    pool = _smallest_bace(12, min_pic50=6.0)
    app = build_app()
    upgrade(app.unchecked_store.engine)
    stage = {"evaluation": "docked", "target": "4IVT", "dock_top": 3, "exhaustiveness": 1, "keep_fraction": 0.67}
    spec = _spec(
        _pool(tmp_path, pool),
        initial={"size": 6, "design": "random"},
        batch_size=2,
        budget={"experiments": 8, "iterations": 1},
        stages=[stage],
    )
    messages: list[str] = []
    runner = CampaignRunner.create(app, spec, on_progress=messages.append)
    status = runner.run()
    assert status.status == "done" and [len(_batch(runner, i)) for i in (0, 1)] == [6, 2]

    scores = {m.inchikey: m for m in app.store.measurements("docking_score")}
    assert len(scores) == 3, messages  # dock_top of the six untried
    assert all(m.conditions["target"] == "4IVT" and m.source == "computed" and m.provenance["exhaustiveness"] == 1 for m in scores.values())
    assert all(-15 < m.value < 0 for m in scores.values())
    initial = {canonicalize(s).inchikey for s in _batch(runner, 0)}
    second = {canonicalize(s).inchikey for s in _batch(runner, 1)}
    assert not set(scores) & initial  # only untried candidates are docked
    best_two = set(sorted(scores, key=lambda key: scores[key].value)[:2])
    assert second == best_two  # the lab got the two best-scoring of the docked three
    assert any("docked 3 of 3 to 4IVT" in m for m in messages), messages

    report = Path(status.report_path or "").read_text()
    assert "## Docking score (4IVT) against measured pIC50" in report
    measured = {m.inchikey for m in app.store.measurements("pIC50", campaign=runner.id, qc_status="passed")}
    assert len(measured & best_two) == 2, "the simulated lab failed one of the docked molecules; pick another seed"
    assert f"2 of the {len(measured)} measured molecules were docked to 4IVT" in report
    assert (Path(status.report_path or "").parent / f"{runner.id}-docking-4IVT.png").stat().st_size > 1000


def _batch(runner: CampaignRunner, index: int) -> list[str]:
    from sqlmodel import select

    from knowledge.models import Iteration

    with runner.store.session() as session:
        row = session.exec(select(Iteration).where(Iteration.campaign_id == runner.id, Iteration.index == index)).one()
    return list(row.metrics["batch"])


def _record_scores(app: object, scores: dict[str, float], target: str) -> None:
    store = app.store  # type: ignore[attr-defined]
    preparer = store.preparer()
    rows = [
        preparer.prepare(
            NewMeasurement(
                smiles=smiles, property="docking_score", value=value, unit="kcal/mol", source="computed",
                conditions={"target": target}, op_id=f"test-dock:{target}:{smiles}",
            )
        )
        for smiles, value in scores.items()
    ]
    store.write(lambda writer: writer.add_measurements(rows))


def test_a_surrogate_stage_learns_one_targets_docking_scores_and_predicts_the_rest(tmp_path: Path) -> None:
    """Docking scores for 4IVT that fall with molecular size (as Vina's do), and contrary ones for another target:
    the surrogate learns only 4IVT's, predicts large molecules to score best, and is found again only for 4IVT."""
    molecules = _smallest_bace(40)[::2]
    heavy = {s: Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in molecules}
    known, untried = molecules[:14], molecules[14:]
    app = build_app()
    upgrade(app.unchecked_store.engine)
    _record_scores(app, {s: -0.3 * heavy[s] for s in known}, "4IVT")
    _record_scores(app, {s: 0.3 * heavy[s] for s in known}, "1IEP")
    runner = CampaignRunner(app, _spec(_pool(tmp_path, molecules)), "cmp-surrogate-test")
    stage = StageSpec(property="docking_score", target="4ivt", keep_fraction=0.5)
    estimates: dict[str, dict[str, tuple[float, float]]] = {s: {} for s in untried}
    versions: dict[str, str] = {}
    values = runner._stage_values(stage, untried, estimates, versions)
    assert values is not None and set(values) == set(untried)
    assert all(estimates[s]["docking_score"][1] > 0 for s in untried)  # with an uncertainty
    from scipy.stats import spearmanr

    assert spearmanr([values[s] for s in untried], [heavy[s] for s in untried]).statistic < -0.5
    version = versions["docking_score"]
    assert app.predictors.latest("docking_score", {"target": "4IVT"}).version == version
    assert app.predictors.latest("docking_score") is None  # a target's model is not a model of docking as such
    assert app.predictors.latest("docking_score", {"target": "1IEP"}) is None


def test_a_surrogate_with_too_few_scores_lets_every_candidate_pass(tmp_path: Path) -> None:
    molecules = _smallest_bace(6)
    app = build_app()
    upgrade(app.unchecked_store.engine)
    _record_scores(app, {s: -7.0 for s in molecules[: MIN_SURROGATE_SCORES - 5]}, "4IVT")
    messages: list[str] = []
    runner = CampaignRunner(app, _spec(_pool(tmp_path, molecules)), "cmp-surrogate-few", on_progress=messages.append)
    stage = StageSpec(property="docking_score", target="4IVT", keep_fraction=0.5)
    assert runner._stage_values(stage, molecules, {s: {} for s in molecules}, {}) is None
    assert "3 docking scores for 4IVT in the store (need 8)" in messages[-1]


def test_models_train_learns_a_targets_docking_scores_and_asks_for_the_target(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from agent.cli import cli

    molecules = _smallest_bace(24)
    app = build_app()
    upgrade(app.unchecked_store.engine)
    _record_scores(app, {s: -0.25 * Chem.MolFromSmiles(s).GetNumHeavyAtoms() for s in molecules}, "4IVT")
    _record_scores(app, {s: -5.0 for s in molecules[:3]}, "1IEP")
    result = CliRunner().invoke(cli, ["models", "train", "-p", "docking_score", "--target", "4ivt", "--json"])
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["metrics"]["conditions"] == {"target": "4IVT"} and trained["approved"] is True
    assert trained["metrics"]["n_train"] + trained["metrics"]["n_test"] == 24  # 4IVT's scores only
    assert "24 molecules, target 4IVT" in trained["trained_on"]
    assert app.predictors.latest("docking_score", {"target": "4IVT"}).version == trained["id"]
    untargeted = CliRunner().invoke(cli, ["models", "train", "-p", "docking_score", "--json"])
    assert untargeted.exit_code == 2 and "give --target" in untargeted.output
    listed = CliRunner().invoke(cli, ["models", "list"])
    assert "docking_score (target 4IVT)" in listed.stdout


def test_the_example_docking_campaign_file_has_a_docked_stage_of_a_bundled_target() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    example = CampaignSpec.from_data(yaml.safe_load((root / "examples" / "campaign_docking.yaml").read_text()), "examples/campaign_docking.yaml")
    (stage,) = example.stages
    assert (stage.evaluation, stage.target, stage.dock_top, stage.keep_fraction) == ("docked", "4IVT", 24, 0.34)
    assert (root / str(example.pool.file)).is_file()
