"""predict_property: a property, with an uncertainty, from the newest approved model of it (a large pool of molecules
prepared by compute jobs first, ``PredictorRegistry.predict``)."""

from __future__ import annotations

from pydantic import Field

from tools.base import Tool, ToolContext
from tools.errors import ToolInputError
from tools.names import resolve_molecule
from tools.predict.access import model_for_prediction
from tools.predict.base import PredictedValue
from tools.records import PredictionRecord, Records
from tools.schemas import InvalidInput, ModelInfo, ToolInput, ToolOutput


class PredictPropertyInput(ToolInput):
    smiles: list[str] = Field(min_length=1, max_length=5000, description="SMILES or common names")
    property: str = Field(description="Property name, e.g. logS, pIC50, logD, hydration_free_energy")


class Predicted(ToolOutput):
    smiles: str
    inchikey: str
    property: str
    value: float
    uncertainty: float
    unit: str


class PredictPropertyOutput(ToolOutput):
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
    # a pool of thousands is prepared by compute jobs first when the executor runs several at once
    results = ctx.predictors.predict(predictor, resolved, executor=ctx.executor) if resolved else []
    predictions = []
    for item in results:
        if isinstance(item, PredictedValue):
            predictions.append(
                Predicted(smiles=item.smiles, inchikey=item.inchikey, property=spec.name, value=item.value, uncertainty=item.uncertainty, unit=spec.canonical_unit)
            )
        else:
            failures.append(InvalidInput(input=item.smiles, error=item.error))
    if not predictions:
        raise ToolInputError(f"none of the molecules could be predicted: {'; '.join(f.error for f in failures)}")
    return PredictPropertyOutput(predictions=predictions, failures=failures, model=ModelInfo(**info))



def records(output: PredictPropertyOutput) -> Records:
    version = output.model.version
    return Records(
        model_versions=(output.model,),
        predictions=tuple(
            PredictionRecord(smiles=p.smiles, property=p.property, value=p.value, uncertainty=p.uncertainty, unit=p.unit, model_version=version)
            for p in output.predictions
        ),
    )


TOOL = Tool(
    "predict_property",
    "Predict a property (with an uncertainty) for molecules with the newest approved model.",
    PredictPropertyInput,
    PredictPropertyOutput,
    predict_property,
    effect="compute",
    timeout_s=600,
    records=records,
)
