"""The experiment: stages of points, each measured warm-up first, then R rounds in shuffled order.

What to measure comes from a plan; how a set of points is measured is the same whatever the plan. A
fixed list of pool sizes is one stage: every series at every pool size. ``workers = "auto"`` is the
search of ``analysis.search``: a stage to predict the saturation point, stages that double N, stages
that narrow the interval on N*; each stage's points are chosen from the results measured before it.

Shuffling the order of points in each round (seeded, recorded) spreads slow drift of a shared machine
over all points of a stage instead of letting it fake a trend along N. The document is saved after
every batch, so an interrupted or failed sweep still leaves every finished batch on disk.

Failures are kept apart by kind. A failed request is data: the executor counts it by kind in its
batch's sample and the sweep goes on. A failed server ends the sweep: each batch runs under
``health.watched``, which notices a dead or stopped server within about a second and raises
ServerError, re-raised here naming the point it happened at; any other exception ends it too. Either
way the document is saved with its status (interrupted or failed) before the error leaves.

An A/B run (``run --against``) measures every series once per side, at a fixed list of pool sizes (a
search would choose different pools for each side). The shuffled order is then one of points, and each
point's two batches run back to back, A B for one point and B A for the next, in blocks A B B A, B A A B:
drift in time, linear within a block, costs both sides the same.
"""

from __future__ import annotations

import bisect
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from iobench.analysis.search import AutoSearch, Stage, Step
from iobench.errors import ServerError, UsageError
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.environment import capture_environment
from iobench.measure.health import watched
from iobench.measure.interpreters import Notify
from iobench.measure.limits import ensure_open_files
from iobench.measure.probe import PERIOD
from iobench.measure.runners import Runner, close_runners, open_runners
from iobench.measure.server import ExternalServer, LocalServer, NoServer, Server, preflight, redact_url
from iobench.measure.services import Services
from iobench.measure.workloads import Workload
from iobench.measure.wrk import server_ceilings
from iobench.results.model import Plan, Point, Results, RoundSample, Series, StageRecord, Variant
from iobench.results.store import ResultsWriter

#: Preflight delay: long enough that client overhead is small beside it, short enough to cost little.
PREFLIGHT_DELAY = 0.5
#: The preflight's requests get at least this long whatever ``timeout`` says: a short --timeout (to study
#: timeouts) is about the measured requests and must not fail the capacity check.
PREFLIGHT_MIN_TIMEOUT = 10.0
#: An auto search against an external server first learns how many requests it holds at once, doubling the
#: preflight's concurrency up to this (the search's prediction needs it; beyond it, each stage checks its own).
EXTERNAL_PROBE_UP_TO = 64


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


def _series_record(
    index: int, spec: SeriesSpec, config: SweepConfig, runner: Runner, variant: str | None, cores: int | None
) -> Series:
    """The series as recorded, without points yet: the plan's stages add them."""
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
        variant=variant,
        switch_interval=spec.switch_interval,
        probe_period=PERIOD if config.probe else None,
    )


def abba(point_number: int, sides: int) -> list[int]:
    """The order of the sides at the sweep's ``point_number``-th point: A B, B A, B A, A B, and again."""
    forward = point_number % 4 in (0, 3)
    return list(range(sides)) if forward else list(reversed(range(sides)))


def _stages(
    config: SweepConfig, results: Results, specs: list[SeriesSpec], clock: Callable[[], float]
) -> Iterator[Stage]:
    """The plan's stages: one for a fixed list of pool sizes, the search's for ``workers = "auto"``."""
    start = {series.id: config.pool_sizes(spec) for series, spec in zip(results.series, specs, strict=True)}
    if not config.auto:
        results.plan = Plan("fixed")
        yield Stage({series: Step("fixed", sizes, "the pool sizes asked for") for series, sizes in start.items()})
        return
    results.plan = Plan("auto", config.search.tolerance, config.search.budget_seconds, config.search.max_workers)
    searched = tuple(series.id for series in results.series if not series.is_baseline)
    search = AutoSearch(config.search, config.rounds, config.warmup_rounds, searched, start)
    yield from search.stages(results, clock)


def _add_points(results: Results, stage: Stage, config: SweepConfig, specs: list[SeriesSpec]) -> list[tuple[int, int]]:
    """The stage's points as (series index, point index), new ones inserted in order of N with their stage."""
    chosen = []
    for s, series in enumerate(results.series):
        step = stage.steps.get(series.id)
        if step is None:
            continue
        for workers in step.workers:
            if all(point.workers != workers for point in series.points):
                at = bisect.bisect([point.workers for point in series.points], workers)
                series.points.insert(at, Point(workers, config.tasks_per_batch(specs[s], workers), stage=step.phase))
            chosen.append((s, workers))
    return [(s, next(p for p, point in enumerate(results.series[s].points) if point.workers == workers))
            for s, workers in chosen]  # fmt: skip


def _prediction_lines(results: Results, config: SweepConfig) -> list[str]:
    """What the first stage predicts, one line per series, printed before the main sweep starts."""
    assert results.plan is not None
    lines = []
    for prediction in results.plan.predictions:
        series = next(series for series in results.series if series.id == prediction.series)
        if prediction.workers is None or prediction.ceiling is None:
            lines.append(f"prediction for {results.label_of(series)}: no wait to predict N* from")
            continue
        server = "" if prediction.server_cpu is None else f", server {prediction.server_cpu * 1000:.2f} ms"
        held = ("" if prediction.server_concurrency is None
                else f", a server holding about {prediction.server_concurrency:.0f} requests at once")  # fmt: skip
        lines.append(f"prediction for {results.label_of(series)}: N* ≈ {prediction.workers:.0f}, ceiling ≈ "
                     f"{prediction.ceiling:.0f} req/s (client CPU {prediction.client_cpu * 1000:.2f} ms per request"
                     f"{server}{held}); searching up to N = {config.search.max_workers} within "
                     f"{config.search.budget_seconds:g} s")  # fmt: skip
    return lines


def _timed_batch(
    services: Services, runner: Runner, workload: Workload, **batch: Any
) -> tuple[RoundSample, float | None]:
    """One batch, and its server's CPU seconds spent during it (None when that CPU is not visible).

    The count runs while the batch's clock does, where the runner can say when that is (in this process),
    so connections a batch makes up front and closes after (a database pool) do not count; else it runs
    around the whole batch.
    """
    readings = {True: services.cpu_seconds(workload)}

    def clock(starts: bool) -> None:
        readings[starts] = services.cpu_seconds(workload)

    sample = runner.run_batch(workload, **services.batch_arguments(workload), **batch, clock=clock)
    if False not in readings:
        readings[False] = services.cpu_seconds(workload)
    before, after = readings[True], readings[False]
    return sample, None if before is None or after is None else after - before


def open_server(config: SweepConfig) -> Server:
    """The external target if given, else a local httpbin sized for the largest pool; none without HTTP."""
    if config.target:
        return ExternalServer(config.target)
    if not config.uses_http:
        return NoServer()
    return LocalServer(max_concurrency=config.max_workers)


def _check_server(
    active: Server, config: SweepConfig, workloads: list[Workload], results: Results, concurrency: int, notify: Notify
) -> None:
    """The capacity preflight for pools up to ``concurrency``, and the server's own ceiling when wrk is
    installed, recorded in ``results``; nothing when an earlier check already covers it.

    The local server must hold every request at once (else the saturation point would be the server's) and is refused
    otherwise. An external server is part of what is measured: a server that queues is recorded with the
    concurrency it showed, and told in one line. An auto search against one first doubles the check's
    concurrency from 8 up to ``EXTERNAL_PROBE_UP_TO`` and stops where the server starts to queue, so its
    prediction knows the server's concurrency while each probe stays short.
    """
    if not config.uses_http:
        return
    checked = results.server.preflight
    if checked is not None and (checked.concurrency >= concurrency or checked.queued):
        return
    external = isinstance(active, ExternalServer)
    ladder = [concurrency]
    if external and config.auto and checked is None:
        ladder = [size for size in (8, 16, 32, EXTERNAL_PROBE_UP_TO) if size < concurrency] + [concurrency]
    preflight_timeout = max(config.timeout, PREFLIGHT_MIN_TIMEOUT)
    for size in ladder:
        check = watched(active, partial(preflight, active.url, size, PREFLIGHT_DELAY, preflight_timeout,
                                        refuse=not external))  # fmt: skip
        ceilings: tuple = ()
        if isinstance(active, LocalServer):
            delays = [w.wait_seconds() for w in workloads if w.uses_http and w.wait_seconds() is not None]
            ceilings = server_ceilings(active.url, delays, size)
        results.server = results.server.with_checks(check, ceilings)
        if check.queued:
            notify(f"the server serves about {check.effective_concurrency:.0f} requests at a time ({size} concurrent "
                   f"/delay/{check.delay:g} requests took {check.elapsed:.2f} s): it is measured as part of the "
                   "system, and a saturation point near that many workers is the server's")  # fmt: skip
            return


def run_sweep(
    config: SweepConfig,
    writer: ResultsWriter | None = None,
    progress: ProgressCallback | None = None,
    server: Server | None = None,
    notify: Notify | None = None,
    sides: Sequence[tuple[Variant, Runner]] = (),
) -> Results:
    """Measure every point of ``config`` and return the results document (also saved by ``writer``).

    ``server`` lets a caller reuse a running server; by default one is started and always stopped.
    Every series runs under each interpreter of ``config.pythons`` (default: this one), a free-threaded
    one in each GIL state ``config.gil`` names; ``notify`` gets one-line messages about them (a skipped
    interpreter, a venv being installed).
    On Ctrl-C or any failure the document is saved with its status set, then the error re-raised. A pool
    the open-files limit cannot hold is refused (UsageError) before anything starts.
    ``sides`` makes it an A/B run: each side's runner (opened and closed by the caller) measures every
    series, tagged with the side's variant name.
    """
    began = time.perf_counter()
    say = notify or (lambda message: None)
    ensure_open_files(config.max_workers)
    if sides and config.auto:
        raise UsageError("an A/B run (--against) measures both sides at the same pool sizes; list them with "
                         "--workers, or use --quick")  # fmt: skip
    if sides:
        runners, skipped, owned_runners = [runner for _, runner in sides], [], []
    else:
        runners, skipped = open_runners(config.pythons, say, config.gil)
        owned_runners = runners
    variants = [variant.name for variant, _ in sides] or [None] * len(runners)
    specs = config.all_series()
    pairs = [(runner, spec, variant) for runner, variant in zip(runners, variants, strict=True) for spec in specs]
    series_specs = [spec for _, spec, _ in pairs]
    workloads = [spec.build_workload() for spec in series_specs]
    recorded_config = config.to_dict()
    for secretive in ("target", "db_url"):
        if recorded_config.get(secretive):
            recorded_config[secretive] = redact_url(recorded_config[secretive])  # credentials stay out of the file
    results = Results(recorded_config, capture_environment(tuple(skipped)), variants=tuple(v for v, _ in sides))
    cores = results.environment.cpu_count
    results.series = [_series_record(i, spec, config, runner, variant, cores)
                      for i, (runner, spec, variant) in enumerate(pairs)]  # fmt: skip
    slot_count = 0

    def save() -> None:
        if writer is not None:
            writer.save(results)

    active = Services(config, open_server(config) if server is None else server, owns_http=server is None)
    entered = False
    try:
        active.__enter__()
        entered = True
        results.server = active.http.describe()
        first_check = config.max_workers if not config.auto else max(
            EXTERNAL_PROBE_UP_TO if isinstance(active.http, ExternalServer) else 0,
            max(max(config.pool_sizes(spec)) for spec in specs))  # fmt: skip
        _check_server(active.http, config, workloads, results, min(first_check, config.max_workers), say)
        active.prepare_database(config, workloads, results)
        save()
        shuffler = random.Random(config.seed)
        done = total = rounds_before = 0
        announced = not config.auto
        for stage in _stages(config, results, series_specs, lambda: time.perf_counter() - began):
            if not announced and stage.name != "predict":  # the first stage is measured and its prediction made
                announced = True
                for line in _prediction_lines(results, config):
                    say(line)
            points = _add_points(results, stage, config, series_specs)
            _check_server(active.http, config, workloads, results,
                          max(results.series[s].points[p].workers for s, p in points), say)  # fmt: skip
            assert results.plan is not None
            results.plan.stages.append(StageRecord(stage.name, stage.workers, stage.reason,
                                                    time.perf_counter() - began))  # fmt: skip
            record = len(results.plan.stages) - 1
            total += len(points) * (config.warmup_rounds + config.rounds)
            # What the shuffle orders: every point, or in an A/B run each point of the first side, which its
            # other sides' same point follows (the series of side k sit k * len(specs) further on).
            slots = [(s, p) for s, p in points if s < len(specs)] if sides else points
            for round_index in range(rounds_before, rounds_before + config.warmup_rounds + config.rounds):
                warmup = round_index - rounds_before < config.warmup_rounds
                shuffled = list(slots)
                shuffler.shuffle(shuffled)
                order = shuffled
                if sides:
                    order = [(s + side * len(specs), p) for number, (s, p) in enumerate(shuffled, slot_count)
                             for side in abba(number, len(sides))]  # fmt: skip
                    slot_count += len(shuffled)
                for position, (s, p) in enumerate(order):
                    series, point = results.series[s], results.series[s].points[p]
                    label = results.label_of(series)
                    batch = partial(_timed_batch, active, pairs[s][0], workloads[s], executor=series.executor,
                                    workers=point.workers, tasks=point.tasks, timeout=config.timeout,
                                    session_strategy=series.session_strategy, probe=config.probe,
                                    switch_interval=series.switch_interval)  # fmt: skip
                    try:
                        sample, server_cpu = watched(active, batch)
                    except ServerError as exc:
                        phase = "warm-up round" if warmup else "round"
                        raise ServerError(f"{exc}, during {label} at N={point.workers}, "
                                          f"{phase} {round_index}") from None  # fmt: skip
                    placed = sample.placed(round_index, position, server_cpu)
                    (point.warmup if warmup else point.rounds).append(placed)
                    save()
                    done += 1
                    if progress is not None:
                        progress(BatchDone(done, total, label, point.workers, round_index, warmup,
                                           sample.wall_seconds, sample.error_count))  # fmt: skip
            rounds_before += config.warmup_rounds + config.rounds
            measured = results.plan.stages[record]
            results.plan.stages[record] = replace(measured, seconds=time.perf_counter() - began - measured.started)
        if not announced:
            for line in _prediction_lines(results, config):
                say(line)
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
                if entered:
                    active.__exit__(None, None, None)
            finally:
                close_runners(owned_runners, abandon=results.status != "complete")
    return results
