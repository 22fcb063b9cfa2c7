"""The fingerprint baseline: Morgan count fingerprints + RDKit descriptors, an ensemble of random forests.

Features: RDKit Morgan count fingerprints (radius 2, 2048 bits, ``rdFingerprintGenerator``) followed by ten
physchem descriptors (``DESCRIPTORS``). Featurization is cached per predictor family in an explicit LRU
(``Featurizer``) keyed by canonical SMILES; parents and their fine-tuned children share it.

Model: ``n_members`` ensemble members, member ``m`` fitted on its own bootstrap with a seed derived from
``(seed, m)``. The bootstrap draws whole Bemis–Murcko scaffold groups (``tools.predict.base.calibration_group``;
``bootstrap="row"`` draws rows), so every member has never seen some chemical series. A member is a forest
(random forest by default, or extra trees) on the features, optionally on top of a ridge regression on the
standardised descriptors (``baseline``): the forest then learns the ridge's residuals, and the sum can
extrapolate beyond the training range, which a forest alone cannot (hydration free energies and solubilities are
close to linear in a few descriptors; potencies are not). ``baseline="auto"`` (the default) fits both kinds on the
same bootstraps and keeps the one with the smaller out-of-bag RMSE, so the choice is made on the training rows
alone. The prediction is the ensemble mean.

Uncertainty (one standard deviation): ``sigma(x) = sqrt(between-member variance at x + s(t(x))²)``, where ``t(x)``
is the Tanimoto similarity of x's fingerprint bits to its nearest training molecule and ``s`` a non-increasing
function of it (``ResidualScale``), calibrated out of bag: each training row gets the mean prediction of the
members whose bootstrap left it out and its similarity to the nearest row those members did see; the rows are
binned by that similarity (up to five bins of equal count), and in each bin ``1.645 s`` is the 90th percentile of
``|y - oob mean|``. With scaffold bootstraps the rows left out are rows of series a member has never seen, as a
campaign's or a scaffold split's new molecules are (row bootstraps gave intervals covering only 0.73-0.78 of new
scaffolds on MoleculeNet); the similarity dependence keeps the interval narrow for close analogues of measured
molecules, which a campaign's expected improvement needs to tell exploitation from exploration.

Deterministic: the same rows (in the same order), seed and parameters give identical predictions (forests
predict with one job so sums are always taken in the same order). ``version`` is a sha256 content hash of the
family, property, unit, seed, parameters, training rows and parent version.

Members as compute jobs: given an executor that runs more jobs at once than a forest uses threads
(``tools.compute.fanout.parallel_slots`` above ``n_jobs``), and at least ``MIN_ROWS_TO_FAN_OUT`` rows, each member
is fitted by a job (``fit_member_job``: the training matrix written once to a work folder, the member's bootstrap,
its random state, the parameters; the fitted member written back as a file). Each member is a function of those
alone, so the ensemble is the one the in-process loop fits; a member whose job fails is fitted in this process.
A large pool's featurisation can be made by jobs too (``preparation_job``, ``featurize_job``: canonical structures
and features into the featurizer's caches) before ``predict`` runs on the pool here.

Artifacts (``save``/``load``): ``model.joblib`` (the fitted forests; joblib is pickle, so only load artifacts
you wrote), ``training.csv`` (the rows it was trained on, needed by ``fine_tune``) and ``meta.json``. ``load``
recomputes the version from ``meta.json`` and ``training.csv`` and refuses an artifact that does not match.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.errors import ToolFailed, ToolInputError
from tools.predict.base import (
    EnsemblePredictions,
    LRUCache,
    PredictedValue,
    PredictionFailure,
    PredictorIdentity,
    TrainingRows,
    calibration_group,
    check_version,
    content_version,
    read_meta,
    read_training_csv,
    take_prepared_json,
    write_artifact_files,
)

if TYPE_CHECKING:
    import numpy as np

    from knowledge.chem import CanonicalStructure
    from tools.compute.jobs import ComputeExecutor, JobRequest

log = logging.getLogger(__name__)

FAMILY = "fingerprint"
ARTIFACT_FORMAT = 3
Z90 = 1.645  # two-sided 90% interval of a normal distribution: mean ± 1.645 sigma
DESCRIPTORS: tuple[str, ...] = (
    "MolWt",
    "MolLogP",
    "TPSA",
    "NumHDonors",
    "NumHAcceptors",
    "NumRotatableBonds",
    "RingCount",
    "FractionCSP3",
    "NumAromaticRings",
    "HeavyAtomCount",
)
MIN_TRAINING_ROWS = 5
MIN_SCAFFOLD_GROUPS = 10  # fewer groups than this: bootstrap rows instead
RIDGE_ALPHAS: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
STANDARDISED_CLIP = 10.0  # descriptors further than this many training standard deviations are clipped
MEMBER_JOB_KIND = "tools.predict.fingerprint:fit_member_job"
FEATURIZE_JOB_KIND = "tools.predict.fingerprint:featurize_job"
# Fewer rows than this fit in well under the seconds a job process takes to start and import scikit-learn.
MIN_ROWS_TO_FAN_OUT = 500


class FingerprintParams(BaseModel):
    """Hyperparameters of the fingerprint predictor (all but ``n_jobs`` enter the version hash)."""

    model_config = ConfigDict(frozen=True)

    radius: int = Field(default=2, ge=1, le=4)
    n_bits: int = Field(default=2048, ge=64, le=16384)
    algorithm: Literal["random_forest", "extra_trees"] = "random_forest"
    n_members: int = Field(default=5, ge=2, le=50)
    n_estimators: int = Field(default=100, ge=1, le=2000)
    max_features: float = Field(default=0.3, gt=0, le=1, description="Fraction of features tried at each split")
    min_samples_leaf: int = Field(default=1, ge=1)
    bootstrap: Literal["scaffold", "row"] = Field(
        default="scaffold", description="Bootstrap whole scaffold groups (falls back to rows below 10 groups) or rows"
    )
    baseline: Literal["auto", "ridge", "none"] = Field(
        default="auto", description="Ridge regression on the descriptors under the forest; auto: chosen out of bag"
    )
    n_jobs: int = Field(default=2, ge=1, description="Threads while fitting (predictions always use one)")

    def hashed(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"n_jobs"})


class MoleculeFeatures(BaseModel):
    """The features of one molecule, stored sparsely: fingerprint bits with their counts, and descriptors."""

    model_config = ConfigDict(frozen=True)

    bits: tuple[int, ...]
    counts: tuple[float, ...]
    descriptors: tuple[float, ...]
    group: str = Field(description="Calibration group: the Bemis–Murcko scaffold (tools.predict.base)")


class Featurizer:
    """SMILES → canonical structure → features, with explicit LRU caches owned by this object.

    Input spellings are cached to their canonical structure, features by canonical SMILES, so every spelling
    of a molecule gets exactly the same features.
    """

    def __init__(self, radius: int = 2, n_bits: int = 2048, capacity: int = 50_000) -> None:
        self.radius = radius
        self.n_bits = n_bits
        self.structures: LRUCache[str, CanonicalStructure] = LRUCache(capacity)
        self.features_by_smiles: LRUCache[str, MoleculeFeatures] = LRUCache(capacity)
        self._generator: Any = None

    @property
    def width(self) -> int:
        return self.n_bits + len(DESCRIPTORS)

    def structure(self, smiles: str) -> CanonicalStructure:
        """The canonical structure of ``smiles`` (raises knowledge.errors.InvalidStructure)."""
        from knowledge.chem import canonicalize

        if not isinstance(smiles, str):
            from knowledge.errors import InvalidStructure

            raise InvalidStructure(repr(smiles), "not a string")
        cached = self.structures.get(smiles)
        if cached is None:
            cached = canonicalize(smiles)
            self.structures.put(smiles, cached)
        return cached

    def features(self, canonical_smiles: str) -> MoleculeFeatures:
        cached = self.features_by_smiles.get(canonical_smiles)
        if cached is None:
            cached = self._compute(canonical_smiles)
            self.features_by_smiles.put(canonical_smiles, cached)
        return cached

    def _compute(self, canonical_smiles: str) -> MoleculeFeatures:
        from rdkit import Chem, rdBase
        from rdkit.Chem import Descriptors, rdFingerprintGenerator

        if self._generator is None:
            self._generator = rdFingerprintGenerator.GetMorganGenerator(radius=self.radius, fpSize=self.n_bits)
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(canonical_smiles)
        if mol is None:
            from knowledge.errors import InvalidStructure

            raise InvalidStructure(canonical_smiles)
        fingerprint = self._generator.GetCountFingerprint(mol).GetNonzeroElements()
        bits = tuple(sorted(fingerprint))
        descriptors = []
        for name in DESCRIPTORS:
            value = float(getattr(Descriptors, name)(mol))
            descriptors.append(value if math.isfinite(value) else 0.0)
        return MoleculeFeatures(
            bits=bits,
            counts=tuple(float(fingerprint[b]) for b in bits),
            descriptors=tuple(descriptors),
            group=calibration_group(canonical_smiles),
        )

    def matrix(self, features: Sequence[MoleculeFeatures]) -> np.ndarray:
        import numpy as np

        X = np.zeros((len(features), self.width), dtype=np.float32)
        for row, item in enumerate(features):
            if item.bits:
                X[row, list(item.bits)] = item.counts
            X[row, self.n_bits :] = item.descriptors
        return X

    def prepare(
        self, smiles: Sequence[str]
    ) -> tuple[list[tuple[int, CanonicalStructure, MoleculeFeatures]], list[tuple[int, PredictionFailure]]]:
        """Featurize a batch: (index, structure, features) of each valid input, and a failure for each other."""
        from knowledge.errors import InvalidStructure

        good: list[tuple[int, CanonicalStructure, MoleculeFeatures]] = []
        bad: list[tuple[int, PredictionFailure]] = []
        for index, text in enumerate(smiles):
            try:
                structure = self.structure(text)
                good.append((index, structure, self.features(structure.smiles)))
            except (InvalidStructure, ValueError, RuntimeError, TypeError) as error:
                bad.append((index, PredictionFailure.from_error(text, error)))
        return good, bad

    def prepared_json(self, smiles: Sequence[str]) -> list[dict[str, Any] | None]:
        """Per input, its canonical structure and features as JSON-able data (None for an input that is not a
        valid structure): what ``take_json`` keeps."""
        results: list[dict[str, Any] | None] = [None] * len(smiles)
        for index, structure, features in self.prepare(smiles)[0]:
            results[index] = {"structure": structure.model_dump(mode="json"), "features": features.model_dump(mode="json")}
        return results

    def take_json(self, smiles: Sequence[str], prepared: Sequence[dict[str, Any] | None]) -> int:
        """Cache the structures and features ``prepared_json`` made of ``smiles`` (by a featurizer of the same
        radius and bits); returns how many it kept."""
        from knowledge.chem import CanonicalStructure

        kept = 0
        for text, item in zip(smiles, prepared, strict=True):
            if item is None:
                continue
            structure = CanonicalStructure.model_validate(item["structure"])
            self.structures.put(text, structure)
            self.features_by_smiles.put(structure.smiles, MoleculeFeatures.model_validate(item["features"]))
            kept += 1
        return kept


def featurize_job(smiles: list[str], radius: int, n_bits: int, software: dict[str, str]) -> list[dict[str, Any] | None]:
    """A compute job: ``Featurizer(radius, n_bits).prepared_json(smiles)``.

    Raises:
        ValueError: this worker's AtomLoop, RDKit or numpy is not the one ``software`` names.
    """
    here = _featurizer_software()
    if here != software:
        raise ValueError(f"this worker featurizes with {here}, the job was made for {software}")
    return Featurizer(radius, n_bits).prepared_json(smiles)


def _featurizer_software() -> dict[str, str]:
    """What features depend on besides the SMILES and the parameters (part of a featurize job's key)."""
    from tools.compute.fanout import package_versions

    return {**package_versions("atomloop", "rdkit", "numpy"), "descriptors": ",".join(DESCRIPTORS)}


class FingerprintPredictor(PredictorIdentity, EnsemblePredictions):
    """An ensemble of forests on Morgan count fingerprints + descriptors (see the module docstring).

    Build one with ``FingerprintPredictor.train(rows, seed=...)`` or ``FingerprintPredictor.load(directory)``.
    Instances are immutable: ``fine_tune`` returns a new predictor.
    """

    name = FAMILY

    def __init__(
        self,
        *,
        property: str,
        unit: str,
        params: FingerprintParams,
        seed: int,
        members: Sequence[Any],
        residual: ResidualScale,
        training: TrainingRows,
        parent_version: str | None,
        version: str,
        featurizer: Featurizer | None = None,
    ) -> None:
        self._property = property
        self._unit = unit
        self._params = params
        self._seed = seed
        self._members = tuple(members)
        self._residual = residual
        self._training = training
        self._parent_version = parent_version
        self._version = version
        self._featurizer = featurizer or Featurizer(params.radius, params.n_bits)
        self._training_bits: np.ndarray | None = None  # built on first prediction

    # -- identity (version, property, unit, training rows ...: PredictorIdentity) ------------------

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def params(self) -> FingerprintParams:
        return self._params

    @property
    def residual_sigma(self) -> float:
        """The calibrated residual term of the uncertainty for a molecule with no close analogue in the training
        set (its largest value), one standard deviation."""
        return max(self._residual.sigmas)

    @property
    def residual(self) -> ResidualScale:
        """The residual term as a function of the similarity to the nearest training molecule."""
        return self._residual

    @property
    def baseline_used(self) -> str:
        """``ridge`` when the members' forests sit on a ridge regression of the descriptors, else ``none``."""
        return str(self._members[0].baseline_kind)

    @property
    def featurizer(self) -> Featurizer:
        return self._featurizer

    # -- training ----------------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        rows: TrainingRows,
        seed: int = 0,
        params: FingerprintParams | None = None,
        *,
        parent_version: str | None = None,
        featurizer: Featurizer | None = None,
        executor: ComputeExecutor | None = None,
        work_dir: Path | None = None,
    ) -> FingerprintPredictor:
        """Fit a new predictor on ``rows`` (rows whose SMILES do not parse are skipped with a warning).

        ``executor``: fit the members as compute jobs when it runs more of them at once than a forest uses threads
        (see the module docstring; the result is the same); their files go to a folder under ``work_dir`` (None:
        the system's temporary folder), removed afterwards.

        Raises:
            ToolFailed: fewer than ``MIN_TRAINING_ROWS`` valid rows.
        """
        import numpy as np

        params = params or FingerprintParams()
        featurizer = featurizer or Featurizer(params.radius, params.n_bits)
        if (featurizer.radius, featurizer.n_bits) != (params.radius, params.n_bits):
            raise ToolInputError("the featurizer's radius and bit count differ from the parameters'")
        if seed < 0:
            raise ToolInputError(f"seed must not be negative, got {seed}")
        started = time.perf_counter()
        good, bad = featurizer.prepare(rows.smiles)
        if bad:
            log.warning(
                "skipping %d of %d %s training rows with invalid structures (first: %s)",
                len(bad), len(rows), rows.property, bad[0][1].error,
            )
        if len(good) < MIN_TRAINING_ROWS:
            raise ToolFailed(
                f"cannot train a {rows.property} model on {len(good)} valid rows (need {MIN_TRAINING_ROWS})"
            )
        used = TrainingRows(
            property=rows.property,
            unit=rows.unit,
            smiles=tuple(structure.smiles for _, structure, _ in good),
            values=tuple(float(rows.values[index]) for index, _, _ in good),
            dataset_hash=rows.dataset_hash,
        )
        X = featurizer.matrix([features for _, _, features in good])
        y = np.asarray(used.values, dtype=float)
        groups = [features.group for _, _, features in good]
        members, member_predictions, in_bag = _fit_members(
            X, y, groups, seed, params, featurizer.n_bits, executor=executor, work_dir=work_dir
        )
        bits = bit_matrix([features for _, _, features in good], featurizer.n_bits)
        residual = _calibrate_residual(y, member_predictions, in_bag, bits)
        version = compute_version(used, seed, params, parent_version)
        log.info(
            "trained %s %s model %s on %d rows in %.2f s (baseline %s, residual sigma %.3f)",
            FAMILY, used.property, version, len(used), time.perf_counter() - started,
            members[0].baseline_kind, max(residual.sigmas),
        )
        return cls(
            property=used.property,
            unit=used.unit,
            params=params,
            seed=seed,
            members=members,
            residual=residual,
            training=used,
            parent_version=parent_version,
            version=version,
            featurizer=featurizer,
        )

    def fine_tune(
        self, rows: TrainingRows, *, executor: ComputeExecutor | None = None, work_dir: Path | None = None
    ) -> FingerprintPredictor:
        """A new version trained on this version's rows updated with ``rows`` (``TrainingRows.updated_with``), with
        the same seed and parameters (``executor`` and ``work_dir`` as in ``train``).

        For a forest, continuing training is retraining on the union; the child records this version as its
        parent. ``self`` is not changed.
        """
        self._check_fine_tune_rows(rows)
        return type(self).train(
            self._training.updated_with(rows),
            seed=self._seed,
            params=self._params,
            parent_version=self._version,
            featurizer=self._featurizer,
            executor=executor,
            work_dir=work_dir,
        )

    # -- predicting --------------------------------------------------------------------------------

    def preparation_job(self, smiles: list[str]) -> JobRequest:
        """The compute job that featurizes ``smiles`` (``tools.predict.registry.PreparesInJobs``)."""
        from tools.compute.jobs import JobRequest

        return JobRequest(
            kind=FEATURIZE_JOB_KIND,
            inputs={"smiles": smiles, "radius": self._params.radius, "n_bits": self._params.n_bits,
                    "software": _featurizer_software()},
            label=f"fingerprints of {len(smiles)} molecules from {smiles[0][:60]}" if smiles else "no molecules",
        )

    def take_prepared(self, smiles: list[str], result: Any) -> int:
        """Keep the structures and features a ``preparation_job`` made (nothing if its result is not theirs)."""
        return take_prepared_json(self._featurizer, smiles, result, "featurize")

    def _predict_prepared(
        self, items: list[tuple[CanonicalStructure, MoleculeFeatures]]
    ) -> list[tuple[PredictedValue, tuple[float, ...]]]:
        """Each featurized molecule's prediction and every forest's value (``EnsemblePredictions``)."""
        import numpy as np

        features = [features for _, features in items]
        X = self._featurizer.matrix(features)
        members = np.column_stack([member.predict(X) for member in self._members])
        mean, sigma = self._mean_sigma(members, bit_matrix(features, self._params.n_bits))
        return [
            (self._prediction(structure, value, uncertainty), tuple(float(v) for v in row))
            for (structure, _), value, uncertainty, row in zip(items, mean, sigma, members, strict=True)
        ]

    def _mean_sigma(self, predictions: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sigma from the (molecules, members) predictions and the molecules' fingerprint bits."""
        import numpy as np

        mean = predictions.mean(axis=1)
        between = predictions.var(axis=1, ddof=1)
        if self._training_bits is None:
            self._training_bits = bit_matrix(
                [self._featurizer.features(smiles) for smiles in self._training.smiles], self._params.n_bits
            )
        nearest = _nearest_similarity(bits, self._training_bits)
        return mean, np.sqrt(between + self._residual.at(nearest) ** 2)

    # -- artifacts ---------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        import joblib

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump({"members": list(self._members)}, directory / "model.joblib", compress=3)
        meta = {
            **self._identity_meta(ARTIFACT_FORMAT),
            "seed": self._seed,
            "params": self._params.model_dump(mode="json"),
            "residual": self._residual.model_dump(mode="json"),
            "baseline_used": self.baseline_used,
            "descriptors": list(DESCRIPTORS),
            "libraries": _library_versions(),
        }
        write_artifact_files(directory, self._training, meta)

    @classmethod
    def load(cls, directory: Path, featurizer: Featurizer | None = None) -> FingerprintPredictor:
        """Restore a saved predictor.

        Raises:
            ToolFailed: the artifact is missing, of another family, or does not match its recorded version.
        """
        import joblib

        directory = Path(directory)
        meta = read_meta(
            directory,
            FAMILY,
            ARTIFACT_FORMAT,
            mismatch="{directory} holds a {family!r} artifact of format {format}, this version reads "
            "{expected_family!r} format {expected_format}: train it again (atomloop models train)",
        )
        params = FingerprintParams.model_validate(meta["params"])
        training = read_training_csv(directory, meta)
        version = compute_version(training, int(meta["seed"]), params, meta.get("parent_version"))
        check_version(directory, meta, version)
        if meta.get("libraries", {}).get("sklearn") != _library_versions()["sklearn"]:
            log.warning(
                "model %s was saved with scikit-learn %s; this is %s",
                version, meta.get("libraries", {}).get("sklearn"), _library_versions()["sklearn"],
            )
        try:
            members = joblib.load(directory / "model.joblib")["members"]
        except (OSError, KeyError, ValueError) as error:
            raise ToolFailed(f"cannot load the forests of model {version} from {directory}: {error}") from error
        if featurizer is not None and (featurizer.radius, featurizer.n_bits) != (params.radius, params.n_bits):
            featurizer = None
        return cls(
            property=meta["property"],
            unit=meta["unit"],
            params=params,
            seed=int(meta["seed"]),
            members=members,
            residual=ResidualScale.model_validate(meta["residual"]),
            training=training,
            parent_version=meta.get("parent_version"),
            version=version,
            featurizer=featurizer,
        )


def compute_version(rows: TrainingRows, seed: int, params: FingerprintParams, parent_version: str | None) -> str:
    """sha256 (16 hex characters) of everything the fitted model is a function of."""
    payload = {
        "family": FAMILY,
        "format": ARTIFACT_FORMAT,
        "property": rows.property,
        "unit": rows.unit,
        "seed": seed,
        "params": params.hashed(),
        "descriptors": list(DESCRIPTORS),
        "data": rows.digest(),
        "parent": parent_version,
    }
    return content_version(payload)


class EnsembleMember:
    """One member: a forest, optionally on top of a ridge regression of the standardised descriptors."""

    def __init__(self, forest: Any, descriptor_offset: int, ridge: Any = None, scaler: Any = None) -> None:
        self.forest = forest
        self.descriptor_offset = descriptor_offset
        self.ridge = ridge
        self.scaler = scaler

    @property
    def baseline_kind(self) -> str:
        return "ridge" if self.ridge is not None else "none"

    def baseline(self, X: np.ndarray) -> np.ndarray:
        import numpy as np

        if self.ridge is None:
            return np.zeros(len(X))
        standardised = np.clip(
            self.scaler.transform(X[:, self.descriptor_offset :]), -STANDARDISED_CLIP, STANDARDISED_CLIP
        )
        return np.asarray(self.ridge.predict(standardised), dtype=float)

    def predict(self, X: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.asarray(self.forest.predict(X), dtype=float) + self.baseline(X)


def _bootstraps(groups: Sequence[str], seed: int, params: FingerprintParams) -> list[np.ndarray]:
    """Row indices of each member's bootstrap: whole scaffold groups drawn with replacement (or rows)."""
    import numpy as np

    by_group: dict[str, list[int]] = {}
    for row, group in enumerate(groups):
        by_group.setdefault(group, []).append(row)
    members = []
    for m in range(params.n_members):
        rng = np.random.default_rng([seed, m])
        if params.bootstrap == "scaffold" and len(by_group) >= MIN_SCAFFOLD_GROUPS:
            rows_of = list(by_group.values())
            drawn = rng.integers(0, len(rows_of), size=len(rows_of))
            members.append(np.concatenate([np.asarray(rows_of[g], dtype=int) for g in drawn]))
        else:
            members.append(rng.integers(0, len(groups), size=len(groups)))
    return members


def _fit_members(
    X: np.ndarray,
    y: np.ndarray,
    groups: Sequence[str],
    seed: int,
    params: FingerprintParams,
    descriptor_offset: int,
    *,
    executor: ComputeExecutor | None = None,
    work_dir: Path | None = None,
) -> tuple[list[EnsembleMember], np.ndarray, np.ndarray]:
    """Fit the members; return them, their predictions on X (n × members) and the in-bag mask (n × members).

    With ``baseline="auto"`` both kinds are fitted on the same bootstraps and the one with the smaller
    out-of-bag RMSE is kept (ties keep the forest alone). Member ``m`` of each kind is fitted on bootstrap ``m``
    with the random state ``_member_random_state(seed, m)``: nothing else, so members fitted by jobs are the same.
    """
    import numpy as np

    kinds = ("none", "ridge") if params.baseline == "auto" else (params.baseline,)
    samples = _bootstraps(groups, seed, params)
    in_bag = np.zeros((len(y), params.n_members), dtype=bool)
    for m, sample in enumerate(samples):
        in_bag[sample, m] = True
    states = [_member_random_state(seed, m) for m in range(params.n_members)]
    by_member: list[dict[str, EnsembleMember] | None] = [None] * params.n_members
    if _fans_out(executor, params, len(y)):
        assert executor is not None
        by_member = _fit_members_as_jobs(executor, X, y, samples, kinds, states, params, descriptor_offset, work_dir)
    for m, sample in enumerate(samples):
        if by_member[m] is None:
            by_member[m] = {kind: _fit_member(X, y, sample, kind, states[m], params, descriptor_offset) for kind in kinds}
    fitted: dict[str, tuple[list[EnsembleMember], np.ndarray]] = {}
    for kind in kinds:
        members = [fitted_member[kind] for fitted_member in by_member if fitted_member is not None]
        fitted[kind] = (members, np.column_stack([member.predict(X) for member in members]))
    chosen = min(kinds, key=lambda kind: (_out_of_bag_rmse(y, fitted[kind][1], in_bag), kinds.index(kind)))
    members, predictions = fitted[chosen]
    return members, predictions, in_bag


def _member_random_state(seed: int, member: int) -> int:
    """The random state of member ``member``'s forest (of either kind)."""
    import numpy as np

    return int(np.random.default_rng([seed, member, 1]).integers(0, 2**31 - 1))


def _fans_out(executor: ComputeExecutor | None, params: FingerprintParams, rows: int) -> bool:
    """Whether fitting the members as jobs can be faster: more jobs at once than one forest's threads, more than
    one member, and enough rows to pay for starting the job processes."""
    from tools.compute.fanout import parallel_slots

    return parallel_slots(executor) > params.n_jobs and params.n_members > 1 and rows >= MIN_ROWS_TO_FAN_OUT


def _fit_members_as_jobs(
    executor: ComputeExecutor,
    X: np.ndarray,
    y: np.ndarray,
    samples: Sequence[np.ndarray],
    kinds: Sequence[str],
    states: Sequence[int],
    params: FingerprintParams,
    descriptor_offset: int,
    work_dir: Path | None,
) -> list[dict[str, EnsembleMember] | None]:
    """Each member (of every kind) fitted by a ``fit_member_job``; ``None`` for a member whose job gave nothing."""
    import joblib
    import numpy as np

    from tools.compute.fanout import file_sha256, job_results, work_folder
    from tools.compute.jobs import JobRequest

    with work_folder(work_dir, prefix=".fingerprint-members-") as folder:
        data = folder / "training.npz"
        rows, columns = np.nonzero(X)
        offsets = np.cumsum([0, *(len(sample) for sample in samples)])
        np.savez(data, shape=np.asarray(X.shape), rows=rows, columns=columns, values=X[rows, columns], y=y,
                 samples=np.concatenate(samples), offsets=offsets)
        digest = file_sha256(data)
        jobs = [
            JobRequest(
                kind=MEMBER_JOB_KIND,
                inputs={"data": str(data), "data_sha256": digest, "member": m, "kinds": list(kinds),
                        "random_state": states[m], "params": params.model_dump(mode="json"),
                        "descriptor_offset": descriptor_offset, "out": str(folder / f"member-{m}.joblib"),
                        "software": _library_versions()},
                label=f"fingerprint member {m + 1} of {params.n_members} ({len(y)} rows)",
            )
            for m in range(params.n_members)
        ]
        results = job_results(executor, jobs, group=f"fingerprint members ({len(y)} rows)")
        members: list[dict[str, EnsembleMember] | None] = []
        for m, result in enumerate(results):
            loaded = None
            if isinstance(result, dict) and isinstance(result.get("path"), str):
                try:
                    loaded = joblib.load(result["path"])
                except (OSError, EOFError, ValueError) as error:
                    log.warning("cannot read the member %d a job fitted (%s); fitting it in this process", m, error)
            if not isinstance(loaded, dict) or set(loaded) != set(kinds):
                loaded = None
            members.append(loaded)
    return members


def fit_member_job(
    data: str,
    data_sha256: str,
    member: int,
    kinds: list[str],
    random_state: int,
    params: dict[str, Any],
    descriptor_offset: int,
    out: str,
    software: dict[str, str],
) -> dict[str, Any]:
    """A compute job: fit member ``member`` of each kind on its bootstrap of the training matrix in ``data`` and
    write them (``{kind: EnsembleMember}``, joblib) to ``out``; returns ``{"path": out, "kinds": kinds}``.

    Raises:
        ValueError: ``data`` is not the file the job was made for, or this worker's scikit-learn, RDKit or numpy
            is not the one ``software`` names (its forests would differ from the caller's).
    """
    import joblib
    import numpy as np

    from tools.compute.fanout import check_file

    here = _library_versions()
    if here != software:
        raise ValueError(f"this worker fits with {here}, the job was made for {software}")
    with np.load(check_file(data, data_sha256)) as stored:
        X = np.zeros(tuple(int(n) for n in stored["shape"]), dtype=np.float32)
        X[stored["rows"], stored["columns"]] = stored["values"]
        y = stored["y"]
        offsets = stored["offsets"]
        sample = stored["samples"][offsets[member] : offsets[member + 1]]
    parameters = FingerprintParams.model_validate(params)
    fitted = {kind: _fit_member(X, y, sample, kind, random_state, parameters, descriptor_offset) for kind in kinds}
    joblib.dump(fitted, out)
    return {"path": out, "kinds": kinds}


def _fit_member(
    X: np.ndarray, y: np.ndarray, sample: np.ndarray, kind: str, random_state: int, params: FingerprintParams,
    descriptor_offset: int,
) -> EnsembleMember:
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

    forest_class = RandomForestRegressor if params.algorithm == "random_forest" else ExtraTreesRegressor
    forest = forest_class(
        n_estimators=params.n_estimators,
        max_features=params.max_features,
        min_samples_leaf=params.min_samples_leaf,
        random_state=random_state,
        n_jobs=params.n_jobs,
    )
    member = EnsembleMember(forest, descriptor_offset)
    target = y[sample]
    if kind == "ridge":
        from sklearn.linear_model import RidgeCV
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(X[sample, descriptor_offset:])
        ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(scaler.transform(X[sample, descriptor_offset:]), target)
        member = EnsembleMember(forest, descriptor_offset, ridge=ridge, scaler=scaler)
        target = target - member.baseline(X[sample])
    forest.fit(X[sample], target)
    forest.set_params(n_jobs=1)  # a fixed summation order: identical predictions on every call
    return member


def _out_of_bag_rmse(y: np.ndarray, predictions: np.ndarray, in_bag: np.ndarray) -> float:
    import numpy as np

    out_of_bag = ~in_bag
    usable = out_of_bag.any(axis=1)
    if not usable.any():
        return math.inf
    oob_mean = (predictions * out_of_bag).sum(axis=1)[usable] / out_of_bag.sum(axis=1)[usable]
    return float(np.sqrt(np.mean((y[usable] - oob_mean) ** 2)))


class ResidualScale(BaseModel):
    """The residual term of σ as a non-increasing, piecewise-linear function of the Tanimoto similarity to the
    nearest training molecule: ``sigmas[k]`` at ``similarities[k]`` (ascending), constant beyond both ends."""

    model_config = ConfigDict(frozen=True)

    similarities: tuple[float, ...] = Field(min_length=1)
    sigmas: tuple[float, ...] = Field(min_length=1)

    def at(self, similarity: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.interp(similarity, self.similarities, self.sigmas)


MAX_RESIDUAL_BINS = 5
ROWS_PER_RESIDUAL_BIN = 25
MIN_SIGMA = 1e-6


def _calibrate_residual(y: np.ndarray, predictions: np.ndarray, in_bag: np.ndarray, bits: np.ndarray) -> ResidualScale:
    """The residual scale: ±1.645·s(t) covers 90% of the out-of-bag residuals of rows at similarity t.

    An out-of-bag residual (row i against the mean of the members that did not see it) already holds the
    model's own variance, so it is not subtracted: at prediction time the between-member variance is added on
    top, which widens the interval where the members disagree and errs on the wide side elsewhere. A row's
    similarity is the mean, over the members that left it out, of its Tanimoto similarity to the nearest row
    that member saw. Rows are split into up to ``MAX_RESIDUAL_BINS`` bins of equal count by that similarity (one
    bin per ``ROWS_PER_RESIDUAL_BIN`` rows); the scale is made non-increasing in similarity (a closer analogue is
    never less certain) and placed at each bin's median similarity.
    """
    import numpy as np

    out_of_bag = ~in_bag
    usable = out_of_bag.any(axis=1)
    if usable.sum() < MIN_TRAINING_ROWS:  # too few rows left out of every bootstrap: fall back to the spread
        return ResidualScale(similarities=(0.0,), sigmas=(max(float(np.std(y)), MIN_SIGMA),))
    oob_mean = (predictions * out_of_bag).sum(axis=1)[usable] / out_of_bag.sum(axis=1)[usable]
    residual = np.abs(y[usable] - oob_mean)
    similarity = _out_of_bag_similarity(bits, in_bag)[usable]
    n_bins = int(min(MAX_RESIDUAL_BINS, max(1, len(residual) // ROWS_PER_RESIDUAL_BIN)))
    order = np.argsort(similarity, kind="stable")
    centres, sigmas = [], []
    for chunk in np.array_split(order, n_bins):
        centres.append(float(np.median(similarity[chunk])))
        sigmas.append(max(float(np.quantile(residual[chunk], 0.9)) / Z90, MIN_SIGMA))
    monotone = np.maximum.accumulate(np.asarray(sigmas)[::-1])[::-1]  # from close analogues to strangers
    # Bins with equal medians (many identical similarities) would make the interpolation ambiguous: keep the first.
    kept = [k for k in range(n_bins) if k == 0 or centres[k] > centres[k - 1]]
    return ResidualScale(
        similarities=tuple(centres[k] for k in kept), sigmas=tuple(float(monotone[k]) for k in kept)
    )


def bit_matrix(features: Sequence[MoleculeFeatures], n_bits: int) -> np.ndarray:
    """Molecules × fingerprint bits, 1.0 where a bit is set (for Tanimoto similarities)."""
    import numpy as np

    matrix = np.zeros((len(features), n_bits), dtype=np.float32)
    for row, item in enumerate(features):
        if item.bits:
            matrix[row, list(item.bits)] = 1.0
    return matrix


def tanimoto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    common = a @ b.T
    union = a.sum(axis=1)[:, None] + b.sum(axis=1)[None, :] - common
    return np.divide(common, union, out=np.zeros_like(common), where=union > 0)


SIMILARITY_CHUNK = 1024  # query rows per matrix product (bounds memory at chunk × training rows)


def _nearest_similarity(queries: np.ndarray, training: np.ndarray) -> np.ndarray:
    """For each query row, the Tanimoto similarity to its nearest training row."""
    import numpy as np

    nearest = np.zeros(len(queries))
    for start in range(0, len(queries), SIMILARITY_CHUNK):
        nearest[start : start + SIMILARITY_CHUNK] = tanimoto(queries[start : start + SIMILARITY_CHUNK], training).max(axis=1)
    return nearest


def _out_of_bag_similarity(bits: np.ndarray, in_bag: np.ndarray) -> np.ndarray:
    """For each row, the mean over the members that left it out of its similarity to the nearest row they saw."""
    import numpy as np

    total = np.zeros(len(bits))
    count = np.zeros(len(bits))
    for start in range(0, len(bits), SIMILARITY_CHUNK):
        block = tanimoto(bits[start : start + SIMILARITY_CHUNK], bits)
        for m in range(in_bag.shape[1]):
            left_out = ~in_bag[start : start + SIMILARITY_CHUNK, m]
            if not left_out.any() or not in_bag[:, m].any():
                continue
            nearest = block[:, in_bag[:, m]].max(axis=1)
            total[start : start + SIMILARITY_CHUNK] += np.where(left_out, nearest, 0.0)
            count[start : start + SIMILARITY_CHUNK] += left_out
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def _library_versions() -> dict[str, str]:
    import numpy
    import rdkit
    import sklearn

    return {"sklearn": sklearn.__version__, "rdkit": rdkit.__version__, "numpy": numpy.__version__}
