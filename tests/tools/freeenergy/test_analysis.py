"""MBAR over independent windows against free energies known in closed form, and the linear solvent-coupling
potentials the implicit path hands it."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pymbar")

from tools.freeenergy.analysis import mbar_estimate  # noqa: E402
from tools.freeenergy.hydration import coupling_reduced_potentials  # noqa: E402


def test_mbar_recovers_the_free_energy_of_stiffening_a_harmonic_oscillator() -> None:
    # u_k(x) = k_k x^2 / 2 in kT: ΔF(0 -> last) = ½ ln(k_last / k_0) exactly; samples drawn exactly from each state
    rng = np.random.default_rng(7)
    springs = np.array([1.0, 2.0, 4.0, 8.0])
    reduced = []
    for k in springs:
        x = rng.normal(0.0, 1.0 / math.sqrt(k), 2000)
        reduced.append(springs[:, None] * x[None, :] ** 2 / 2.0)
    estimate = mbar_estimate(reduced)
    exact = 0.5 * math.log(springs[-1] / springs[0])
    assert estimate.delta_f_kt == pytest.approx(exact, abs=4 * estimate.error_kt)
    assert 0.005 < estimate.error_kt < 0.1
    assert all(0.05 < value < 1.0 for value in estimate.neighbour_overlaps)
    assert all(g == pytest.approx(1.0, abs=0.6) for g in estimate.statistical_inefficiency)  # independent samples
    assert np.allclose(np.asarray(estimate.overlap).sum(axis=1), 1.0)


def test_the_linear_coupling_of_a_displaced_oscillator_gives_its_closed_form_free_energy() -> None:
    # U_solute = x²/2, U_solvent = c·x (in kT, kT = 1 kJ/mol): F(λ) = -λ²c²/2, so ΔF(0 -> 1) = -c²/2
    rng = np.random.default_rng(3)
    lambdas = (0.0, 0.25, 0.5, 0.75, 1.0)
    c = 3.0
    windows = []
    for coupling in lambdas:
        x = rng.normal(-coupling * c, 1.0, 1500)  # the Boltzmann distribution of x²/2 + λ c x
        windows.append({"solute_kj": (x**2 / 2).tolist(), "solvent_kj": (c * x).tolist()})
    reduced = coupling_reduced_potentials(windows, lambdas, kt_kj=1.0)
    assert reduced[2][4, 0] == pytest.approx(windows[2]["solute_kj"][0] + windows[2]["solvent_kj"][0])
    estimate = mbar_estimate(reduced)
    assert estimate.delta_f_kt == pytest.approx(-c * c / 2, abs=max(0.05, 4 * estimate.error_kt))


def test_windows_that_do_not_overlap_show_it() -> None:
    rng = np.random.default_rng(0)
    centres = [0.0, 12.0]  # two narrow wells far apart: almost no sample of one is likely in the other
    reduced = []
    for centre in centres:
        x = rng.normal(centre, 1.0, 500)
        reduced.append(np.stack([(x - m) ** 2 / 2 for m in centres]))
    assert mbar_estimate(reduced).min_neighbour_overlap < 0.01
