"""Pure functions of a results document: throughput, speedup, efficiency, latency, with their spread.

Nothing here starts a server or times anything. Medians (robust to the odd slow round a shared machine
produces) come with 95 % bootstrap confidence intervals from a fixed seed, so the same file always
gives the same numbers, and plots and reports built from it are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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


def bootstrap_median(samples: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = _SEED) -> Estimate:
    """Median of ``samples`` with a percentile-bootstrap confidence interval."""
    data = np.asarray(samples, dtype=float)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(data, size=(resamples, data.size), replace=True), axis=1)
    return _interval(medians, float(np.median(data)))


def bootstrap_ratio(
    numerator: Sequence[float], denominator: Sequence[float],
    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = _SEED,
) -> Estimate:  # fmt: skip
    """Ratio of two medians with a bootstrap interval that carries the noise of both samples."""
    top, bottom = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    rng = np.random.default_rng(seed)
    ratios = (np.median(rng.choice(top, size=(resamples, top.size)), axis=1)
              / np.median(rng.choice(bottom, size=(resamples, bottom.size)), axis=1))  # fmt: skip
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
    )


def _baseline_of(series: dict[str, Any], all_series: list[dict[str, Any]]) -> dict[str, Any] | None:
    for candidate in all_series:
        if (candidate["executor"] == "sequential" and candidate["workload"] == series["workload"]
                and candidate["params"] == series["params"]):  # fmt: skip
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
            analyzed.append(SeriesStats(series["id"], series["label"], series["workload"], series["executor"],
                                        series.get("wait_seconds"), baseline["id"], points))  # fmt: skip
    return analyzed


@dataclass(frozen=True)
class Saturation:
    """Where adding workers stops paying: the smallest pool within tolerance of the best throughput."""

    workers: int
    throughput: Estimate


def saturation(stats: SeriesStats, tolerance: float = 0.05) -> Saturation | None:
    """The smallest N whose median throughput is within ``tolerance`` of the series' best, or None without points.

    The smallest such N, not the best one: past it, more threads buy less than the noise of one point.
    """
    if not stats.points:
        return None
    best = max(point.throughput.value for point in stats.points)
    knee = min((p for p in stats.points if p.throughput.value >= (1 - tolerance) * best), key=lambda p: p.workers)
    return Saturation(knee.workers, knee.throughput)
