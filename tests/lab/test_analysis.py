from __future__ import annotations

import numpy as np
import pytest

from lab.analysis import fit_dose_response, hill_activity
from lab.errors import MeasurementRejected

CONCENTRATIONS = [100 / 3.16**k for k in range(11)]


@pytest.mark.parametrize("ic50_um", [0.01, 0.3, 5.0])
def test_fit_recovers_the_ic50(ic50_um: float) -> None:
    rng = np.random.default_rng(1)
    signals = [hill_activity(c, ic50_um, 1.2) + rng.normal(0, 2) for c in CONCENTRATIONS]
    fit = fit_dose_response(CONCENTRATIONS, signals)
    assert fit.status == "ok"
    assert fit.pic50 == pytest.approx(6 - np.log10(ic50_um), abs=0.15)
    assert fit.hill == pytest.approx(1.2, abs=0.3)
    assert 0.01 <= fit.pic50_sd < 0.2


def test_inactive_and_too_potent_compounds_are_censored() -> None:
    inactive = fit_dose_response(CONCENTRATIONS, [hill_activity(c, 1e5, 1.0) for c in CONCENTRATIONS])
    assert inactive.status == "below_range"
    assert inactive.pic50 == pytest.approx(4.0)
    potent = fit_dose_response(CONCENTRATIONS, [hill_activity(c, 1e-7, 1.0) for c in CONCENTRATIONS])
    assert potent.status == "above_range"
    assert potent.pic50 == pytest.approx(6 - np.log10(min(CONCENTRATIONS)))


def test_unusable_readings_are_rejected() -> None:
    with pytest.raises(MeasurementRejected):
        fit_dose_response([1, 2, 3], [50, 50, 50])
    with pytest.raises(MeasurementRejected):
        fit_dose_response(CONCENTRATIONS, [float("nan")] * len(CONCENTRATIONS))
