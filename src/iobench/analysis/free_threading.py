"""Free-threaded Python against the GIL: the same work on one binary with the GIL on and off, beside a GIL build.

A sweep run with ``--gil both`` measures each series on a free-threaded build twice, with PYTHON_GIL=1 and
PYTHON_GIL=0: nothing but the GIL differs between the two. This module pairs those series up and says,
from the results document alone, what the GIL-off client gained (peak throughput, with an interval), where
its CPU went (cores kept busy at the best pool, CPU per task), what one thread pays for the free-threaded
build (client CPU per task at N = 1 against a GIL build), and what the service demands predict on machines
with more cores. The README's free-threaded section and the article's claims about it read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from iobench.analysis.diagnosis import Diagnosis, diagnose_results
from iobench.analysis.statistics import Estimate, bootstrap_ratio
from iobench.analysis.stats import PointStats, SeriesStats
from iobench.results.model import Interpreter, Results

#: Core counts the README predicts for, beside the machine measured.
PREDICTED_CORES = (8, 16)


@dataclass(frozen=True)
class GilStates:
    """One piece of work (workload, parameters, executor) on a free-threaded build with the GIL on and off.

    ``gil_build`` is the same work on a regular (GIL) build in the same file, when there is one.
    """

    on: Diagnosis
    off: Diagnosis
    gil_build: Diagnosis | None = None

    @property
    def workload(self) -> str:
        return self.off.series.workload

    @property
    def peak_ratio(self) -> Estimate:
        """Throughput at the GIL-off best pool over the GIL-on one, with a bootstrap interval over their rounds."""
        return bootstrap_ratio(best_point(self.off.series).round_throughputs,
                               best_point(self.on.series).round_throughputs)  # fmt: skip


def best_point(stats: SeriesStats) -> PointStats:
    """The pool size with the highest median throughput."""
    return max(stats.points, key=lambda point: point.throughput.value)


def _work_key(stats: SeriesStats) -> tuple[str, str, str, str]:
    series = stats.series
    return (series.workload, json.dumps(series.params, sort_keys=True), series.executor, series.session_strategy)


def gil_states(results: Results) -> list[GilStates]:
    """Every piece of work measured on a free-threaded build with the GIL both on and off, in file order."""
    groups: dict[tuple[str, str, str, str], dict[str, Diagnosis]] = {}
    for diagnosis in diagnose_results(results):
        interpreter = diagnosis.series.interpreter
        role = ("on" if interpreter.gil_enabled else "off") if interpreter.free_threaded_build else "gil-build"
        groups.setdefault(_work_key(diagnosis.series), {}).setdefault(role, diagnosis)
    return [GilStates(group["on"], group["off"], group.get("gil-build"))
            for group in groups.values() if "on" in group and "off" in group]  # fmt: skip


def single_thread_rounds(results: Results, interpreter: Interpreter, workload: str) -> list[tuple[float, int]]:
    """(Client CPU seconds per task, tasks) of every measured round at N = 1: the sequential loop and a pool of one."""
    return [(sample.cpu_seconds / point.tasks, point.tasks)
            for series in results.series
            if series.workload == workload and series.interpreter.key == interpreter.key
            for point in series.points if point.workers == 1
            for sample in point.rounds]  # fmt: skip


@dataclass(frozen=True)
class SingleThreadCost:
    """What one thread pays for a free-threaded build: its client CPU per task at N = 1 over a GIL build's."""

    free_threaded: Interpreter
    gil_build: Interpreter
    workload: str
    #: CPU per task, free-threaded with the GIL off over the GIL build: 1.08 means 8 % more CPU.
    ratio: Estimate
    free_threaded_cpu: float
    gil_build_cpu: float
    #: Measured rounds at N = 1 behind each side's median, and the requests in them.
    rounds: int
    tasks: int


def single_thread_cost(results: Results, workload: str = "http-delay") -> SingleThreadCost | None:
    """The free-threaded build with the GIL off against a GIL build in the same file, on ``workload``.

    PEP 703 put the free-threaded build's single-thread cost at 5-8 % and the 3.14 docs at 1-8 %
    (pyperformance); here it is the client's CPU for the same requests, one at a time. The cpu and hybrid
    workloads are calibrated to a fixed CPU time in each interpreter, so only a workload of fixed work
    (requests, here) can show it. None without both builds.
    """
    interpreters = [series.interpreter for series in results.series if series.workload == workload]
    off = next((i for i in interpreters if i.free_threaded_build and not i.gil_enabled), None)
    gil = next((i for i in interpreters if not i.free_threaded_build), None)
    if off is None or gil is None:
        return None
    off_rounds, gil_rounds = single_thread_rounds(results, off, workload), single_thread_rounds(results, gil, workload)
    off_cpu, gil_cpu = [cpu for cpu, _ in off_rounds], [cpu for cpu, _ in gil_rounds]
    if not off_cpu or not gil_cpu or min(gil_cpu) <= 0:
        return None
    ratio = bootstrap_ratio(off_cpu, gil_cpu)
    fewer = min(off_rounds, gil_rounds, key=len)
    return SingleThreadCost(off, gil, workload, ratio, float(np.median(off_cpu)), float(np.median(gil_cpu)),
                            len(fewer), sum(tasks for _, tasks in fewer))  # fmt: skip
