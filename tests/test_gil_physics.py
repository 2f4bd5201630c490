"""A client without the GIL: the ceilings count the cores it can use, and the reports, plots and claims say so.

Synthetic documents with known causes: a GIL-bound client whose 4 ms of CPU per request caps it at 250/s,
and the same client with the GIL off on 2 cores, beside a local server costing 1 ms per request, which the
shared cores cap at 2 / (4 + 1) ms = 400/s before the client's own 2 / 4 ms = 500/s.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import pytest

from iobench.analysis.diagnosis import Diagnosis, ServiceDemands, diagnose_results
from iobench.analysis.free_threading import gil_states, single_thread_cost
from iobench.analysis.prediction import find_all
from iobench.measure.config import SeriesSpec
from iobench.present.claims import free_threading, hybrid_workloads
from iobench.present.docs import DocsInputs, free_threaded
from iobench.present.plots import build_chart, plot_throughput
from iobench.present.report import evidence, verdict
from iobench.results.model import Interpreter, Results

from .conftest import edit_rounds, synthetic_results

WORKERS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FREE_THREADED_ON = Interpreter("CPython", "3.13.5", gil_enabled=True, free_threaded_build=True, python_gil="1")
FREE_THREADED_OFF = Interpreter("CPython", "3.13.5", gil_enabled=False, free_threaded_build=True, python_gil="0")
GIL_BUILD = Interpreter("CPython", "3.13.5")


def _on(results: Results, interpreter: Interpreter, cores: int = 2) -> Results:
    for series in results.series:
        series.interpreter = interpreter
    results.environment = replace(results.environment, cpu_count=cores)
    return results


def gil_off(cores: int = 2, seed: int = 1) -> Results:
    """The GIL-off client: 4 ms of CPU and 1 ms of server CPU per request, held at 400/s by the 2 shared cores."""
    results = _on(synthetic_results(workers=WORKERS, client_cpu=0.0025, seed=seed), FREE_THREADED_OFF, cores)
    edit_rounds(results, lambda point, sample: {"cpu_seconds": 0.004 * point.tasks,
                                                "server_cpu_seconds": 0.001 * point.tasks})  # fmt: skip
    return results


def gil_on(interpreter: Interpreter = FREE_THREADED_ON, client_cpu: float = 0.004, seed: int = 2) -> Results:
    """The GIL-bound client: its CPU per request, one request at a time, caps it at 1 / client_cpu."""
    results = _on(synthetic_results(workers=WORKERS, client_cpu=client_cpu, seed=seed), interpreter)
    edit_rounds(results, lambda point, sample: {"server_cpu_seconds": 0.001 * point.tasks})
    return results


def threaded(results: Results) -> Diagnosis:
    (diagnosis,) = diagnose_results(results)
    return diagnosis


def one_document(*parts: Results) -> Results:
    """Several synthetic runs as one sweep would record them, with distinct series ids."""
    merged = parts[0]
    merged.series = [replace(series, id=f"s{i}") for i, series in
                     enumerate(series for part in parts for series in part.series)]  # fmt: skip
    return merged


def test_with_the_gil_off_the_shared_cores_are_the_ceiling() -> None:
    diagnosis = threaded(gil_off())
    demands = diagnosis.demands
    assert demands.client_cores == 2 and demands.machine_cores == 2
    assert demands.bounds == pytest.approx({"client": 500.0, "server": 1000.0, "machine": 400.0})
    assert demands.limiting == "machine" and demands.ceiling == pytest.approx(400.0)
    assert demands.predicted_saturation == pytest.approx((0.1 + 0.005) * 400)
    assert diagnosis.bottleneck.kind == "machine-cpu"
    assert "2 cores" in diagnosis.bottleneck.description and "GIL" not in diagnosis.bottleneck.description
    assert diagnosis.utilization.client == pytest.approx(1.6, rel=0.05), "400/s x 4 ms: 1.6 cores busy"


def test_under_the_gil_the_shared_cores_never_bind_first() -> None:
    """max(D_client, D_server) >= (D_client + D_server) / k for k >= 2: the old 1 / D_max stands."""
    demands = threaded(gil_on()).demands
    assert demands.client_cores == 1 and demands.limiting == "client"
    assert demands.ceiling == pytest.approx(250.0) and demands.ceiling_formula == "1/D_max"


def test_a_server_idle_during_work_that_sends_it_nothing_is_not_the_limit() -> None:
    demands = ServiceDemands(client_cpu=0.01, server_cpu=0.00005, wait=0.05, client_cores=2, machine_cores=2)
    assert demands.limiting == "client" and demands.ceiling == pytest.approx(200.0)


def test_the_model_predicts_more_cores_for_a_gil_free_client_only() -> None:
    off, on = threaded(gil_off()).demands, threaded(gil_on()).demands
    eight = off.on_cores(8)
    assert eight.limiting == "server" and eight.ceiling == pytest.approx(1000.0), "the one-process server is next"
    assert off.on_cores(16).ceiling == pytest.approx(1000.0)
    assert on.on_cores(16).ceiling == pytest.approx(250.0), "a GIL-bound client keeps its one core"


def test_the_report_and_the_plot_name_the_shared_cores() -> None:
    results = gil_off()
    (finding,) = find_all(results)
    sentence = verdict(finding)
    assert "bottleneck: the machine's 2 cores" in sentence
    assert finding.prediction is not None and finding.prediction.limiting == "machine"
    assert finding.prediction.ceiling == pytest.approx(400.0), "the prediction knows the shared cores too"
    lines = " ".join(evidence(finding, results))
    assert "ceiling 2/(D_client + D_server) = 400 req/s (machine; the client can use 2 cores" in lines
    assert "kept 1.6" in lines and "of its 2 cores busy" in lines
    figure, ax = plt.subplots()
    try:
        plot_throughput(ax, build_chart([gil_off()]))
        labels = ax.get_legend_handles_labels()[1]
    finally:
        plt.close(figure)
    assert "2/(D_client + D_server) = 400/s (client + server CPU on 2 cores)" in labels


def test_a_workloads_speedup_bound_counts_the_cores_a_gil_free_client_uses() -> None:
    hybrid = SeriesSpec("hybrid", {"cpu": 0.01, "delay": 0.05}, "threads")
    assert hybrid.speedup_bound(gil_enabled=True, cores=2) == pytest.approx(6.0)
    assert hybrid.speedup_bound(gil_enabled=False, cores=2) == pytest.approx(12.0)
    assert hybrid.speedup_bound(gil_enabled=False) is None, "unknown cores: no bound"
    assert SeriesSpec("cpu", {"cpu": 0.01}, "threads").speedup_bound(gil_enabled=False, cores=4) == 4.0
    assert SeriesSpec("http-delay", {"delay": 0.1}, "threads").speedup_bound(gil_enabled=False, cores=2) is None


def test_gil_states_pair_one_binary_and_price_a_single_thread() -> None:
    results = one_document(gil_on(GIL_BUILD, client_cpu=0.003, seed=3), gil_on(), gil_off())
    (states,) = gil_states(results)
    assert states.on.series.interpreter == FREE_THREADED_ON and states.off.series.interpreter == FREE_THREADED_OFF
    assert states.gil_build is not None and states.gil_build.series.interpreter == GIL_BUILD
    assert states.peak_ratio.value == pytest.approx(400 / 250, rel=0.05)
    cost = single_thread_cost(results)
    assert cost is not None and cost.ratio.value == pytest.approx(4 / 3, rel=0.01), "4 ms against 3 ms per request"


def test_the_docs_table_and_the_claims_follow_the_numbers() -> None:
    results = one_document(gil_on(GIL_BUILD, client_cpu=0.003, seed=3), gil_on(), gil_off())

    class Measured(DocsInputs):
        def get(self, name: str) -> Results | None:
            return results

    table = free_threaded(Measured(root=None))  # type: ignore[arg-type]
    assert table.count("\n| http-delay(delay=0.1) |") == 3 and "TODO" not in table
    assert "| CPython 3.13.5t, GIL off | 4" in table and "client + server CPU, 2 cores" in table
    assert "1000, N* ≈ 105 (server)" in table, "8 and 16 cores: the one-process server is next"
    assert "+33%" in table, "the single-thread cost"
    measured, verdict_text = free_threading(results)
    assert "1.6" in measured and verdict_text.startswith("does not hold here"), "1.6x is a massive speedup"
    assert verdict_text.endswith("1.2× over the regular build"), "400/s against the GIL build's 1/(3 ms)"
    assert hybrid_workloads(results)[1] == "not measured"
