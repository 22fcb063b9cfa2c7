from __future__ import annotations

import asyncio
import csv

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knowledge.bundled import bundled_dir
from lab.models import SolubilityRequest, SynthesisRequest, WellRef
from simulators.lab import SimLab, SimLabConfig
from simulators.runner import simulate_assays
from simulators.world import SimWorld, WorldConfig

ESOL_FIRST = ("OCC3OC(OCC2OC(OC(C#N)c1ccccc1)C(O)C(O)C2O)C(O)C(O)C3O", -0.77)


def test_dataset_molecules_answer_with_their_measured_value(world: SimWorld) -> None:
    smiles, value = ESOL_FIRST
    assert world.true_value(smiles, "logS") == pytest.approx(value)
    assert world.truth_source(smiles, "logS") == "dataset"
    # replicates of one molecule are averaged (ESOL lists sorbitol/mannitol twice: 0.06 and 1.09)
    assert world.true_value("OCC(O)C(O)C(O)C(O)CO", "logS") == pytest.approx((0.06 + 1.09) / 2)


def test_other_molecules_answer_with_the_hidden_model_deterministically(world: SimWorld) -> None:
    novel = "CC(C)(C)OC(=O)N1CCC(CC1)c1ccc(F)cc1"
    assert world.truth_source(novel, "pIC50") == "model"
    first = world.true_value(novel, "pIC50")
    assert world.true_value(novel, "pIC50") == first
    other_seed = SimWorld(WorldConfig(seed=7), truths={"pIC50": world.dataset("pIC50")})
    assert other_seed.true_value(novel, "pIC50") != pytest.approx(first)
    assert 2 < first < 11
    entries = [e for e in world.log if e.detail.get("inchikey") and e.detail.get("source") == "model"]
    assert entries, "which answer came from the model is in the world's log"


def test_the_hidden_model_tracks_the_data() -> None:
    """Left-out molecules: the kNN model's answers correlate with their measured values."""
    rows = list(csv.DictReader((bundled_dir() / "delaney.csv").open()))
    from scipy.stats import spearmanr

    from knowledge.chem import canonicalize
    from simulators.world import PropertyTruth, _NeighbourModel

    train = rows[::2]
    test = rows[1::2][:200]
    truth = PropertyTruth(
        "logS",
        {canonicalize(r["smiles"]).inchikey: float(r["logp"]) for r in train},
        {canonicalize(r["smiles"]).inchikey: canonicalize(r["smiles"]).smiles for r in train},
    )
    model = _NeighbourModel(truth, k=5)
    predicted = [model.predict(canonicalize(r["smiles"]).smiles)[0] for r in test]
    rho = spearmanr(predicted, [float(r["logp"]) for r in test]).statistic
    assert rho > 0.6


def _solubility_readings(world: SimWorld, smiles: str, op_ids: list[str]) -> list[float]:
    async def run() -> list[float]:
        lab = SimLab(world=world)
        async with lab:
            await lab.instruments.synthesizer.synthesize(SynthesisRequest(op_id="stock", smiles=smiles, destination=WellRef(labware="vial-1")))
            return [
                (await lab.instruments.solubility_meter.measure_solubility(SolubilityRequest(op_id=op, sample=WellRef(labware="vial-1"), smiles=smiles, volume_ul=5))).log_s
                for op in op_ids
            ]

    return asyncio.run(run())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op_ids=st.lists(st.text("abcdef0123456789", min_size=1, max_size=8), min_size=1, max_size=5, unique=True))
def test_same_seed_same_calls_same_readings_inside_physical_ranges(world: SimWorld, op_ids: list[str]) -> None:
    smiles = "CCCCCCCCCC(=O)OC"
    first = _solubility_readings(world, smiles, op_ids)
    assert _solubility_readings(world, smiles, op_ids) == first
    # order does not matter either (up to rounding in the stock's concentration): readings are keyed by op_id
    assert _solubility_readings(world, smiles, op_ids[::-1]) == pytest.approx(first[::-1], abs=1e-12)
    assert all(-12 < value < 2 for value in first)


@pytest.mark.parametrize("every", [3, pytest.param(1, marks=pytest.mark.slow)])  # a third of BACE, or all of it
def test_simulated_potency_matches_the_configured_noise_over_the_bace_set(world: SimWorld, every: int) -> None:
    rows = list(csv.DictReader((bundled_dir() / "bace_pic50.csv").open()))[::every]
    lab = SimLab(SimLabConfig.sized_for(len(rows)), world=world)
    report = asyncio.run(simulate_assays(lab, [r["smiles"] for r in rows], ["potency"]))
    truth = {world_key(world, r["smiles"]): float(r["pIC50"]) for r in rows}
    pairs = [
        (m.value, truth[world_key(world, m.smiles)])
        for m in report.measurements
        if m.property == "pIC50" and m.status == "ok"
    ]
    measured, true = np.array(pairs).T
    rmse = float(np.sqrt(np.mean((measured - true) ** 2)))
    from scipy.stats import spearmanr

    assert len(pairs) > 0.66 * len(rows)  # most were made, passed QC and fell inside the assay's range
    assert 0.8 * 0.3 <= rmse <= 1.2 * 0.3
    assert spearmanr(measured, true).statistic > 0.9
    censored = [m for m in report.measurements if m.property == "pIC50" and m.status != "ok"]
    assert all(m.status in ("below_range", "above_range") for m in censored)


def world_key(world: SimWorld, smiles: str) -> str:
    from knowledge.chem import canonicalize

    return canonicalize(smiles).inchikey


def test_the_best_share_keeps_ties_at_the_cut() -> None:
    from simulators.world import best_share

    scored = [(9.0, "a"), (8.7, "b"), (8.7, "c"), (8.7, "d"), (8.0, "e")] + [(float(i) / 10, f"x{i}") for i in range(45)]
    assert best_share(scored, 0.02) == {"a"}  # ceil(2% of 50) = 1
    assert best_share(scored, 0.04) == {"a", "b", "c", "d"}  # the 2nd best is tied with two more
    assert best_share(scored, 0.08) == {"a", "b", "c", "d"}
    assert best_share(scored, 0.10) == {"a", "b", "c", "d", "e"}
    assert best_share([], 0.02) == frozenset() and best_share([(1.0, "only")], 0.02) == {"only"}


def test_the_bace_top_two_percent_holds_the_molecules_tied_at_2_nm() -> None:
    from knowledge.chem import canonicalize
    from simulators.world import SimWorld, WorldConfig, best_share

    world = SimWorld(WorldConfig(seed=0))
    with (bundled_dir() / "bace_pic50.csv").open(newline="") as handle:
        keys = {canonicalize(row["smiles"]).inchikey: row["smiles"] for row in csv.DictReader(handle)}
    truth = {key: world.true_value(smiles, "pIC50") for key, smiles in keys.items()}
    top = best_share(((value, key) for key, value in truth.items()), 0.02)
    assert len(truth) == 1513 and len(top) == 36  # 31 by rank, then 5 more tied at 8.699 (2 nM)
    assert min(truth[key] for key in top) == pytest.approx(8.69897, abs=1e-4)
    assert canonicalize("CCO").inchikey not in top
