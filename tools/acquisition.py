"""Acquisition functions: how a candidate's predicted (mean, sigma) and its chance of meeting the constraints become
one score to rank by. Pure functions in a maximisation frame (multiply a minimised property by -1 first); the
campaign loop and ``select_experiments`` both rank with them."""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

AcquisitionKind = Literal["ei", "ucb", "thompson", "greedy", "random"]
SIGMA_FLOOR = 1e-6


class Bound(Protocol):
    """A constraint on one property: at least ``value`` when ``is_lower_bound``, else at most ``value``."""

    property: str
    value: float

    @builtins.property  # the field `property` shadows the builtin in this class body
    def is_lower_bound(self) -> bool: ...


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def normal_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def expected_improvement(mu: float, sigma: float, incumbent: float) -> float:
    """E[max(Y - incumbent, 0)] for Y ~ N(mu, sigma²)."""
    sigma = max(sigma, SIGMA_FLOOR)
    z = (mu - incumbent) / sigma
    return (mu - incumbent) * normal_cdf(z) + sigma * normal_pdf(z)


def upper_confidence_bound(mu: float, sigma: float, kappa: float) -> float:
    return mu + kappa * sigma


def infeasibility_penalty(feasible: float) -> float:
    """What UCB, Thompson and greedy subtract from a score: nothing while the constraints more likely hold than
    not, then enough to rank the candidate below every likely feasible one."""
    return 0.0 if feasible >= 0.5 else 1e3 * (0.5 - feasible)


def probability_feasible(estimates: Mapping[str, tuple[float, float]], constraints: Sequence[Bound]) -> float:
    """The probability that every constraint holds, each property independent and normal with the predicted
    (mean, sigma); 0 when a constrained property has no prediction."""
    feasible = 1.0
    for constraint in constraints:
        mu, sigma = estimates.get(constraint.property, (math.nan, 1.0))
        if math.isnan(mu):
            return 0.0
        z = (mu - constraint.value) / max(sigma, SIGMA_FLOOR)
        feasible *= normal_cdf(z) if constraint.is_lower_bound else normal_cdf(-z)
    return feasible


def acquisition_score(kind: AcquisitionKind, mu: float, sigma: float, *, incumbent: float | None, feasible: float, kappa: float = 1.0) -> float:
    """One candidate's score (larger is better) from its objective's ``mu`` and ``sigma`` in the maximisation frame
    (for Thompson sampling: one draw and sigma 0) and the probability ``feasible`` that the constraints hold. EI is
    weighted by ``feasible`` (over ``mu`` itself when there is no incumbent yet); the others are penalised below
    every likely feasible candidate when it is under one half."""
    if kind == "ei":
        return expected_improvement(mu, sigma, incumbent if incumbent is not None else mu) * feasible
    value = upper_confidence_bound(mu, max(sigma, SIGMA_FLOOR), kappa) if kind == "ucb" else mu
    return value - infeasibility_penalty(feasible)
