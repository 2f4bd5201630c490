"""The Kneedle method (Satopää et al., 2011): the knee of a concave, increasing curve.

Both axes are scaled to [0, 1]; the knee is where the curve rises furthest above the diagonal, provided
the curve then falls clearly back (by ``sensitivity`` times the mean x step) before it rises again.

This is the offline algorithm of the ``kneed`` package for curve="concave", direction="increasing",
which tests/test_statistics.py checks it against. It lives here because importing ``kneed`` imports
scipy.signal, 1-2 seconds that every ``iobench report`` would pay for twenty lines of numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _scaled(values: np.ndarray) -> np.ndarray:
    return (values - values.min()) / (values.max() - values.min())


def knee_index(x: Sequence[float], y: Sequence[float], sensitivity: float = 1.0) -> int | None:
    """Index of the knee of y(x) (x increasing, y concave and increasing), or None if there is none."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.size < 3 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return None
    difference = _scaled(ys) - _scaled(xs)
    before, after = np.r_[difference[0], difference[:-1]], np.r_[difference[1:], difference[-1]]
    maxima = (difference >= before) & (difference >= after)
    minima = (difference <= before) & (difference <= after)
    drop = sensitivity * abs(float(np.diff(_scaled(xs)).mean()))
    threshold, candidate, active = 0.0, None, False
    for i in range(xs.size - 1):
        if maxima[i]:
            threshold, candidate, active = difference[i] - drop, i, True
        if minima[i]:
            threshold, active = 0.0, False
        if active and difference[i + 1] < threshold:
            return candidate
    return None
