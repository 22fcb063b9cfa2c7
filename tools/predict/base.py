"""The Predictor Protocol and the values it exchanges (DESIGN.md, Core shapes: Predictor).

A predictor is shaped like an ASE calculator: a family ``name``, a content-hash ``version``, the ``property`` it
predicts, and ``predict`` / ``fine_tune`` / ``save``. ``fine_tune`` returns a *new* version and never mutates
the predictor it is called on. Every predicted value carries an uncertainty (one standard deviation, in the
property's canonical unit). An invalid SMILES in a batch gives a ``PredictionFailure`` for that molecule only.

This module is cheap to import: numpy, RDKit and scikit-learn are imported inside the functions that use them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tools.errors import ToolFailed, ToolInputError

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")
Prepared = TypeVar("Prepared")
Result = TypeVar("Result")


class PredictedValue(BaseModel):
    """One prediction: the molecule (canonical), the property (canonical name) and value ± one sigma."""

    model_config = ConfigDict(frozen=True)

    smiles: str = Field(description="RDKit canonical SMILES")
    inchikey: str
    property: str = Field(description="Canonical property name (knowledge.properties)")
    value: float
    uncertainty: float = Field(description="One standard deviation, in the canonical unit")
    unit: str
    model_version: str


class PredictionFailure(BaseModel):
    """A molecule of the batch that could not be predicted (the rest of the batch is unaffected)."""

    model_config = ConfigDict(frozen=True)

    smiles: str = Field(description="The input as given")
    error: str
    error_type: str

    @classmethod
    def from_error(cls, given: object, error: Exception) -> PredictionFailure:
        """The failure of input ``given`` (as given, even when not a string) that raised ``error``."""
        return cls(smiles=str(given), error=str(error), error_type=type(error).__name__)


PredictionResult = PredictedValue | PredictionFailure


class TrainingRows(BaseModel):
    """Rows to train or evaluate on: SMILES and values of one property in its canonical unit."""

    model_config = ConfigDict(frozen=True)

    property: str
    unit: str
    smiles: tuple[str, ...]
    values: tuple[float, ...]
    dataset_hash: str | None = Field(default=None, description="Content hash of the snapshot they came from")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise ToolInputError(f"invalid training rows: {error.errors()[0]['msg']}") from error

    @model_validator(mode="after")
    def _consistent(self) -> TrainingRows:
        if len(self.smiles) != len(self.values):
            raise ValueError(f"{len(self.smiles)} SMILES but {len(self.values)} values")
        bad = [i for i, value in enumerate(self.values) if not math.isfinite(value)]
        if bad:
            raise ValueError(f"training values must be finite; rows {bad[:5]} are not")
        return self

    def __len__(self) -> int:
        return len(self.smiles)

    def digest(self) -> str:
        """sha256 of the content (property, unit, SMILES and values in order), whatever the dataset hash says."""
        payload = {
            "property": self.property,
            "unit": self.unit,
            "smiles": list(self.smiles),
            "values": [repr(float(v)) for v in self.values],
        }
        return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()

    def subset(self, indices: Sequence[int]) -> TrainingRows:
        return self.model_copy(
            update={"smiles": tuple(self.smiles[i] for i in indices), "values": tuple(self.values[i] for i in indices)}
        )

    def updated_with(self, other: TrainingRows) -> TrainingRows:
        """These rows less the molecules ``other`` also holds, followed by ``other``'s rows (same property and
        unit); the dataset hash is ``other``'s.

        What fine-tuning trains on: a snapshot holds every row its parent saw as well as the new ones, so a plain
        concatenation would count the parent's rows twice (and a campaign's first measurements once more at each
        iteration). Molecules are matched by InChIKey; a molecule in both takes ``other``'s value (the newer
        snapshot). Rows whose SMILES do not parse are matched by their text.
        """
        from knowledge.chem import canonicalize
        from knowledge.errors import StoreInputError

        if other.property != self.property or other.unit != self.unit:
            raise ToolInputError(
                f"cannot combine {self.property} [{self.unit}] rows with {other.property} [{other.unit}] rows"
            )

        def key(smiles: str) -> str:
            try:
                return canonicalize(smiles).inchikey
            except StoreInputError:
                return smiles

        newer = {key(s) for s in other.smiles}
        kept = [i for i, s in enumerate(self.smiles) if key(s) not in newer]
        return TrainingRows(
            property=self.property,
            unit=self.unit,
            smiles=tuple(self.smiles[i] for i in kept) + other.smiles,
            values=tuple(self.values[i] for i in kept) + other.values,
            dataset_hash=other.dataset_hash,
        )

    @classmethod
    def from_snapshot_csv(cls, path: Path | str, property: str, unit: str, dataset_hash: str | None) -> TrainingRows:
        """Read a training-set snapshot written by ``knowledge.snapshots`` (``data.csv``, or its folder).

        ``data.parquet`` snapshots are read too (needs pyarrow).
        """
        path = Path(path)
        if path.is_dir():
            candidates = [path / "data.csv", path / "data.parquet"]
            found = [p for p in candidates if p.exists()]
            if not found:
                raise ToolFailed(f"no data.csv or data.parquet in snapshot folder {path}")
            path = found[0]
        if not path.exists():
            raise ToolFailed(f"snapshot file {path} does not exist")
        smiles: list[str] = []
        values: list[float] = []
        if path.suffix == ".parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError as error:
                raise ToolFailed("reading a Parquet snapshot needs pyarrow: pip install 'atomloop[parquet]'") from error
            table = pq.read_table(path, columns=["smiles", "value"]).to_pydict()
            smiles = [str(s) for s in table["smiles"]]
            values = [float(v) for v in table["value"]]
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                missing = {"smiles", "value"} - set(reader.fieldnames or ())
                if missing:
                    raise ToolFailed(f"snapshot {path} lacks columns {sorted(missing)}")
                for row in reader:
                    smiles.append(row["smiles"])
                    values.append(float(row["value"]))
        return cls(property=property, unit=unit, smiles=tuple(smiles), values=tuple(values), dataset_hash=dataset_hash)

    @classmethod
    def from_bundled(cls, property: str) -> TrainingRows:
        """The bundled public dataset of ``property`` (name or alias), e.g. ESOL for logS.

        Raises:
            ToolInputError: ``property`` is not a known property.
            ToolFailed: no bundled dataset measures it.
        """
        from knowledge.bundled import BUNDLED_DATASETS, bundled_dir
        from knowledge.errors import UnknownProperty
        from knowledge.properties import PropertyRegistry

        try:
            spec = PropertyRegistry.default().get(property)
        except UnknownProperty as error:
            raise ToolInputError(str(error)) from error
        for dataset in BUNDLED_DATASETS:
            if dataset.property == spec.name:
                path = bundled_dir() / dataset.filename
                data = path.read_bytes()
                smiles: list[str] = []
                values: list[float] = []
                for row in csv.DictReader(data.decode("utf-8").splitlines()):
                    text, value = (row.get(dataset.smiles_column) or "").strip(), (row.get(dataset.value_column) or "")
                    if not text or not value.strip():
                        continue
                    smiles.append(text)
                    values.append(float(value))
                return cls(
                    property=spec.name,
                    unit=spec.canonical_unit,
                    smiles=tuple(smiles),
                    values=tuple(values),
                    dataset_hash=hashlib.sha256(data).hexdigest(),
                )
        bundled = ", ".join(f"{d.name} ({d.property})" for d in BUNDLED_DATASETS)
        raise ToolFailed(f"no bundled dataset for {spec.name}; bundled: {bundled}")


@runtime_checkable
class Predictor(Protocol):
    """A property predictor, shaped like an ASE calculator."""

    name: str
    """Family, e.g. 'fingerprint'."""

    @property
    def version(self) -> str:
        """Content hash of what the model was built from (id of its ModelVersion row)."""
        ...

    @property
    def implemented_properties(self) -> frozenset[str]: ...

    def predict(self, smiles: Sequence[str]) -> list[PredictedValue | PredictionFailure]:
        """One result per input, in order; an invalid SMILES gives a PredictionFailure for that input only."""
        ...

    def fine_tune(self, rows: TrainingRows) -> Predictor:
        """A new version trained (or continued) on ``rows``; ``self`` is not changed."""
        ...

    def save(self, directory: Path) -> None:
        """Write the artifact into ``directory`` (created if needed)."""
        ...

    @property  # defined last: inside the class body the name shadows the builtin
    def property(self) -> str:
        """Canonical name of the property predicted (knowledge.properties)."""
        ...


@runtime_checkable
class EnsemblePredictor(Protocol):
    """A predictor whose mean is the average of its members' predictions.

    Each member is one plausible function of the molecule, so its predictions over a pool are a joint draw from
    the model's posterior: what Thompson sampling needs (independent per-molecule draws from the marginals are
    not). The uncertainty's residual term, which no member carries, is left out of the members' values.
    """

    def predict_with_members(
        self, smiles: Sequence[str]
    ) -> list[tuple[PredictedValue, tuple[float, ...]] | PredictionFailure]:
        """One result per input, in order: what ``predict`` gives with every member's prediction (canonical unit)
        from the same pass, or the input's failure."""
        ...


@dataclass(frozen=True)
class JointPosterior:
    """A model's joint Gaussian posterior over some molecules, in the property's canonical unit.

    ``mean`` (n,) and ``covariance`` (n, n) are those of the noise-free function; a new measurement of molecule
    ``i`` is that plus Gaussian noise of variance ``noise_variance``, so its predictive standard deviation
    (``sigma``) is what the predictor's ``predict`` reports. Arrays are numpy arrays and are not modified.
    """

    smiles: tuple[str, ...]
    mean: Any
    covariance: Any
    noise_variance: float

    def sigma(self) -> Any:
        """Each molecule's predictive standard deviation: that of a new measurement, noise included."""
        import numpy as np

        return np.sqrt(np.maximum(np.diag(self.covariance), 0.0) + self.noise_variance)

    def believe(self, index: int) -> JointPosterior:
        """The posterior after a measurement of molecule ``index`` that equals its predicted mean (the "kriging
        believer" of Ginsbourger et al., 2010): the mean stays, and the variance shrinks at ``index`` and at the
        molecules correlated with it. Exact for a Gaussian process: a rank-one update."""
        import numpy as np

        column = self.covariance[:, index]
        denominator = float(column[index]) + self.noise_variance
        if denominator <= 0:
            return self
        covariance = self.covariance - np.outer(column, column) / denominator
        return JointPosterior(self.smiles, self.mean, covariance, self.noise_variance)


@runtime_checkable
class JointPosteriorPredictor(Protocol):
    """A predictor that can give its joint posterior over a set of molecules (a Gaussian process): what filling a
    batch by conditioning on each pick needs, where marginal means and sigmas are not enough. Its noise is
    separate from the function's uncertainty: ``predict``'s sigma² is the latent variance plus ``noise_variance``."""

    @property
    def noise_variance(self) -> float:
        """The variance of a measurement around the noise-free function, in the property's canonical unit²."""
        ...

    def joint_posterior(self, smiles: Sequence[str]) -> JointPosterior:
        """The joint posterior over ``smiles``, in order.

        Raises:
            ToolInputError: an input that is not a valid structure (callers pass molecules ``predict`` accepted).
        """
        ...


def per_input(
    caller: str,
    smiles: Sequence[str],
    prepare: Callable[[Sequence[str]], tuple[list[tuple[int, Any, Prepared]], list[tuple[int, PredictionFailure]]]],
    compute: Callable[[list[tuple[Any, Prepared]]], Sequence[Result]],
) -> list[Result | PredictionFailure]:
    """One result per input, in order: ``compute`` over the (structure, prepared input) of every input ``prepare``
    accepted (in one call), the failure ``prepare`` gave for each other.

    ``prepare`` is a featurizer's: (index, structure, prepared input) of each valid input, (index, failure) of
    each other. ``caller`` names the method in the error for a lone string.
    """
    if isinstance(smiles, str):
        raise ToolInputError(f"{caller} takes a sequence of SMILES, not one string")
    good, bad = prepare(smiles)
    results: list[Result | PredictionFailure | None] = [None] * len(smiles)
    for index, failure in bad:
        results[index] = failure
    if good:
        computed = compute([(structure, prepared) for _, structure, prepared in good])
        for (index, _, _), result in zip(good, computed, strict=True):
            results[index] = result
    return [r for r in results if r is not None]


class EnsemblePredictions:
    """``predict`` and ``predict_with_members`` (``EnsemblePredictor``) for a family whose ``_featurizer.prepare``
    featurizes a batch and whose ``_predict_prepared`` turns the valid (structure, prepared input) pairs into
    (prediction, member values) pairs in one pass."""

    _featurizer: Any

    def _prepare(self, smiles: Sequence[str]) -> tuple[list[tuple[int, Any, Any]], list[tuple[int, PredictionFailure]]]:
        """Featurize a batch: (index, structure, prepared input) of the valid inputs, a failure for each other."""
        return self._featurizer.prepare(smiles)

    def _predict_prepared(self, items: list[tuple[Any, Any]]) -> list[tuple[PredictedValue, tuple[float, ...]]]:
        raise NotImplementedError

    def predict(self, smiles: Sequence[str]) -> list[PredictedValue | PredictionFailure]:
        return per_input(
            "predict", smiles, self._prepare,
            lambda items: [prediction for prediction, _ in self._predict_prepared(items)],
        )

    def predict_with_members(
        self, smiles: Sequence[str]
    ) -> list[tuple[PredictedValue, tuple[float, ...]] | PredictionFailure]:
        """``predict`` with every member's prediction beside it, from the same pass."""
        return per_input("predict_with_members", smiles, self._prepare, self._predict_prepared)


class PreparedFeatures(Protocol):
    """A featurizer that keeps structures and features made elsewhere (by a preparation job), from their JSON."""

    def take_json(self, smiles: Sequence[str], prepared: Sequence[dict[str, Any] | None]) -> int: ...


def take_prepared_json(featurizer: PreparedFeatures, smiles: list[str], result: Any, what: str) -> int:
    """Hand a preparation job's ``result`` for ``smiles`` to ``featurizer``: how many molecules it kept (none, and
    a warning naming ``what`` the job made, when the result is not theirs)."""
    if not isinstance(result, list) or len(result) != len(smiles):
        return 0
    try:
        return featurizer.take_json(smiles, result)
    except (KeyError, TypeError, ValueError) as error:
        log.warning("ignoring a %s job's result: %s", what, error)
        return 0


class LRUCache(Generic[K, V]):
    """A small least-recently-used map, owned by whoever creates it (no hidden global caches)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def regression_metrics(
    values: Sequence[float], predicted: Sequence[float], sigma: Sequence[float]
) -> dict[str, float | None]:
    """rmse, mae, spearman and coverage90 (fraction with |error| <= 1.645 sigma); None where undefined."""
    import numpy as np

    y = np.asarray(values, dtype=float)
    p = np.asarray(predicted, dtype=float)
    s = np.asarray(sigma, dtype=float)
    if len(y) == 0:
        return {"rmse": None, "mae": None, "spearman": None, "coverage90": None}
    error = p - y
    spearman: float | None = None
    if len(y) >= 3 and np.ptp(y) > 0 and np.ptp(p) > 0:
        from scipy.stats import spearmanr

        rho = float(spearmanr(y, p).statistic)
        spearman = rho if math.isfinite(rho) else None
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "spearman": spearman,
        "coverage90": float(np.mean(np.abs(error) <= 1.645 * s)),
    }


def evaluate(predictor: Predictor, rows: TrainingRows) -> dict[str, Any]:
    """rmse, mae, spearman, coverage90 (see ``regression_metrics``), n and n_failed of ``predictor`` on ``rows``."""
    results = predictor.predict(rows.smiles)
    values, predicted, sigma = [], [], []
    for value, result in zip(rows.values, results, strict=True):
        if isinstance(result, PredictedValue):
            values.append(value)
            predicted.append(result.value)
            sigma.append(result.uncertainty)
    metrics: dict[str, Any] = dict(regression_metrics(values, predicted, sigma))
    metrics["n"] = len(values)
    metrics["n_failed"] = len(rows) - len(values)
    return metrics


def json_safe(value: Any) -> Any:
    """Non-finite floats become None (JSON columns on PostgreSQL reject NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value



def calibration_group(canonical_smiles: str) -> str:
    """The group a molecule is held out with when uncertainty is calibrated: its Bemis–Murcko scaffold.

    Held-out residuals of molecules whose scaffold the model has seen are smaller than those of new chemical
    series, so calibrating on them gives intervals that are too narrow exactly where a campaign explores.
    Molecules without a ring have an empty scaffold; they are grouped by their set of elements instead
    (``acyclic:C.O`` for the alcohols, ethers and acids, ``acyclic:C.Cl`` ...), a homologous series being the
    acyclic analogue of a scaffold: one group for all of them (chemprop's split) makes a member that never drew it
    blind to a third of a solubility set, and one group per molecule calibrates on near neighbours (measured on
    the MoleculeNet scaffold splits: 90% coverage 0.84 with singletons, 0.85-0.87 with element groups, with RMSE
    unchanged). A SMILES RDKit cannot parse is its own group.
    """
    from rdkit import Chem, rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(canonical_smiles)
    if mol is None:
        return canonical_smiles
    scaffold = str(MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False))
    if scaffold:
        return scaffold
    return "acyclic:" + ".".join(sorted({atom.GetSymbol() for atom in mol.GetAtoms()}))


class PredictorIdentity:
    """What every predictor family shares besides its model: the identity of a version and the checks on rows.

    A mixin: the family's class sets ``name`` (its family) and, in ``__init__``, the attributes annotated below;
    the mixin turns them into the read-only properties of the ``Predictor`` protocol (``version``, ``property``,
    ``unit``, ``implemented_properties``) and those every family offers beyond it (``parent_version``,
    ``training_rows``, ``dataset_hash``), and gives ``evaluate``, the fine-tuning check and the identity fields of
    ``meta.json``.
    """

    name: str
    _property: str
    _unit: str
    _training: TrainingRows
    _parent_version: str | None
    _version: str

    @property
    def version(self) -> str:
        """Content hash of what the model was built from (the family's ``compute_version``)."""
        return self._version

    @property
    def unit(self) -> str:
        """The canonical unit of the property, of the training values and of every prediction."""
        return self._unit

    @property
    def implemented_properties(self) -> frozenset[str]:
        """The one property the model predicts."""
        return frozenset({self._property})

    @property
    def parent_version(self) -> str | None:
        """The version this one was fine-tuned from; None for a model trained from the start."""
        return self._parent_version

    @property
    def training_rows(self) -> TrainingRows:
        """The (valid, canonical) rows this version was trained on."""
        return self._training

    @property
    def dataset_hash(self) -> str | None:
        """Content hash of the snapshot the training rows came from, if they came from one."""
        return self._training.dataset_hash

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(property={self._property!r}, version={self._version!r}, "
            f"n_train={len(self._training)})"
        )

    def _prediction(self, structure: Any, value: float, uncertainty: float) -> PredictedValue:
        """This version's prediction for ``structure`` (a ``CanonicalStructure``)."""
        return PredictedValue(
            smiles=structure.smiles,
            inchikey=structure.inchikey,
            property=self._property,
            value=float(value),
            uncertainty=float(uncertainty),
            unit=self._unit,
            model_version=self._version,
        )

    def evaluate(self, rows: TrainingRows) -> dict[str, Any]:
        """rmse, mae, spearman, coverage90 (fraction of |error| <= 1.645 sigma), n and n_failed on ``rows``."""
        if rows.property != self._property:
            raise ToolInputError(f"cannot evaluate a {self._property} model on {rows.property} rows")
        return evaluate(cast(Predictor, self), rows)  # the family's class completes the Predictor

    def _check_fine_tune_rows(self, rows: TrainingRows) -> None:
        """Raise ToolInputError unless ``rows`` are of this model's property and unit."""
        if rows.property != self._property or rows.unit != self._unit:
            raise ToolInputError(
                f"cannot fine-tune a {self._property} [{self._unit}] model on {rows.property} [{rows.unit}] rows"
            )

    def _identity_meta(self, artifact_format: int) -> dict[str, Any]:
        """The ``meta.json`` fields every family writes: family, format, version, property, unit,
        parent_version, dataset_hash and n_train (the family adds its own)."""
        return {
            "family": self.name,
            "format": artifact_format,
            "version": self._version,
            "property": self._property,
            "unit": self._unit,
            "parent_version": self._parent_version,
            "dataset_hash": self._training.dataset_hash,
            "n_train": len(self._training),
        }

    @property  # defined last: inside the class body the name shadows the builtin
    def property(self) -> str:
        """Canonical name of the property predicted (knowledge.properties)."""
        return self._property


# -- model artifacts ---------------------------------------------------------------------------------
# A saved predictor is a folder holding META_FILE (what it is and how it was built), TRAINING_FILE (the rows it
# was trained on, read back with TrainingRows.from_snapshot_csv) and the family's own weights.

META_FILE = "meta.json"
TRAINING_FILE = "training.csv"


def content_version(payload: dict[str, Any]) -> str:
    """A version: sha256 (16 hex characters) of ``payload`` as compact JSON with sorted keys."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def write_artifact_files(directory: Path, training: TrainingRows, meta: dict[str, Any]) -> None:
    """Write the files every artifact has into ``directory`` (which must exist).

    ``training.csv``: the rows, header ``smiles,value``, values as ``repr(float)`` so they read back exactly.
    ``meta.json``: ``meta``, indented, keys sorted, one trailing newline.
    """
    directory = Path(directory)
    with (directory / TRAINING_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["smiles", "value"])
        for smiles, value in zip(training.smiles, training.values, strict=True):
            writer.writerow([smiles, repr(float(value))])
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_meta(directory: Path, family: str, artifact_format: int, mismatch: str) -> dict[str, Any]:
    """The ``meta.json`` of the artifact in ``directory``, which must be of ``family`` and ``artifact_format``.

    ``mismatch`` is the family's message for an artifact of another family or format, a ``str.format`` template
    with the fields ``directory``, ``family`` and ``format`` (what the artifact records) and ``expected_family``
    and ``expected_format``.

    Raises:
        ToolFailed: ``meta.json`` cannot be read or parsed, or records another family or format.
    """
    try:
        meta: dict[str, Any] = json.loads((Path(directory) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ToolFailed(f"cannot read model artifact in {directory}: {error}") from error
    if meta.get("family") != family or meta.get("format") != artifact_format:
        raise ToolFailed(
            mismatch.format(
                directory=directory,
                family=meta.get("family"),
                format=meta.get("format"),
                expected_family=family,
                expected_format=artifact_format,
            )
        )
    return meta


def read_training_csv(directory: Path, meta: dict[str, Any]) -> TrainingRows:
    """The rows of the artifact's ``training.csv``, with the property, unit and dataset hash ``meta`` records."""
    return TrainingRows.from_snapshot_csv(
        Path(directory) / TRAINING_FILE, meta["property"], meta["unit"], meta.get("dataset_hash")
    )


def check_version(directory: Path, meta: dict[str, Any], version: str) -> None:
    """Raise ToolFailed unless ``version``, recomputed from the artifact's content, is the one ``meta`` records."""
    if version != meta["version"]:
        raise ToolFailed(f"model artifact in {directory} does not match its version {meta['version']}")
