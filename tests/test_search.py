"""The auto search and the interval on N*, driven by a simulated client whose ceiling the test chooses.

The simulated client's throughput is min(N / (d + D), 1 / D_max), with multiplicative noise on every
round: a knee planted where the two asymptotes cross (the issue's word for that corner). The rule's
saturation point on that curve is where throughput first reaches 95 % of the ceiling,
(1 − 0.05) × (d + D) / D_max. Everything is seeded, so each test sees the same runs every time.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from iobench.analysis.prediction import Finding, batch_saturation, find, find_all, predict
from iobench.analysis.saturation import SATURATION_TOLERANCE, saturation_interval, significantly_above
from iobench.analysis.search import START, AutoSearch, SearchSettings, Stage
from iobench.analysis.stats import concurrent
from iobench.cli import main
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.environment import capture_environment
from iobench.present.report import render_markdown
from iobench.results import load_results
from iobench.results.model import STAGES, Plan, Point, Results, RoundSample, Series, ServerInfo

from .conftest import synthetic_results

DELAY = 0.1
SERVER_CPU = 0.0005
#: Client CPU per request that puts the asymptotes' crossing (d + D) / D_max at N = 48.
CLIENT_CPU = (DELAY + SERVER_CPU) / 47
PLANTED = 48
TRUE_SATURATION = (1 - SATURATION_TOLERANCE) * PLANTED
WAVES = 4
ROUNDS = 5


def knee_at_48(workers: int) -> float:
    return min(workers / (DELAY + CLIENT_CPU + SERVER_CPU), 1 / CLIENT_CPU)


@dataclass
class Simulation:
    results: Results
    seconds: float
    stages: list[Stage]

    @property
    def finding(self) -> Finding:
        (finding,) = find_all(self.results)
        return finding


def simulate(
    rate: Callable[[int], float], seed: int, noise: float = 0.04, budget: float = 1e6, max_workers: int = 512
) -> Simulation:
    """Drive the search as the sweep does, measuring each stage's pools on the simulated client.

    A batch of M tasks takes M / rate(N) seconds, times a log-normal noise factor; the clock the search
    reads is the sum of every batch so far, warm-up included.
    """
    rng = random.Random(seed)
    environment = capture_environment()
    spec = SeriesSpec("http-delay", {"delay": DELAY}, "threads")
    config = SweepConfig(series=(spec,), workers="auto", rounds=ROUNDS, waves=WAVES)
    kinds = ((spec.baseline().label, "sequential"), (spec.label, "threads"))
    series = [Series(f"s{i}", label, "http-delay", {"delay": DELAY}, executor, "per-thread", environment.python,
                     wait_seconds=DELAY) for i, (label, executor) in enumerate(kinds)]  # fmt: skip
    results = Results(config.to_dict(), environment, ServerInfo(kind="synthetic"), series)
    settings = SearchSettings(0.15, budget, max_workers)
    results.plan = Plan("auto", settings.tolerance, settings.budget_seconds, settings.max_workers)
    search = AutoSearch(settings, ROUNDS, 1, ("s1",), {"s0": (1,), "s1": START})
    clock = [0.0]
    stages = []
    for stage in search.stages(results, lambda: clock[0]):
        stages.append(stage)
        for series_id, step in stage.steps.items():
            measured = next(item for item in series if item.id == series_id)
            for workers in step.workers:
                point = next((p for p in measured.points if p.workers == workers), None)
                if point is None:
                    tasks = WAVES * workers if measured.executor == "threads" else WAVES
                    point = Point(workers, tasks, stage=step.phase)
                    measured.points = sorted([*measured.points, point], key=lambda p: p.workers)
                for round_index in range(1 + ROUNDS):
                    wall = point.tasks / rate(workers) * math.exp(rng.gauss(0, noise))
                    clock[0] += wall
                    if round_index:  # the first is the warm-up
                        cpu = point.tasks * CLIENT_CPU * math.exp(rng.gauss(0, noise))
                        point.rounds.append(RoundSample(wall, cpu, (DELAY,), {},
                                                        server_cpu_seconds=point.tasks * SERVER_CPU))  # fmt: skip
    results.status = "complete"
    return Simulation(results, clock[0], stages)


@pytest.fixture(scope="module")
def planted_runs() -> list[Simulation]:
    return [simulate(knee_at_48, seed) for seed in range(40)]


def test_the_search_finds_a_knee_planted_at_48(planted_runs: list[Simulation]) -> None:
    """At least 19 in 20 noisy runs place N* within the ±15 % tolerance of where the rule puts it."""
    found = [run.finding.interval for run in planted_runs]
    within = sum(1 for interval in found if abs(interval.estimate / TRUE_SATURATION - 1) <= 0.15)
    assert within >= 38, [round(interval.estimate, 1) for interval in found]
    assert all(interval.status == "found" for interval in found)


def test_the_interval_covers_the_true_saturation_point(planted_runs: list[Simulation]) -> None:
    covered = sum(1 for run in planted_runs if run.finding.interval.low <= TRUE_SATURATION <= run.finding.interval.high)
    assert covered >= 0.9 * len(planted_runs)
    converged = [run for run in planted_runs if run.finding.outcome == "converged"]
    assert len(converged) >= 0.8 * len(planted_runs)
    assert all(run.finding.interval.half_width <= 0.15 for run in converged)


def test_the_prediction_is_made_from_the_first_stage_and_recorded(planted_runs: list[Simulation]) -> None:
    for run in planted_runs[:5]:
        (prediction,) = run.results.plan.predictions
        assert prediction.workers == pytest.approx(PLANTED, rel=0.1), "(d + D) / D_max from N = 1, 2, 4 alone"
        assert prediction.ceiling == pytest.approx(1 / CLIENT_CPU, rel=0.1)
        assert run.finding.predicted_before and run.finding.ratio == pytest.approx(0.95, rel=0.15)


def test_every_point_records_the_stage_that_chose_it(planted_runs: list[Simulation]) -> None:
    run = planted_runs[0]
    stage_of = {point.workers: point.stage for point in run.results.series[1].points}
    assert [stage_of[n] for n in START] == ["predict"] * 3
    assert all(stage in STAGES for stage in stage_of.values())
    assert any(stage == "search" for stage in stage_of.values()), "a point placed between two doublings"
    assert run.stages[1].workers["s1"] == (32, 64, 128), "three doublings in one stage, past twice the prediction"
    assert all(stage_of[n] == "double" for n in (32, 64, 128))


def test_doubling_stops_once_the_new_pool_is_not_significantly_better(planted_runs: list[Simulation]) -> None:
    for run in planted_runs:
        doubled = sorted(n for stage in run.stages for step in stage.steps.values() if step.phase == "double"
                         for n in step.workers)  # fmt: skip
        assert max(doubled) <= 256, f"the plateau starts at 48; doubling went on to {max(doubled)}"


def test_a_flat_curve_is_reported_flat() -> None:
    """A client whose throughput does not grow with N (a CPU-bound task under the GIL, say)."""
    run = simulate(lambda workers: 50.0, seed=1)
    finding = run.finding
    assert finding.outcome == "flat" and finding.interval.status == "flat"
    assert max(point.workers for point in run.results.series[1].points) <= 8, "nothing to double for"
    text = render_markdown(run.results)
    assert "Saturates at N = 1 (95% CI 1–" in text and "flat, more workers never helped" in text


@pytest.mark.parametrize(("budget", "max_workers", "words"), [(1e6, 256, "--max-workers reached"),
                                                             (15.0, 512, "budget reached")])  # fmt: skip
def test_a_still_rising_curve_is_reported_as_a_bound(budget: float, max_workers: int, words: str) -> None:
    """The knee is at N = 5000: the search runs out of pools or of time first, and says so."""
    run = simulate(lambda workers: workers / (DELAY + 0.001), seed=2, budget=budget, max_workers=max_workers)
    finding = run.finding
    largest = max(point.workers for point in run.results.series[1].points)
    assert finding.interval.status == "rising" and finding.interval.estimate == largest
    assert finding.outcome == ("max-workers" if words.startswith("--") else "budget")
    (sentence,) = [line for line in render_markdown(run.results).splitlines() if "Saturates at" in line]
    assert f"Saturates at N ≥ {largest} (at least N = {largest}: still rising, " in sentence and words in sentence
    assert finding.ratio is None, "a bound is never held against the prediction as if it were the point"


def test_the_budget_is_kept_by_estimating_each_stage_before_it_starts() -> None:
    run = simulate(knee_at_48, seed=3, budget=25.0)
    assert run.finding.outcome in {"budget", "converged"}
    assert run.seconds <= 25.0 * 1.25, f"{run.seconds:.1f} s spent of a 25 s budget"
    assert sum(stage.estimated_seconds for stage in run.stages[1:]) <= 25.0


def test_three_rounds_can_never_show_a_curve_still_rising() -> None:
    assert not significantly_above([200.0, 201.0, 202.0], [100.0, 101.0, 102.0], 0.05)
    assert significantly_above([200.0, 201.0, 202.0, 203.0], [100.0, 101.0, 102.0, 103.0], 0.05)
    assert not significantly_above([104.0, 105.0, 106.0, 107.0, 108.0], [100.0, 101.0, 102.0, 103.0, 104.0], 0.05)


def test_a_fixed_sweep_gets_an_interval_too() -> None:
    """4 ms of client CPU: throughput reaches 95 % of its 250/s ceiling at N = 24.2, between 16 and 32."""
    results = synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004)
    (stats,) = concurrent(results)
    interval = saturation_interval(stats)
    assert interval.status == "found" and (interval.below, interval.above) == (16, 32)
    assert interval.low <= 0.95 * 102 / 4 <= interval.high and interval.half_width < 0.15
    finding = find(stats, results)
    assert not finding.predicted_before and finding.outcome is None
    assert finding.prediction.workers == pytest.approx(102 / 4, rel=0.05), "predicted from the whole sweep's demands"


def test_a_curve_still_rising_at_the_end_of_a_fixed_sweep_is_a_bound() -> None:
    results = synthetic_results(workers=(1, 2, 4, 8))
    (stats,) = concurrent(results)
    interval = saturation_interval(stats)
    assert interval.status == "rising" and interval.estimate == 8 and math.isinf(interval.high)
    text = render_markdown(results)
    assert "Saturates at N ≥ 8 (at least N = 8: still rising, " in text and "; the largest pool measured)" in text


def test_batches_reach_the_ceiling_later_than_the_asymptotes_cross() -> None:
    """(1/D) / (1 + N*/(4 N)) >= 0.95 from N = 4.75 N*: the report says where, beside the prediction."""
    assert batch_saturation(90, 4) == pytest.approx(427.5)
    results = synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004)
    assert "reach 95% of the ceiling only near N ≈ 125" in render_markdown(results), "4.75 × 105 ms / 4 ms"


def test_marginal_demands_leave_out_what_a_batch_costs_whatever_its_size() -> None:
    """3 ms of CPU per batch plus 1 ms per task: the prediction's demand is the 1 ms, not the average."""
    results = synthetic_results(workers=(1, 2, 4), client_cpu=0.001)
    for series in results.series:
        for point in series.points:
            point.rounds = [RoundSample(s.wall_seconds, 0.003 + 0.001 * point.tasks, s.latencies, s.errors,
                                        server_cpu_seconds=s.server_cpu_seconds) for s in point.rounds]  # fmt: skip
    (stats,) = concurrent(results)
    prediction = predict(stats, results)
    assert prediction.client_cpu == pytest.approx(0.001, rel=0.01)
    assert stats.points[0].client_cpu_per_task == pytest.approx(0.00175), "the average charges 3/4 ms more at N = 1"


def test_the_plan_survives_the_results_file(planted_runs: list[Simulation], tmp_path: Path) -> None:
    results = planted_runs[0].results
    path = tmp_path / "auto.json"
    path.write_text(json.dumps(results.to_json()))
    loaded = load_results(path)
    assert loaded.plan == results.plan and loaded.plan.outcomes == {"s1": "converged"}
    assert [point.stage for point in loaded.series[1].points] == [point.stage for point in results.series[1].points]
    assert find_all(loaded)[0].interval == planted_runs[0].finding.interval, "presenting needs the file alone"


def test_recommend_names_the_pool_the_rules_of_thumb_and_other_waits(
    planted_runs: list[Simulation], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "auto.json"
    path.write_text(json.dumps(planted_runs[0].results.to_json()))
    assert main(["recommend", str(path)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"recommend N = \d+: the smallest pool measured within 5% of the peak", text), text
    assert "p99 latency" in text and "95% CI" in text and "predicted before the sweep: N* ≈ 4" in text
    assert "ThreadPoolExecutor's default min(32, cpu + 4) =" in text and "cpu × 5 =" in text
    found = re.search(r"if d halves \(50 ms\) the model's N\* is ≈ (\d+); if it doubles \(200 ms\), ≈ (\d+)", text)
    assert found, text
    halved, doubled = (int(value) for value in found.groups())
    # (d' + D) / D_max with D_max the client's 2.14 ms: 24.6 at d' = 50 ms, 94.8 at 200 ms.
    assert halved == pytest.approx(24.6, rel=0.1) and doubled == pytest.approx(94.8, rel=0.1)
