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


def round_batch_rates(point: Point) -> list[float]:
    """Tasks per second of each measured round's whole batch, M / wall time: what speedup compares."""
    return [point.tasks / sample.wall_seconds for sample in point.rounds]


def round_throughputs(point: Point) -> list[float]:
    """The sustained throughput of each measured round: (M − N) starts over the window the pool was full.

    It leaves out the workers' start-up and the drain at the end of a batch, so it is the rate the two
    asymptotes N / (d + D) and 1 / D bound, and the saturation rule finds where it stops rising instead of
    where a finite batch stops amortizing its last wait. Rounds of one wave (M = N), and files from before
    the window was recorded, fall back to the whole batch's rate, for every round of the point alike.
    """
    if point.tasks > point.workers and all(sample.steady_seconds for sample in point.rounds):
        return [(point.tasks - point.workers) / sample.steady_seconds for sample in point.rounds]  # type: ignore[operator]
    return round_batch_rates(point)


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
    #: The sustained throughput of each measured round: the raw material of every comparison between points.
    round_throughputs: tuple[float, ...]
    #: Each round's batch rate over the median of the sequential loop's: the gate compares these.
    round_speedups: tuple[float, ...]
    #: Pool-full discards per task in each round: the exact count of a too-small shared connection pool.
    round_discards_per_task: tuple[float, ...]
    #: Connections opened per task in each round: the exact count of connections not reused.
    round_connections_per_task: tuple[float, ...] = ()
    #: Median seconds per task spent waiting for a pooled connection; None where tasks used no pool.
    pool_wait_per_task: float | None = None
    #: The client's CPU per task while the pool was full (``RoundSample.steady_cpu_seconds`` over M − N): what
    #: a request costs once workers, sessions and connections exist; None where that window was not recorded.
    steady_cpu_per_task: float | None = None
    #: Cores the client kept busy: its CPU over the seconds of the same window (of the whole batch where the
    #: window was not recorded), the utilization law's X·D with X and D from one interval.
    client_cores_busy: float | None = None
    #: Cores the server kept busy over the batch; None where its CPU is not visible.
    server_cores_busy: float | None = None
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
        """The median sustained throughput of this series' sequential loop."""
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


def _steady_cpu_per_task(point: Point) -> float | None:
    if point.tasks <= point.workers or not all(s.steady_cpu_seconds for s in point.rounds):
        return None
    return float(np.median([s.steady_cpu_seconds / (point.tasks - point.workers) for s in point.rounds]))  # type: ignore[operator]


def _cores_busy(point: Point) -> tuple[float, float | None]:
    """The client's and the server's CPU seconds per second: the client's over the steady window where recorded."""
    if all(s.steady_cpu_seconds and s.steady_seconds for s in point.rounds):
        client = np.median([s.steady_cpu_seconds / s.steady_seconds for s in point.rounds])  # type: ignore[operator]
    else:
        client = np.median([s.cpu_seconds / s.wall_seconds for s in point.rounds])
    servers = [s.server_cpu_seconds for s in point.rounds]
    if any(cpu is None for cpu in servers):
        return float(client), None
    server = np.median([cpu / s.wall_seconds for cpu, s in zip(servers, point.rounds, strict=True)])  # type: ignore[operator]
    return float(client), float(server)


def _per_task(point: Point, values: Sequence[float | None]) -> float | None:
    if not values or any(value is None for value in values):
        return None
    return float(np.median([value / point.tasks for value in values if value is not None]))


def point_stats(point: Point, baseline_rates: Sequence[float]) -> PointStats:
    """A point's figures; ``baseline_rates`` are the sequential loop's batch rates, which speedup is against.

    Speedup and efficiency compare whole batches (M tasks from the first start to the last end), as the
    ideal time ceil(M/N)·d does; throughput is the sustained rate (``round_throughputs``).
    """
    throughputs = round_throughputs(point)
    rates = round_batch_rates(point)
    speedup = bootstrap_ratio(rates, baseline_rates)
    sequential = float(np.median(baseline_rates))
    ideal = ideal_speedup(point.tasks, point.workers)
    p50, p95, p99 = _percentiles(point)
    probe_p50, probe_p99, probe_max = _probe_lateness(point)
    client_busy, server_busy = _cores_busy(point)
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
        round_speedups=tuple(value / sequential for value in rates),
        round_discards_per_task=tuple(s.pool_full_discards / point.tasks for s in point.rounds),
        round_connections_per_task=tuple(s.connections_opened / point.tasks for s in point.rounds),
        pool_wait_per_task=_per_task(point, [s.pool_wait_seconds for s in point.rounds]),
        steady_cpu_per_task=_steady_cpu_per_task(point),
        client_cores_busy=client_busy,
        server_cores_busy=server_busy,
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
        base_rates = round_batch_rates(baseline.points[0])
        points = [point_stats(point, base_rates) for point in series.points if point.rounds]
        if points:
            analyzed.append(SeriesStats(series, baseline, points))
    return analyzed


def concurrent(results: Results) -> list[SeriesStats]:
    """The analyzed series that have something to saturate: all but the sequential baselines."""
    return [stats for stats in analyze(results) if not stats.is_baseline]
