"""The acquisition functions campaigns and select_experiments rank with (tools.acquisition)."""

from __future__ import annotations

import math

import pytest

from tools.acquisition import acquisition_score, expected_improvement, infeasibility_penalty, probability_feasible
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
