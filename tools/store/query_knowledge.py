"""query_knowledge: what the store holds (measurements, predictions, literature facts) for molecules or a property."""

from __future__ import annotations

from pydantic import Field

from tools.base import Tool, ToolContext
from tools.errors import ToolInputError
from tools.names import resolve_molecule
from tools.schemas import ToolInput, ToolOutput


class QueryKnowledgeInput(ToolInput):
    molecules: list[str] = Field(default_factory=list, description="SMILES or common names; empty for all")
    property: str | None = Field(default=None, description="Property name, e.g. logS or pIC50")
    limit: int = Field(default=50, ge=1, le=1000, description="Most rows to return per kind")


class KnownValue(ToolOutput):
    smiles: str
    property: str
    value: float | None
    uncertainty: float | None
    unit: str | None
    source: str
    detail: str = ""


class QueryKnowledgeOutput(ToolOutput):
    measurements: list[KnownValue]
    predictions: list[KnownValue]
    facts: list[KnownValue]
    molecules_found: list[str]
    molecules_unknown: list[str]


async def query_knowledge(ctx: ToolContext, args: QueryKnowledgeInput) -> QueryKnowledgeOutput:
    from sqlmodel import col, select

    from knowledge.errors import NotFoundError, UnknownProperty
    from knowledge.models import Document, Fact, Molecule, Prediction

    store = ctx.store
    try:
        property_name = store.properties.get(args.property).name if args.property else None
    except UnknownProperty as error:
        raise ToolInputError(str(error)) from error
    found: list[str] = []
    unknown: list[str] = []
    molecule_ids: list[int | None] = []
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
        targets: list[str | None] = [*found] if found else [None]
        for target in targets:
            for m in store.measurements(property_name, molecule=target, limit=args.limit):
                measurements.append(
                    KnownValue(smiles=m.smiles, property=m.property, value=m.value, uncertainty=m.uncertainty, unit=m.unit, source=m.source, detail=m.qc_status)
                )
    predictions: list[KnownValue] = []
    facts: list[KnownValue] = []
    with store.session() as session:
        prediction_query = select(Prediction, Molecule.smiles).join(Molecule, col(Prediction.molecule_id) == col(Molecule.id))
        fact_query = select(Fact, Document.title, Molecule.smiles).join(Document, col(Fact.document_id) == col(Document.id)).outerjoin(Molecule, col(Fact.molecule_id) == col(Molecule.id))
        if molecule_ids:
            prediction_query = prediction_query.where(col(Prediction.molecule_id).in_(molecule_ids))
            fact_query = fact_query.where(col(Fact.molecule_id).in_(molecule_ids))
        elif args.molecules:
            prediction_query = prediction_query.where(Prediction.id == -1)
            fact_query = fact_query.where(Fact.id == -1)
        if property_name:
            prediction_query = prediction_query.where(Prediction.property == property_name)
            fact_query = fact_query.where(Fact.property == property_name)
        for prediction, smiles in session.exec(prediction_query.order_by(col(Prediction.id).desc()).limit(args.limit)):
            predictions.append(
                KnownValue(
                    smiles=smiles, property=prediction.property, value=prediction.value,
                    uncertainty=prediction.uncertainty, unit=prediction.unit, source="predicted",
                    detail=f"model {prediction.model_version_id}",
                )
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


TOOL = Tool(
    "query_knowledge",
    "Look up what the knowledge store holds: measurements, predictions and literature facts, for molecules and/or a property.",
    QueryKnowledgeInput,
    QueryKnowledgeOutput,
    query_knowledge,
    effect="read",
    timeout_s=60,
)
