"""Per-point figures of a results document: throughput, speedup, efficiency, latency, CPU per task.

Each point's figures come twice: as medians with bootstrap intervals (what reports and plots show), and
per measured round (what the gate compares). Speedup is against the sequential loop of the same series
(``Results.baseline_of``), so a run's speedups share one baseline and drift between runs cancels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from iobench.analysis.statistics import (
    NOISY_CV,
    Estimate,
    bootstrap_median,
    bootstrap_ratio,
    coefficient_of_variation,
    rounds_to_reach,
)
from iobench.results.model import Interpreter, Point, Results, Series


def ideal_speedup(tasks: int, workers: int) -> float:
    """M / ceil(M/N): the best any pool of N can do on M equal waits, relative to one at a time."""
    return tasks / math.ceil(tasks / workers)


def round_throughputs(point: Point) -> list[float]:
    """Tasks per second of each measured round (warm-up excluded)."""
    return [point.tasks / sample.wall_seconds for sample in point.rounds]


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
    #: Each round's throughput over the median of the sequential loop's: the gate compares these.
    round_speedups: tuple[float, ...]
    #: Pool-full discards per task in each round: the exact count of a too-small shared connection pool.
    round_discards_per_task: tuple[float, ...]
    #: Connections opened per task in each round: the exact count of connections not reused.
    round_connections_per_task: tuple[float, ...] = ()
    #: Median seconds per task spent waiting for a pooled connection; None where tasks used no pool.
    pool_wait_per_task: float | None = None
    #: How late the responsiveness probe woke, over all measured rounds: p50, p99 and max seconds (None: no probe).
    probe_p50: float | None = None
    probe_p99: float | None = None
    probe_max: float | None = None

    @property
    def noisy(self) -> bool:
        return self.throughput_cv > NOISY_CV

    @property
    def rounds_wanted(self) -> int:
        return rounds_to_reach(self.throughput_cv, self.rounds)

    @property
    def round_efficiencies(self) -> tuple[float, ...]:
        return tuple(speedup / self.ideal_speedup for speedup in self.round_speedups)


@dataclass(frozen=True)
class SeriesStats:
    """A series of the document with the figures of its measured points."""

    series: Series
    baseline: Series
    points: list[PointStats]

    @property
    def id(self) -> str:
        return self.series.id

    @property
    def label(self) -> str:
        return self.series.label

    @property
    def workload(self) -> str:
        return self.series.workload

    @property
    def executor(self) -> str:
        return self.series.executor

    @property
    def interpreter(self) -> Interpreter:
        return self.series.interpreter

    @property
    def wait_seconds(self) -> float | None:
        return self.series.wait_seconds

    @property
    def speedup_bound(self) -> float | None:
        return self.series.speedup_bound

    @property
    def is_baseline(self) -> bool:
        return self.series.is_baseline

    @property
    def sequential_throughput(self) -> float:
        """The median throughput of the sequential loop every speedup of this series is relative to."""
        return float(np.median(round_throughputs(self.baseline.points[0])))


def _percentiles(point: Point) -> tuple[float, float, float]:
    latencies = [x for sample in point.rounds for x in sample.latencies]
    if not latencies:
        return (math.nan, math.nan, math.nan)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def _probe_lateness(point: Point) -> tuple[float | None, float | None, float | None]:
    """p50, p99 and max of every probe wake-up in the point's measured rounds; Nones when the probe was off."""
    lateness = [late for sample in point.rounds for late in sample.probe_lateness]
    if not lateness:
        return None, None, None
    p50, p99 = np.percentile(lateness, [50, 99])
    return float(p50), float(p99), max(lateness)


def _per_task(point: Point, values: Sequence[float | None]) -> float | None:
    if not values or any(value is None for value in values):
        return None
    return float(np.median([value / point.tasks for value in values if value is not None]))


def point_stats(point: Point, baseline_throughputs: Sequence[float]) -> PointStats:
    throughputs = round_throughputs(point)
    speedup = bootstrap_ratio(throughputs, baseline_throughputs)
    sequential = float(np.median(baseline_throughputs))
    ideal = ideal_speedup(point.tasks, point.workers)
    p50, p95, p99 = _percentiles(point)
    probe_p50, probe_p99, probe_max = _probe_lateness(point)
    return PointStats(
        workers=point.workers,
        tasks=point.tasks,
        rounds=len(point.rounds),
        throughput=bootstrap_median(throughputs),
        speedup=speedup,
        ideal_speedup=ideal,
        efficiency=Estimate(speedup.value / ideal, speedup.low / ideal, speedup.high / ideal),
        throughput_cv=coefficient_of_variation(throughputs),
        latency_p50=p50,
        latency_p95=p95,
        latency_p99=p99,
        client_cpu_per_task=_per_task(point, [s.cpu_seconds for s in point.rounds]) or 0.0,
        server_cpu_per_task=_per_task(point, [s.server_cpu_seconds for s in point.rounds]),
        connections_opened=float(np.median([s.connections_opened for s in point.rounds])),
        pool_full_discards=sum(s.pool_full_discards for s in point.rounds),
        errors=sum(s.error_count for s in point.rounds),
        error_rounds=sum(1 for s in point.rounds if s.error_count),
        round_throughputs=tuple(throughputs),
        round_speedups=tuple(value / sequential for value in throughputs),
        round_discards_per_task=tuple(s.pool_full_discards / point.tasks for s in point.rounds),
        round_connections_per_task=tuple(s.connections_opened / point.tasks for s in point.rounds),
        pool_wait_per_task=_per_task(point, [s.pool_wait_seconds for s in point.rounds]),
        probe_p50=probe_p50,
        probe_p99=probe_p99,
        probe_max=probe_max,
    )


def analyze(results: Results) -> list[SeriesStats]:
    """Statistics for every series that has a measured sequential baseline and measured rounds.

    Points without rounds (an interrupted sweep) are left out rather than guessed.
    """
    analyzed: list[SeriesStats] = []
    for series in results.series:
        baseline = results.baseline_of(series)
        if baseline is None or not baseline.points or not baseline.points[0].rounds:
            continue
        base_throughputs = round_throughputs(baseline.points[0])
        points = [point_stats(point, base_throughputs) for point in series.points if point.rounds]
        if points:
            analyzed.append(SeriesStats(series, baseline, points))
    return analyzed


def concurrent(results: Results) -> list[SeriesStats]:
    """The analyzed series that have something to saturate: all but the sequential baselines."""
    return [stats for stats in analyze(results) if not stats.is_baseline]
