"""select_experiments: rank candidates by an objective under constraints, measured values first, predictions otherwise.
The score is the campaigns' (``tools.acquisition.acquisition_score``): greedy for ``mean``, UCB for ``ucb``."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Literal

from pydantic import Field

from tools.acquisition import acquisition_score
from tools.base import Tool, ToolContext
from tools.candidates import invalid_input, read_candidates
from tools.errors import ToolInputError
from tools.names import resolve_molecule
from tools.predict.access import model_for_prediction
from tools.records import Records
from tools.schemas import MAX_MOLECULES_PER_EXPERIMENT, Constraint, InvalidInput, ModelInfo, Objective, ToolInput, ToolOutput


class SelectExperimentsInput(ToolInput):
    candidates: list[str] = Field(default_factory=list, description="SMILES or names to choose from")
    candidates_file: str | None = Field(default=None, description="A file of candidate SMILES")
    from_store: bool = Field(default=False, description="Choose among every molecule in the store")
    objective: Objective
    constraints: list[Constraint] = Field(default_factory=list)
    top_k: int = Field(default=5, ge=1, le=MAX_MOLECULES_PER_EXPERIMENT)
    strategy: Literal["mean", "ucb"] = Field(default="mean", description="Rank by predicted mean, or mean + kappa*sigma")
    kappa: float = Field(default=1.0, ge=0, le=5)
    exclude_measured: bool = Field(default=False, description="Skip molecules with a measurement of the objective")


class PropertyEstimate(ToolOutput):
    value: float
    uncertainty: float
    source: Literal["measured", "predicted"]


class Candidate(ToolOutput):
    smiles: str
    score: float
    feasible: bool
    estimates: dict[str, PropertyEstimate]


class SelectExperimentsOutput(ToolOutput):
    selected: list[Candidate]
    selected_smiles: list[str]
    n_candidates: int
    n_feasible: int
    models: list[ModelInfo]
    invalid: list[InvalidInput]


async def select_experiments(ctx: ToolContext, args: SelectExperimentsInput) -> SelectExperimentsOutput:
    from knowledge.chem import canonicalize
    from knowledge.errors import UnknownProperty
    from knowledge.models import Molecule

    texts = list(args.candidates)
    texts_from_file = read_candidates(ctx, args.candidates_file, "candidates file") if args.candidates_file else []
    texts += texts_from_file
    if args.from_store:
        from sqlmodel import select

        with ctx.store.session() as session:
            texts += [row for row in session.exec(select(Molecule.smiles))]
    if not texts:
        raise ToolInputError("no candidates: give candidates, candidates_file, or from_store=true")
    candidates: dict[str, str] = {}
    invalid = []
    given = len(args.candidates)
    for position, text in enumerate(texts):
        try:
            smiles = resolve_molecule(text)
        except ToolInputError as error:
            from_file = args.candidates_file if given <= position < given + len(texts_from_file) else None
            invalid.append(invalid_input(text, error, position - given, from_file))
            continue
        candidates.setdefault(canonicalize(smiles).inchikey, smiles)
    try:
        properties = [ctx.store.properties.get(args.objective.property).name] + [ctx.store.properties.get(c.property).name for c in args.constraints]
    except UnknownProperty as error:
        raise ToolInputError(str(error)) from error
    estimates: dict[str, dict[str, PropertyEstimate]] = defaultdict(dict)
    models = []
    for property_name in dict.fromkeys(properties):
        measured: dict[str, list[float]] = defaultdict(list)
        for m in ctx.store.measurements(property_name, qc_status="passed"):
            measured[m.inchikey].append(m.value)
        to_predict = [(key, smiles) for key, smiles in candidates.items() if key not in measured]
        for key in candidates:
            if key in measured:
                values = measured[key]
                spread = math.sqrt(sum((v - sum(values) / len(values)) ** 2 for v in values) / len(values))
                estimates[key][property_name] = PropertyEstimate(value=sum(values) / len(values), uncertainty=spread, source="measured")
        if to_predict:
            predictor, info = model_for_prediction(ctx.predictors, property_name)
            models.append(ModelInfo(**info))
            for (key, _), item in zip(to_predict, predictor.predict([s for _, s in to_predict]), strict=True):
                if hasattr(item, "value"):
                    estimates[key][property_name] = PropertyEstimate(value=item.value, uncertainty=item.uncertainty, source="predicted")
    objective = ctx.store.properties.get(args.objective.property).name
    sign = 1.0 if args.objective.direction == "maximize" else -1.0
    ranked = []
    for key, smiles in candidates.items():
        own = estimates.get(key, {})
        if objective not in own:
            continue
        if args.exclude_measured and own[objective].source == "measured":
            continue
        feasible = all(
            ctx.store.properties.get(c.property).name in own and c.holds(own[ctx.store.properties.get(c.property).name].value)
            for c in args.constraints
        )
        estimate = own[objective]
        score = acquisition_score(
            "ucb" if args.strategy == "ucb" else "greedy", sign * estimate.value, estimate.uncertainty,
            incumbent=None, feasible=1.0 if feasible else 0.0, kappa=args.kappa,
        )
        ranked.append(Candidate(smiles=smiles, score=score, feasible=feasible, estimates=own))
    ranked.sort(key=lambda c: (not c.feasible, -c.score, c.smiles))
    feasible_ranked = [c for c in ranked if c.feasible]
    selected = feasible_ranked[: args.top_k]
    return SelectExperimentsOutput(
        selected=selected,
        selected_smiles=[c.smiles for c in selected],
        n_candidates=len(candidates),
        n_feasible=len(feasible_ranked),
        models=models,
        invalid=invalid,
    )



def records(output: SelectExperimentsOutput) -> Records:
    return Records(model_versions=tuple(output.models))


TOOL = Tool(
    "select_experiments",
    "Rank candidate molecules by an objective under constraints, using measured values where known and predictions otherwise; returns the top_k feasible ones.",
    SelectExperimentsInput,
    SelectExperimentsOutput,
    select_experiments,
    effect="compute",
    timeout_s=600,
    records=records,
)
