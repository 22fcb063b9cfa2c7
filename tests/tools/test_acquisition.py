"""The acquisition functions campaigns and select_experiments rank with (tools.acquisition)."""

from __future__ import annotations

import math

import pytest

from tools.acquisition import (
    acquisition_score,
    diverse_batch,
    expected_improvement,
    incumbent,
    infeasibility_penalty,
    kriging_believer_batch,
    probability_feasible,
    thompson_batch,
)
from tools.predict.base import JointPosterior
from tools.schemas import Constraint


def test_expected_improvement_matches_its_closed_form_and_a_monte_carlo_estimate() -> None:
    import numpy as np

    mu, sigma, incumbent = 7.4, 0.6, 7.8
    draws = np.random.default_rng(0).normal(mu, sigma, 400_000)
    assert expected_improvement(mu, sigma, incumbent) == pytest.approx(float(np.maximum(draws - incumbent, 0).mean()), rel=0.02)
    z = (mu - incumbent) / sigma
    assert expected_improvement(mu, sigma, incumbent) == pytest.approx((mu - incumbent) * 0.5 * (1 + math.erf(z / math.sqrt(2))) + sigma * math.exp(-z * z / 2) / math.sqrt(2 * math.pi))


def test_expected_improvement_without_uncertainty_is_the_plain_improvement() -> None:
    assert expected_improvement(8.0, 0.0, 7.5) == pytest.approx(0.5)
    assert expected_improvement(7.0, 0.0, 7.5) == pytest.approx(0.0, abs=1e-9)


def test_feasibility_is_the_product_of_each_bounds_normal_probability() -> None:
    constraints = [Constraint(property="logS", op=">=", value=-5.0), Constraint(property="pIC50", op="<", value=9.0)]
    assert probability_feasible({"logS": (-5.0, 1.0), "pIC50": (9.0, 0.5)}, constraints) == pytest.approx(0.25)
    assert probability_feasible({"logS": (-3.0, 1.0), "pIC50": (8.0, 0.5)}, constraints) == pytest.approx(0.97725 * 0.97725, abs=1e-4)
    assert probability_feasible({"logS": (-3.0, 1.0)}, constraints) == 0.0  # pIC50 not predicted


def test_scores_rank_as_each_kind_says() -> None:
    sure, long_shot = (8.0, 0.1), (7.5, 1.5)
    assert acquisition_score("ucb", *long_shot, incumbent=None, feasible=1.0, kappa=1.0) > acquisition_score("ucb", *sure, incumbent=None, feasible=1.0, kappa=1.0)
    assert acquisition_score("greedy", *sure, incumbent=None, feasible=1.0) > acquisition_score("greedy", *long_shot, incumbent=None, feasible=1.0)
    assert acquisition_score("ei", *sure, incumbent=7.9, feasible=0.5) == pytest.approx(0.5 * expected_improvement(8.0, 0.1, 7.9))
    assert infeasibility_penalty(0.6) == 0.0 and infeasibility_penalty(0.4) == pytest.approx(100.0)
    assert acquisition_score("greedy", 9.0, 0.1, incumbent=None, feasible=0.4) < acquisition_score("greedy", 7.0, 0.1, incumbent=None, feasible=0.6)


def test_the_incumbent_is_the_kth_best_mean_of_the_measured_and_the_pool_else_the_best_fitted_else_the_reading() -> None:
    fitted, pool = [9.0], [8.6, 7.0, 8.0]
    assert incumbent(fitted, pool, rank=3) == 8.0
    assert incumbent(fitted, pool, rank=2) == 8.6
    assert incumbent(fitted, pool, rank=8) == 7.0  # fewer than 8 count: the last of them
    assert incumbent(fitted, None, rank=8) == 9.0  # no pool means: the best fitted mean
    assert incumbent(fitted, pool, rank=None) == 9.0  # classic EI
    assert incumbent([], [], rank=3, best_reading=6.5) == 6.5  # nothing counts: the best feasible reading
    assert incumbent([], None, rank=None) is None  # nothing measured yet


def _fingerprint(smiles: str) -> object:
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048).GetFingerprint(Chem.MolFromSmiles(smiles))


# Octanol and nonanol have the same Morgan environments (Tanimoto 1.0); every other pair here shares at most 0.42.
OCTANOL, NONANOL, PHENOL, CRESOL, AMIDE = "CCCCCCCCO", "CCCCCCCCCO", "Oc1ccccc1", "Cc1ccc(O)cc1", "CC(=O)NC1CCCCC1"


def test_the_diversity_filter_takes_the_best_scores_and_skips_a_near_copy_of_one_chosen() -> None:
    scores = {OCTANOL: 3.0, NONANOL: 2.5, PHENOL: 2.0, CRESOL: 2.0, AMIDE: 1.0}
    candidates = [AMIDE, CRESOL, PHENOL, NONANOL, OCTANOL, "CCO"]  # ethanol has no score: never chosen
    assert diverse_batch(candidates, scores, 3, 0.7, _fingerprint) == [OCTANOL, CRESOL, PHENOL]  # ties by SMILES
    assert diverse_batch(candidates, scores, 3, 1.0, _fingerprint) == [OCTANOL, NONANOL, CRESOL]  # no limit at 1
    assert diverse_batch(candidates, scores, 2, 0.4, _fingerprint) == [OCTANOL, CRESOL]  # phenol: 0.41 to cresol
    assert diverse_batch(candidates, scores, 9, 0.7, _fingerprint, already=[NONANOL]) == [CRESOL, PHENOL, AMIDE]


class _Posterior:
    """A joint posterior given outright (``tools.predict.base.JointPosterior`` over chosen rows), counting the
    shortlist sizes it was asked for."""

    def __init__(self, names: list[str], mean: list[float], covariance: object, noise: float) -> None:
        self.names, self.mean, self.covariance, self.noise = names, mean, covariance, noise
        self.asked: list[int] = []

    def joint(self, smiles: list[str]) -> JointPosterior:
        import numpy as np

        self.asked.append(len(smiles))
        rows = [self.names.index(s) for s in smiles]
        covariance = np.asarray(self.covariance)[np.ix_(rows, rows)]
        return JointPosterior(tuple(smiles), np.asarray(self.mean)[rows], covariance, self.noise)


def test_the_kriging_believer_conditions_on_each_pick_and_widens_a_shortlist_that_was_too_short() -> None:
    import numpy as np

    # A1-A3: one uncertain series (correlation 0.98); B and C: two independent molecules a little less promising.
    names = ["A1", "A2", "A3", "B", "C", "D"]
    mean = [7.0, 7.0, 6.99, 6.9, 6.8, 5.0]
    covariance = np.diag([1.0, 1.0, 1.0, 0.8, 0.8, 0.1])
    covariance[:3, :3] = np.where(np.eye(3) == 1, 1.0, 0.98)
    model = _Posterior(names, mean, covariance, noise=0.04)
    sigma = np.sqrt(np.diag(covariance) + 0.04)
    index = {s: i for i, s in enumerate(names)}
    marginal = {s: expected_improvement(mean[i], float(sigma[i]), 7.2) for s, i in index.items()}

    def score(smiles: str, mu: float, sd: float) -> float:
        return expected_improvement(mu, sd, 7.2)

    assert sorted(names, key=lambda s: -marginal[s])[:3] == ["A1", "A2", "A3"]  # marginal EI: the series first
    batch = kriging_believer_batch(names, marginal, model.joint, score, 3)
    assert batch == ["A1", "B", "C"]  # once A1 is believed, A2 and A3 lose their uncertainty, not B and C
    assert model.asked == [6]  # 32 a slot: the whole pool at once
    # A shortlist of one a slot: alone, A1 is the pick over the pool; in a batch of three the shortlist A1-A3 is
    # too short (once A1 is believed, A2 scores below B, which was left off), so it grows and gives the batch
    # over the whole pool.
    model.asked.clear()
    assert kriging_believer_batch(names, marginal, model.joint, score, 1, shortlist_per_pick=1) == ["A1"]
    assert kriging_believer_batch(names, marginal, model.joint, score, 3, shortlist_per_pick=1) == batch
    assert model.asked == [1, 3, 6]
    assert kriging_believer_batch(names, {}, model.joint, score, 3) == []  # nothing scored
    assert kriging_believer_batch(names[:2], marginal, model.joint, score, 3) == ["A1", "A2"]  # fewer than asked
    assert kriging_believer_batch(names, marginal, model.joint, score, 0) == []
    assert model.asked == [1, 3, 6, 2]


def test_thompson_sampling_fills_each_slot_from_one_drawn_member() -> None:
    import numpy as np

    # Member 0 ranks octanol first, member 1 the amide; nonanol is a copy of octanol (Tanimoto 1.0).
    members = {OCTANOL: (9.0, 1.0), NONANOL: (8.9, 1.0), AMIDE: (1.0, 9.0), PHENOL: (5.0, 5.0)}
    feasible = dict.fromkeys(members, 1.0)
    first = int(np.random.default_rng(5).integers(2))  # the member the first slot draws
    batch = thompson_batch(members, feasible, 4, np.random.default_rng(5), 0.7, _fingerprint)
    assert batch[0] == (OCTANOL, AMIDE)[first]
    assert sorted(batch) == sorted([OCTANOL, AMIDE, PHENOL])  # nonanol never: too like octanol
    assert thompson_batch(members, feasible, 4, np.random.default_rng(5), 0.7, _fingerprint) == batch  # same seed
    # An infeasible molecule (chance 0.1 of meeting the constraints: penalty 400) comes only when nothing else is left.
    unlikely = {**feasible, AMIDE: 0.1}
    assert thompson_batch(members, unlikely, 3, np.random.default_rng(5), 0.7, _fingerprint)[-1] == AMIDE
    replay = np.random.default_rng(5)
    assert [int(replay.integers(2)) for _ in range(2)] == [1, 1]  # member 1 for both slots: then
    # phenol (5.0) is the best under member 1 once the amide is penalised, then octanol and nonanol tie at 1.0
    # (nonanol first by SMILES).
    assert thompson_batch(members, unlikely, 2, np.random.default_rng(5), 0.7, _fingerprint) == [PHENOL, NONANOL]
    assert thompson_batch({}, {}, 4, np.random.default_rng(5), 0.7, _fingerprint) == []
