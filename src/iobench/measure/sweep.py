"""The experiment: every series at every pool size, warm-up first, then R rounds in shuffled order.

Shuffling the order of points in each round (seeded, recorded) spreads slow drift of a shared machine
over all points instead of letting it fake a trend along N. The document is saved after every batch,
so an interrupted or failed sweep still leaves every finished batch on disk.

Failures are kept apart by kind. A failed request is data: the executor counts it by kind in its
batch's sample and the sweep goes on. A failed server ends the sweep: each batch runs under
``health.watched``, which notices a dead or stopped server within about a second and raises
ServerError, re-raised here naming the point it happened at; any other exception ends it too. Either
way the document is saved with its status (interrupted or failed) before the error leaves.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from iobench.errors import ServerError
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.environment import capture_environment
from iobench.measure.health import watched
from iobench.measure.interpreters import Notify
from iobench.measure.limits import ensure_open_files
from iobench.measure.runners import Runner, close_runners, open_runners
from iobench.measure.server import ExternalServer, LocalServer, NoServer, Server, preflight, redact_url
from iobench.measure.workloads import Workload
from iobench.measure.wrk import server_ceilings
from iobench.results.model import Point, Results, RoundSample, Series
from iobench.results.store import ResultsWriter

#: Preflight delay: long enough that client overhead is small beside it, short enough to cost little.
PREFLIGHT_DELAY = 0.5
#: The preflight's requests get at least this long whatever ``timeout`` says: a short --timeout (to study
#: timeouts) is about the measured requests and must not fail the capacity check.
PREFLIGHT_MIN_TIMEOUT = 10.0


@dataclass(frozen=True)
class BatchDone:
    """What a progress display needs after each batch."""

    done: int
    total: int
    label: str
    workers: int
    round_index: int
    warmup: bool
    wall_seconds: float
    errors: int = 0


ProgressCallback = Callable[[BatchDone], None]


def _series_record(index: int, spec: SeriesSpec, config: SweepConfig, runner: Runner, cores: int | None) -> Series:
    executor = spec.registered_executor
    return Series(
        id=f"s{index}",
        label=spec.label,
        workload=spec.workload,
        params=spec.params,
        executor=spec.executor,
        session_strategy=str(spec.session_strategy),
        interpreter=runner.interpreter,
        workers_share_gil=executor.shares_gil,
        wait_seconds=spec.build_workload().wait_seconds(),
        speedup_bound=spec.speedup_bound(runner.interpreter.gil_enabled, cores),
        points=[Point(n, config.tasks_per_batch(spec, n)) for n in config.pool_sizes(spec)],
    )


def _timed_batch(server: Server, runner: Runner, workload: Workload, **batch: Any) -> tuple[RoundSample, float | None]:
    """One batch, and the server's CPU seconds spent during it (None when the server's CPU is not visible)."""
    cpu_before = server.cpu_seconds()
    sample = runner.run_batch(workload, target=server.url, **batch)
    cpu_after = server.cpu_seconds()
    return sample, None if cpu_before is None or cpu_after is None else cpu_after - cpu_before


def open_server(config: SweepConfig) -> Server:
    """The external target if given, else a local httpbin sized for the largest pool; none without HTTP."""
    if config.target:
        return ExternalServer(config.target)
    if not config.uses_http:
        return NoServer()
    return LocalServer(max_concurrency=config.max_workers)


def _check_server(active: Server, config: SweepConfig, workloads: list[Workload], results: Results) -> None:
    """The capacity preflight, and the server's own ceiling when wrk is installed, recorded in ``results``."""
    results.server = active.describe()
    if not config.uses_http:
        return
    preflight_timeout = max(config.timeout, PREFLIGHT_MIN_TIMEOUT)
    check = watched(active, lambda: preflight(active.url, config.max_workers, PREFLIGHT_DELAY, preflight_timeout))
    ceilings: tuple = ()
    if isinstance(active, LocalServer):
        delays = [w.wait_seconds() for w in workloads if w.uses_http and w.wait_seconds() is not None]
        ceilings = server_ceilings(active.url, delays, config.max_workers)
    results.server = results.server.with_checks(check, ceilings)


def run_sweep(
    config: SweepConfig,
    writer: ResultsWriter | None = None,
    progress: ProgressCallback | None = None,
    server: Server | None = None,
    notify: Notify | None = None,
) -> Results:
    """Measure every point of ``config`` and return the results document (also saved by ``writer``).

    ``server`` lets a caller reuse a running server; by default one is started and always stopped.
    Every series runs under each interpreter of ``config.pythons`` (default: this one), a free-threaded
    one in each GIL state ``config.gil`` names; ``notify`` gets one-line messages about them (a skipped
    interpreter, a venv being installed).
    On Ctrl-C or any failure the document is saved with its status set, then the error re-raised. A pool
    the open-files limit cannot hold is refused (UsageError) before anything starts.
    """
    ensure_open_files(config.max_workers)
    runners, skipped = open_runners(config.pythons, notify or (lambda message: None), config.gil)
    pairs = [(runner, spec) for runner in runners for spec in config.all_series()]
    workloads = [spec.build_workload() for _, spec in pairs]
    recorded_config = config.to_dict()
    if config.target:
        recorded_config["target"] = redact_url(config.target)  # credentials stay out of the file
    results = Results(recorded_config, capture_environment(tuple(skipped)))
    cores = results.environment.cpu_count
    results.series = [_series_record(i, spec, config, runner, cores) for i, (runner, spec) in enumerate(pairs)]
    points = [(s, p) for s, series in enumerate(results.series) for p in range(len(series.points))]
    total = len(points) * (config.warmup_rounds + config.rounds)

    def save() -> None:
        if writer is not None:
            writer.save(results)

    owned = server is None
    active = open_server(config) if server is None else server
    try:
        if owned:
            active.__enter__()
        _check_server(active, config, workloads, results)
        save()
        shuffler = random.Random(config.seed)
        done = 0
        for round_index in range(config.warmup_rounds + config.rounds):
            warmup = round_index < config.warmup_rounds
            order = list(points)
            shuffler.shuffle(order)
            for position, (s, p) in enumerate(order):
                series, point = results.series[s], results.series[s].points[p]
                label = results.label_of(series)
                batch = partial(_timed_batch, active, pairs[s][0], workloads[s], executor=series.executor,
                                workers=point.workers, tasks=point.tasks, timeout=config.timeout,
                                session_strategy=series.session_strategy)  # fmt: skip
                try:
                    sample, server_cpu = watched(active, batch)
                except ServerError as exc:
                    phase = "warm-up round" if warmup else "round"
                    raise ServerError(f"{exc}, during {label} at N={point.workers}, "
                                      f"{phase} {round_index}") from None  # fmt: skip
                (point.warmup if warmup else point.rounds).append(sample.placed(round_index, position, server_cpu))
                save()
                done += 1
                if progress is not None:
                    progress(BatchDone(done, total, label, point.workers, round_index, warmup,
                                       sample.wall_seconds, sample.error_count))  # fmt: skip
        results.status = "complete"
    except KeyboardInterrupt:
        results.status, results.status_detail = "interrupted", "stopped by the user"
        raise
    except ServerError as exc:
        results.status, results.status_detail = "failed", str(exc)
        raise
    except BaseException as exc:
        results.status, results.status_detail = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            save()  # first: a second Ctrl-C while the server stops must not cost the measurements
        finally:
            try:
                if owned:
                    active.__exit__(None, None, None)
            finally:
                close_runners(runners)
    return results
