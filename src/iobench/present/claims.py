"""The article's claims, each checked against a results file: what it says, what iobench measured here.

A claim names the docs input it is checked on and a function that reads that results file alone and
returns what was measured and a short verdict. Verdicts use fixed, stated thresholds, so a reader can
disagree with a threshold but not with the arithmetic. The article is
``/work/shared/seed/python-concurrency-article.txt`` ("Optimizing I/O-Bound Tasks with Multithreading").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from iobench.analysis.free_threading import GilStates, gil_states
from iobench.analysis.saturation import SATURATION_TOLERANCE
from iobench.analysis.saturation import saturation as analysis_saturation
from iobench.analysis.statistics import bootstrap_median
from iobench.analysis.stats import PointStats, SeriesStats, concurrent
from iobench.present.report import saturation_cell
from iobench.results.model import Results

#: "Nearly linear": efficiency (speedup / ideal speedup) of at least this.
NEARLY_LINEAR = 0.9
#: Dropping the GIL is a "massive speedup" of I/O-bound threads from this ratio of peak throughputs on.
MASSIVE_SPEEDUP = 1.5
#: Dropping the GIL "opens the door" for hybrid work when the interval of the peak ratio lies above this.
HYBRID_GAIN = 1.25
#: "Interactive": a UI thread that runs no later than one frame of a 60 Hz display does not visibly stutter.
ONE_FRAME = 1 / 60

Evaluation = tuple[str, str]  # (what was measured, verdict)


def saturation(stats: SeriesStats) -> tuple[PointStats, PointStats]:
    """(saturation point, peak point) of a series with points, by the analysis' significance-tested rule."""
    found = analysis_saturation(stats)
    if found is None:
        raise ValueError(f"{stats.label} has no measured points")
    by_workers = {point.workers: point for point in stats.points}
    return by_workers[found.workers], by_workers[found.best_workers]


def _saturates_at(stats: SeriesStats) -> str:
    """ "saturates at N = 187 (129–230)" or "saturates at N ≥ 128": the saturation point the verdicts name."""
    cell = saturation_cell(stats)
    return f"saturates at N {cell}" if cell[0] in "≥≤" else f"saturates at N = {cell}"


def _point(stats: SeriesStats, workers: int) -> PointStats | None:
    return next((point for point in stats.points if point.workers == workers), None)


def ten_requests(results: Results) -> Evaluation:
    series = concurrent(results)
    ten = _point(series[0], 10) if series else None
    if ten is None:
        return "the file has no N = 10 point", "not measured"
    walls = [s.wall_seconds for p in series[0].series.points if p.workers == 10 for s in p.rounds]
    sequential = series[0].baseline.points[0]
    per_request = bootstrap_median([s.wall_seconds for s in sequential.rounds]).value / sequential.tasks
    wall = bootstrap_median(walls)
    measured = (f"{ten.tasks} requests on 10 threads: **{wall.value:.2f} s** (95 % CI {wall.low:.2f}–{wall.high:.2f}); "
                f"one after another: {ten.tasks} × {per_request:.3f} s = {ten.tasks * per_request:.1f} s")  # fmt: skip
    verdict = "holds" if wall.value <= 1.2 * (series[0].wait_seconds or 1.0) else "slower than claimed"
    return measured, verdict


def nearly_linear(results: Results) -> Evaluation:
    stats = concurrent(results)[0]
    linear_up_to = 0
    for point in stats.points:
        if point.efficiency.value < NEARLY_LINEAR:
            break
        linear_up_to = point.workers
    last = stats.points[-1]
    measured = (f"efficiency ≥ {NEARLY_LINEAR:.0%} of the ideal bound up to N = {linear_up_to}; "
                f"at N = {last.workers}: {last.efficiency.value:.0%} (speedup {last.speedup.value:.1f}×)")  # fmt: skip
    verdict = f"holds up to N = {linear_up_to}" if linear_up_to >= 4 else "does not hold"
    return measured, verdict


def cpu_times_five(results: Results) -> Evaluation:
    stats = concurrent(results)[0]
    cpus = results.environment.cpu_count or 1
    rule = cpus * 5
    point = min(stats.points, key=lambda p: (abs(math.log2(p.workers / rule)), p.workers))
    saturated, peak = saturation(stats)
    share = point.throughput.value / peak.throughput.value
    nearest = "" if point.workers == rule else f" (nearest measured: N = {point.workers})"
    measured = (f"{cpus} CPUs × 5 = {rule} workers{nearest}: {point.throughput.value:.0f}/s, {share:.0%} of the peak "
                f"{peak.throughput.value:.0f}/s at N = {peak.workers} (d = {stats.wait_seconds:g} s); "
                f"{_saturates_at(stats)}")  # fmt: skip
    if share >= 1 - SATURATION_TOLERANCE:
        verdict = "holds here"
    else:
        verdict = "too few workers here" if point.workers < saturated.workers else "more than needed here"
    return measured, verdict


def oversized_pool(results: Results) -> Evaluation:
    stats = concurrent(results)[0]
    _, peak = saturation(stats)
    last = stats.points[-1]
    drop = 1 - last.throughput.value / peak.throughput.value
    measured = (f"at N = {last.workers}: {last.throughput.value:.0f}/s, {drop:.0%} below the peak "
                f"{peak.throughput.value:.0f}/s at N = {peak.workers}")  # fmt: skip
    if drop > 0.10:
        verdict = "holds"
    elif drop > 0.02:
        verdict = f"a small loss here ({drop:.0%} at N = {last.workers})"
    else:
        verdict = f"no loss seen up to N = {last.workers}"
    return measured, verdict


def _speedups(results: Results) -> tuple[SeriesStats, str]:
    stats = concurrent(results)[0]
    shown = ", ".join(f"{p.speedup.value:.2f}× at N = {p.workers}" for p in stats.points)
    return stats, shown


def cpu_bound(results: Results) -> Evaluation:
    stats, shown = _speedups(results)
    best = max(p.speedup.value for p in stats.points if p.workers > 1)
    verdict = "holds" if best < 0.95 else ("no gain, little loss" if best <= 1.1 else "does not hold here")
    return f"speedup over the sequential loop: {shown}", verdict


def file_io(results: Results) -> Evaluation:
    stats, shown = _speedups(results)
    best = max(stats.points, key=lambda p: p.speedup.value)
    if best.speedup.value >= 1.5:
        verdict = "holds here"
    elif best.speedup.value >= 1.1:
        verdict = f"a modest gain here ({best.speedup.value:.1f}× at best, N = {best.workers})"
    else:
        verdict = "not on this machine's disk"
    return f"speedup over the sequential loop: {shown}", verdict


def _gil_pair(results: Results, workload: str) -> GilStates | None:
    return next((states for states in gil_states(results) if states.workload == workload), None)


def _gil_gain(states: GilStates) -> str:
    off, on = states.off.saturation, states.on.saturation
    assert off is not None and on is not None, "paired series have measured points"
    ratio = states.peak_ratio
    gain = (f"peak {off.best_throughput.value:.0f}/s with the GIL off (N = {off.best_workers}) against "
            f"{on.best_throughput.value:.0f}/s with it on (N = {on.best_workers}) on the same "
            f"{states.off.series.interpreter.label.split(',')[0]} binary: **{ratio.value:.2f}×** (95 % CI "
            f"{ratio.low:.2f}–{ratio.high:.2f})")  # fmt: skip
    regular = states.gil_build
    if regular is not None and regular.saturation is not None:
        gain += (f"; the regular {regular.series.interpreter.label.split(',')[0]} build: "
                 f"{regular.saturation.best_throughput.value:.0f}/s")  # fmt: skip
    return gain


def free_threading(results: Results) -> Evaluation:
    states = _gil_pair(results, "http-delay")
    if states is None:
        return "the file has no http-delay series on a free-threaded build with the GIL on and off", "not measured"
    ratio, bottleneck = states.peak_ratio, states.off.bottleneck
    cores = results.environment.cpu_count or "?"
    measured = (f"http-delay (d = {states.off.series.wait_seconds:g} s, {cores} CPUs): {_gil_gain(states)}; "
                f"bottleneck with the GIL off: {bottleneck.description}")  # fmt: skip
    if ratio.value >= MASSIVE_SPEEDUP:
        verdict = f"does not hold here: {ratio.value:.1f}× without the GIL on the same binary"
        off, regular = states.off.saturation, states.gil_build
        if off is not None and regular is not None and regular.saturation is not None:
            over_regular = off.best_throughput.value / regular.saturation.best_throughput.value
            verdict += f", {over_regular:.1f}× over the regular build"
        return measured, verdict
    if bottleneck.kind == "none":
        return measured, "holds: no massive speedup, and the wait still bounds it"
    limit = "CPU" if bottleneck.kind in ("client-cpu", "machine-cpu", "server") else bottleneck.kind
    return measured, f"no massive speedup, as claimed; but the limit here is {limit}, not the network"


def hybrid_workloads(results: Results) -> Evaluation:
    states = _gil_pair(results, "hybrid")
    if states is None:
        return "the file has no hybrid series on a free-threaded build with the GIL on and off", "not measured"
    params, ratio = states.off.series.series.params, states.peak_ratio
    cores = results.environment.cpu_count or "?"
    work = f"{params['cpu'] * 1000:g} ms CPU + {params['delay'] * 1000:g} ms wait"
    measured = f"hybrid ({work}, {cores} CPUs): {_gil_gain(states)}"
    if ratio.low >= HYBRID_GAIN:
        return measured, f"holds: {ratio.value:.1f}× with the GIL off on {cores} cores"
    if ratio.value >= HYBRID_GAIN:
        return measured, f"holds in the median ({ratio.value:.1f}×), but the rounds varied too much to be sure"
    if ratio.value >= 1 + SATURATION_TOLERANCE:
        return measured, f"a modest gain here ({ratio.value:.2f}×)"
    return measured, "not on this machine"


def database_queries(results: Results) -> Evaluation:
    """Queries that wait at the server, with a connection per thread, and held to a pool of 4."""
    sleeping = [stats for stats in concurrent(results) if stats.workload == "db" and stats.series.params.get("mode")
                == "sleep"]  # fmt: skip
    by_strategy = {stats.series.session_strategy: stats for stats in sleeping}
    own = by_strategy.get("per-thread")
    if own is None:
        return "the file has no db series with a connection per thread", "not measured"
    _, peak = saturation(own)
    measured = (f"queries that wait {own.wait_seconds * 1000:.0f} ms at PostgreSQL, a connection per thread: "
                f"**{peak.speedup.value:.0f}×** the sequential loop (peak {peak.throughput.value:.0f} queries/s at "
                f"N = {peak.workers}; {_saturates_at(own)})")  # type: ignore[operator]  # fmt: skip
    pooled = by_strategy.get("shared-default")
    if pooled is not None:
        capped = max(pooled.points, key=lambda point: point.speedup.value)
        measured += f"; a shared pool of 4 connections held them to {capped.speedup.value:.1f}×"
    verdict = "holds, with a connection per thread" if peak.speedup.value >= 4 else "not on this machine"
    return measured, verdict


def _worst_p99(stats: SeriesStats) -> float:
    return max(point.probe_p99 or 0.0 for point in stats.points)


def responsive_ui(results: Results) -> Evaluation:
    """How late a thread that wants to wake every 5 ms runs beside downloads, and beside CPU work in other threads."""
    probed = [stats for stats in concurrent(results) if any(point.probe_p99 is not None for point in stats.points)]
    default = {stats.workload: stats for stats in probed if stats.series.switch_interval in (None, 0.005)}
    short = {stats.workload: stats for stats in probed if stats.series.switch_interval == 0.001}
    download = default.get("http-delay")
    if download is None:
        return "the file has no http-delay series with the responsiveness probe", "not measured"
    parts = [f"{name} {_worst_p99(default[workload]) * 1000:.1f} ms"
             for workload, name in (("http-delay", "beside downloads"), ("hybrid", "beside downloads with 10 ms of CPU "
                                    "each"), ("cpu", "beside pure CPU work")) if workload in default]  # fmt: skip
    measured = "a thread that wants to wake every 5 ms, worst p99 lateness over N: " + "; ".join(parts)
    if "cpu" in short:
        measured += f" (at a 1 ms switch interval: {_worst_p99(short['cpu']) * 1000:.1f} ms)"
    if _worst_p99(download) >= ONE_FRAME:
        return measured, "does not hold here"
    cpu = default.get("cpu")
    if cpu is not None and _worst_p99(cpu) >= ONE_FRAME:
        return measured, "holds while the background thread waits; CPU work in any thread makes the UI stutter"
    return measured, "holds"


@dataclass(frozen=True)
class Claim:
    says: str
    input: str
    evaluate: Callable[[Results], Evaluation]


CLAIMS = (
    Claim("“By launching ten threads to handle ten network requests, you can potentially reduce the total execution "
          "time from ten seconds down to just over one second.”", "ten-requests", ten_requests),
    Claim("“If your application spends 90 percent of its time waiting for a network socket, threading can provide a "
          "nearly linear improvement in throughput.”", "threads", nearly_linear),
    Claim("“A common rule of thumb is to use the number of processors multiplied by five.”", "threads", cpu_times_five),
    Claim("“A pool that is too large can lead to excessive memory consumption and high context-switching "
          "overhead.”", "threads", oversized_pool),
    Claim("“If your code spends the majority of its time performing matrix multiplications or image processing, "
          "threading will likely decrease performance due to the overhead of context switching.”", "cpu", cpu_bound),
    Claim("Threads suit “file system interactions: reading or writing large volumes of small log files”.", "file-io",
          file_io),
    Claim("“For developers using threading for I/O-bound tasks, the removal of the GIL might not provide immediate "
          "massive speedups, as the bottleneck remains the network.”", "free-threaded", free_threading),
    Claim("“However, it opens the door for hybrid workloads that combine heavy I/O with intensive data processing "
          "within the same process.”", "free-threaded", hybrid_workloads),
    Claim("Threads suit “database operations: running multiple queries against a remote database cluster where "
          "connection latency is high”.", "db", database_queries),
    Claim("Threads suit “user interface responsiveness: keeping a graphical interface or CLI interactive while a "
          "background thread performs a download”.", "responsiveness", responsive_ui),
)  # fmt: skip
