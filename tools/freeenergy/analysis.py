"""MBAR over independent λ windows (pymbar 4): each window's samples are cut to their equilibrated part and
subsampled by its statistical inefficiency (so the error MBAR gives accounts for correlation), then the free energy
between the end states, its standard error, the overlap matrix and a forward convergence series."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)
POOR_OVERLAP = 0.03  # neighbouring states overlapping less than this make MBAR's estimate unreliable (a warning)


class MbarEstimate(BaseModel):
    """The free-energy difference from the first to the last state (kT), its standard error, the overlap matrix,
    and per state the samples kept, the statistical inefficiency and the first equilibrated sample."""

    model_config = ConfigDict(frozen=True)

    delta_f_kt: float
    error_kt: float
    overlap: list[list[float]]
    samples: list[int]
    statistical_inefficiency: list[float]
    equilibrated_from: list[int]

    @property
    def neighbour_overlaps(self) -> list[float]:
        return [self.overlap[k][k + 1] for k in range(len(self.overlap) - 1)]

    @property
    def min_neighbour_overlap(self) -> float:
        return min(self.neighbour_overlaps) if self.neighbour_overlaps else 1.0


def mbar_estimate(reduced: Sequence[np.ndarray], *, fraction: float = 1.0, decorrelate: bool = True) -> MbarEstimate:
    """MBAR over windows: ``reduced[k]`` holds the reduced potentials (K states × N_k samples) of window k's samples
    evaluated at every state; ``fraction`` uses only the first part of each window's samples (for convergence)."""
    quiet_pymbar()
    from pymbar import MBAR, timeseries

    kept, counts, inefficiencies, starts = [], [], [], []
    for k, u in enumerate(reduced):
        u = np.asarray(u, dtype=float)[:, : max(2, int(round(u.shape[1] * fraction)))]
        own = u[k]
        if decorrelate and own.size >= 10 and np.ptp(own) > 0:
            start, g, _ = timeseries.detect_equilibration(own)
            indices = timeseries.subsample_correlated_data(own[start:], g=g)
            selection = u[:, start:][:, indices]
        else:
            start, g, selection = 0, 1.0, u
        kept.append(selection)
        counts.append(selection.shape[1])
        inefficiencies.append(float(g))
        starts.append(int(start))
    mbar = MBAR(np.concatenate(kept, axis=1), np.asarray(counts), solver_protocol="robust")
    result = mbar.compute_free_energy_differences()
    overlap = mbar.compute_overlap()["matrix"]
    return MbarEstimate(
        delta_f_kt=float(result["Delta_f"][0, -1]), error_kt=float(result["dDelta_f"][0, -1]),
        overlap=[[float(x) for x in row] for row in overlap], samples=counts, statistical_inefficiency=inefficiencies,
        equilibrated_from=starts,
    )


def quiet_pymbar() -> None:
    """Silence pymbar's import banner (JAX is not installed), solver fall-backs and caveats: noise to a user here."""
    logging.getLogger("pymbar").setLevel(logging.ERROR)


def forward_convergence(reduced: Sequence[np.ndarray], fractions: Sequence[float] = (0.2, 0.4, 0.6, 0.8, 1.0)) -> list[tuple[float, float, float]]:
    """(fraction of each window's samples, ΔF, error) in kT, from the start of the production samples."""
    series = []
    for fraction in fractions:
        estimate = mbar_estimate(reduced, fraction=fraction)
        series.append((float(fraction), estimate.delta_f_kt, estimate.error_kt))
    return series
