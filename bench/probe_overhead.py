"""What the responsiveness probe costs: throughput with it against throughput without it, batch by batch.

The probe thread takes the GIL 200 times a second. Where the client is GIL-bound (http-delay at a pool
past its knee, hybrid, cpu) every wake-up is time the workers do not get, so this is where a cost would
show. For each case the same batch runs with and without the probe, alternating A B B A so that drift
of a shared machine falls on both alike, and the ratio of median throughputs is printed with its 95 %
bootstrap interval. The probe stays on by default only while every ratio's interval reaches 0.99.

    python bench/probe_overhead.py                 # 10 pairs per case, about a minute
    python bench/probe_overhead.py --pairs 20      # tighter intervals
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from iobench.analysis.statistics import bootstrap_median, bootstrap_ratio
from iobench.measure.executors import run_batch
from iobench.measure.server import LocalServer
from iobench.measure.workloads import make_workload
from iobench.results.model import RoundSample

WAVES = 4


@dataclass(frozen=True)
class Case:
    workload: str
    params: dict[str, object]
    workers: int

    @property
    def label(self) -> str:
        shown = ", ".join(f"{key}={value}" for key, value in self.params.items())
        return f"{self.workload}({shown}) N={self.workers}"


CASES = (
    Case("http-delay", {"delay": 0.1}, 8),
    Case("http-delay", {"delay": 0.1}, 128),  # past the knee: the client's CPU is the bottleneck
    Case("hybrid", {"cpu": 0.01, "delay": 0.1}, 16),
    Case("cpu", {"cpu": 0.01}, 4),
)


def measure(case: Case, url: str, pairs: int) -> dict[bool, list[RoundSample]]:
    workload = make_workload(case.workload, case.params)
    batches: dict[bool, list[RoundSample]] = {True: [], False: []}

    def batch(probe: bool) -> RoundSample:
        return run_batch(workload, "threads", case.workers, WAVES * case.workers, url, probe=probe)

    batch(True), batch(False)  # warm-up: connections, imports, caches
    for index in range(pairs):
        for probe in (True, False) if index % 2 == 0 else (False, True):
            batches[probe].append(batch(probe))
    return batches


def row(case: Case, batches: dict[bool, list[RoundSample]]) -> str:
    tasks = WAVES * case.workers
    rates = {probe: [tasks / sample.wall_seconds for sample in samples] for probe, samples in batches.items()}
    ratio = bootstrap_ratio(rates[True], rates[False])
    cpu = {probe: np.median([s.cpu_seconds / tasks for s in samples]) * 1000 for probe, samples in batches.items()}
    late = [late for sample in batches[True] for late in sample.probe_lateness]
    p99 = float(np.percentile(late, 99)) * 1000 if late else float("nan")
    on, off = bootstrap_median(rates[True]).value, bootstrap_median(rates[False]).value
    return (f"| {case.label} | {off:.1f} | {on:.1f} | {ratio.value:.3f} ({ratio.low:.3f}–{ratio.high:.3f}) "
            f"| {cpu[False]:.2f} | {cpu[True]:.2f} | {p99:.2f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10, help="batches with and without the probe, per case")
    args = parser.parse_args()
    print("| case | tasks/s without | tasks/s with | with / without (95% CI) | client CPU ms/task without "
          "| with | probe p99 late ms |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    with LocalServer(max_concurrency=max(case.workers for case in CASES)) as server:
        for case in CASES:
            print(row(case, measure(case, server.url, args.pairs)), flush=True)


if __name__ == "__main__":
    main()
