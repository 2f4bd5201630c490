"""Where adding workers stops helping: the saturation rule, and the Kneedle knee as a second opinion.

``saturation`` is a statistical rule: the smallest pool not significantly slower than the best one and
within a tolerance of it. ``knee`` is geometric: where the log-log curve bends most (Kneedle). The rule is
the one reports and plots mark; the knee is reported beside it. The README defines both words this way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iobench.analysis.kneedle import knee_index
from iobench.analysis.statistics import Estimate, bootstrap_ratio
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
