"""History: runs ordered by commit, per-figure trends, and E-Divisive change points (Apache Otava)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from iobench.analysis.history import as_run, change_points, histories, trends
from iobench.present.dashboard import build_dashboard
from iobench.results.model import Results
from tests.conftest import edit_rounds, synthetic_results

#: Each run's rounds scatter by 5 %: the medians of five of them differ by a few percent from run to run.
NOISE = 0.05


def commit(index: int) -> str:
    """A made-up commit id for the ``index``-th run (0-based)."""
    return hashlib.sha1(str(index).encode()).hexdigest()


def synthetic_history(step_at: int | None = None, runs: int = 40, step: float = 0.15) -> list[tuple[str, Results]]:
    """``runs`` synthetic runs, one commit each; from run ``step_at`` on (1-based) the pool is ``step`` slower."""
    history = []
    for i in range(runs):
        results = synthetic_results(noise=NOISE, seed=i + 1)
        if step_at is not None and i + 1 >= step_at:
            edit_rounds(results, lambda point, sample: {"wall_seconds": sample.wall_seconds / (1 - step)}, series=1)
        commit_date = f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00"
        results.environment = replace(results.environment, git_commit=commit(i), git_commit_date=commit_date)
        history.append((f"run{i + 1:02d}.json", results))
    return history


def test_a_15_percent_step_at_run_25_is_found_there() -> None:
    runs = [as_run(name, results) for name, results in synthetic_history(step_at=25)]
    found = change_points(trends(runs))
    assert found, "no change point found"
    assert {point.index + 1 for point in found} <= {24, 25, 26}
    peak = next(point for point in found if point.trend.kind == "peak throughput")
    assert -0.25 < peak.change < -0.10 and peak.p_value < 0.01
    assert runs[peak.index].commit == commit(24)  # the first commit after the step: run 25


def test_a_flat_noisy_history_has_no_change_point() -> None:
    runs = [as_run(name, results) for name, results in synthetic_history()]
    assert change_points(trends(runs)) == []


def test_runs_are_ordered_by_commit_date_and_machines_kept_apart() -> None:
    named = synthetic_history(runs=4)
    named.reverse()  # files in any order
    other = replace(named[0][1], environment=replace(named[0][1].environment, cpu_model="Other CPU"))
    runs = [as_run(name, results) for name, results in [("other.json", other), *named[1:]]]
    grouped = histories(runs)
    assert len(grouped) == 2
    main = next(group for machine, group in grouped.items() if "Other" not in machine)
    assert [run.name for run in main] == ["run01.json", "run02.json", "run03.json"]  # run04 became "other"
    assert len(histories(runs, merge_machines=True)["all machines"]) == 4


def test_a_run_without_a_commit_date_is_placed_by_its_own_time() -> None:
    (name, results), *_ = synthetic_history(runs=1)
    results.environment = replace(results.environment, git_commit=None, git_commit_date=None)
    results.created_utc = "2030-05-01T00:00:00+00:00"
    assert as_run(name, results).when.year == 2030


def test_the_dashboard_is_the_same_bytes_from_the_same_runs_and_loads_nothing() -> None:
    runs = [as_run(name, results) for name, results in synthetic_history(runs=6)]
    first, second = build_dashboard(runs, last=3), build_dashboard(list(reversed(runs)), last=3)
    assert first.html == second.html
    assert not re.search(r'(src|href)="https?://', first.html)
    assert len(re.findall(r'\bid="([^"]+)"', first.html)) == len(set(re.findall(r'\bid="([^"]+)"', first.html)))
