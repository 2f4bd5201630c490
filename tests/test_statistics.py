"""Bootstrap coverage, the Kneedle knee and the saturation rule, on data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from iobench.analysis.kneedle import knee_index
from iobench.analysis.saturation import knee, saturation
from iobench.analysis.statistics import bootstrap_median
from iobench.analysis.stats import SeriesStats, point_stats
from iobench.results.model import Interpreter, Point, RoundSample, Series


def series(throughputs: dict[int, list[float]], baseline: list[float] | None = None) -> SeriesStats:
    """A series whose rounds ran at exactly the given throughputs (tasks per second) per pool size."""
    points, raw = [], []
    for workers, rounds in throughputs.items():
        tasks = 4 * workers
        samples = [RoundSample(tasks / x, 0.001 * tasks, (0.1,), {}, workers) for x in rounds]
        raw.append(Point(workers, tasks, [], samples))
        points.append(point_stats(raw[-1], baseline or throughputs[min(throughputs)]))
    interpreter = Interpreter("CPython", "3.11.7")
    measured = Series("s1", "test", "http-delay", {"delay": 0.1}, "threads", "per-thread", interpreter, points=raw)
    sequential = Series("s0", "test", "http-delay", {"delay": 0.1}, "sequential", "per-thread", interpreter)
    return SeriesStats(measured, sequential, points)


def noisy(rng: np.random.Generator, value: float, spread: float, rounds: int = 5) -> list[float]:
    return list(value * (1 + rng.normal(0, spread, rounds)))


@pytest.mark.parametrize("rounds", [5, 7, 10, 20])
@pytest.mark.parametrize("distribution", ["normal", "lognormal", "skewed"])
def test_bootstrap_interval_covers_the_true_median_in_ninety_percent_of_trials(rounds: int, distribution: str) -> None:
    rng = np.random.default_rng(rounds)
    draw, true_median = {
        "normal": (lambda: rng.normal(100, 5, rounds), 100.0),
        "lognormal": (lambda: rng.lognormal(np.log(100), 0.1, rounds), 100.0),
        "skewed": (lambda: 100 + rng.exponential(5, rounds), 100 + 5 * np.log(2)),  # a slow tail, as real runs have
    }[distribution]
    trials = 200
    covered = sum(
        estimate.low <= true_median <= estimate.high
        for estimate in (bootstrap_median(draw(), resamples=1000, seed=trial) for trial in range(trials))
    )
    assert covered / trials >= 0.90


WORKERS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@pytest.mark.parametrize("true_knee", [4, 8, 16, 32, 64])
def test_kneedle_finds_the_knee_of_a_piecewise_linear_curve(true_knee: int) -> None:
    curve = series({n: [10.0 * min(n, true_knee)] * 5 for n in WORKERS})
    assert knee(curve) == true_knee


def test_kneedle_finds_the_knee_through_noise_and_a_decline() -> None:
    rng = np.random.default_rng(5)
    peak_then_fall = {n: noisy(rng, 10.0 * min(n, 16) * (0.9 if n > 64 else 1.0), 0.03) for n in WORKERS}
    assert knee(series(peak_then_fall)) == 16


def test_kneedle_agrees_with_the_kneed_package() -> None:
    """iobench's twenty lines of Kneedle against the reference implementation, on many random curves."""
    kneed = pytest.importorskip("kneed")
    rng = np.random.default_rng(9)
    found = 0
    for _ in range(300):
        x = np.arange(rng.integers(4, 12), dtype=float)
        y = np.maximum.accumulate(np.minimum(x, rng.uniform(1, x[-1])) + rng.normal(0, 0.3, x.size))
        reference = kneed.KneeLocator(x, y, curve="concave", direction="increasing").knee
        ours = knee_index(x, y)
        assert (None if ours is None else x[ours]) == reference, (x, y)
        found += ours is not None
    assert found > 100, "the random curves must mostly have knees, or the comparison proves little"


def test_a_curve_still_rising_has_no_knee() -> None:
    assert knee(series({n: [10.0 * n] * 5 for n in WORKERS})) is None


def test_saturation_is_the_start_of_the_plateau() -> None:
    rng = np.random.default_rng(2)
    for trial in range(10):
        curve = series({n: noisy(rng, 10.0 * min(n, 16), 0.02) for n in WORKERS})
        found = saturation(curve)
        assert found is not None and found.workers == 16, f"trial {trial}: {found}"
        assert not found.at_sweep_edge


def test_saturation_never_picks_a_point_significantly_below_the_best() -> None:
    """3 % below the best is within the 5 % tolerance, but with 0.1 % noise it is clearly slower."""
    rng = np.random.default_rng(3)
    curve = series({1: noisy(rng, 10, 0.001), 2: noisy(rng, 20, 0.001), 4: noisy(rng, 97, 0.001),
                    8: noisy(rng, 100, 0.001)})  # fmt: skip
    found = saturation(curve)
    assert found is not None and found.workers == 8
    slower = saturation(curve, tolerance=0.10)
    assert slower is not None and slower.workers == 8, "a wider tolerance must not excuse a significant gap"


def test_saturation_accepts_a_point_whose_gap_is_within_noise_and_tolerance() -> None:
    rng = np.random.default_rng(4)
    curve = series({1: noisy(rng, 10, 0.05), 2: noisy(rng, 20, 0.05), 4: noisy(rng, 97, 0.05),
                    8: noisy(rng, 100, 0.05)})  # fmt: skip
    found = saturation(curve)
    assert found is not None and found.workers == 4
    assert found.ratio_to_best.low < 1.0 <= found.ratio_to_best.high


def test_saturation_rejects_a_noisy_point_outside_the_tolerance() -> None:
    """10 % below the best with 20 % noise: not significantly slower, but outside the 5 % tolerance."""
    curve = series({1: [10.0] * 5, 2: [90.0, 60.0, 120.0, 75.0, 105.0], 4: [100.0] * 5})
    found = saturation(curve)
    assert found is not None and found.workers == 4
    lenient = saturation(curve, tolerance=0.15)
    assert lenient is not None and lenient.workers == 2


def test_saturation_at_the_largest_pool_is_flagged() -> None:
    found = saturation(series({n: [10.0 * n] * 5 for n in (1, 2, 4, 8)}))
    assert found is not None and found.workers == 8 and found.at_sweep_edge
