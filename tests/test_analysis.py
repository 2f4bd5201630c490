"""Pure statistics on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from iobench.analysis.statistics import bootstrap_median, coefficient_of_variation, rounds_to_reach
from iobench.analysis.stats import analyze, ideal_speedup

from .conftest import synthetic_results


@pytest.mark.parametrize(("tasks", "workers", "expected"), [(16, 8, 8), (10, 4, 10 / 3), (5, 8, 5), (7, 1, 1)])
def test_ideal_speedup_is_m_over_ceil_m_over_n(tasks: int, workers: int, expected: float) -> None:
    assert ideal_speedup(tasks, workers) == pytest.approx(expected)


def test_bootstrap_interval_brackets_the_median() -> None:
    estimate = bootstrap_median([10.0, 11.0, 9.0, 10.5, 9.5])
    assert estimate.low <= estimate.value == 10.0 <= estimate.high


def test_bootstrap_interval_narrows_with_more_samples() -> None:
    rng = np.random.default_rng(3)
    few, many = bootstrap_median(rng.normal(10, 1, 5)), bootstrap_median(rng.normal(10, 1, 200))
    assert many.high - many.low < (few.high - few.low) / 2
    assert many.low < 10 < many.high


def test_rounds_to_reach_scales_with_the_square_of_the_noise() -> None:
    assert rounds_to_reach(0.05, 5) == 5
    assert rounds_to_reach(0.20, 5) == 20


def test_coefficient_of_variation() -> None:
    assert coefficient_of_variation([1.0, 1.0, 1.0]) == 0.0
    assert coefficient_of_variation([9.0, 11.0]) == pytest.approx(np.std([9, 11], ddof=1) / 10)


def test_speedup_follows_the_known_curve() -> None:
    """Wait-bound up to N = 0.102 / 0.0015 = 68: speedup is N * (fixed ratio) until then."""
    series = {s.executor: s for s in analyze(synthetic_results(noise=0.0))}
    threaded = series["threads"].points
    for point in threaded:
        assert point.speedup.value == pytest.approx(point.workers, rel=1e-9)
        assert point.efficiency.value == pytest.approx(1.0)
        assert point.client_cpu_per_task == pytest.approx(0.0015)


def test_cpu_bound_points_fall_below_the_ideal_bound() -> None:
    results = synthetic_results(workers=(1, 32, 128), client_cpu=0.004, noise=0.0)
    threaded = {p.workers: p for s in analyze(results) if s.executor == "threads" for p in s.points}
    # Throughput caps at 1 / 0.004 = 250 tasks/s against 1 / 0.102 for the sequential loop.
    assert threaded[128].speedup.value == pytest.approx(250 * 0.102, rel=1e-6)
    assert threaded[128].efficiency.value < 0.25


def test_points_without_rounds_are_left_out() -> None:
    results = synthetic_results()
    results.series[1].points[-1].rounds = []
    threaded = next(s for s in analyze(results) if s.executor == "threads")
    assert [p.workers for p in threaded.points] == [1, 2, 4, 8, 16]
