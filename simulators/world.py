"""The simulated world: a hidden ground truth that simulated instruments measure, with noise.

Ground truth comes from real data shipped with AtomLoop (``knowledge.bundled``): measured logS from ESOL,
logD from Lipophilicity, BACE-1 pIC50 from MoleculeNet BACE, hydration free energy from FreeSolv
(replicates of one InChIKey averaged). A molecule outside a property's dataset gets the answer of a hidden
model built when the world is created: similarity-weighted k-nearest neighbours on Morgan fingerprints
(radius 2, 2048 bits; k = 5, weights = Tanimoto³) over the whole dataset, shrunk toward the dataset mean
when the nearest neighbours are dissimilar, plus a per-molecule residual drawn from N(0, σ_model) seeded by
(world seed, InChIKey). Which answers come from data and which from the model is written only to the
world's own log (``SimWorld.log``), never into a measurement.

Every random draw comes from a ``numpy.random.Generator`` seeded by the world seed and a stable key
(an op_id, an InChIKey), so the same seed and the same calls give the same readings in any order.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from knowledge.bundled import BUNDLED_DATASETS, bundled_dir
from knowledge.chem import canonicalize

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

TruthSource = Literal["dataset", "model"]


class WorldConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    seed: int = 0
    assay_noise: dict[str, float] = Field(
        default_factory=lambda: {"pIC50": 0.3, "logS": 0.5, "logD": 0.2, "hydration_free_energy": 0.6},
        description="Standard deviation of one measurement around the truth, in the property's unit",
    )
    model_residual_sd: dict[str, float] = Field(
        default_factory=lambda: {"pIC50": 0.5, "logS": 0.6, "logD": 0.5, "hydration_free_energy": 0.8},
        description="Spread of the hidden model's answers for molecules outside the data",
    )
    drift_amplitude: dict[str, float] = Field(
        default_factory=lambda: {"pIC50": 0.1, "logS": 0.1},
        description="Slow, bounded instrument drift (reagent lots, temperature): amplitude of a sine over time",
    )
    drift_period_days: float = 14.0
    plate_signal_noise_pct: float = Field(default=2.0, description="Reader noise on % activity")
    edge_effect_pct: float = Field(default=4.0, description="Signal lost in edge wells (evaporation)")
    knn_k: int = 5


@dataclass(frozen=True)
class PropertyTruth:
    property: str
    values: dict[str, float]  # InChIKey -> mean measured value
    smiles: dict[str, str]


class WorldLogEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    detail: dict[str, Any]


def best_share(scored: Iterable[tuple[float, str]], fraction: float) -> frozenset[str]:
    """The keys of the best ``fraction`` of ``(score, key)`` pairs (higher is better): the ``ceil(fraction * n)``
    best (at least one), and every key tied with the last of them (molecules of equal true value are equally top;
    BACE has twelve at pIC50 8.699, 2 nM, where its top 2% ends)."""
    ranked = sorted(scored, key=lambda pair: pair[0], reverse=True)
    if not ranked:
        return frozenset()
    cut = ranked[max(1, math.ceil(fraction * len(ranked))) - 1][0]
    return frozenset(key for score, key in ranked if score >= cut)


def stable_int(*parts: object) -> int:
    """A 64-bit integer from the parts, the same in every process (unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def load_bundled_truth() -> dict[str, PropertyTruth]:
    truths: dict[str, PropertyTruth] = {}
    for dataset in BUNDLED_DATASETS:
        sums: dict[str, list[float]] = {}
        smiles: dict[str, str] = {}
        with (bundled_dir() / dataset.filename).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                structure = canonicalize(row[dataset.smiles_column])
                sums.setdefault(structure.inchikey, []).append(float(row[dataset.value_column]))
                smiles.setdefault(structure.inchikey, structure.smiles)
        values = {key: math.fsum(v) / len(v) for key, v in sums.items()}
        truths[dataset.property] = PropertyTruth(property=dataset.property, values=values, smiles=smiles)
    return truths


class _NeighbourModel:
    """Similarity-weighted kNN over Morgan fingerprints (the world's hidden model)."""

    def __init__(self, truth: PropertyTruth, k: int) -> None:
        import numpy as np

        self._keys = sorted(truth.values)
        self._values = np.array([truth.values[key] for key in self._keys])
        self._fingerprints = [_fingerprint(truth.smiles[key]) for key in self._keys]
        self._mean = float(self._values.mean())
        self._k = k

    def predict(self, smiles: str) -> tuple[float, float]:
        """(value, similarity of the nearest neighbour)."""
        import numpy as np
        from rdkit import DataStructs

        similarities = np.array(DataStructs.BulkTanimotoSimilarity(_fingerprint(smiles), self._fingerprints))
        nearest = np.argsort(-similarities, kind="stable")[: self._k]
        weights = similarities[nearest] ** 3
        if weights.sum() <= 1e-12:
            return self._mean, 0.0
        local = float((weights * self._values[nearest]).sum() / weights.sum())
        confidence = float(similarities[nearest[0]])
        return confidence * local + (1.0 - confidence) * self._mean, confidence


def _fingerprint(smiles: str) -> Any:
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    return generator.GetFingerprint(Chem.MolFromSmiles(smiles))


class SimWorld:
    """What is really true in the simulated lab."""

    def __init__(self, config: WorldConfig | None = None, truths: dict[str, PropertyTruth] | None = None) -> None:
        self.config = config or WorldConfig()
        self._truths = truths if truths is not None else load_bundled_truth()
        self._models: dict[str, _NeighbourModel] = {}
        self._model_answers: dict[tuple[str, str], float] = {}
        self.log: list[WorldLogEntry] = []

    @property
    def properties(self) -> list[str]:
        return sorted(self._truths)

    def dataset(self, property_name: str) -> PropertyTruth:
        return self._truths[property_name]

    def rng(self, *key: object) -> np.random.Generator:
        import numpy as np

        return np.random.default_rng([self.config.seed, stable_int(*key)])

    def true_value(self, smiles: str, property_name: str) -> float:
        """The hidden truth of ``property_name`` for the molecule ``smiles`` (any spelling)."""
        structure = canonicalize(smiles)
        truth = self._truths.get(property_name)
        if truth is None:
            raise KeyError(f"the simulated world has no ground truth for {property_name!r}")
        value = truth.values.get(structure.inchikey)
        if value is not None:
            self.log.append(WorldLogEntry(kind="truth", detail={"inchikey": structure.inchikey, "property": property_name, "source": "dataset"}))
            return value
        cache_key = (structure.inchikey, property_name)
        if cache_key not in self._model_answers:
            model = self._models.get(property_name)
            if model is None:
                model = self._models[property_name] = _NeighbourModel(truth, self.config.knn_k)
            base, similarity = model.predict(structure.smiles)
            residual = self.rng("model-residual", property_name, structure.inchikey).normal(
                0.0, self.config.model_residual_sd.get(property_name, 0.5)
            )
            self._model_answers[cache_key] = base + float(residual)
            self.log.append(
                WorldLogEntry(
                    kind="truth",
                    detail={
                        "inchikey": structure.inchikey,
                        "property": property_name,
                        "source": "model",
                        "nearest_similarity": round(similarity, 3),
                    },
                )
            )
        return self._model_answers[cache_key]

    def truth_source(self, smiles: str, property_name: str) -> TruthSource:
        return "dataset" if canonicalize(smiles).inchikey in self._truths[property_name].values else "model"

    def drift(self, property_name: str, at_s: float) -> float:
        """The instrument drift at simulated time ``at_s``: zero at the start, within ± the amplitude."""
        amplitude = self.config.drift_amplitude.get(property_name, 0.0)
        return amplitude * math.sin(2.0 * math.pi * at_s / (self.config.drift_period_days * 86_400.0))

    def noise_sd(self, property_name: str) -> float:
        return self.config.assay_noise.get(property_name, 0.0)
