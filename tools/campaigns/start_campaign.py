"""start_campaign: a closed-loop campaign on the lab (physical: its experiments count against the run's lab budget)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tools.base import Tool, ToolContext
from tools.errors import ToolFailed, ToolInputError
from tools.schemas import MAX_MOLECULES_PER_EXPERIMENT, Constraint, Objective, ToolInput, ToolOutput


class DockingStageInput(ToolInput):
    """Dock the best-predicted candidates of each iteration before the lab; only the best docking scores go on."""

    target: str = Field(description="Docking target's name, e.g. 4IVT (BACE-1) or 1IEP (Abl kinase)")
    dock_top: int = Field(default=32, ge=1, le=500, description="How many of the best-predicted candidates to dock per iteration")
    threshold: float | None = Field(default=None, le=0, description="Send only scores at or below this (kcal/mol); default: the best quarter of the docked")
    exhaustiveness: int = Field(default=8, ge=1, le=32, description="Vina's search effort")


class StartCampaignInput(ToolInput):
    name: str = Field(default="campaign from a request", max_length=200)
    objective: Objective
    target: float | None = Field(default=None, description="An objective value that counts as a hit")
    constraints: list[Constraint] = Field(default_factory=list)
    pool_file: str | None = Field(default=None, description="A file of candidate SMILES")
    from_store: bool = Field(default=False, description="Use every molecule in the store as the pool")
    experiments: int = Field(default=64, ge=4, le=MAX_MOLECULES_PER_EXPERIMENT, description="Molecules to measure in all")
    batch_size: int = Field(default=8, ge=1, le=32)
    initial: int = Field(default=16, ge=1, le=48, description="Molecules measured before the first model")
    initial_design: Literal["clusters", "random"] = Field(
        default="clusters", description="clusters: one molecule per k-means cluster of the pool; random: drawn uniformly"
    )
    acquisition: Literal["ei", "ucb", "thompson", "greedy", "random"] = "ei"
    docking: DockingStageInput | None = Field(default=None, description="A docking stage between the models and the lab")


class StartCampaignOutput(ToolOutput):
    campaign_id: str
    experiments: int
    iterations: int
    best: list[dict[str, Any]]
    report_path: str | None
    world_eval: dict[str, Any] | None = None


async def start_campaign(ctx: ToolContext, args: StartCampaignInput) -> StartCampaignOutput:
    launcher = ctx.campaigns
    if launcher is None:
        raise ToolFailed("campaigns are not available in this run")
    if (args.pool_file is None) == (not args.from_store):
        raise ToolInputError("give exactly one pool: pool_file, or from_store=true")
    request = args.model_dump(mode="json")
    if args.pool_file is not None:
        request["pool_file"] = str(ctx.paths.resolve(args.pool_file, what="pool file", base=ctx.data_dir))
    import asyncio

    # the campaign drives its own event loop (the lab is async): run it off this one
    result = await asyncio.to_thread(launcher, request)
    return StartCampaignOutput(**result)


TOOL = Tool(
    "start_campaign",
    "Run a closed-loop campaign on the lab: measure a random start, then batches chosen by a model that is fine-tuned on every result, until the experiment budget is used. Physical.",
    StartCampaignInput,
    StartCampaignOutput,
    start_campaign,
    effect="physical",
    timeout_s=7200,
    lab_cost=lambda args: args.experiments,
)
