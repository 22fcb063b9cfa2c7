"""Fidelity stages: the untried pool passes cheaper evaluations, in order, before the lab."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from agent.app import build_app
from agent.campaign import CampaignRunner
from agent.campaign_spec import CampaignSpec, StageSpec, pass_stage
from knowledge.bundled import bundled_dir
from knowledge.database import upgrade


def test_a_keep_fraction_keeps_the_best_by_value_in_pool_order() -> None:
    values = {"a": 1.0, "b": 5.0, "c": 3.0, "d": 4.0}
    assert pass_stage(StageSpec(property="logS", keep_fraction=0.5), ["a", "b", "c", "d"], values) == ["b", "d"]
    assert pass_stage(StageSpec(property="logS", direction="minimize", keep_fraction=0.5), ["a", "b", "c", "d"], values) == ["a", "c"]


def test_a_threshold_keeps_those_at_or_past_it_and_a_candidate_without_a_value_never_passes() -> None:
    values = {"a": -6.0, "b": -4.0, "c": -5.0, "d": float("nan")}
    assert pass_stage(StageSpec(property="logS", threshold=-5.0), ["a", "b", "c", "d", "e"], values) == ["b", "c"]
    assert pass_stage(StageSpec(property="logS", direction="minimize", threshold=-5.0), ["a", "b", "c", "d"], values) == ["a", "c"]


def test_a_stage_keeps_a_fraction_or_a_threshold_not_both() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        StageSpec(property="logS")
    with pytest.raises(ValueError, match="exactly one"):
        StageSpec(property="logS", keep_fraction=0.5, threshold=-4.0)


def _spec(pool: Path, **extra: object) -> CampaignSpec:
    return CampaignSpec.model_validate(
        {"name": "stages", "objectives": [{"property": "pIC50"}], "pool": {"file": str(pool)}, "models": {"kind": "fingerprint"}, **extra}
    )


def test_a_prefilter_is_read_as_one_predicted_stage(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "pool.csv", prefilter={"property": "logS", "direction": "maximize", "keep_fraction": 0.3})
    assert spec.stages == [StageSpec(evaluation="predicted", property="logS", direction="maximize", keep_fraction=0.3)]


def test_a_stage_on_a_property_the_campaign_does_not_measure_is_predicted_not_taken_in_file_order(tmp_path: Path) -> None:
    """The bug this replaced: a prefilter on a property that was not an objective was never predicted, and the first
    half of the pool in file order passed."""
    rows = list(csv.DictReader((bundled_dir() / "bace_pic50.csv").open()))[::40]  # 38 molecules
    pool = tmp_path / "pool.csv"
    pool.write_text("smiles\n" + "".join(f"{r['smiles']}\n" for r in rows))
    stage = StageSpec(property="logS", keep_fraction=0.25)
    app = build_app()
    upgrade(app.unchecked_store.engine)
    spec = _spec(pool, stages=[stage.model_dump()])
    runner = CampaignRunner(app, spec, "cmp-stage-test")
    candidates = runner.pool()
    estimates: dict[str, dict[str, tuple[float, float]]] = {s: {} for s in candidates}
    values = runner._stage_values(stage, candidates, estimates)
    assert set(values) == set(candidates)  # every candidate was predicted
    assert all(estimates[s]["logS"][1] > 0 for s in candidates)  # with an uncertainty, kept for the acquisition
    kept = pass_stage(stage, candidates, values)
    assert len(kept) == len(candidates) // 4
    best = sorted(candidates, key=lambda s: -values[s])[: len(kept)]
    assert set(kept) == set(best)
    assert kept != candidates[: len(kept)]
    assert len(set(values.values())) > len(candidates) // 2  # real predictions, not one constant
