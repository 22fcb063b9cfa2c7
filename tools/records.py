"""What a tool's result asks the record step to write: each tool declares ``records(output) -> Records``, and the
agent's record step writes these rows, with the step's provenance, in one transaction. The record step knows the
kinds of rows, never the names of tools."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from lab.access import MeasurementSource
from lab.recipes import LabMeasurement
from tools.schemas import ModelInfo


class PredictionRecord(BaseModel):
    """A model's prediction of one property of one molecule."""

    model_config = ConfigDict(frozen=True)

    smiles: str
    property: str
    value: float
    uncertainty: float
    unit: str
    model_version: str


class Records(BaseModel):
    """Rows to store for one tool call. ``documents`` are read documents in the form ``read_literature`` returns
    them (their facts, tables and provenance); ``measurements`` came from a lab whose readings are stored with
    ``measurement_source``."""

    model_config = ConfigDict(frozen=True)

    molecules: tuple[str, ...] = ()
    model_versions: tuple[ModelInfo, ...] = ()
    predictions: tuple[PredictionRecord, ...] = ()
    measurements: tuple[LabMeasurement, ...] = ()
    measurement_source: MeasurementSource = "measured"
    documents: tuple[dict[str, Any], ...] = ()
    docking_reports: tuple[dict[str, Any], ...] = ()  # ``tools.docking.service.DockingReport`` dumps
    computed_measurements: tuple[dict[str, Any], ...] = ()  # ``knowledge.store.NewMeasurement`` dumps (source "computed")
