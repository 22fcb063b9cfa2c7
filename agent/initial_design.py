"""Which molecules a campaign measures before it has any model: its initial design.

``random``: a uniform draw from the pool. ``clusters``: the pool cut into as many groups as the initial batch has
molecules (k-means on Morgan fingerprints), and from each group the molecule nearest its centre. The clustered
design covers the pool's chemical series where a random draw of 16 often lands twice in one large series and
misses smaller ones; the first model then sees more series.

In an offline simulation on BACE (greedy acquisition, 96 experiments, the fingerprint forests, one k-means start)
the true top-2% molecules found rose from 6.4 to 8.6 on average over 32 seeds; benchmarks/RESULTS.md has the
campaigns on the simulated lab.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def similarity_fingerprint_generator() -> Any:
    """The fingerprint generator a campaign compares molecules by (Morgan, radius 2, 2048 bits): its batches' Tanimoto
    diversity limit and the clustered initial design both use it."""
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


MAX_FIT = 20_000  # k-means is fitted on at most this many molecules of a larger pool, drawn at random
N_INIT = 10  # k-means restarts (the best of them is kept): one restart often merges two series and splits another


def cluster_representatives(smiles: Sequence[str], count: int, seed: int, max_fit: int = MAX_FIT) -> list[str]:
    """``count`` molecules of ``smiles``, one per k-means cluster of their fingerprints (those of
    ``similarity_fingerprint_generator``): each the member nearest its cluster's centre, in cluster order.
    Deterministic for a fixed ``seed``.

    All of ``smiles`` when there are no more than ``count``. SMILES that RDKit cannot parse are never chosen.
    """
    import numpy as np
    from rdkit import Chem

    if count <= 0:
        return []
    parsed = [(s, Chem.MolFromSmiles(s)) for s in smiles]
    valid = [s for s, mol in parsed if mol is not None]
    if len(valid) <= count:
        return valid
    rng = np.random.default_rng(seed)
    fitted = sorted(rng.choice(len(valid), max_fit, replace=False)) if len(valid) > max_fit else range(len(valid))
    molecules = {s: mol for s, mol in parsed if mol is not None}
    generator = similarity_fingerprint_generator()
    names = [valid[i] for i in fitted]
    bits = np.array([generator.GetFingerprintAsNumPy(molecules[s]) for s in names], dtype=np.float32)

    from sklearn.cluster import KMeans

    clusters = KMeans(n_clusters=count, n_init=N_INIT, random_state=int(rng.integers(2**31 - 1))).fit(bits)
    chosen: list[str] = []
    for label, centre in enumerate(clusters.cluster_centers_):
        members = np.flatnonzero(clusters.labels_ == label)
        if members.size == 0:  # k-means keeps every cluster non-empty, but identical fingerprints can tie
            continue
        nearest = members[np.argmin(((bits[members] - centre) ** 2).sum(axis=1))]
        chosen.append(names[nearest])
    if len(chosen) < count:  # fill from the rest in a seeded order
        log.info("k-means gave %d non-empty clusters for %d: the rest of the design is random", len(chosen), count)
        taken = set(chosen)
        rest = [s for s in valid if s not in taken]
        chosen.extend(rest[i] for i in rng.permutation(len(rest))[: count - len(chosen)])
    return chosen
