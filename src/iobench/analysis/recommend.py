"""The pool size to use, from a results document alone: what ``iobench recommend`` and every report say.

The recommendation is the smallest measured pool within a tolerance of the peak and not significantly
below it (the saturation rule, so it can be measured again and its p99 latency is a measured one),
beside the interval on the continuous N*, the usual advice (ThreadPoolExecutor's default
min(32, cpu + 4) and the cpu × 5 rule of thumb) with the share of the peak each reaches, and the model's
N* if the wait d were halved or doubled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from iobench.analysis.prediction import Finding, predicted_workers_at
from iobench.analysis.saturation import SATURATION_TOLERANCE, SaturationInterval, saturation
from iobench.analysis.stats import SeriesStats


@dataclass(frozen=True)
class RuleOfThumb:
    """A pool size someone would pick without measuring, and what it buys here."""

    name: str
    workers: int
    #: Throughput at that pool (measured, or interpolated between measured pools), over the peak's.
    share_of_peak: float
    measured: bool


@dataclass(frozen=True)
class Recommendation:
    """The pool size to use for one series, and how it compares with the usual advice."""

    label: str
    workers: int
    throughput: float
    peak_workers: int
    peak_throughput: float
    tolerance: float
    latency_p99: float
    interval: SaturationInterval | None
    rules_of_thumb: tuple[RuleOfThumb, ...]
    wait: float | None
    #: The model's N* at d / 2 and 2 d, when the demands allow a prediction.
    at_half_wait: float | None
    at_double_wait: float | None

    @property
    def still_rising(self) -> bool:
        """The curve still rose at the largest pool: more workers than measured may help."""
        return self.interval is not None and self.interval.status == "rising"


def throughput_at(stats: SeriesStats, workers: int) -> tuple[float, bool]:
    """Throughput at a pool size: measured if it was, else interpolated on log-log axes between the measured
    pools (held at the nearest end outside them), and whether it was measured."""
    points = sorted(stats.points, key=lambda point: point.workers)
    exact = next((point for point in points if point.workers == workers), None)
    if exact is not None:
        return exact.throughput.value, True
    sizes = np.log([point.workers for point in points])
    rates = np.log([max(point.throughput.value, 1e-12) for point in points])
    return float(np.exp(np.interp(math.log(workers), sizes, rates))), False


def rules_of_thumb(stats: SeriesStats, cpu_count: int, peak: float) -> tuple[RuleOfThumb, ...]:
    """ThreadPoolExecutor's default min(32, cpu + 4) and the article's cpu × 5, held against the peak."""
    rules = []
    for name, workers in (("ThreadPoolExecutor's default min(32, cpu + 4)", min(32, cpu_count + 4)),
                          ("cpu × 5", cpu_count * 5)):  # fmt: skip
        rate, measured = throughput_at(stats, workers)
        rules.append(RuleOfThumb(name, workers, rate / peak if peak > 0 else math.nan, measured))
    return tuple(rules)


def recommend(
    finding: Finding, cpu_count: int | None, tolerance: float = SATURATION_TOLERANCE
) -> Recommendation | None:
    """The recommendation for one series; None when it has no measured points."""
    stats = finding.stats
    found = saturation(stats, tolerance)
    if found is None:
        return None
    chosen = next(point for point in stats.points if point.workers == found.workers)
    prediction = finding.prediction
    wait = stats.wait_seconds
    half = double = None
    if prediction is not None and wait:
        half, double = predicted_workers_at(prediction, wait / 2), predicted_workers_at(prediction, wait * 2)
    return Recommendation(
        label=stats.label,
        workers=found.workers,
        throughput=chosen.throughput.value,
        peak_workers=found.best_workers,
        peak_throughput=found.best_throughput.value,
        tolerance=tolerance,
        latency_p99=chosen.latency_p99,
        interval=finding.interval,
        rules_of_thumb=rules_of_thumb(stats, cpu_count or 1, found.best_throughput.value),
        wait=wait,
        at_half_wait=half,
        at_double_wait=double,
    )
