"""Sequential loop vs thread pool at several N, as pytest-benchmark measures it.

Each group is one pool size N: the sequential loop and a pool of N threads over the same M = WAVES x N
requests of ``/delay/DELAY``, so pytest-benchmark's own table shows what the threads buy, and
``--benchmark-compare-fail`` can gate either. ``extra_info`` carries iobench's figures (throughput,
speedup over the sequential loop, efficiency against the ideal speedup) into the saved JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from iobench.analysis.stats import ideal_speedup
from iobench.measure.executors import run_batch
from iobench.measure.server import LocalServer
from iobench.measure.workloads import Workload, make_workload
from iobench.results.model import RoundSample

DELAY = 0.02
WORKERS = (1, 2, 8, 32)
#: Tasks per worker in each batch: M = WAVES x N, so the ideal speedup at every N is exactly N.
WAVES = 2
ROUNDS = 5
WARMUP_ROUNDS = 1


@pytest.fixture(scope="module")
def workload() -> Workload:
    return make_workload("http-delay", {"delay": DELAY})


@pytest.fixture(scope="module")
def sequential_throughput(server: LocalServer, workload: Workload) -> float:
    """Tasks per second of the sequential loop (median of a few batches): what every speedup is relative to.

    Measured here rather than read from the sequential benchmarks, so no benchmark depends on test order.
    """
    tasks = 4 * WAVES
    run_batch(workload, "sequential", 1, tasks, server.url)  # warm-up
    walls = [run_batch(workload, "sequential", 1, tasks, server.url).wall_seconds for _ in range(ROUNDS)]
    return tasks / float(np.median(walls))


def _measure(benchmark: Any, server: LocalServer, workload: Workload, executor: str, workers: int) -> float:
    """Benchmark one batch with explicit rounds and warm-up; return its median throughput (tasks/s)."""
    tasks = WAVES * workers
    benchmark.group = f"N={workers}"
    benchmark.extra_info.update(executor=executor, workers=workers, tasks=tasks, delay=DELAY)
    sample: RoundSample = benchmark.pedantic(
        run_batch, args=(workload, executor, workers, tasks, server.url),
        rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS, iterations=1,
    )  # fmt: skip
    assert sample.error_count == 0, sample.errors
    throughput = tasks / benchmark.stats.stats.median
    benchmark.extra_info["throughput"] = throughput
    return throughput


@pytest.mark.parametrize("workers", WORKERS)
def test_sequential(benchmark: Any, server: LocalServer, workload: Workload, workers: int) -> None:
    _measure(benchmark, server, workload, "sequential", workers)


@pytest.mark.parametrize("workers", WORKERS)
def test_threads(
    benchmark: Any, server: LocalServer, workload: Workload, sequential_throughput: float, workers: int
) -> None:
    throughput = _measure(benchmark, server, workload, "threads", workers)
    speedup = throughput / sequential_throughput
    benchmark.extra_info.update(speedup=speedup, efficiency=speedup / ideal_speedup(WAVES * workers, workers))
    # A sanity check, not a speed target (those are what --benchmark-compare-fail is for).
    assert workers == 1 or speedup > 1, f"{workers} threads were no faster than one: speedup {speedup:.2f}"
