"""The tools the agent plans with. Each is a plain ``Tool`` record; the composition root registers them.

Tools read the store and compute; they never write it. What they produce (molecules, predictions, model
versions, measurements) is in their output, and the agent's record step writes it with provenance.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.base import Tool, ToolContext
from tools.errors import ToolFailed, ToolInputError
from tools.names import resolve_molecule
from tools.paths import AllowedPaths
from tools.predict.access import model_for_prediction

MAX_MOLECULES_PER_EXPERIMENT = 96


class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


def _resolve_all(molecules: list[str]) -> list[str]:
    return [resolve_molecule(m) for m in molecules]


def _read_candidates(ctx: ToolContext, path_text: str, what: str) -> list[str]:
    """SMILES from a file the planner named: only under the allowed folders (a relative path is looked up in the
    working directory, then in the data directory), decoded by the one text reader."""
    from knowledge.textfiles import UnreadableFile, read_smiles_file

    path = ctx.paths.resolve(path_text, what=what, base=ctx.data_dir)
    try:
        return read_smiles_file(path, what=what)
    except UnreadableFile as error:
        raise ToolInputError(f"{path_text}: {error.reason}") from error


def _invalid(text: str, error: ToolInputError, index_in_file: int, file: str | None) -> InvalidInput:
    """An input that is not a molecule. One read from a file is named by its place in the file, not by its text: a
    file of the wrong kind (a key, a config) must not have its lines sent to the model as "invalid SMILES"."""
    if file is None or index_in_file < 0:
        return InvalidInput(input=text, error=str(error))
    return InvalidInput(input=f"{file}: entry {index_in_file + 1}", error="not a valid SMILES or a known molecule name")


# -- query_knowledge -------------------------------------------------------------------------------------


class QueryKnowledgeInput(_In):
    molecules: list[str] = Field(default_factory=list, description="SMILES or common names; empty for all")
    property: str | None = Field(default=None, description="Property name, e.g. logS or pIC50")
    limit: int = Field(default=50, ge=1, le=1000, description="Most rows to return per kind")


class KnownValue(_Out):
    smiles: str
    property: str
    value: float | None
    uncertainty: float | None
    unit: str | None
    source: str
    detail: str = ""


class QueryKnowledgeOutput(_Out):
    measurements: list[KnownValue]
    predictions: list[KnownValue]
    facts: list[KnownValue]
    molecules_found: list[str]
    molecules_unknown: list[str]


async def query_knowledge(ctx: ToolContext, args: QueryKnowledgeInput) -> QueryKnowledgeOutput:
    from sqlmodel import select

    from knowledge.errors import NotFoundError, UnknownProperty
    from knowledge.models import Document, Fact, Molecule, Prediction

    store = ctx.store
    try:
        property_name = store.properties.get(args.property).name if args.property else None
    except UnknownProperty as error:
        raise ToolInputError(str(error)) from error
    found, unknown, molecule_ids = [], [], []
    for text in args.molecules:
        smiles = resolve_molecule(text)
        try:
            molecule = store.molecule(smiles)
        except NotFoundError:
            unknown.append(smiles)
            continue
        found.append(molecule.smiles)
        molecule_ids.append(molecule.id)
    measurements: list[KnownValue] = []
    if not args.molecules or found:
        for smiles in found or [None]:
            for m in store.measurements(property_name, molecule=smiles, limit=args.limit):
                measurements.append(
                    KnownValue(smiles=m.smiles, property=m.property, value=m.value, uncertainty=m.uncertainty, unit=m.unit, source=m.source, detail=m.qc_status)
                )
    predictions: list[KnownValue] = []
    facts: list[KnownValue] = []
    with store.session() as session:
        prediction_query = select(Prediction, Molecule.smiles).join(Molecule, Prediction.molecule_id == Molecule.id)
        fact_query = select(Fact, Document.title, Molecule.smiles).join(Document, Fact.document_id == Document.id).outerjoin(Molecule, Fact.molecule_id == Molecule.id)
        if molecule_ids:
            prediction_query = prediction_query.where(Prediction.molecule_id.in_(molecule_ids))  # type: ignore[union-attr]
            fact_query = fact_query.where(Fact.molecule_id.in_(molecule_ids))  # type: ignore[union-attr]
        elif args.molecules:
            prediction_query = prediction_query.where(Prediction.id == -1)
            fact_query = fact_query.where(Fact.id == -1)
        if property_name:
            prediction_query = prediction_query.where(Prediction.property == property_name)
            fact_query = fact_query.where(Fact.property == property_name)
        for prediction, smiles in session.exec(prediction_query.order_by(Prediction.id.desc()).limit(args.limit)):  # type: ignore[union-attr]
            predictions.append(
                KnownValue(smiles=smiles, property=prediction.property, value=prediction.value, uncertainty=prediction.uncertainty, unit=prediction.unit, source="predicted", detail=f"model {prediction.model_version_id}")
            )
        for fact, title, smiles in session.exec(fact_query.limit(args.limit)):
            facts.append(
                KnownValue(
                    smiles=smiles or (fact.compound or ""),
                    property=fact.property,
                    value=fact.value,
                    uncertainty=fact.uncertainty,
                    unit=fact.unit,
                    source="literature",
                    detail=f"{title or 'document'} p.{fact.page}: {fact.snippet[:200]}",
                )
            )
    return QueryKnowledgeOutput(measurements=measurements, predictions=predictions, facts=facts, molecules_found=found, molecules_unknown=unknown)


# -- register_molecules ----------------------------------------------------------------------------------


class RegisterMoleculesInput(_In):
    smiles: list[str] = Field(default_factory=list, description="SMILES or common names")
    file: str | None = Field(default=None, description="A file of SMILES (one per line, or a CSV with a smiles column)")


class RegisteredMolecule(_Out):
    input: str
    smiles: str
    inchikey: str
    formula: str


class InvalidInput(_Out):
    input: str
    error: str


class RegisterMoleculesOutput(_Out):
    molecules: list[RegisteredMolecule]
    invalid: list[InvalidInput]


async def register_molecules(ctx: ToolContext, args: RegisterMoleculesInput) -> RegisterMoleculesOutput:
    from knowledge.chem import canonicalize

    from_file = _read_candidates(ctx, args.file, "molecule file") if args.file else []
    inputs = list(args.smiles) + from_file
    if not inputs:
        raise ToolInputError("give molecules as smiles or a file")
    molecules, invalid = [], []
    for position, text in enumerate(inputs):
        try:
            structure = canonicalize(resolve_molecule(text))
        except ToolInputError as error:
            invalid.append(_invalid(text, error, position - len(args.smiles), args.file))
            continue
        molecules.append(RegisteredMolecule(input=text, smiles=structure.smiles, inchikey=structure.inchikey, formula=structure.formula))
    return RegisterMoleculesOutput(molecules=molecules, invalid=invalid)


# -- predict_property --------------------------------------------------------------------------------------


class PredictPropertyInput(_In):
    smiles: list[str] = Field(min_length=1, max_length=5000, description="SMILES or common names")
    property: str = Field(description="Property name, e.g. logS, pIC50, logD, hydration_free_energy")


class Predicted(_Out):
    smiles: str
    inchikey: str
    property: str
    value: float
    uncertainty: float
    unit: str


class ModelInfo(_Out):
    version: str
    kind: str
    property: str
    parent_id: str | None
    dataset_hash: str | None
    metrics: dict[str, Any]
    artifact_path: str
    approved: bool
    newly_trained: bool


class PredictPropertyOutput(_Out):
    predictions: list[Predicted]
    failures: list[InvalidInput]
    model: ModelInfo


async def predict_property(ctx: ToolContext, args: PredictPropertyInput) -> PredictPropertyOutput:
    from knowledge.errors import UnknownProperty

    try:
        spec = ctx.store.properties.get(args.property)
    except UnknownProperty as error:
        raise ToolInputError(str(error)) from error
    predictor, info = model_for_prediction(ctx.predictors, spec.name)
    resolved, failures = [], []
    for text in args.smiles:
        try:
            resolved.append(resolve_molecule(text))
        except ToolInputError as error:
            failures.append(InvalidInput(input=text, error=str(error)))
    predictions = []
    for item in predictor.predict(resolved) if resolved else []:
        if hasattr(item, "value"):
            predictions.append(
                Predicted(smiles=item.smiles, inchikey=item.inchikey, property=spec.name, value=item.value, uncertainty=item.uncertainty, unit=spec.canonical_unit)
            )
        else:
            failures.append(InvalidInput(input=item.smiles, error=item.error))
    if not predictions:
        raise ToolInputError(f"none of the molecules could be predicted: {'; '.join(f.error for f in failures)}")
    return PredictPropertyOutput(predictions=predictions, failures=failures, model=ModelInfo(**info))


# -- select_experiments ------------------------------------------------------------------------------------


class Objective(_In):
    property: str
    direction: Literal["maximize", "minimize"] = "maximize"


class Constraint(_In):
    property: str
    op: Literal[">=", ">", "<=", "<"]
    value: float

    def holds(self, x: float) -> bool:
        return {">=": x >= self.value, ">": x > self.value, "<=": x <= self.value, "<": x < self.value}[self.op]


class SelectExperimentsInput(_In):
    candidates: list[str] = Field(default_factory=list, description="SMILES or names to choose from")
    candidates_file: str | None = Field(default=None, description="A file of candidate SMILES")
    from_store: bool = Field(default=False, description="Choose among every molecule in the store")
    objective: Objective
    constraints: list[Constraint] = Field(default_factory=list)
    top_k: int = Field(default=5, ge=1, le=MAX_MOLECULES_PER_EXPERIMENT)
    strategy: Literal["mean", "ucb"] = Field(default="mean", description="Rank by predicted mean, or mean + kappa*sigma")
    kappa: float = Field(default=1.0, ge=0, le=5)
    exclude_measured: bool = Field(default=False, description="Skip molecules with a measurement of the objective")


class PropertyEstimate(_Out):
    value: float
    uncertainty: float
    source: Literal["measured", "predicted"]


class Candidate(_Out):
    smiles: str
    score: float
    feasible: bool
    estimates: dict[str, PropertyEstimate]


class SelectExperimentsOutput(_Out):
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
    texts_from_file = _read_candidates(ctx, args.candidates_file, "candidates file") if args.candidates_file else []
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
            invalid.append(_invalid(text, error, position - given, from_file))
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
        bonus = args.kappa * estimate.uncertainty if args.strategy == "ucb" else 0.0
        ranked.append(Candidate(smiles=smiles, score=sign * estimate.value + bonus, feasible=feasible, estimates=own))
    ranked.sort(key=lambda c: (not c.feasible, -c.score, c.smiles))
    feasible = [c for c in ranked if c.feasible]
    selected = feasible[: args.top_k]
    return SelectExperimentsOutput(
        selected=selected,
        selected_smiles=[c.smiles for c in selected],
        n_candidates=len(candidates),
        n_feasible=len(feasible),
        models=models,
        invalid=invalid,
    )


# -- run_experiment -------------------------------------------------------------------------------------


class RunExperimentInput(_In):
    smiles: list[str] = Field(min_length=1, max_length=MAX_MOLECULES_PER_EXPERIMENT, description="Molecules to make and measure")
    assays: list[Literal["potency", "solubility"]] = Field(default_factory=lambda: ["potency"], min_length=1)

    @field_validator("assays")
    @classmethod
    def _unique(cls, assays: list[str]) -> list[str]:
        return list(dict.fromkeys(assays))


class MeasuredValue(_Out):
    smiles: str
    property: str
    value: float
    uncertainty: float | None
    unit: str
    status: str
    op_id: str
    instrument: str
    conditions: dict[str, Any] = Field(default_factory=dict)


class ExperimentFailure(_Out):
    smiles: str
    error_type: str
    error: str


class RunExperimentOutput(_Out):
    measurements: list[MeasuredValue]
    failures: list[ExperimentFailure]
    makespan_h: float
    simulated: bool


async def run_experiment(ctx: ToolContext, args: RunExperimentInput) -> RunExperimentOutput:
    if ctx.lab is None:
        raise ToolFailed("no lab is configured for this run")
    smiles = _resolve_all(args.smiles)
    report = await ctx.lab.run_assays(smiles, list(args.assays), ctx.op_prefix())
    measurements = [
        MeasuredValue(
            smiles=m.smiles, property=m.property, value=m.value, uncertainty=m.uncertainty, unit=m.unit, status=m.status, op_id=m.op_id, instrument=m.instrument, conditions=m.conditions
        )
        for m in report.measurements
    ]
    failures = [ExperimentFailure(smiles=f.smiles, error_type=f.error_type, error=f.error) for f in report.failures]
    if not measurements:
        raise ToolFailed(f"no molecule could be measured: {'; '.join(f'{f.smiles}: {f.error}' for f in failures)[:500]}")
    return RunExperimentOutput(measurements=measurements, failures=failures, makespan_h=report.makespan_s / 3600.0, simulated=True)


# -- summarize_results -----------------------------------------------------------------------------------


class SummarizeResultsInput(_In):
    focus: str | None = Field(default=None, description="Property to focus on, e.g. pIC50")


class SummarizeResultsOutput(_Out):
    markdown: str
    rows: int
    generated_at: datetime


async def summarize_results(ctx: ToolContext, args: SummarizeResultsInput) -> SummarizeResultsOutput:
    history: list[dict[str, Any]] = list(ctx.extras.get("history", []))
    rows: list[tuple[str, str, str, str]] = []
    for step in history:
        output = step.get("output") or {}
        for m in output.get("measurements", []):
            if args.focus and m["property"] != args.focus:
                continue
            sigma = "" if m.get("uncertainty") is None else f" ± {m['uncertainty']:.2f}"
            rows.append((m["smiles"], m["property"], f"{m['value']:.2f}{sigma} {m.get('unit') or ''}".strip(), m.get("source", "measured" if "op_id" in m else "store")))
        for p in output.get("predictions", []):
            if args.focus and p["property"] != args.focus:
                continue
            rows.append((p["smiles"], p["property"], f"{p['value']:.2f} ± {p['uncertainty']:.2f} {p['unit']}", "predicted"))
    lines = ["| molecule | property | value | source |", "|---|---|---|---|"]
    lines += [f"| `{s}` | {p} | {v} | {src} |" for s, p, v, src in rows]
    return SummarizeResultsOutput(markdown="\n".join(lines) if rows else "No results yet.", rows=len(rows), generated_at=datetime.now())


# -- read_literature --------------------------------------------------------------------------------------


class ReadLiteratureInput(_In):
    paths: list[str] = Field(min_length=1, max_length=200, description="PDF files or folders of PDFs")


class LiteratureFact(_Out):
    compound: str | None
    property: str
    value: float | None
    value_high: float | None
    qualifier: str
    uncertainty: float | None
    unit: str
    page: int
    bbox: tuple[float, float, float, float] | None
    snippet: str
    source: str
    smiles: str | None


class ReadDocumentOutput(_Out):
    path: str
    sha256: str
    title: str | None
    authors: list[str]
    pages: int
    flagged_pages: list[tuple[int, str]]
    facts: list[LiteratureFact]
    skipped: dict[str, int]


class ReadLiteratureOutput(_Out):
    documents: list[ReadDocumentOutput]
    unreadable: list[InvalidInput]


def literature_files(paths: list[str], allowed: AllowedPaths | None = None) -> list[Path]:
    """The PDF files ``paths`` name (files, or folders searched recursively). With ``allowed`` (paths a planner
    chose), every path and every file found in a folder must lie under the allowed folders, symlinks followed;
    without it (paths the user typed), any readable path will do."""
    files: list[Path] = []
    for text in paths:
        path = allowed.resolve(text, what="document path") if allowed is not None else Path(text).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() == ".pdf" and p.is_file())
            files += [allowed.resolve(str(p), what="document") for p in found] if allowed is not None else found
        elif path.exists():
            files.append(path)
        else:
            raise ToolInputError(f"no such file or folder: {text}")
    return files


def read_one_document(ctx_store: Any, path: Path) -> ReadDocumentOutput:
    from tools.literature.pdf import read_pdf

    document = read_pdf(path, properties=ctx_store.properties, units=ctx_store.units)
    data = document.model_dump(mode="json")
    data["path"] = str(path)
    data["facts"] = [{k: f[k] for k in LiteratureFact.model_fields} for f in data["facts"]]
    return ReadDocumentOutput(**{k: data[k] for k in ReadDocumentOutput.model_fields})


async def read_literature(ctx: ToolContext, args: ReadLiteratureInput) -> ReadLiteratureOutput:
    """Text from documents is returned as data; nothing in it is executed or followed."""
    import asyncio

    documents, unreadable = [], []
    for path in literature_files(args.paths, ctx.paths):
        try:
            documents.append(await asyncio.to_thread(read_one_document, ctx.store, path))
        except ToolInputError as error:
            unreadable.append(InvalidInput(input=str(path), error=str(error)))
    if not documents:
        raise ToolFailed(f"no document could be read: {'; '.join(u.error for u in unreadable)[:500]}")
    return ReadLiteratureOutput(documents=documents, unreadable=unreadable)


# -- start_campaign --------------------------------------------------------------------------------------


class StartCampaignInput(_In):
    name: str = Field(default="campaign from a request", max_length=200)
    objective: Objective
    target: float | None = Field(default=None, description="An objective value that counts as a hit")
    constraints: list[Constraint] = Field(default_factory=list)
    pool_file: str | None = Field(default=None, description="A file of candidate SMILES")
    from_store: bool = Field(default=False, description="Use every molecule in the store as the pool")
    experiments: int = Field(default=64, ge=4, le=MAX_MOLECULES_PER_EXPERIMENT, description="Molecules to measure in all")
    batch_size: int = Field(default=8, ge=1, le=32)
    initial_random: int = Field(default=16, ge=1, le=48)
    acquisition: Literal["ei", "ucb", "thompson", "greedy", "random"] = "ei"


class StartCampaignOutput(_Out):
    campaign_id: str
    experiments: int
    iterations: int
    best: list[dict[str, Any]]
    report_path: str | None
    world_eval: dict[str, Any] | None = None


async def start_campaign(ctx: ToolContext, args: StartCampaignInput) -> StartCampaignOutput:
    launcher = ctx.extras.get("campaign_launcher")
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


def default_tools() -> list[Tool[Any, Any]]:
    return [
        Tool("query_knowledge", "Look up what the knowledge store holds: measurements, predictions and literature facts, for molecules and/or a property.", QueryKnowledgeInput, QueryKnowledgeOutput, query_knowledge, effect="read", timeout_s=60),
        Tool("register_molecules", "Validate molecules (SMILES, common names, or a file of SMILES) and register them in the knowledge store.", RegisterMoleculesInput, RegisterMoleculesOutput, register_molecules, effect="compute", timeout_s=120),
        Tool("predict_property", "Predict a property (with an uncertainty) for molecules with the newest approved model.", PredictPropertyInput, PredictPropertyOutput, predict_property, effect="compute", timeout_s=600),
        Tool("select_experiments", "Rank candidate molecules by an objective under constraints, using measured values where known and predictions otherwise; returns the top_k feasible ones.", SelectExperimentsInput, SelectExperimentsOutput, select_experiments, effect="compute", timeout_s=600),
        Tool("run_experiment", "Make molecules and measure them on the lab (potency against BACE-1 as pIC50, kinetic solubility as logS). A physical operation.", RunExperimentInput, RunExperimentOutput, run_experiment, effect="physical", timeout_s=3600, lab_cost=lambda args: len(args.smiles)),
        Tool("summarize_results", "Tabulate the measurements and predictions of this run so far.", SummarizeResultsInput, SummarizeResultsOutput, summarize_results, effect="read", timeout_s=30),
        Tool("read_literature", "Read PDFs (files or folders): title, tables and property values with units, compound labels, page and snippet for each value.", ReadLiteratureInput, ReadLiteratureOutput, read_literature, effect="read", timeout_s=3600),
        Tool("start_campaign", "Run a closed-loop campaign on the lab: measure a random start, then batches chosen by a model that is fine-tuned on every result, until the experiment budget is used. Physical.", StartCampaignInput, StartCampaignOutput, start_campaign, effect="physical", timeout_s=7200, lab_cost=lambda args: args.experiments),
    ]
