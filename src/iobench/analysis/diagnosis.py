"""Why the curve bends: service demands, the predicted saturation point, model fits and the bottleneck named in words.

The operational laws (DESIGN.md) explain a closed system from two measurements per request: the CPU it
costs the client and the CPU it costs the server. Each resource caps throughput at the cores it can use
over its demand per request; the busiest one, D_max per usable core, caps it at 1 / D_max however many
workers there are. With N workers each waiting d seconds, throughput cannot exceed N / (d + D) either.
The two asymptotes cross at N* ≈ (d + D) / D_max: the saturation point predicted from demands alone, to
hold against the one measured.

Which cores a resource can use is where the GIL comes in. Under it the client's Python runs one thread
at a time: 1 / D_client. With the GIL off (a free-threaded build) or in worker processes the client can
use every core, k / D_client, and then the cores it shares with a local server can be the limit:
k / (D_client + D_server). The server (one gunicorn worker process) keeps its own 1 / D_server.

Everything here is a pure function of analyzed statistics and the results document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from iobench.analysis.saturation import Saturation, knee, saturation
from iobench.analysis.scaling import AmdahlFit, UslFit, fit_amdahl, fit_usl
from iobench.analysis.stats import PointStats, SeriesStats, concurrent
from iobench.results.model import Results

#: More connections than this many per worker, at every pool size, means requests reconnect instead of reusing
#: one. At every size: a connection pool opened ahead (psycopg_pool opens its 4 at once) has more than that at N = 1.
RECONNECTING_PER_WORKER = 2
#: Tasks that spend this share of their latency waiting for a pooled connection queue for the pool.
POOL_WAIT_SHARE = 0.1
#: Saturated at under this share of the CPU ceiling: the CPU demands do not explain the plateau.
EXPLAINED_SHARE = 0.5
#: A best throughput within this share of a ceiling is held by that ceiling.
NEAR_CEILING = 0.8
#: A best throughput this far above the client's CPU ceiling shows that part of that CPU ran in parallel.
ABOVE_CEILING = 1.15
#: The cores client and server share are named the limit only when they cap throughput this much below both
#: their own ceilings: a server that adds less (its idle CPU during work that sends it nothing) does not.
SHARED_CORES_MARGIN = 0.05


@dataclass(frozen=True)
class ServiceDemands:
    """Seconds of CPU each request costs the client and the server, and the ceilings they imply."""

    client_cpu: float
    server_cpu: float | None
    wait: float | None
    #: How many cores the client's Python code can use at once: 1 under the GIL.
    client_cores: int = 1
    #: The cores of the machine, which the client shares with a local server (whose CPU is measured).
    machine_cores: int | None = None

    @property
    def total(self) -> float:
        """D: the CPU one request costs end to end, added to its wait in the no-contention response time."""
        return self.client_cpu + (self.server_cpu or 0.0)

    @property
    def bounds(self) -> dict[str, float]:
        """Each resource's ceiling in requests/s: the cores it can use over its CPU per request.

        'client' (client_cores / D_client), 'server' (1 / D_server: one worker process) and 'machine'
        (machine_cores / (D_client + D_server): the cores both share). Under the GIL on two cores or
        more the machine's bound is never the lowest, so it matters once the client can use several.
        A resource without a measured demand has no bound (no server CPU: no server, or not a local one).
        """
        bounds = {}
        if self.client_cpu > 0:
            bounds["client"] = self.client_cores / self.client_cpu
        if self.server_cpu:
            bounds["server"] = 1.0 / self.server_cpu
        if self.machine_cores and self.server_cpu:
            bounds["machine"] = self.machine_cores / self.total
        return bounds

    @property
    def limiting(self) -> str:
        """'client', 'server' or 'machine': whose ceiling is lowest (client first on a tie).

        The shared cores ('machine') must be lower than both own ceilings by SHARED_CORES_MARGIN.
        """
        bounds = self.bounds
        own = {name: rate for name, rate in bounds.items() if name != "machine"}
        if not own:
            return "client"
        lowest = min(own, key=own.__getitem__)
        if "machine" in bounds and bounds["machine"] < (1 - SHARED_CORES_MARGIN) * own[lowest]:
            return "machine"
        return lowest

    @property
    def max_demand(self) -> float:
        """D_max: the CPU per request, per usable core, of the busiest resource (the inverse of the ceiling)."""
        bounds = self.bounds
        return 1.0 / bounds[self.limiting] if bounds else 0.0

    @property
    def ceiling(self) -> float | None:
        """1 / D_max: requests per second no pool size can exceed."""
        return 1.0 / self.max_demand if self.max_demand > 0 else None

    @property
    def ceiling_formula(self) -> str:
        """The ceiling as a formula: '1/D_max' under the GIL, else which cores over which demand."""
        if self.client_cores == 1 and self.limiting != "machine":
            return "1/D_max"
        return {"client": f"{self.client_cores}/D_client", "server": "1/D_server",
                "machine": f"{self.machine_cores}/(D_client + D_server)"}[self.limiting]  # fmt: skip

    @property
    def limiting_text(self) -> str:
        """Whose CPU holds the ceiling, in a few words: 'client CPU', 'server CPU' or the shared cores."""
        if self.limiting == "machine":
            return f"client + server CPU on {self.machine_cores} cores"
        return f"{self.limiting} CPU"

    @property
    def predicted_saturation(self) -> float | None:
        """N* ≈ (d + D) / D_max, where the asymptotes N / (d + D) and 1 / D_max cross."""
        if self.wait is None or self.max_demand <= 0:
            return None
        return (self.wait + self.total) / self.max_demand

    def on_cores(self, cores: int) -> ServiceDemands:
        """The same demands on a machine of ``cores`` cores: what the model predicts there.

        A client that used several cores here (GIL off, or processes) uses all of them there; a client
        held to one core (the GIL, or a machine of one core, which cannot tell the two apart) keeps one.
        The demands per request are taken as they were measured here.
        """
        return ServiceDemands(self.client_cpu, self.server_cpu, self.wait, cores if self.client_cores > 1 else 1, cores)

    def wait_bound(self, workers: np.ndarray) -> np.ndarray | None:
        """N / (d + D): the throughput N workers reach if nothing but the wait and the demands limits them."""
        return None if self.wait is None else workers / (self.wait + self.total)


def _per_task(stats: SeriesStats, value: Callable[[PointStats], float | None]) -> float | None:
    """CPU seconds per task over the whole series, each point weighted by the tasks it ran.

    Weighting by tasks lets the big batches decide: their CPU totals are large beside the 10 ms tick
    of the operating system's process accounting, and they are the regime where a ceiling applies.
    """
    weighted = [(value(p), p.tasks * p.rounds) for p in stats.points if value(p) is not None]
    total = sum(weight for _, weight in weighted)
    return sum(v * weight for v, weight in weighted) / total if total else None  # type: ignore[operator]


def service_demands(
    stats: SeriesStats, client_cores: int = 1, machine_cores: int | None = None
) -> ServiceDemands | None:
    """The series' demands per request; None when it recorded no client CPU (then nothing can be predicted).

    The client's is its CPU per task while the pool was full, where recorded: the ceiling 1/D is held against
    the sustained throughput, measured over the same window. A batch's CPU per task also pays for starting
    the workers and their connections, and charged to each request that made the ceiling look lower than
    the rate the pool sustained. The server's is per task of the whole batch.
    """
    client = _per_task(stats, lambda p: p.steady_cpu_per_task or p.client_cpu_per_task or None)
    if client is None:
        return None
    server = _per_task(stats, lambda p: p.server_cpu_per_task)
    return ServiceDemands(client, server, stats.wait_seconds, max(1, client_cores), machine_cores)


@dataclass(frozen=True)
class Utilization:
    """Cores the client and the server kept busy at a pool size: CPU seconds over the seconds they took.

    The client's over the window in which the pool was full (X·D with both from that window), the server's
    over the whole batch. A GIL-bound client at its ceiling is near one core; a plateau with the client
    well below that means it waited on something else, or could not get a core on a busy machine.
    """

    workers: int
    client: float
    server: float | None


def utilization_at_best(stats: SeriesStats) -> Utilization | None:
    if not stats.points:
        return None
    best = max(stats.points, key=lambda point: point.throughput.value)
    return Utilization(best.workers, best.client_cores_busy or 0.0, best.server_cores_busy)


@dataclass(frozen=True)
class Bottleneck:
    """What limits throughput: ``kind`` for programs, ``description`` for people."""

    kind: str  # "connection-pool", "none", "client-cpu", "server", "machine-cpu", "unexplained" or "unknown"
    description: str


def _pool_trouble(stats: SeriesStats) -> str | None:
    points = sorted(stats.points, key=lambda p: p.workers)
    for point in points:
        if point.pool_full_discards:
            return (f"{point.pool_full_discards} 'connection pool is full' discards at N = {point.workers}: "
                    "connections are thrown away and reopened")  # fmt: skip
        waited = point.pool_wait_per_task
        if waited is not None and waited > POOL_WAIT_SHARE * point.latency_p50:
            return (f"tasks waited {waited * 1000:.1f} ms each for a free pooled connection at N = {point.workers}, "
                    f"{waited / point.latency_p50:.0%} of their median latency: threads beyond the pool's size queue "
                    "for it")  # fmt: skip
    if points and all(p.connections_opened > RECONNECTING_PER_WORKER * p.workers for p in points):
        point = points[0]
        workers = f"{point.workers} worker{'s' if point.workers != 1 else ''}"
        return (f"{point.connections_opened:.0f} connections opened per batch by {workers} "
                f"at N = {point.workers}: requests reconnect instead of reusing one")  # fmt: skip
    return None


def server_concurrency(results: Results) -> float | None:
    """How many requests the server held at once, when the capacity preflight saw it queue them; else None.

    Only an external server (``--target``) gets that far: iobench refuses to measure against a local
    server that queues, since there the saturation point must belong to the client.
    """
    check = results.server.preflight
    if check is None or not check.queued:
        return None
    return check.effective_concurrency


def _concurrency_bottleneck(concurrency: float, wait: float | None, plateau: float) -> Bottleneck | None:
    """The server, when it holds few requests at once and the plateau sits at what that allows: C / d."""
    if not wait:
        return None
    allowed = concurrency / wait
    if plateau < NEAR_CEILING * allowed:
        return None
    return Bottleneck("server", f"the server: it serves about {concurrency:.0f} requests at a time, which "
                                f"allows about {allowed:.0f} req/s when each waits {wait * 1000:.0f} ms; "
                                f"the client reaches {plateau:.0f}")  # fmt: skip


def _cpu_bottleneck(demands: ServiceDemands, plateau: float) -> Bottleneck:
    assert demands.ceiling is not None
    reached = f"; the sweep reaches {plateau / demands.ceiling:.0%} of it"
    if demands.limiting == "server":
        assert demands.server_cpu is not None
        return Bottleneck("server", f"the server ({demands.server_cpu * 1000:.2f} ms of CPU per request caps "
                                    f"throughput at {demands.ceiling:.0f} req/s{reached})")  # fmt: skip
    if demands.limiting == "machine":
        assert demands.server_cpu is not None
        return Bottleneck("machine-cpu", f"the machine's {demands.machine_cores} cores, which the client "
                                         f"({demands.client_cpu * 1000:.2f} ms of CPU per request on up to "
                                         f"{demands.client_cores} cores) shares with the local server "
                                         f"({demands.server_cpu * 1000:.2f} ms): together they cap throughput at "
                                         f"{demands.ceiling:.0f} req/s{reached}")  # fmt: skip
    if demands.client_cores == 1 and plateau > ABOVE_CEILING * demands.ceiling:  # not one core at a time
        return Bottleneck("client-cpu", f"client CPU, not all of it serialized: the sweep reaches "
                                        f"{plateau / demands.ceiling:.0%} of the {demands.ceiling:.0f} req/s that "
                                        f"{demands.client_cpu * 1000:.2f} ms per request on "
                                        f"{demands.client_cores} core(s) would allow, so part of it ran in "
                                        "system calls or other code that releases the GIL")  # fmt: skip
    where = "under the GIL" if demands.client_cores == 1 else f"on {demands.client_cores} cores"
    return Bottleneck("client-cpu", f"client CPU {where} ({demands.client_cpu * 1000:.2f} ms per request caps "
                                    f"throughput at {demands.ceiling:.0f} req/s{reached})")  # fmt: skip


def name_bottleneck(
    stats: SeriesStats,
    found: Saturation | None,
    demands: ServiceDemands | None,
    server: ServerCeiling | None = None,
    concurrency: float | None = None,
) -> Bottleneck:
    """Name what limits the series, most specific evidence first.

    Connection churn comes first because it bends the curve on its own. Then the best throughput is held
    against the ceilings: near what a server holding ``concurrency`` requests at once allows, or near
    the server's own (wrk) ceiling, the server; near 1 / D_max, the resource with the larger demand,
    even when the curve is still creeping up at the edge of the sweep. A curve still rising far from
    every ceiling is held back by nothing but the network wait itself; one that levelled off far below
    them is limited by something the CPU demands do not show.
    """
    trouble = _pool_trouble(stats)
    if trouble:
        return Bottleneck("connection-pool", f"the connection pool ({trouble})")
    if found is None:
        return Bottleneck("unknown", "unknown (no measured points)")
    plateau = found.best_throughput.value
    held = _concurrency_bottleneck(concurrency, stats.wait_seconds, plateau) if concurrency else None
    if held is not None:
        return held
    if server is not None and server.saturated and plateau >= NEAR_CEILING * server.requests_per_second:
        return Bottleneck("server", f"the server (it serves {server.requests_per_second:.0f} req/s on its own, "
                                    f"measured with wrk, and the client reaches {plateau:.0f})")  # fmt: skip
    ceiling = demands.ceiling if demands else None
    if demands is not None and ceiling is not None and plateau >= NEAR_CEILING * ceiling:
        return _cpu_bottleneck(demands, plateau)
    if found.at_sweep_edge:
        predicted = demands.predicted_saturation if demands else None
        hint = f"; the service demands predict saturation near N ≈ {predicted:.0f}" if predicted else ""
        return Bottleneck("none", f"the network wait itself: none within the sweep (throughput still rising at "
                                  f"N = {found.workers}{hint})")  # fmt: skip
    if demands is None or ceiling is None:
        return Bottleneck("unknown", "unknown (no CPU measurements to explain the plateau)")
    if plateau < EXPLAINED_SHARE * ceiling:
        return Bottleneck("unexplained", f"not CPU: throughput levels off at {plateau:.0f} req/s, under half the "
                                         f"{ceiling:.0f} req/s the CPU demands allow (look at the network, "
                                         "locks or the server's concurrency)")  # fmt: skip
    return _cpu_bottleneck(demands, plateau)


@dataclass(frozen=True)
class ServerCeiling:
    """What the server delivered to wrk, a client of negligible CPU cost, at the series' delay."""

    requests_per_second: float
    connections: int
    delay: float

    @property
    def saturated(self) -> bool:
        """True when the server, not the wait, held wrk back: below most of connections / delay."""
        return self.delay > 0 and self.requests_per_second < NEAR_CEILING * self.connections / self.delay


def wrk_ceiling(results: Results, wait_seconds: float | None) -> ServerCeiling | None:
    """The server's own throughput at this series' delay, if wrk measured it during the sweep."""
    entry = results.server.wrk_at(wait_seconds)
    if entry is None or wait_seconds is None:
        return None
    return ServerCeiling(entry.requests_per_second, entry.connections, wait_seconds)


def client_cores(results: Results, stats: SeriesStats) -> int:
    """Cores the client's Python can use at once: 1 for workers sharing a GIL that is on, else every CPU."""
    if stats.series.workers_share_gil and stats.interpreter.gil_enabled:
        return 1
    return results.environment.cpu_count or 1


@dataclass(frozen=True)
class Diagnosis:
    """Everything the report and the plots say about one series."""

    series: SeriesStats
    saturation: Saturation | None
    knee: int | None
    demands: ServiceDemands | None
    usl: UslFit | None
    amdahl: AmdahlFit | None
    bottleneck: Bottleneck
    server_ceiling: ServerCeiling | None
    utilization: Utilization | None


def diagnose(stats: SeriesStats, results: Results) -> Diagnosis:
    found = saturation(stats)
    demands = service_demands(stats, client_cores(results, stats), results.environment.cpu_count)
    ceiling = wrk_ceiling(results, stats.wait_seconds)
    workers = [p.workers for p in stats.points]
    throughput = [p.throughput.value for p in stats.points]
    return Diagnosis(
        series=stats,
        saturation=found,
        knee=knee(stats),
        demands=demands,
        usl=fit_usl(workers, throughput),
        amdahl=fit_amdahl(workers, throughput),
        bottleneck=name_bottleneck(stats, found, demands, ceiling, server_concurrency(results)),
        server_ceiling=ceiling,
        utilization=utilization_at_best(stats),
    )


def diagnose_results(results: Results) -> list[Diagnosis]:
    """A diagnosis for every concurrent series (the sequential baselines have nothing to saturate)."""
    return [diagnose(stats, results) for stats in concurrent(results)]
