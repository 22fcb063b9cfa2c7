"""Calibration: how predictions compared with the measurements they motivated (one join in the store)."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict
from sqlmodel import col, select

from knowledge.models import Measurement, Molecule, Prediction
from knowledge.store import KnowledgeStore

Z90 = 1.6448536269514722  # two-sided 90% interval of a normal distribution


class CalibrationPair(BaseModel):
    model_config = ConfigDict(frozen=True)

    smiles: str
    predicted: float
    sigma: float
    measured: float


class CalibrationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    model_version: str
    n: int
    rmse: float | None
    mae: float | None
    mean_sigma: float | None
    coverage90: float | None
    z_rms: float | None  # root mean square of (measured - predicted) / sigma: 1 when σ is honest
    pairs: list[CalibrationPair]


def calibration(store: KnowledgeStore, model_version: str) -> CalibrationReport:
    """Predicted vs measured for every measurement that followed a prediction of ``model_version``
    (QC-passed measurements only)."""
    with store.session() as session:
        rows = session.exec(
            select(Prediction.value, Prediction.uncertainty, Measurement.value, Molecule.smiles)
            .join(Measurement, col(Measurement.prediction_id) == col(Prediction.id))
            .join(Molecule, col(Prediction.molecule_id) == col(Molecule.id))
            .where(Prediction.model_version_id == model_version, Measurement.qc_status == "passed")
            .order_by(col(Measurement.id))
        ).all()
    pairs = [CalibrationPair(smiles=smiles, predicted=p, sigma=s, measured=m) for p, s, m, smiles in rows]
    if not pairs:
        return CalibrationReport(model_version=model_version, n=0, rmse=None, mae=None, mean_sigma=None, coverage90=None, z_rms=None, pairs=[])
    errors = [pair.measured - pair.predicted for pair in pairs]
    z = [e / pair.sigma for e, pair in zip(errors, pairs, strict=True) if pair.sigma > 0]
    return CalibrationReport(
        model_version=model_version,
        n=len(pairs),
        rmse=math.sqrt(sum(e * e for e in errors) / len(errors)),
        mae=sum(abs(e) for e in errors) / len(errors),
        mean_sigma=sum(p.sigma for p in pairs) / len(pairs),
        coverage90=sum(abs(e) <= Z90 * pair.sigma for e, pair in zip(errors, pairs, strict=True)) / len(pairs),
        z_rms=math.sqrt(sum(v * v for v in z) / len(z)) if z else None,
        pairs=pairs,
    )
