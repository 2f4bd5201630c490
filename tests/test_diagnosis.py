"""Service demands, the predicted knee and the bottleneck named from synthetic runs with known causes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from iobench.analysis.diagnosis import Diagnosis, ServiceDemands, diagnose_results
from iobench.results.model import Results, WrkCeiling

from .conftest import edit_rounds, synthetic_results


def threaded(results: Results) -> Diagnosis:
    (diagnosis,) = diagnose_results(results)
    return diagnosis


def set_server_cpu(results: Results, per_task: float) -> None:
    edit_rounds(results, lambda point, sample: {"server_cpu_seconds": per_task * point.tasks})


def test_demands_predict_the_knee_of_the_asymptotes() -> None:
    """Client 1.5 ms, server 1 ms, wait 100 ms: N* = (0.1 + 0.0025) / 0.0015 ≈ 68."""
    demands = threaded(synthetic_results(noise=0.0)).demands
    assert demands.client_cpu == pytest.approx(0.0015)
    assert demands.server_cpu == pytest.approx(0.001)
    assert demands.limiting == "client" and demands.ceiling == pytest.approx(1 / 0.0015)
    assert demands.predicted_saturation == pytest.approx(0.1025 / 0.0015)


def test_without_the_gil_the_client_ceiling_scales_with_cores() -> None:
    demands = ServiceDemands(client_cpu=0.002, server_cpu=0.0015, wait=0.1, client_cores=4)
    assert demands.limiting == "server" and demands.ceiling == pytest.approx(1 / 0.0015)


def test_a_client_cpu_plateau_is_blamed_on_the_gil() -> None:
    """4 ms of client CPU per task caps throughput at 250/s, reached from N ≈ 26 on."""
    diagnosis = threaded(synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004))
    assert diagnosis.saturation.workers == 32 and not diagnosis.saturation.at_sweep_edge
    assert diagnosis.bottleneck.kind == "client-cpu"
    assert "GIL" in diagnosis.bottleneck.description
    assert diagnosis.usl is not None and diagnosis.amdahl is not None
    assert diagnosis.utilization.client == pytest.approx(1.0, rel=0.05), "at the ceiling, a whole core is busy"


def test_a_server_with_the_larger_demand_is_named() -> None:
    results = synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004)
    set_server_cpu(results, 0.005)
    assert threaded(results).bottleneck.kind == "server"


def test_a_curve_still_rising_far_from_its_ceiling_has_no_bottleneck_yet() -> None:
    diagnosis = threaded(synthetic_results(workers=(1, 2, 4, 8)))
    assert diagnosis.saturation.at_sweep_edge
    assert diagnosis.bottleneck.kind == "none" and "within the sweep" in diagnosis.bottleneck.description
    assert diagnosis.usl is None, "four points are too few for a fit"


def test_pool_discards_are_named_before_anything_else() -> None:
    results = synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004)
    point = results.series[1].points[4]
    point.rounds[0] = replace(point.rounds[0], pool_full_discards=6)
    bottleneck = threaded(results).bottleneck
    assert bottleneck.kind == "connection-pool" and "N = 16" in bottleneck.description


def test_reconnecting_on_every_request_is_a_connection_pool_problem() -> None:
    results = synthetic_results()
    edit_rounds(results, lambda point, sample: {"connections_opened": point.tasks}, series=1)
    assert threaded(results).bottleneck.kind == "connection-pool"


def test_a_plateau_far_below_every_ceiling_is_not_blamed_on_cpu() -> None:
    results = synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004)
    # The CPU says 2000/s were possible; it stalls at 250/s.
    edit_rounds(results, lambda point, sample: {"cpu_seconds": 0.0005 * point.tasks}, series=1)
    set_server_cpu(results, 0.0005)
    assert threaded(results).bottleneck.kind == "unexplained"


def test_a_server_that_held_wrk_back_too_is_the_bottleneck() -> None:
    """128 connections waiting 0.1 s allow 1280/s; wrk got 260/s, so the server was the limit."""
    results = synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004)
    results.server = results.server.with_checks(wrk=(WrkCeiling(0.2, 128, 900.0), WrkCeiling(0.1, 128, 260.0)))
    diagnosis = threaded(results)
    assert diagnosis.server_ceiling is not None and diagnosis.server_ceiling.requests_per_second == 260.0
    assert diagnosis.bottleneck.kind == "server" and "wrk" in diagnosis.bottleneck.description


def test_a_wrk_rate_held_back_by_the_wait_does_not_blame_the_server() -> None:
    """8 connections waiting 0.1 s allow 80/s: wrk reaching that says nothing about the server's limit."""
    results = synthetic_results(workers=(1, 2, 4, 8))
    results.server = results.server.with_checks(wrk=(WrkCeiling(0.1, 8, 78.0),))
    assert threaded(results).bottleneck.kind == "none"


def test_a_process_pool_has_a_core_per_worker_process() -> None:
    """Each worker process has its own GIL, so the client's ceiling is cores / D, not 1 / D; the local server
    shares those cores, so they cap client and server together at cores / (D_client + D_server)."""
    results = synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004)
    cores = 4
    results.series[1].executor, results.series[1].workers_share_gil = "processes", False
    results.environment = replace(results.environment, cpu_count=cores)
    diagnosis = threaded(results)
    assert diagnosis.demands.client_cores == cores
    assert diagnosis.demands.ceiling == pytest.approx(min(cores / 0.004, 1 / 0.001, cores / 0.005))
    assert "GIL" not in diagnosis.bottleneck.description


def test_throughput_above_the_gil_ceiling_is_not_blamed_on_the_gil() -> None:
    """CPU recorded per task that the batch rate outruns cannot all have been serialized by the GIL."""
    results = synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004)
    # As when system calls that release the GIL are counted in the CPU time:
    edit_rounds(results, lambda point, sample: {"cpu_seconds": sample.cpu_seconds * 3}, series=1)
    diagnosis = threaded(results)
    assert diagnosis.bottleneck.kind == "client-cpu"
    assert "not all of it serialized" in diagnosis.bottleneck.description


def test_the_client_demand_and_its_cores_busy_come_from_the_window_the_pool_was_full() -> None:
    """4 ms of client CPU per request while the pool is full, and 2 ms per worker to start it up."""
    results = synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004, noise=0.0)
    edit_rounds(results, lambda point, sample: {
        "cpu_seconds": sample.cpu_seconds + 0.002 * point.workers,
        "steady_cpu_seconds": 0.004 * (point.tasks - point.workers),
    })  # fmt: skip
    diagnosis = threaded(results)
    assert diagnosis.demands.client_cpu == pytest.approx(0.004), "not the 4.5 ms a batch's CPU per task says"
    assert diagnosis.utilization.client == pytest.approx(1.0), "one core while the pool is full, not 1.125"
