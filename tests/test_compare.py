"""The regression gate: its decision on synthetic samples, its matching of files, and its exit codes."""

from __future__ import annotations

import copy
import itertools
import json
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from iobench.analysis.gate import Thresholds, Verdict, compare, decide
from iobench.analysis.saturation import saturation
from iobench.analysis.statistics import mann_whitney_p, median_ratio
from iobench.analysis.stats import analyze
from iobench.cli import main
from iobench.errors import UsageError
from iobench.results.model import Results

from .conftest import edit_rounds, synthetic_results

RNG_SEED = 7


def _rounds(median: float, noise: float = 0.01, count: int = 5, seed: int = RNG_SEED) -> list[float]:
    return list(median * (1 + np.random.default_rng(seed).normal(0, noise, count)))


# --- the statistics ---------------------------------------------------------------------------------


def test_mann_whitney_counts_orderings_exactly() -> None:
    low, high = [1.0, 2, 3, 4, 5], [6.0, 7, 8, 9, 10]
    # Complete separation of 5 and 5: one ordering of C(10, 5) = 252 per tail.
    assert mann_whitney_p(low, high, "less") == pytest.approx(1 / 252)
    assert mann_whitney_p(low, high) == pytest.approx(2 / 252)
    assert mann_whitney_p(high, low, "less") == pytest.approx(1.0)
    # One swapped pair: U = 1, and two orderings reach U <= 1.
    assert mann_whitney_p([1.0, 2, 3, 4, 6], [5.0, 7, 8, 9, 10], "less") == pytest.approx(2 / 252)


def _u(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.sum(first[:, None] > second[None, :]))


def test_exact_mann_whitney_matches_brute_force_enumeration() -> None:
    values = np.random.default_rng(RNG_SEED).normal(0, 1, 9)
    first, second = values[:4] - 0.5, values[4:]
    observed = _u(first, second)
    pooled = np.concatenate([first, second])
    splits = [np.isin(np.arange(9), chosen) for chosen in itertools.combinations(range(9), 4)]
    as_low = sum(_u(pooled[split], pooled[~split]) <= observed for split in splits) / len(splits)
    assert mann_whitney_p(first, second, "less") == pytest.approx(as_low)


def test_normal_approximation_matches_a_permutation_test() -> None:
    rng = np.random.default_rng(RNG_SEED)
    first, second = rng.normal(0, 1, 30), rng.normal(0.5, 1, 30)  # 900 pairs: past the exact count
    pooled, observed = np.concatenate([first, second]), _u(first, second)
    shuffled = [rng.permutation(pooled) for _ in range(4000)]
    as_low = np.mean([_u(p[:30], p[30:]) <= observed for p in shuffled])
    assert 0 < as_low < 0.2
    assert mann_whitney_p(first, second, "less") == pytest.approx(as_low, rel=0.25, abs=0.005)


@pytest.mark.parametrize("sizes", [(5, 5), (7, 4), (30, 30)])
@pytest.mark.parametrize("alternative", ["less", "greater", "two-sided"])
def test_mann_whitney_agrees_with_scipy(sizes: tuple[int, int], alternative: str) -> None:
    """The reference implementation (scipy comes with the dev extra) gives the same p-values."""
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(RNG_SEED)
    first, second = rng.normal(0, 1, sizes[0]), rng.normal(0.4, 1, sizes[1])
    method = "exact" if sizes[0] * sizes[1] <= 400 else "asymptotic"
    reference = stats.mannwhitneyu(first, second, alternative=alternative, method=method).pvalue
    assert mann_whitney_p(first, second, alternative) == pytest.approx(reference, rel=1e-6)


def test_identical_values_are_no_evidence() -> None:
    assert mann_whitney_p([3.0] * 5, [3.0] * 5) == 1.0


def test_median_ratio_uses_every_pair() -> None:
    assert median_ratio([2.0, 2.0], [1.0, 1.0]) == 2.0
    assert median_ratio([1.0, 2.0, 3.0], [1.0]) == 2.0


# --- the decision ------------------------------------------------------------------------------------


def test_equal_samples_are_no_change() -> None:
    samples = _rounds(100)
    change = decide("throughput", samples, list(samples))
    assert change.verdict is Verdict.NO_CHANGE
    assert change.effect == 0


def test_a_30_percent_drop_is_a_regression_and_a_30_percent_rise_an_improvement() -> None:
    base = _rounds(100, seed=1)
    assert decide("throughput", base, _rounds(70, seed=2)).verdict is Verdict.REGRESSION
    assert decide("throughput", base, _rounds(130, seed=2)).verdict is Verdict.IMPROVEMENT
    assert decide("throughput", base, _rounds(70, seed=2)).effect == pytest.approx(-0.3, abs=0.03)


def test_a_3_percent_shift_is_no_change_even_when_significant() -> None:
    base, new = _rounds(100, noise=0.002, seed=1), _rounds(97, noise=0.002, seed=2)
    assert mann_whitney_p(base, new) < 0.01  # clearly significant as a difference...
    assert decide("throughput", base, new).verdict is Verdict.NO_CHANGE  # ...but smaller than the 10 % minimum


def test_a_large_shift_among_scattered_rounds_is_no_change() -> None:
    base, new = [100.0, 60, 130, 90, 75], [80.0, 120, 55, 70, 95]  # medians 90 -> 80, rounds all over
    assert decide("throughput", base, new).verdict is Verdict.NO_CHANGE


def test_a_shift_must_be_significantly_beyond_the_minimum_effect() -> None:
    base = _rounds(100, noise=0.03, seed=1)
    just_past = _rounds(88, noise=0.03, seed=2)  # 12 % lower, but not clearly more than 10 %
    assert decide("throughput", base, just_past).verdict is Verdict.NO_CHANGE
    assert decide("throughput", base, just_past, min_effect=0.05).verdict is Verdict.REGRESSION


def test_pool_full_discards_are_compared_as_counts() -> None:
    change = decide("discards", [0.0] * 5, [0.17, 0.17, 0.18, 0.16, 0.17], min_effect=0.05)
    assert change.verdict is Verdict.REGRESSION and not change.relative
    assert change.effect == pytest.approx(0.17)
    assert decide("discards", [0.0] * 5, [0.0] * 5, min_effect=0.05).verdict is Verdict.NO_CHANGE


def test_a_connection_per_request_is_a_regression_in_connections_alone() -> None:
    """A new Session per request costs little time on loopback but opens a connection per task: the count shows it."""
    base, new = synthetic_results(seed=1), synthetic_results(seed=2)
    edit_rounds(new, lambda point, sample: {"connections_opened": point.tasks})  # one per task, not one per worker
    comparison = compare(base, new)
    assert comparison.moved(Verdict.REGRESSION) == ["connections"]
    assert "no longer reuse connections" in comparison.summary()


def test_an_infinite_minimum_effect_switches_a_figure_off() -> None:
    assert decide("throughput", _rounds(100, seed=1), _rounds(10, seed=2), math.inf).verdict is Verdict.NO_CHANGE


def test_thresholds_prefer_the_series_then_the_figure_then_the_default() -> None:
    thresholds = Thresholds(min_effect=0.1, figures={"throughput": 0.3}, series={"*/ threads": 0.2})
    assert thresholds.min_effect_for("throughput", "http-delay(delay=0.1) / threads") == 0.2
    assert thresholds.min_effect_for("throughput", "http-delay(delay=0.1) / sequential") == 0.3
    assert thresholds.min_effect_for("speedup", "http-delay(delay=0.1) / sequential") == 0.1
    with pytest.raises(UsageError, match="unknown figure"):
        Thresholds(figures={"latency": 0.1})
    with pytest.raises(UsageError, match="alpha"):
        Thresholds(alpha=1.5)


# --- two files ---------------------------------------------------------------------------------------


def _rescaled(results: Results, factor: Callable[[str, int], float]) -> Results:
    """A copy whose batches take ``factor(executor, N)`` times as long: a regression of known shape."""
    changed = copy.deepcopy(results)
    for series in changed.series:
        for point in series.points:
            scale = factor(series.executor, point.workers)
            point.rounds = [replace(sample, wall_seconds=sample.wall_seconds * scale) for sample in point.rounds]
    return changed


def test_two_runs_of_the_same_code_are_no_change() -> None:
    comparison = compare(synthetic_results(seed=1), synthetic_results(seed=2))
    assert comparison.verdict is Verdict.NO_CHANGE
    assert {series.label for series in comparison.series} == {"http-delay(delay=0.1) / sequential",
                                                              "http-delay(delay=0.1) / threads"}  # fmt: skip
    assert not comparison.warnings


def test_a_slower_server_shows_in_throughput_and_not_in_efficiency() -> None:
    comparison = compare(synthetic_results(seed=1), _rescaled(synthetic_results(seed=2), lambda executor, n: 1.2))
    assert comparison.verdict is Verdict.REGRESSION
    assert comparison.moved(Verdict.REGRESSION) == ["throughput"]
    assert "efficiency, speedup and saturation held" in comparison.summary()


def test_threads_scaling_worse_at_high_n_is_a_regression_in_efficiency_and_saturation() -> None:
    base = synthetic_results(seed=1, client_cpu=0.0005)  # scales to N = 32
    new = _rescaled(synthetic_results(seed=2, client_cpu=0.0005), lambda executor, n: max(1.0, n / 8))  # caps at 8
    comparison = compare(base, new)
    assert {"efficiency", "speedup", "saturation"} <= set(comparison.moved(Verdict.REGRESSION))
    threads = next(series for series in comparison.series if series.label.endswith("threads"))
    assert threads.saturation is not None and (threads.saturation.base, threads.saturation.new) == (32, 8)
    low_n = next(point for point in threads.points if point.workers == 4)
    assert all(change.verdict is Verdict.NO_CHANGE for change in low_n.changes)
    assert "Scaling regressed" in comparison.summary()


def test_saturation_finds_the_smallest_n_near_the_best_throughput() -> None:
    # 10 ms of client CPU per task caps throughput at 100/s, which 4 waves of 0.102 s reach past N = 10.2
    stats = next(s for s in analyze(synthetic_results(client_cpu=0.01)) if s.executor == "threads")
    knee = saturation(stats)
    best = max(point.throughput.value for point in stats.points)
    assert knee is not None and knee.workers == 16
    assert knee.throughput.value >= 0.95 * best
    assert all(p.throughput.value < 0.95 * best for p in stats.points if p.workers < knee.workers)


def test_a_different_machine_and_an_incomplete_run_are_warnings_not_failures() -> None:
    new = synthetic_results(seed=2)
    new.environment = replace(
        new.environment, cpu_count=(new.environment.cpu_count or 1) + 2, cpu_model="another clock speed"
    )  # the clock is ignored
    new.status, new.status_detail = "interrupted", "stopped by the user"
    comparison = compare(synthetic_results(seed=1), new)
    assert comparison.verdict is Verdict.NO_CHANGE
    assert any("CPU count" in warning for warning in comparison.warnings)
    assert any("incomplete" in warning for warning in comparison.warnings)
    assert not any("clock" in warning for warning in comparison.warnings)


def test_points_and_series_in_only_one_file_are_named() -> None:
    new = synthetic_results(seed=2, workers=(1, 2, 4, 8, 16, 64))
    warnings = compare(synthetic_results(seed=1), new).warnings
    assert any("N=32: not measured in the new run" in warning for warning in warnings)
    assert any("N=64: not measured in the baseline" in warning for warning in warnings)


def test_files_without_a_common_series_are_bad_input() -> None:
    with pytest.raises(UsageError, match="nothing to compare"):
        compare(synthetic_results(delay=0.1), synthetic_results(delay=0.2))


def test_too_few_rounds_to_ever_be_significant_is_a_warning() -> None:
    warnings = compare(synthetic_results(rounds=2, seed=1), synthetic_results(rounds=2, seed=2)).warnings
    assert any("can never give p < 0.05" in warning for warning in warnings)


# --- the command line -------------------------------------------------------------------------------


@pytest.fixture
def result_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "base": synthetic_results(seed=1),
        "same": synthetic_results(seed=2),
        "slower": _rescaled(synthetic_results(seed=2), lambda executor, n: 1.3),
    }
    paths = {name: tmp_path / f"{name}.json" for name in files}
    for name, document in files.items():
        paths[name].write_text(json.dumps(document.to_json()))
    return paths


def test_compare_a_file_with_itself_exits_0(result_files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(["compare", str(result_files["base"]), str(result_files["base"])]) == 0
    assert "NO SIGNIFICANT CHANGE" in capsys.readouterr().out


def test_a_regression_exits_1_and_names_it(result_files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(["compare", str(result_files["base"]), str(result_files["slower"]), "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "| N | efficiency |" in out and "**verdict: REGRESSION** — regression in throughput" in out


def test_thresholds_from_the_command_line(result_files: dict[str, Path]) -> None:
    base, slower = str(result_files["base"]), str(result_files["slower"])
    assert main(["compare", base, slower, "--threshold", "throughput=off"]) == 0
    assert main(["compare", base, slower, "--min-effect", "40%"]) == 0
    assert main(["compare", base, slower, "--series-min-effect", "http-delay(delay=0.1) / *=0.5"]) == 0
    assert main(["compare", base, slower, "--threshold", "latency=0.1"]) == 2


def test_a_missing_baseline_exits_2_without_traceback(result_files: dict[str, Path], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "iobench", "compare", str(tmp_path / "nope.json"),
                           str(result_files["same"])], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2
    assert "no such results file" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


def test_allow_missing_warns_and_exits_0(
    result_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(tmp_path / "nope.json"), str(result_files["same"]), "--allow-missing"]) == 0
    assert "warning: no baseline" in capsys.readouterr().err
    # a missing NEW file is never allowed: there is nothing to judge
    assert main(["compare", str(result_files["base"]), str(tmp_path / "nope.json"), "--allow-missing"]) == 2


def test_run_compare_checks_the_baseline_before_measuring(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "results"
    tiny = ["--workers", "1", "--rounds", "1", "--waves", "1", "--delay", "0"]  # cheap, should the check fail
    assert main(["run", *tiny, "--compare", str(tmp_path / "nope.json"), "--out", str(out), "--plots", ""]) == 2
    assert not out.exists()  # nothing was measured


def test_run_compare_gates_a_real_run(tmp_path: Path) -> None:
    """A real sweep against a baseline twice as fast: the one-line gate must exit 1."""
    baseline = synthetic_results(delay=0.02, workers=(1, 4), waves=2, overhead=-0.01, client_cpu=0.0)
    (tmp_path / "base.json").write_text(json.dumps(baseline.to_json()))
    done = subprocess.run(
        [sys.executable, "-m", "iobench", "run", "--delay", "0.02", "--workers", "1,4", "--rounds", "3", "--waves",
         "2", "--out", str(tmp_path / "new.json"), "--plots", "", "--compare", str(tmp_path / "base.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-500:]
    assert "verdict: REGRESSION" in done.stdout
    assert (tmp_path / "new.json").exists()
