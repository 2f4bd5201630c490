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
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from iobench.config import SeriesSpec, SweepConfig
from iobench.errors import ServerError
from iobench.executors import BatchSample, run_batch
from iobench.health import watched
from iobench.limits import ensure_open_files
from iobench.results import Results, ResultsWriter, capture_environment, new_document
from iobench.server import ExternalServer, LocalServer, Server, preflight, redact_url
from iobench.workloads import Workload

SESSION_STRATEGY = "per-thread"
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


def _series_record(index: int, spec: SeriesSpec, config: SweepConfig) -> dict[str, Any]:
    return {
        "id": f"s{index}",
        "label": spec.label,
        "workload": spec.workload,
        "params": spec.params,
        "executor": spec.executor,
        "session_strategy": SESSION_STRATEGY,
        "wait_seconds": spec.build_workload().wait_seconds(),
        "points": [
            {"workers": n, "tasks": config.tasks_per_batch(n) if spec.executor != "sequential" else config.waves,
             "warmup": [], "rounds": []}
            for n in config.pool_sizes(spec)
        ],
    }  # fmt: skip


def _sample_record(sample: BatchSample, round_index: int, position: int, server_cpu: float | None) -> dict:
    record = asdict(sample)
    record["latencies"] = [round(latency, 6) for latency in sample.latencies]
    record.update(round=round_index, position=position, server_cpu_seconds=server_cpu)
    return record


def _timed_batch(
    server: Server, workload: Workload, executor: str, workers: int, tasks: int, timeout: float
) -> tuple[BatchSample, float | None]:
    """One batch, and the server's CPU seconds spent during it (None when the server's CPU is not visible)."""
    cpu_before = server.cpu_seconds()
    sample = run_batch(workload, executor, workers, tasks, server.url, timeout)
    cpu_after = server.cpu_seconds()
    return sample, None if cpu_before is None or cpu_after is None else cpu_after - cpu_before


def open_server(config: SweepConfig) -> Server:
    """The external target when one is given, else a local httpbin sized for the largest pool."""
    if config.target:
        return ExternalServer(config.target)
    return LocalServer(max_concurrency=max(config.workers))


def run_sweep(
    config: SweepConfig,
    writer: ResultsWriter | None = None,
    progress: ProgressCallback | None = None,
    server: Server | None = None,
) -> Results:
    """Measure every point of ``config`` and return the results document (also saved by ``writer``).

    ``server`` lets a caller reuse a running server; by default one is started and always stopped.
    On Ctrl-C or any failure the document is saved with its status set, then the error re-raised. A pool
    the open-files limit cannot hold is refused (UsageError) before anything starts.
    """
    ensure_open_files(max(config.workers))
    specs = config.all_series()
    workloads = [spec.build_workload() for spec in specs]
    recorded_config = config.to_dict()
    if config.target:
        recorded_config["target"] = redact_url(config.target)  # credentials stay out of the file
    document = new_document(recorded_config, capture_environment())
    document["series"] = [_series_record(i, spec, config) for i, spec in enumerate(specs)]
    points = [(s, p) for s, series in enumerate(document["series"]) for p in range(len(series["points"]))]
    total = len(points) * (config.warmup_rounds + config.rounds)

    def save() -> None:
        if writer is not None:
            writer.save(document)

    owned = server is None
    active = open_server(config) if server is None else server
    try:
        if owned:
            active.__enter__()
        document["server"] = active.describe()
        if config.uses_http:
            preflight_timeout = max(config.timeout, PREFLIGHT_MIN_TIMEOUT)
            check = watched(active, lambda: preflight(active.url, max(config.workers), PREFLIGHT_DELAY,
                                                      preflight_timeout))  # fmt: skip
            document["server"]["preflight"] = asdict(check)
        save()
        shuffler = random.Random(config.seed)
        done = 0
        for round_index in range(config.warmup_rounds + config.rounds):
            warmup = round_index < config.warmup_rounds
            order = list(points)
            shuffler.shuffle(order)
            for position, (s, p) in enumerate(order):
                series, point = document["series"][s], document["series"][s]["points"][p]
                batch = partial(_timed_batch, active, workloads[s], series["executor"], point["workers"],
                                point["tasks"], config.timeout)  # fmt: skip
                try:
                    sample, server_cpu = watched(active, batch)
                except ServerError as exc:
                    phase = "warm-up round" if warmup else "round"
                    raise ServerError(f"{exc}, during {series['label']} at N={point['workers']}, "
                                      f"{phase} {round_index}") from None  # fmt: skip
                point["warmup" if warmup else "rounds"].append(
                    _sample_record(sample, round_index, position, server_cpu)
                )
                save()
                done += 1
                if progress is not None:
                    progress(BatchDone(done, total, series["label"], point["workers"], round_index, warmup,
                                       sample.wall_seconds, sample.error_count))  # fmt: skip
        document["status"] = "complete"
    except KeyboardInterrupt:
        document["status"], document["status_detail"] = "interrupted", "stopped by the user"
        raise
    except ServerError as exc:
        document["status"], document["status_detail"] = "failed", str(exc)
        raise
    except BaseException as exc:
        document["status"], document["status_detail"] = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            save()  # first: a second Ctrl-C while the server stops must not cost the measurements
        finally:
            if owned:
                active.__exit__(None, None, None)
    return document
