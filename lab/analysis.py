"""Analysis of raw instrument readings shared by real and simulated instruments."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from lab.errors import MeasurementRejected
from lab.models import ReadingStatus


class DoseResponseFit(BaseModel):
    model_config = ConfigDict(frozen=True)

    ic50_um: float
    pic50: float
    pic50_sd: float
    hill: float
    status: ReadingStatus


def hill_activity(concentration_um: float, ic50_um: float, hill: float) -> float:
    """Percent activity remaining: 100 with no inhibitor, 0 at full inhibition."""
    return 100.0 / (1.0 + (concentration_um / ic50_um) ** hill)


def fit_dose_response(concentrations_um: Sequence[float], signals: Sequence[float]) -> DoseResponseFit:
    """Fit a two-parameter Hill curve (top 100 %, bottom 0 %) in log10(IC50) and the Hill slope.

    An IC50 beyond the tested range is reported at the range's edge with status ``below_range`` (weaker
    than the top concentration) or ``above_range`` (more potent than the lowest one).
    """
    import numpy as np
    from scipy.optimize import curve_fit

    x = np.log10(np.asarray(concentrations_um, dtype=float))
    y = np.asarray(signals, dtype=float)
    if len(x) != len(y) or len(x) < 4:
        raise MeasurementRejected("a dose-response fit needs at least four concentrations with a signal each")
    if not np.all(np.isfinite(y)):
        raise MeasurementRejected("the plate reader returned non-finite signals")

    def model(log_c: np.ndarray, log_ic50: float, hill: float) -> np.ndarray:
        return 100.0 / (1.0 + 10.0 ** (hill * (log_c - log_ic50)))

    low, high = float(x.min()), float(x.max())
    guess_index = int(np.argmin(np.abs(y - 50.0)))
    try:
        (log_ic50, hill), covariance = curve_fit(
            model,
            x,
            y,
            p0=(float(x[guess_index]), 1.0),
            bounds=((low - 3.0, 0.3), (high + 3.0, 5.0)),
            maxfev=5000,
        )
    except (RuntimeError, ValueError) as error:
        raise MeasurementRejected(f"the dose-response curve could not be fitted: {error}") from error
    sd = float(math.sqrt(covariance[0, 0])) if np.all(np.isfinite(covariance)) else float("inf")
    status: ReadingStatus = "ok"
    if log_ic50 > high:
        status, log_ic50 = "below_range", high
    elif log_ic50 < low:
        status, log_ic50 = "above_range", low
    pic50 = 6.0 - float(log_ic50)  # IC50 in µM -> -log10(M)
    return DoseResponseFit(
        ic50_um=float(10.0**log_ic50), pic50=pic50, pic50_sd=min(max(sd, 0.01), 5.0), hill=float(hill), status=status
    )
