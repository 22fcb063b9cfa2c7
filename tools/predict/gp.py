"""A Gaussian process on fingerprint similarities: the low-data model for campaigns.

Model: ``y = m + f(x) + ε`` with a constant mean ``m`` (the training mean), ``f ~ GP(0, a² T(x, x'))`` where ``T`` is
a similarity of the molecules' fingerprints, and Gaussian noise ``ε ~ N(0, s²)``. ``a`` and ``s`` are chosen by the
log marginal likelihood over a fixed grid (``AMPLITUDES`` × ``NOISES``, in units of the training standard
deviation), so training is a few Cholesky factorisations and fully deterministic. The prediction is the posterior
mean; its uncertainty (one standard deviation) is that of a new measurement, ``sqrt(posterior variance of f + s²)``:
it grows towards ``sqrt(a² + s²)`` away from every training molecule and shrinks next to them, which is what
expected improvement needs.

Fingerprints and kernel (``GPParams``): by default the Morgan count fingerprint (radius 2, 2048 bits) next to the
RDKit atom-pair count fingerprint (2048 more), compared by the MinMax kernel ``Σ min(x, x') / Σ max(x, x')`` (the
Tanimoto similarity generalised to counts; both are valid kernels, Ralaivola et al., Neural Networks 2005). With
``kernel="tanimoto"`` and ``atom_pairs=False`` it is the Tanimoto kernel on Morgan bits alone, the model before
these options existed (its versions keep their hashes). Why the default: in an offline active-learning
simulation on BACE (scratch, 20 seeds) expected improvement found 9.3 of the 36 most potent compounds in 96 with
the default and 6.75 with Morgan bits alone; atom pairs describe how far apart the groups of a series sit, which a
series' potency depends on and radius-2 environments miss. Tanimoto-kernel GPs are the usual strong baseline for
Bayesian optimisation over molecules with tens to a few hundred measurements (e.g. Griffiths et al., GAUCHE,
NeurIPS 2023); for thousands of rows the forests of ``fingerprint`` are cheaper (training is O(n³): about 1 s at
1,000 rows here).

``fine_tune(rows)`` refits on this version's rows updated with ``rows`` (``TrainingRows.updated_with``, the union
by molecule); the child records this version as its parent. ``version`` is a sha256 content hash of the family,
property, unit, parameters, training rows and parent.
Artifacts: ``training.csv`` and ``meta.json`` (the chosen hyperparameters); ``load`` refits the factorisation from
them and refuses an artifact whose content does not match its version.
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
    JointPosterior,
    LRUCache,
    PredictedValue,
    PredictionFailure,
    PredictorIdentity,
    TrainingRows,
    check_version,
    content_version,
    per_input,
    read_meta,
    read_training_csv,
    write_artifact_files,
)
from tools.predict.fingerprint import Featurizer, MoleculeFeatures

if TYPE_CHECKING:
    import numpy as np

    from knowledge.chem import CanonicalStructure

log = logging.getLogger(__name__)

FAMILY = "gp"
ARTIFACT_FORMAT = 1
MIN_TRAINING_ROWS = 3
AMPLITUDES: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
NOISES: tuple[float, ...] = (0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
JITTER = 1e-8
PREDICT_CHUNK = 2048


ATOM_PAIR_CACHE_CAPACITY = 50_000
# The settings every GP had before ``kernel`` and ``atom_pairs`` existed; their hashes leave the two fields out.
LEGACY_SETTINGS: dict[str, Any] = {"kernel": "tanimoto", "atom_pairs": False}


class GPParams(BaseModel):
    """Fingerprint and kernel settings of the GP (its hyperparameters are fitted)."""

    model_config = ConfigDict(frozen=True)

    radius: int = Field(default=2, ge=1, le=4, description="Morgan radius")
    n_bits: int = Field(default=2048, ge=64, le=16384, description="Width of each fingerprint")
    kernel: Literal["minmax", "tanimoto"] = Field(
        default="minmax", description="minmax: sum(min)/sum(max) of counts; tanimoto: the same on bits (set or not)"
    )
    atom_pairs: bool = Field(default=True, description="Append RDKit atom-pair counts to the Morgan counts")

    def hashed(self) -> dict[str, Any]:
        """What enters the version hash: everything, less the new fields when they hold their legacy values."""
        dumped = self.model_dump(mode="json")
        if all(dumped[name] == value for name, value in LEGACY_SETTINGS.items()):
            for name in LEGACY_SETTINGS:
                dumped.pop(name)
        return dumped

    @classmethod
    def from_meta(cls, stored: dict[str, Any]) -> GPParams:
        """Parameters as an artifact recorded them; artifacts written before the new fields get the legacy ones."""
        return cls.model_validate({**LEGACY_SETTINGS, **stored})


class GPHyperparameters(BaseModel):
    """What the marginal likelihood chose, in the property's unit."""

    model_config = ConfigDict(frozen=True)

    mean: float
    amplitude: float = Field(description="Signal standard deviation a")
    noise: float = Field(description="Noise standard deviation s")
    log_marginal_likelihood: float


class FingerprintGPPredictor(PredictorIdentity):
    """A Gaussian process on fingerprint similarities (see the module docstring). Immutable: ``fine_tune`` returns a
    new one."""

    name = FAMILY

    def __init__(
        self,
        *,
        property: str,
        unit: str,
        params: GPParams,
        hyper: GPHyperparameters,
        training: TrainingRows,
        parent_version: str | None,
        version: str,
        featurizer: Featurizer | None = None,
        atom_pair_cache: LRUCache[str, dict[int, int]] | None = None,
        prepared: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """``prepared``: the training rows' (fingerprint matrix, kernel matrix) when the caller has computed them
        (``train`` has, to fit the hyperparameters); otherwise they are computed here."""
        self._property = property
        self._unit = unit
        self._params = params
        self._hyper = hyper
        self._training = training
        self._parent_version = parent_version
        self._version = version
        self._featurizer = featurizer or Featurizer(params.radius, params.n_bits)
        self._atom_pairs = atom_pair_cache if atom_pair_cache is not None else LRUCache(ATOM_PAIR_CACHE_CAPACITY)
        if prepared is None:
            fingerprints = self._training_matrix(training)
            prepared = (fingerprints, minmax_similarity(fingerprints, fingerprints))
        self._fingerprints = prepared[0]
        self._cholesky, self._alpha = _factorise(prepared[1], training, hyper)

    # -- identity (version, property, unit, training rows ...: PredictorIdentity) ------------------

    @property
    def hyperparameters(self) -> GPHyperparameters:
        return self._hyper

    @property
    def params(self) -> GPParams:
        return self._params

    def _training_matrix(self, training: TrainingRows) -> np.ndarray:
        """The fingerprints of the training rows (their SMILES are canonical: ``train`` keeps them so)."""
        molecules = [(smiles, self._featurizer.features(smiles)) for smiles in training.smiles]
        return fingerprint_matrix(molecules, self._params, self._atom_pairs)

    # -- training ----------------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        rows: TrainingRows,
        seed: int = 0,
        params: GPParams | None = None,
        *,
        parent_version: str | None = None,
        featurizer: Featurizer | None = None,
        atom_pair_cache: LRUCache[str, dict[int, int]] | None = None,
    ) -> FingerprintGPPredictor:
        """Fit on ``rows`` (invalid SMILES skipped with a warning). ``seed`` is accepted for the registry's
        interface; the fit is deterministic and does not use it.

        Raises:
            ToolFailed: fewer than ``MIN_TRAINING_ROWS`` valid rows.
        """
        import numpy as np

        params = params or GPParams()
        featurizer = featurizer or Featurizer(params.radius, params.n_bits)
        if (featurizer.radius, featurizer.n_bits) != (params.radius, params.n_bits):
            raise ToolInputError("the featurizer's radius and bit count differ from the parameters'")
        started = time.perf_counter()
        good, bad = featurizer.prepare(rows.smiles)
        if bad:
            log.warning("skipping %d of %d %s rows with invalid structures (first: %s)", len(bad), len(rows), rows.property, bad[0][1].error)
        if len(good) < MIN_TRAINING_ROWS:
            raise ToolFailed(f"cannot fit a {rows.property} GP on {len(good)} valid rows (need {MIN_TRAINING_ROWS})")
        used = TrainingRows(
            property=rows.property,
            unit=rows.unit,
            smiles=tuple(structure.smiles for _, structure, _ in good),
            values=tuple(float(rows.values[index]) for index, _, _ in good),
            dataset_hash=rows.dataset_hash,
        )
        atom_pair_cache = atom_pair_cache if atom_pair_cache is not None else LRUCache(ATOM_PAIR_CACHE_CAPACITY)
        fingerprints = fingerprint_matrix(
            [(structure.smiles, features) for _, structure, features in good], params, atom_pair_cache
        )
        kernel = minmax_similarity(fingerprints, fingerprints)
        hyper = _fit_hyperparameters(kernel, np.asarray(used.values, dtype=np.float64))
        version = compute_version(used, params, parent_version)
        log.info(
            "fitted %s %s GP %s on %d rows in %.2f s (%s kernel, amplitude %.3f, noise %.3f)",
            FAMILY, used.property, version, len(used), time.perf_counter() - started, params.kernel,
            hyper.amplitude, hyper.noise,
        )
        return cls(
            property=used.property, unit=used.unit, params=params, hyper=hyper, training=used,
            parent_version=parent_version, version=version, featurizer=featurizer, atom_pair_cache=atom_pair_cache,
            prepared=(fingerprints, kernel),
        )

    def fine_tune(self, rows: TrainingRows) -> FingerprintGPPredictor:
        """A new version fitted on this version's rows updated with ``rows``; ``self`` is not changed."""
        self._check_fine_tune_rows(rows)
        return type(self).train(
            self._training.updated_with(rows), params=self._params, parent_version=self._version,
            featurizer=self._featurizer, atom_pair_cache=self._atom_pairs,
        )

    # -- predicting --------------------------------------------------------------------------------

    def predict(self, smiles: Sequence[str]) -> list[PredictedValue | PredictionFailure]:
        return per_input("predict", smiles, self._featurizer.prepare, self._posterior_predictions)

    def _against_training(
        self, molecules: Sequence[tuple[CanonicalStructure, MoleculeFeatures]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the posterior of some molecules is made of: their fingerprint matrix, their posterior means, and
        ``L⁻¹ k`` (``L`` the training covariance's Cholesky factor, ``k`` their prior covariances with the training
        molecules), whose column norms are the variance the training data explains."""
        from scipy.linalg import solve_triangular

        queries = fingerprint_matrix(
            [(structure.smiles, features) for structure, features in molecules], self._params, self._atom_pairs
        )
        cross = self._hyper.amplitude**2 * minmax_similarity(queries, self._fingerprints)
        return queries, self._hyper.mean + cross @ self._alpha, solve_triangular(self._cholesky, cross.T, lower=True)

    def _posterior_predictions(self, items: list[tuple[CanonicalStructure, MoleculeFeatures]]) -> list[PredictedValue]:
        """The posterior mean and sigma (noise included) of each molecule, ``PREDICT_CHUNK`` at a time."""
        import numpy as np

        hyper = self._hyper
        predictions: list[PredictedValue] = []
        for start in range(0, len(items), PREDICT_CHUNK):
            chunk = items[start : start + PREDICT_CHUNK]
            _, mean, solved = self._against_training(chunk)
            variance = np.maximum(hyper.amplitude**2 - np.sum(solved**2, axis=0), 0.0) + hyper.noise**2
            predictions.extend(
                self._prediction(structure, mu, math.sqrt(var))
                for (structure, _), mu, var in zip(chunk, mean, variance, strict=True)
            )
        return predictions

    @property
    def noise_variance(self) -> float:
        """``s²``: what ``predict``'s variance adds to that of ``f`` (``JointPosteriorPredictor``)."""
        return self._hyper.noise**2

    def joint_posterior(self, smiles: Sequence[str]) -> JointPosterior:
        """The joint posterior of ``f`` over ``smiles`` (``JointPosteriorPredictor``): the same means as
        ``predict``, and ``a² T(x, x') - k(x)ᵀ (K + s²I)⁻¹ k(x')`` as covariance, whose diagonal is ``predict``'s
        variance before the noise ``s²``. Memory grows with the square of the number of molecules (a few thousand
        at most).

        Raises:
            ToolInputError: an input that is not a valid structure.
        """
        import numpy as np

        if isinstance(smiles, str):
            raise ToolInputError("joint_posterior takes a sequence of SMILES, not one string")
        good, bad = self._featurizer.prepare(smiles)
        if bad:
            index, failure = bad[0]
            raise ToolInputError(
                f"joint_posterior: input {index} ({failure.smiles!r}) is not a valid structure: {failure.error}"
            )
        queries, mean, solved = self._against_training([(structure, features) for _, structure, features in good])
        prior = minmax_similarity(queries, queries)
        np.fill_diagonal(prior, 1.0)  # as predict: the prior variance is a², also for a molecule without bits
        return JointPosterior(
            smiles=tuple(str(s) for s in smiles),
            mean=mean,
            covariance=self._hyper.amplitude**2 * prior - solved.T @ solved,
            noise_variance=self.noise_variance,
        )

    # -- artifacts ---------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            **self._identity_meta(ARTIFACT_FORMAT),
            "params": self._params.model_dump(mode="json"),
            "hyper": self._hyper.model_dump(mode="json"),
        }
        write_artifact_files(directory, self._training, meta)

    @classmethod
    def load(cls, directory: Path, featurizer: Featurizer | None = None) -> FingerprintGPPredictor:
        """Restore a saved GP (refactorised from its training rows).

        Raises:
            ToolFailed: the artifact is missing, of another family, or does not match its recorded version.
        """
        directory = Path(directory)
        meta = read_meta(
            directory, FAMILY, ARTIFACT_FORMAT, mismatch="{directory} holds a {family!r} artifact of format {format}"
        )
        params = GPParams.from_meta(meta["params"])
        training = read_training_csv(directory, meta)
        version = compute_version(training, params, meta.get("parent_version"))
        check_version(directory, meta, version)
        if featurizer is not None and (featurizer.radius, featurizer.n_bits) != (params.radius, params.n_bits):
            featurizer = None
        return cls(
            property=meta["property"], unit=meta["unit"], params=params,
            hyper=GPHyperparameters.model_validate(meta["hyper"]), training=training,
            parent_version=meta.get("parent_version"), version=version, featurizer=featurizer,
        )


def compute_version(rows: TrainingRows, params: GPParams, parent_version: str | None) -> str:
    """sha256 (16 hex characters) of everything the fitted model is a function of."""
    payload = {
        "family": FAMILY, "format": ARTIFACT_FORMAT, "property": rows.property, "unit": rows.unit,
        "params": params.hashed(), "grid": [AMPLITUDES, NOISES], "data": rows.digest(),
        "parent": parent_version,
    }
    return content_version(payload)


def fingerprint_matrix(
    molecules: Sequence[tuple[str, MoleculeFeatures]], params: GPParams, atom_pair_cache: LRUCache[str, dict[int, int]]
) -> np.ndarray:
    """Molecules (canonical SMILES, features) × fingerprint positions: Morgan counts, then atom-pair counts when
    ``params.atom_pairs``; set to 1 where nonzero for the Tanimoto kernel."""
    import numpy as np

    width = params.n_bits * (2 if params.atom_pairs else 1)
    matrix = np.zeros((len(molecules), width), dtype=np.float32)
    for row, (smiles, features) in enumerate(molecules):
        if features.bits:
            matrix[row, list(features.bits)] = features.counts
        if params.atom_pairs:
            pairs = _atom_pair_counts(smiles, params.n_bits, atom_pair_cache)
            if pairs:
                matrix[row, [params.n_bits + bit for bit in pairs]] = list(pairs.values())
    if params.kernel == "tanimoto":
        matrix = (matrix > 0).astype(np.float32)
    return matrix


def _atom_pair_counts(smiles: str, n_bits: int, cache: LRUCache[str, dict[int, int]]) -> dict[int, int]:
    cached = cache.get(smiles)
    if cached is None:
        from rdkit import Chem, rdBase
        from rdkit.Chem import rdFingerprintGenerator

        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(smiles)
        if mol is None:  # the Featurizer parsed it already; cannot happen for a canonical SMILES
            raise ToolFailed(f"RDKit could not parse canonical SMILES {smiles!r}")
        generator = rdFingerprintGenerator.GetAtomPairGenerator(fpSize=n_bits)
        cached = dict(generator.GetCountFingerprint(mol).GetNonzeroElements())
        cache.put(smiles, cached)
    return cached


def minmax_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Σ min / Σ max`` between the rows of two matrices of nonnegative integer counts (the Tanimoto similarity
    when they hold 0/1). Computed level by level, ``Σ_t (a ≥ t)·(b ≥ t)``, as matrix products; two empty rows
    have similarity 0."""
    import numpy as np

    common = np.zeros((len(a), len(b)), dtype=np.float64)
    level = 1
    columns = np.arange(a.shape[1])
    while len(columns):
        above_a = a[:, columns] >= level
        above_b = b[:, columns] >= level
        common += above_a.astype(np.float32) @ above_b.astype(np.float32).T
        columns = columns[above_a.any(axis=0) & above_b.any(axis=0)]
        level += 1
    union = a.sum(axis=1, dtype=np.float64)[:, None] + b.sum(axis=1, dtype=np.float64)[None, :] - common
    return np.divide(common, union, out=np.zeros_like(common), where=union > 0)


def _fit_hyperparameters(kernel: np.ndarray, y: np.ndarray) -> GPHyperparameters:
    """The (amplitude, noise) of the grid with the largest log marginal likelihood (first one on ties)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # many small factorisations: BLAS threads only spin (and stall under load)
        return _grid_search(kernel, y)


def _grid_search(kernel: np.ndarray, y: np.ndarray) -> GPHyperparameters:
    import numpy as np

    mean = float(y.mean())
    scale = float(y.std()) or 1.0
    centred = y - mean
    best: tuple[float, float, float] | None = None
    for amplitude in AMPLITUDES:
        for noise in NOISES:
            a, s = amplitude * scale, noise * scale
            covariance = a * a * kernel + (s * s + JITTER) * np.eye(len(y))
            try:
                factor = np.linalg.cholesky(covariance)
            except np.linalg.LinAlgError:
                continue
            solved = np.linalg.solve(factor, centred)
            lml = -0.5 * float(solved @ solved) - float(np.log(np.diag(factor)).sum()) - 0.5 * len(y) * math.log(2 * math.pi)
            if best is None or lml > best[0]:
                best = (lml, a, s)
    if best is None:
        raise ToolFailed("no GP hyperparameters gave a positive-definite covariance")
    return GPHyperparameters(mean=mean, amplitude=best[1], noise=best[2], log_marginal_likelihood=best[0])


def _factorise(kernel: np.ndarray, rows: TrainingRows, hyper: GPHyperparameters) -> tuple[np.ndarray, np.ndarray]:
    """(Cholesky factor of the training covariance, weights of the posterior mean) from the training kernel."""
    import numpy as np
    from scipy.linalg import cho_solve
    from threadpoolctl import threadpool_limits

    covariance = hyper.amplitude**2 * kernel + (hyper.noise**2 + JITTER) * np.eye(len(kernel))
    with threadpool_limits(1):
        factor = np.linalg.cholesky(covariance)
        alpha = cho_solve((factor, True), np.asarray(rows.values, dtype=np.float64) - hyper.mean)
    return factor, alpha
