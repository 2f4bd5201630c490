"""Pure functions of a results document: throughput, speedup, efficiency, latency, and where it saturates.

Nothing here starts a server or times anything. Medians (robust to the odd slow round a shared machine
produces) come with 95 % bootstrap confidence intervals from a fixed seed, so the same file always
gives the same numbers, and plots and reports built from it are reproducible.

Two answers to "where does adding threads stop helping": ``saturation`` (a statistical rule: the
smallest pool not significantly slower than the best one) and ``knee`` (the Kneedle method, geometric:
the point of maximum curvature). The rule is the one the plots mark; the knee is a second opinion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from iobench.kneedle import knee_index
from iobench.results import Results

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
#: A point whose throughput varies more than this across rounds is flagged as noisy.
NOISY_CV = 0.10
_SEED = 20240601


@dataclass(frozen=True)
class Estimate:
    """A median with its confidence interval."""

    value: float
    low: float
    high: float


def _interval(statistics: np.ndarray, value: float) -> Estimate:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(statistics, [tail, 100 - tail])
    return Estimate(value, float(low), float(high))


def _resampled_medians(data: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Medians of smoothed bootstrap resamples of ``data``.

    A plain bootstrap median can only land on one of a handful of order statistics, so with the 5-10
    rounds a benchmark has its percentile interval is too short (it covered a true median in 88 % of
    trials at 7 rounds). Adding a little normal noise to each resampled value, with bandwidth s / sqrt(n)
    (a smoothed bootstrap), fills the gaps: coverage is 93-97 % from 5 rounds up (tests/test_statistics.py).
    """
    resampled = rng.choice(data, size=(resamples, data.size), replace=True)
    bandwidth = float(data.std(ddof=1) / math.sqrt(data.size)) if data.size > 1 else 0.0
    if bandwidth > 0:
        resampled = resampled + rng.normal(0.0, bandwidth, size=resampled.shape)
    return np.median(resampled, axis=1)


def bootstrap_median(samples: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = _SEED) -> Estimate:
    """Median of ``samples`` with a smoothed percentile-bootstrap confidence interval."""
    data = np.asarray(samples, dtype=float)
    rng = np.random.default_rng(seed)
    return _interval(_resampled_medians(data, rng, resamples), float(np.median(data)))


def bootstrap_ratio(
    numerator: Sequence[float], denominator: Sequence[float],
    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = _SEED,
) -> Estimate:  # fmt: skip
    """Ratio of two medians with a bootstrap interval that carries the noise of both samples."""
    top, bottom = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    rng = np.random.default_rng(seed)
    ratios = _resampled_medians(top, rng, resamples) / _resampled_medians(bottom, rng, resamples)
    return _interval(ratios, float(np.median(top) / np.median(bottom)))


def coefficient_of_variation(samples: Sequence[float]) -> float:
    data = np.asarray(samples, dtype=float)
    if data.size < 2 or data.mean() == 0:
        return 0.0
    return float(data.std(ddof=1) / data.mean())


def rounds_to_reach(cv: float, rounds: int, target_cv: float = NOISY_CV) -> int:
    """Rounds needed for the median's spread to shrink to what ``target_cv`` of one round would give.

    The standard error falls with the square root of the number of rounds, so a point measured with
    coefficient of variation ``cv`` over ``rounds`` needs about rounds * (cv / target)^2 rounds.
    """
    if cv <= target_cv:
        return rounds
    return math.ceil(rounds * (cv / target_cv) ** 2)


def ideal_speedup(tasks: int, workers: int) -> float:
    """M / ceil(M/N): the best any pool of N can do on M equal waits, relative to one at a time."""
    return tasks / math.ceil(tasks / workers)


def round_throughputs(point: dict[str, Any]) -> list[float]:
    """Tasks per second of each measured round (warm-up excluded)."""
    return [point["tasks"] / sample["wall_seconds"] for sample in point["rounds"]]


@dataclass(frozen=True)
class PointStats:
    workers: int
    tasks: int
    rounds: int
    throughput: Estimate
    speedup: Estimate
    ideal_speedup: float
    efficiency: Estimate
    throughput_cv: float
    latency_p50: float
    latency_p95: float
    latency_p99: float
    client_cpu_per_task: float
    server_cpu_per_task: float | None
    connections_opened: float
    pool_full_discards: int
    errors: int
    #: Rounds with at least one failed task: their medians include failures, so reports must say so.
    error_rounds: int
    #: Tasks per second of each measured round: the raw material of every comparison between points.
    round_throughputs: tuple[float, ...]

    @property
    def noisy(self) -> bool:
        return self.throughput_cv > NOISY_CV

    @property
    def rounds_wanted(self) -> int:
        return rounds_to_reach(self.throughput_cv, self.rounds)


@dataclass(frozen=True)
class SeriesStats:
    id: str
    label: str
    workload: str
    executor: str
    wait_seconds: float | None
    baseline_id: str
    points: list[PointStats]
    #: An upper bound on speedup the workload itself records (a hybrid task's (c + d) / c), if any.
    speedup_bound: float | None = None
    #: The interpreter that ran this series, when it differs per series (an interpreter matrix).
    interpreter: dict[str, Any] | None = None


def _percentiles(point: dict[str, Any]) -> tuple[float, float, float]:
    latencies = [x for sample in point["rounds"] for x in sample["latencies"]]
    if not latencies:
        return (math.nan, math.nan, math.nan)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def _per_task(point: dict[str, Any], key: str) -> float | None:
    values = [sample.get(key) for sample in point["rounds"]]
    if not values or any(value is None for value in values):
        return None
    return float(np.median([value / point["tasks"] for value in values]))


def point_stats(point: dict[str, Any], baseline_throughputs: Sequence[float]) -> PointStats:
    throughputs = round_throughputs(point)
    speedup = bootstrap_ratio(throughputs, baseline_throughputs)
    ideal = ideal_speedup(point["tasks"], point["workers"])
    p50, p95, p99 = _percentiles(point)
    return PointStats(
        workers=point["workers"],
        tasks=point["tasks"],
        rounds=len(point["rounds"]),
        throughput=bootstrap_median(throughputs),
        speedup=speedup,
        ideal_speedup=ideal,
        efficiency=Estimate(speedup.value / ideal, speedup.low / ideal, speedup.high / ideal),
        throughput_cv=coefficient_of_variation(throughputs),
        latency_p50=p50,
        latency_p95=p95,
        latency_p99=p99,
        client_cpu_per_task=_per_task(point, "cpu_seconds") or 0.0,
        server_cpu_per_task=_per_task(point, "server_cpu_seconds"),
        connections_opened=float(np.median([s.get("connections_opened", 0) for s in point["rounds"]])),
        pool_full_discards=sum(s.get("pool_full_discards", 0) for s in point["rounds"]),
        errors=sum(sum(s["errors"].values()) for s in point["rounds"]),
        error_rounds=sum(1 for s in point["rounds"] if any(s["errors"].values())),
        round_throughputs=tuple(throughputs),
    )


def _baseline_of(series: dict[str, Any], all_series: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The sequential loop over the same work, under the same interpreter (series of an interpreter matrix)."""
    for candidate in all_series:
        if (candidate["executor"] == "sequential" and candidate["workload"] == series["workload"]
                and candidate["params"] == series["params"]
                and candidate.get("interpreter") == series.get("interpreter")):  # fmt: skip
            return candidate
    return None


def analyze(results: Results) -> list[SeriesStats]:
    """Statistics for every series that has a measured sequential baseline and measured rounds.

    Points without rounds (an interrupted sweep) are left out rather than guessed.
    """
    analyzed: list[SeriesStats] = []
    for series in results["series"]:
        baseline = _baseline_of(series, results["series"])
        if baseline is None or not baseline["points"] or not baseline["points"][0]["rounds"]:
            continue
        base_throughputs = round_throughputs(baseline["points"][0])
        points = [point_stats(point, base_throughputs) for point in series["points"] if point["rounds"]]
        if points:
            bound = series.get("speedup_bound")
            analyzed.append(SeriesStats(
                series["id"], series["label"], series["workload"], series["executor"], series.get("wait_seconds"),
                baseline["id"], points, speedup_bound=float(bound) if isinstance(bound, int | float) else None,
                interpreter=series.get("interpreter") if isinstance(series.get("interpreter"), dict) else None,
            ))  # fmt: skip
    return analyzed


# --- where adding workers stops helping -------------------------------------------------------------

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
