"""The saturation point predicted from service demands, held against the one measured.

The operational laws place the saturation point from three measurements per request: the client's CPU, the server's
CPU and the wait d. The two asymptotes N / (d + D) and 1 / D_max cross at N* ≈ (d + D) / D_max. A server
that holds only C requests at once (measured by the capacity preflight of a ``--target``) caps
throughput at about C / (d + D_server) as well, which moves the crossing to about C workers.

An auto sweep predicts from its first stage (the sequential loop and N = 1, 2, 4) and records the
prediction in the results file; any other run is predicted from the demands of its whole sweep. Either
way ``find`` puts the prediction beside the measured N* and its interval, with their ratio.

The demands a prediction uses are marginal: the slope of each batch's CPU seconds against its number of
tasks. A batch also costs some CPU that does not grow with its tasks (starting the pool, the health
checks around it), which the small batches of the first stage would otherwise charge to each request:
there it made the client's demand look 30 % larger than at N = 128 and the prediction that much lower.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from iobench.analysis.diagnosis import (
    Diagnosis,
    ServiceDemands,
    client_cores,
    diagnose,
    server_concurrency,
    service_demands,
)
from iobench.analysis.saturation import SaturationInterval, saturation_interval
from iobench.analysis.stats import SeriesStats, concurrent
from iobench.results.model import Point, Prediction, Results, RoundSample


def demands_of(prediction: Prediction) -> ServiceDemands:
    """The service demands a recorded prediction was made from."""
    return ServiceDemands(prediction.client_cpu, prediction.server_cpu, prediction.wait, prediction.client_cores,
                          prediction.machine_cores)  # fmt: skip


def predict_from(demands: ServiceDemands, series_id: str, concurrency: float | None = None) -> Prediction:
    """N* and the ceiling that ``demands`` (and a server holding ``concurrency`` requests at once) imply."""
    workers, ceiling, limiting = demands.predicted_saturation, demands.ceiling, demands.limiting
    if concurrency is not None and demands.wait is not None:
        held = demands.wait + (demands.server_cpu or 0.0)
        server_ceiling = concurrency / held if held > 0 else None
        if server_ceiling is not None and (ceiling is None or server_ceiling < ceiling):
            ceiling, limiting = server_ceiling, "server-concurrency"
            workers = concurrency * (demands.wait + demands.total) / held
    return Prediction(
        series=series_id,
        workers=workers,
        ceiling=ceiling,
        client_cpu=demands.client_cpu,
        server_cpu=demands.server_cpu,
        wait=demands.wait,
        client_cores=demands.client_cores,
        server_concurrency=concurrency,
        limiting=limiting,
        machine_cores=demands.machine_cores,
    )


def marginal_per_task(points: list[Point], seconds: Callable[[RoundSample], float | None]) -> float | None:
    """The slope of a batch's seconds (of CPU) against its tasks, over every measured round of ``points``.

    None when any round lacks the value, when the batches all had the same number of tasks, or when the
    slope is not positive (too few, too coarse samples: a server's CPU is counted in 10 ms ticks).
    """
    pairs = [(point.tasks, seconds(sample)) for point in points for sample in point.rounds]
    if not pairs or any(value is None for _, value in pairs) or len({tasks for tasks, _ in pairs}) < 2:
        return None
    tasks, values = np.array([t for t, _ in pairs], dtype=float), np.array([v for _, v in pairs], dtype=float)
    slope = float(np.polyfit(tasks, values, 1)[0])
    return slope if slope > 0 and np.isfinite(slope) else None


def marginal_demands(stats: SeriesStats, results: Results) -> ServiceDemands | None:
    """The series' demands per request as slopes (see the module's docstring), each falling back to the
    task-weighted average of ``service_demands`` where a slope cannot be had."""
    average = service_demands(stats, client_cores(results, stats), results.environment.cpu_count)
    if average is None:
        return None
    points = stats.series.points
    client = marginal_per_task(points, lambda sample: sample.cpu_seconds) or average.client_cpu
    server = marginal_per_task(points, lambda sample: sample.server_cpu_seconds) or average.server_cpu
    return ServiceDemands(client, server, average.wait, average.client_cores, average.machine_cores)


def predict(stats: SeriesStats, results: Results) -> Prediction | None:
    """The prediction from whatever ``stats`` has measured so far; None without client CPU measurements."""
    demands = marginal_demands(stats, results)
    if demands is None:
        return None
    return predict_from(demands, stats.id, server_concurrency(results))


def predicted_workers_at(prediction: Prediction, wait: float) -> float | None:
    """The model's N* if each request waited ``wait`` seconds instead: what to expect when d changes."""
    demands = demands_of(prediction)
    changed = replace(demands, wait=wait)
    return predict_from(changed, prediction.series, prediction.server_concurrency).workers


@dataclass(frozen=True)
class Finding:
    """One series: the diagnosis, the measured N* with its interval, and the prediction it is held against."""

    diagnosis: Diagnosis
    interval: SaturationInterval | None
    prediction: Prediction | None
    #: True when the prediction was recorded before the main sweep (an auto run), False when it comes
    #: from the demands of the whole sweep.
    predicted_before: bool
    #: Why an auto search ended for this series ("converged", "budget", …); None for a fixed run.
    outcome: str | None

    @property
    def stats(self) -> SeriesStats:
        return self.diagnosis.series

    @property
    def ratio(self) -> float | None:
        """Measured N* over predicted N*, when both exist and the measurement is a point, not a bound."""
        if self.interval is None or self.interval.status != "found" or self.prediction is None:
            return None
        predicted = self.prediction.workers
        return self.interval.estimate / predicted if predicted else None


def find(stats: SeriesStats, results: Results) -> Finding:
    """Everything a report says about one concurrent series' saturation point.

    Without a prediction recorded before the sweep, the whole sweep's demands (as the diagnosis, the
    report's demands line and the figure's asymptotes have them) make one: its large batches need no
    marginal estimate.
    """
    plan = results.plan
    recorded = plan.prediction_for(stats.id) if plan is not None else None
    diagnosis = diagnose(stats, results)
    prediction = recorded
    if prediction is None and diagnosis.demands is not None:
        prediction = predict_from(diagnosis.demands, stats.id, server_concurrency(results))
    outcome = plan.outcomes.get(stats.id) if plan is not None and plan.auto else None
    return Finding(diagnosis, saturation_interval(stats), prediction, recorded is not None, outcome)


def find_all(results: Results) -> list[Finding]:
    """A finding for every concurrent series (the sequential baselines have nothing to saturate)."""
    return [find(stats, results) for stats in concurrent(results)]
