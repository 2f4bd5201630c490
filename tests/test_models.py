"""USL and Amdahl fits on data generated from known parameters."""

from __future__ import annotations

import numpy as np
import pytest

from iobench.analysis.scaling import MIN_POINTS, fit_amdahl, fit_usl, usl_throughput

WORKERS = np.array([1, 2, 4, 8, 16, 32, 64, 128], dtype=float)


@pytest.mark.parametrize(("alpha", "beta"), [(0.05, 0.0005), (0.1, 0.001), (0.02, 0.0001), (0.3, 0.002)])
def test_usl_parameters_are_fitted_back_within_ten_percent(alpha: float, beta: float) -> None:
    rng = np.random.default_rng(11)
    noisy = usl_throughput(WORKERS, alpha, beta, 400.0) * (1 + rng.normal(0, 0.01, WORKERS.size))
    fit = fit_usl(WORKERS, noisy)
    assert fit is not None
    assert fit.alpha == pytest.approx(alpha, rel=0.10)
    assert fit.beta == pytest.approx(beta, rel=0.10)
    assert fit.peak_workers == pytest.approx(np.sqrt((1 - alpha) / beta), rel=0.10)
    assert fit.r_squared > 0.99


def test_amdahl_data_fits_with_no_coherency_term() -> None:
    throughput = usl_throughput(WORKERS, 0.08, 0.0, 250.0)
    usl, amdahl = fit_usl(WORKERS, throughput), fit_amdahl(WORKERS, throughput)
    assert usl is not None and amdahl is not None
    assert usl.beta == pytest.approx(0.0, abs=1e-9) and usl.peak_workers is None
    assert amdahl.serial_fraction == pytest.approx(0.08, rel=1e-6)
    assert amdahl.ceiling == pytest.approx(250.0 / 0.08, rel=1e-6)


def test_coefficients_never_come_out_negative() -> None:
    """Super-linear noise would give a negative α unconstrained; a negative contention has no meaning."""
    throughput = WORKERS * 100 * np.array([1.0, 1.02, 1.03, 1.05, 1.06, 1.08, 1.09, 1.1])
    fit = fit_usl(WORKERS, throughput)
    assert fit is not None and fit.alpha >= 0 and fit.beta >= 0


def test_fewer_than_five_points_are_refused() -> None:
    assert MIN_POINTS == 5
    four = WORKERS[:4]
    assert fit_usl(four, four * 10) is None and fit_amdahl(four, four * 10) is None
    assert fit_usl(WORKERS[:5], WORKERS[:5] * 10) is not None
