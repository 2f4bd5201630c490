"""Scalability models fitted to measured throughput: the Universal Scalability Law and Amdahl's law.

A fitted model turns a handful of noisy points into two or three numbers with a meaning: α is the share
of each request that is serialized (contention), β the cost of workers coordinating with each other
(coherency), and the USL's peak sqrt((1 − α) / β) is where adding workers starts to *lose* throughput.

Both laws are linear after the substitution y = N / X(N):

    USL:     N / X = 1/γ + (α/γ)(N − 1) + (β/γ) N(N − 1)
    Amdahl:  the same with β = 0

so numpy's least squares fits them without an iterative optimizer. Each row is divided by its
observed y, which makes the fit minimize *relative* residuals: measurement noise on throughput is
multiplicative, and unweighted residuals of N / X would let the largest pool dominate the fit.
Negative coefficients have no physical meaning; when the unconstrained fit gives one, the fit is
redone with that term held at zero.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Two or three parameters from fewer points would fit noise, not the system.
MIN_POINTS = 5


def usl_throughput(workers: np.ndarray, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """γN / (1 + α(N − 1) + βN(N − 1)); Amdahl's law is the case β = 0."""
    return gamma * workers / (1 + alpha * (workers - 1) + beta * workers * (workers - 1))


@dataclass(frozen=True)
class UslFit:
    """X(N) = γN / (1 + α(N − 1) + βN(N − 1)), fitted to (workers, throughput) points."""

    alpha: float
    beta: float
    gamma: float
    r_squared: float
    points: int

    def throughput(self, workers: float | np.ndarray) -> np.ndarray:
        return usl_throughput(np.asarray(workers, dtype=float), self.alpha, self.beta, self.gamma)

    @property
    def peak_workers(self) -> float | None:
        """sqrt((1 − α) / β): where throughput stops rising; None when there is no coherency cost."""
        if self.beta <= 0 or self.alpha >= 1:
            return None
        return math.sqrt((1 - self.alpha) / self.beta)


@dataclass(frozen=True)
class AmdahlFit:
    """X(N) = γN / (1 + σ(N − 1)): a serial fraction σ caps throughput at γ / σ, with no decline."""

    serial_fraction: float
    gamma: float
    r_squared: float
    points: int

    def throughput(self, workers: float | np.ndarray) -> np.ndarray:
        return usl_throughput(np.asarray(workers, dtype=float), self.serial_fraction, 0.0, self.gamma)

    @property
    def ceiling(self) -> float | None:
        """γ / σ, the throughput an infinite pool would approach."""
        return self.gamma / self.serial_fraction if self.serial_fraction > 0 else None


def _r_squared(observed: np.ndarray, fitted: np.ndarray) -> float:
    total = float(np.sum((observed - observed.mean()) ** 2))
    residual = float(np.sum((observed - fitted) ** 2))
    return 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)


def _fit_nonnegative(workers: np.ndarray, throughput: np.ndarray, terms: int) -> tuple[float, ...]:
    """(1/γ, α/γ, β/γ)[:terms] by weighted least squares, refitting without any term that came out negative."""
    y = workers / throughput
    columns = np.column_stack([np.ones_like(workers), workers - 1, workers * (workers - 1)])[:, :terms]
    weights = 1 / y
    best: tuple[float, tuple[float, ...]] | None = None
    # The full model first; only if it is infeasible, the models with one term fewer, and so on.
    for kept in range(terms - 1, -1, -1):
        for subset in itertools.combinations(range(1, terms), kept):
            used = [0, *subset]
            solution, *_ = np.linalg.lstsq(columns[:, used] * weights[:, None], y * weights, rcond=None)
            coefficients = [0.0] * terms
            for index, value in zip(used, solution, strict=True):
                coefficients[index] = float(value)
            if coefficients[0] <= 0 or any(c < 0 for c in coefficients[1:]):
                continue
            error = float(np.sum(((columns @ coefficients - y) * weights) ** 2))
            if best is None or error < best[0]:
                best = (error, tuple(coefficients))
        if best is not None:
            return best[1]
    return (float(np.mean(y)), *([0.0] * (terms - 1)))


def _checked(workers: Sequence[float], throughput: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    n, x = np.asarray(workers, dtype=float), np.asarray(throughput, dtype=float)
    keep = np.isfinite(x) & (x > 0)
    n, x = n[keep], x[keep]
    if np.unique(n).size < MIN_POINTS:
        return None
    return n, x


def fit_usl(workers: Sequence[float], throughput: Sequence[float]) -> UslFit | None:
    """The USL through (workers, throughput); None when fewer than MIN_POINTS distinct pool sizes."""
    data = _checked(workers, throughput)
    if data is None:
        return None
    n, x = data
    inverse_gamma, a, b = _fit_nonnegative(n, x, terms=3)
    alpha, beta, gamma = a / inverse_gamma, b / inverse_gamma, 1 / inverse_gamma
    return UslFit(alpha, beta, gamma, _r_squared(x, usl_throughput(n, alpha, beta, gamma)), n.size)


def fit_amdahl(workers: Sequence[float], throughput: Sequence[float]) -> AmdahlFit | None:
    """Amdahl's law through (workers, throughput); None when fewer than MIN_POINTS distinct pool sizes."""
    data = _checked(workers, throughput)
    if data is None:
        return None
    n, x = data
    inverse_gamma, a = _fit_nonnegative(n, x, terms=2)
    sigma, gamma = a / inverse_gamma, 1 / inverse_gamma
    return AmdahlFit(sigma, gamma, _r_squared(x, usl_throughput(n, sigma, 0.0, gamma)), n.size)
