"""Acquisition functions: how a candidate's predicted (mean, sigma) and its chance of meeting the constraints become
one score to rank by. Pure functions in a maximisation frame (multiply a minimised property by -1 first); the
campaign loop and ``select_experiments`` both rank with them. The batch rules (the diversity filter, the kriging
believer, Thompson sampling over an ensemble) and EI's incumbent take plain data too: candidates as SMILES, scores
and predictions as mappings, posteriors and fingerprints as callables."""

from __future__ import annotations

import builtins
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)

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


BELIEVER_SHORTLIST_PER_PICK = 32  # the kriging believer's first shortlist: this many candidates a batch slot


def incumbent(
    fitted_means: Sequence[float],
    pool_means: Sequence[float] | None,
    rank: int | None,
    best_reading: float | None = None,
) -> float | None:
    """What expected improvement counts improvement over, in the maximisation frame.

    With ``rank`` k and ``pool_means`` (the model's means at the untried molecules that count, those likely to meet
    the constraints): the k-th best of ``fitted_means`` (the model's means at the measured feasible molecules) and
    ``pool_means`` together, or the last of them when fewer count. A campaign after many good molecules gains from
    each one that would join the best few, not only from one that beats the best. Otherwise (or when nothing
    counts): the best fitted mean, else ``best_reading`` (the best feasible reading; None before any)."""
    if rank is not None and pool_means is not None:
        values = sorted([*fitted_means, *pool_means], reverse=True)
        if values:
            return values[min(rank, len(values)) - 1]
    if fitted_means:
        return max(fitted_means)
    return best_reading


def diverse_batch(
    candidates: Sequence[str],
    scores: Mapping[str, float],
    size: int,
    max_similarity: float,
    fingerprint: Callable[[str], Any],
    already: Sequence[str] = (),
) -> list[str]:
    """Up to ``size`` of the ``candidates`` that have a score, by descending score (ties by SMILES), each at most
    ``max_similarity`` Tanimoto-similar to those chosen before it and to ``already`` (molecules already in the
    batch). ``fingerprint`` gives an RDKit bit vector of a SMILES (the campaign's similarity fingerprint)."""
    from rdkit import DataStructs

    ranked = sorted((s for s in candidates if s in scores), key=lambda s: (-scores[s], s))
    chosen: list[str] = []
    fingerprints: list[Any] = [fingerprint(s) for s in already]
    for smiles in ranked:
        if len(chosen) == size:
            break
        own = fingerprint(smiles)
        if fingerprints and max(DataStructs.BulkTanimotoSimilarity(own, fingerprints)) > max_similarity:
            continue
        chosen.append(smiles)
        fingerprints.append(own)
    return chosen


class Posterior(Protocol):
    """A joint Gaussian posterior over a shortlist (``tools.predict.base.JointPosterior``): means, each molecule's
    predictive sigma, and the posterior after believing one molecule measured at its mean."""

    @builtins.property
    def mean(self) -> Any: ...

    def sigma(self) -> Any: ...

    def believe(self, index: int) -> Posterior: ...


def kriging_believer_batch(
    candidates: Sequence[str],
    scores: Mapping[str, float],
    joint_posterior: Callable[[list[str]], Posterior],
    score: Callable[[str, float, float], float],
    size: int,
    shortlist_per_pick: int = BELIEVER_SHORTLIST_PER_PICK,
) -> list[str]:
    """A batch by the kriging believer (Ginsbourger et al., 2010): the best-scoring candidate, then the joint
    posterior conditioned on it as if it had been measured at its predicted mean (the mean stays, the uncertainty of
    its neighbours shrinks), the scores recomputed, the best of the rest, and so on. A molecule close to one already
    in the batch keeps a high score only if its own mean earns it.

    ``scores`` are the candidates' marginal scores; ``score(smiles, mean, sigma)`` scores one under the conditioned
    posterior (larger is better; it must not grow when sigma shrinks, as EI and UCB do not). The joint posterior is
    taken over a shortlist of the best marginal scores: a pick that still scores at least the best score left off
    the shortlist is the pick over all candidates; when one does not, the shortlist grows and the batch is chosen
    again."""
    import numpy as np

    ranked = sorted((s for s in candidates if s in scores), key=lambda s: (-scores[s], s))
    if not ranked or size < 1:
        return []
    width = min(len(ranked), shortlist_per_pick * size)
    while True:
        shortlist = ranked[:width]
        posterior = joint_posterior(shortlist)
        left_off = scores[ranked[width]] if width < len(ranked) else -math.inf
        chosen: list[int] = []
        exact = True
        while len(chosen) < min(size, len(shortlist)):
            sigma = posterior.sigma()
            current = np.array([
                -math.inf if i in chosen else score(shortlist[i], float(posterior.mean[i]), float(sigma[i]))
                for i in range(len(shortlist))
            ])
            pick = int(np.argmax(current))  # the first of equals: the shortlist is in (-score, SMILES) order
            exact = exact and current[pick] >= left_off
            chosen.append(pick)
            posterior = posterior.believe(pick)
        if exact or width == len(ranked):
            return [shortlist[i] for i in chosen]
        log.debug("kriging believer: a pick scored below the shortlist's edge; widening it from %d", width)
        width = min(len(ranked), width * 4)


def thompson_batch(
    members: Mapping[str, Sequence[float]],
    feasible: Mapping[str, float],
    size: int,
    rng: Any,
    max_similarity: float,
    fingerprint: Callable[[str], Any],
) -> list[str]:
    """Thompson sampling over an ensemble: each slot of the batch goes to the best candidate under one member (in
    the maximisation frame; one member drawn by ``rng``, a numpy Generator, anew for every slot), less the
    ``infeasibility_penalty`` of its chance ``feasible`` of meeting the constraints, skipping candidates more than
    ``max_similarity`` Tanimoto-similar to those already chosen (``diverse_batch``)."""
    import functools

    import numpy as np

    eligible = list(members)
    if not eligible:
        return []
    draws = np.array([members[s] for s in eligible], dtype=float)
    penalty = np.array([infeasibility_penalty(feasible[s]) for s in eligible])
    cached = functools.cache(fingerprint)  # every slot compares the same molecules again
    chosen: list[str] = []
    while len(chosen) < min(size, len(eligible)):
        column = draws[:, rng.integers(draws.shape[1])] - penalty
        slot_scores = {s: float(v) for s, v in zip(eligible, column, strict=True) if s not in chosen}
        picked = diverse_batch(list(slot_scores), slot_scores, 1, max_similarity, cached, already=chosen)
        if not picked:
            break
        chosen.extend(picked)
    return chosen
