"""Where adding workers stops helping: the saturation rule, its interval, and the Kneedle knee as a second opinion.

``saturation`` is a statistical rule: the smallest pool not significantly slower than the best one and
within a tolerance of it. ``knee`` is geometric: where the log-log curve bends most (Kneedle). The rule is
the one reports and plots mark; the knee is reported beside it. The README defines both words this way.

``saturation_interval`` makes the rule continuous and gives it a confidence interval: N* is where the
curve crosses the rule's threshold (1 − tolerance) × best between two measured pools, and the whole rule
is recomputed on bootstrap resamples of every point's rounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from iobench.analysis.kneedle import knee_index
from iobench.analysis.statistics import (
    BOOTSTRAP_RESAMPLES,
    CONFIDENCE,
    Estimate,
    bootstrap_ratio,
    mann_whitney_p,
    resampled_medians,
)
from iobench.analysis.stats import SeriesStats

#: A pool within this share of the best throughput counts as saturated (when also not significantly below).
SATURATION_TOLERANCE = 0.05


@dataclass(frozen=True)
class Saturation:
    """The smallest pool that does (statistically) as well as the best one, and how sure that is."""

    workers: int
    throughput: Estimate
    best_workers: int
    best_throughput: Estimate
    #: Throughput at ``workers`` over the best throughput, with a bootstrap interval over both samples.
    ratio_to_best: Estimate
    tolerance: float
    #: The largest pool measured: the curve may keep rising past the sweep, so this is a lower bound.
    at_sweep_edge: bool


def saturation(stats: SeriesStats, tolerance: float = SATURATION_TOLERANCE) -> Saturation | None:
    """The smallest N not significantly below the best throughput and within ``tolerance`` of it.

    "Significantly below" means the 95 % bootstrap interval of throughput(N) / throughput(best) lies
    wholly under 1, so the rule never picks a point the data says is slower than the best; the
    tolerance stops it from picking a point whose interval only reaches the best because it is wide.
    None when the series has no points.
    """
    if not stats.points:
        return None
    best = max(stats.points, key=lambda point: point.throughput.value)
    largest = max(point.workers for point in stats.points)
    for point in sorted(stats.points, key=lambda point: point.workers):
        ratio = bootstrap_ratio(point.round_throughputs, best.round_throughputs)
        if point is best or (ratio.high >= 1.0 and ratio.value >= 1.0 - tolerance):
            return Saturation(point.workers, point.throughput, best.workers, best.throughput,
                              ratio, tolerance, point.workers == largest)  # fmt: skip
    raise AssertionError("unreachable: the best point always qualifies")


def knee(stats: SeriesStats) -> int | None:
    """The Kneedle knee of throughput against N, on log2 N and log2 throughput; None if there is none.

    On log-log axes linear scaling is a straight line and a plateau is flat, so the knee is where the
    line bends, whatever the absolute numbers. The running best is used so that a decline past the
    peak reads as a plateau rather than as a second bend.
    """
    points = sorted(stats.points, key=lambda point: point.workers)
    if len(points) < 3:
        return None
    log_workers = np.log2([point.workers for point in points])
    log_throughput = np.log2(np.maximum.accumulate([max(point.throughput.value, 1e-12) for point in points]))
    found = knee_index(log_workers, log_throughput)
    return None if found is None else points[found].workers


#: The significance level of "still rising": the largest pool beats the best of the others by more than the tolerance.
RISING_ALPHA = 0.05
_INTERVAL_SEED = 20240602


def significantly_above(new: list[float] | tuple[float, ...], best: list[float] | tuple[float, ...],
                        margin: float, alpha: float = RISING_ALPHA) -> bool:  # fmt: skip
    """Whether the rounds ``new`` are significantly more than ``margin`` above the rounds ``best``.

    The gate's question, one-sided because it is asked before looking: a Mann–Whitney test of ``new``
    against ``best`` moved up by the margin. With 5 rounds each the smallest p-value is 1/252; with 3
    rounds each it is 1/20, so three rounds can never show a curve still rising at the 5 % level.
    """
    if not new or not best:
        return False
    raised = [value * (1 + margin) for value in best]
    return mann_whitney_p(new, raised, "greater") < alpha


@dataclass(frozen=True)
class SaturationInterval:
    """The saturation point as a continuous N with a 95 % interval, and what kind of answer it is.

    ``status`` is "found" (the curve crosses the threshold between two measured pools), "flat" (the
    smallest pool measured is already within the tolerance of the best: more workers never helped;
    ``estimate`` is that pool, an upper bound) or "rising" (the largest pool is still significantly more
    than the tolerance above every other: ``estimate`` is that pool, a lower bound, and ``high`` is
    infinite). Never an edge pool reported as the point.
    """

    status: str
    estimate: float
    low: float
    high: float
    #: The measured pools on either side of the crossing (equal when flat or rising).
    below: int
    above: int
    best_workers: int
    threshold: float
    tolerance: float
    largest: int
    #: The bounds the medians alone put on N* (before resampling): how much the bracket leaves unknown.
    bounds: tuple[float, float]

    @property
    def half_width(self) -> float:
        """The interval's half width relative to its middle: 0.15 reads "±15 %"."""
        if self.status == "rising" or self.high + self.low <= 0:
            return math.inf
        return (self.high - self.low) / (self.high + self.low)

    @property
    def best_at_edge(self) -> bool:
        """The best throughput is at the largest pool measured: the peak may lie beyond the sweep."""
        return self.best_workers == self.largest


def _crossing_bounds(
    workers: np.ndarray, medians: np.ndarray, tolerance: float, best: int | None = None
) -> tuple[np.ndarray, ...]:
    """For each row of ``medians`` (a resample; columns are pools by increasing N): bounds on where the curve
    first reaches (1 − tolerance) × its best, and the column of the first pool that does. ``best`` names the
    column of the best pool; by default each row's largest median.

    Between the last pool a below the threshold and the first pool b at or above it, the curve is assumed
    to rise no faster than linearly in N (X(N)/N cannot grow: more workers never make a request faster)
    and to be concave on log-log axes, as a curve bending towards a ceiling is. Then the crossing lies
    between a · t / X(a) (X grew linearly from a) and the smaller of the log-log chord from a to b and
    b · t / X(b). A wide bracket [a, b] therefore widens the interval; measuring inside it narrows it.
    """
    threshold = (1 - tolerance) * (medians.max(axis=1) if best is None else medians[:, best])
    first = (medians >= threshold[:, None]).argmax(axis=1)
    rows = np.arange(medians.shape[0])
    before = np.maximum(first - 1, 0)
    below, above = workers[before], workers[first]
    below_rate, above_rate = medians[rows, before], medians[rows, first]
    flat = first == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.log(threshold / below_rate) / np.log(above_rate / below_rate)
        chord = below * (above / below) ** np.where(flat, 0.0, share)
        lower = np.clip(below * threshold / below_rate, below, above)
        upper = np.clip(np.minimum(chord, above * threshold / above_rate), lower, above)
    lower[flat] = upper[flat] = workers[0]
    return lower, upper, first


def saturation_interval(
    stats: SeriesStats, tolerance: float = SATURATION_TOLERANCE, resamples: int = BOOTSTRAP_RESAMPLES
) -> SaturationInterval | None:
    """N* where throughput first reaches (1 − tolerance) × the best, with a 95 % bootstrap interval.

    The estimate is interpolated on log N between the two measured pools around the crossing: the
    geometric middle of the bounds ``_crossing_bounds`` puts on it, so it is a continuous N, not a grid
    value. The interval resamples every point's rounds (a smoothed bootstrap, as for the medians),
    reruns the whole rule on each resample (the threshold, the bracket, the bounds) and takes the 2.5th
    percentile of the lower bounds and the 97.5th of the upper ones: it carries both the noise of the
    rounds and what the bracket leaves unknown. The best pool is held at the one the medians name: the
    largest of several resampled plateau medians would be biased upwards (a maximum of noisy values),
    and with it the threshold and the whole interval. None with fewer than two measured pools.
    """
    points = sorted(stats.points, key=lambda point: point.workers)
    if len(points) < 2:
        return None
    workers = np.array([point.workers for point in points], dtype=float)
    medians = np.array([[float(np.median(point.round_throughputs)) for point in points]])
    rng = np.random.default_rng(_INTERVAL_SEED)
    resampled = np.column_stack([resampled_medians(point.round_throughputs, rng, resamples) for point in points])
    best_index = int(np.argmax(medians[0]))
    lower, upper, first = _crossing_bounds(workers, medians, tolerance)
    lows, highs, _ = _crossing_bounds(workers, np.maximum(resampled, 1e-12), tolerance, best_index)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = float(np.percentile(lows, tail)), float(np.percentile(highs, 100 - tail))
    index = int(first[0])
    largest = points[-1]
    best_other = max(points[:-1], key=lambda point: point.throughput.value)
    rising = best_index == len(points) - 1 and significantly_above(
        largest.round_throughputs, best_other.round_throughputs, tolerance
    )
    common = {"best_workers": points[best_index].workers, "threshold": float((1 - tolerance) * medians[0].max()),
              "tolerance": tolerance, "largest": largest.workers}  # fmt: skip
    if rising:
        edge = float(largest.workers)
        return SaturationInterval("rising", edge, edge, math.inf, largest.workers, largest.workers,
                                  bounds=(edge, math.inf), **common)  # fmt: skip
    if index == 0:
        first = float(points[0].workers)
        return SaturationInterval("flat", first, first, max(high, first), points[0].workers, points[0].workers,
                                  bounds=(first, first), **common)  # fmt: skip
    estimate = float(math.sqrt(lower[0] * upper[0]))
    return SaturationInterval("found", estimate, min(low, estimate), max(high, estimate), points[index - 1].workers,
                              points[index].workers, bounds=(float(lower[0]), float(upper[0])), **common)  # fmt: skip
