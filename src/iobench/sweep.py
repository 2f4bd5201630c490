"""The experiment: every series at every pool size, warm-up first, then R rounds in shuffled order.

Shuffling the order of points in each round (seeded, recorded) spreads slow drift of a shared machine
over all points instead of letting it fake a trend along N. The document is saved after every batch,
so an interrupted or failed sweep still leaves every finished batch on disk.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from iobench.config import SeriesSpec, SweepConfig
from iobench.errors import ServerError
from iobench.executors import BatchSample, run_batch
from iobench.results import Results, ResultsWriter, capture_environment, new_document
from iobench.server import ExternalServer, LocalServer, Server, preflight
from iobench.wrk import server_ceilings

SESSION_STRATEGY = "per-thread"
#: Preflight delay: long enough that client overhead is small beside it, short enough to cost little.
PREFLIGHT_DELAY = 0.5


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
    On Ctrl-C or a server failure the document is saved with its status set, then the error re-raised.
    """
    specs = config.all_series()
    workloads = [spec.build_workload() for spec in specs]
    document = new_document(config.to_dict(), capture_environment())
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
            check = preflight(active.url, max(config.workers), PREFLIGHT_DELAY, config.timeout)
            document["server"]["preflight"] = asdict(check)
        if config.uses_http and isinstance(active, LocalServer):  # the server's own ceiling, when wrk is installed
            delays = [w.wait_seconds() for w in workloads if w.uses_http and w.wait_seconds() is not None]
            if ceilings := server_ceilings(active.url, delays, max(config.workers)):
                document["server"]["wrk"] = ceilings
        save()
        shuffler = random.Random(config.seed)
        done = 0
        for round_index in range(config.warmup_rounds + config.rounds):
            warmup = round_index < config.warmup_rounds
            order = list(points)
            shuffler.shuffle(order)
            for position, (s, p) in enumerate(order):
                series, point = document["series"][s], document["series"][s]["points"][p]
                cpu_before = active.cpu_seconds()
                sample = run_batch(workloads[s], series["executor"], point["workers"], point["tasks"],
                                   active.url, config.timeout)  # fmt: skip
                cpu_after = active.cpu_seconds()
                server_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
                if not active.alive():
                    raise ServerError(
                        f"the server died during {series['label']} at N={point['workers']}, "
                        f"round {round_index}; finished points are saved"
                    )
                point["warmup" if warmup else "rounds"].append(
                    _sample_record(sample, round_index, position, server_cpu)
                )
                save()
                done += 1
                if progress is not None:
                    progress(BatchDone(done, total, series["label"], point["workers"], round_index, warmup,
                                       sample.wall_seconds))  # fmt: skip
        document["status"] = "complete"
    except KeyboardInterrupt:
        document["status"], document["status_detail"] = "interrupted", "stopped by the user"
        raise
    except ServerError as exc:
        document["status"], document["status_detail"] = "failed", str(exc)
        raise
    finally:
        if owned:
            active.__exit__(None, None, None)
        save()
    return document
