"""A campaign judged after the fact by the simulated world's ground truth, which its models never see."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.campaign_spec import CampaignSpec

TOP_SHARE = 0.02  # the share of the pool that counts as its best


def world_eval(spec: CampaignSpec, pool: Sequence[str], measured: Collection[str], world_seed: int) -> dict[str, Any]:
    """How many of the true top 2% of ``pool`` (by the objective, among molecules whose true values meet the
    constraints; ties at the cut included, ``simulators.world.best_share``) the campaign measured (``measured``:
    InChIKeys), and how many a random choice of the same size would find on average; and, when the objective has a
    target, the same for every molecule whose true value meets it and the constraints (``target_found``,
    ``target_total``, ``target_random_expected``): a broader, less noisy measure. ``world_seed`` seeds the world
    the campaign's lab simulated (the lab's seed plus the spec's)."""
    from knowledge.chem import canonicalize
    from simulators.world import SimWorld, WorldConfig, best_share

    world = SimWorld(WorldConfig(seed=world_seed))
    objective = spec.objectives[0]
    sign = 1.0 if objective.direction == "maximize" else -1.0
    truth = []
    for smiles in pool:
        values = {prop: world.true_value(smiles, prop) for prop in spec.properties()}
        if all(c.holds(values[c.property]) for c in spec.constraints):
            truth.append((sign * values[objective.property], canonicalize(smiles).inchikey))
    top = best_share(truth, TOP_SHARE)
    measured = set(measured)
    pool_size = max(1, len(pool))
    result: dict[str, Any] = {
        "top2pct_found": len(top & measured),
        "top2pct_total": len(top),
        "random_expected": len(measured) * len(top) / pool_size,
        "experiments": len(measured),
        "pool": len(pool),
    }
    if objective.target is not None:
        meeting = {key for value, key in truth if value >= sign * objective.target}
        result.update(
            target_found=len(meeting & measured),
            target_total=len(meeting),
            target_random_expected=len(measured) * len(meeting) / pool_size,
        )
    return result
