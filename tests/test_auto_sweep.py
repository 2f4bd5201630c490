"""One real ``--workers auto`` sweep against the local server: within its budget, with an interval on N*."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from iobench.analysis.prediction import find_all
from iobench.analysis.search import SearchSettings
from iobench.cli import main
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.server import LocalServer
from iobench.measure.sweep import run_sweep
from iobench.results import ResultsWriter, load_results
from iobench.results.model import STAGES

BUDGET = 15.0


def test_an_auto_sweep_keeps_its_budget_and_reports_an_interval(
    httpbin_server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SweepConfig(series=(SeriesSpec("http-delay", {"delay": 0.01}, "threads"),), workers="auto", rounds=4,
                         search=SearchSettings(tolerance=0.15, budget_seconds=BUDGET, max_workers=64))  # fmt: skip
    path = tmp_path / "auto.json"
    told: list[str] = []
    began = time.monotonic()
    run_sweep(config, ResultsWriter(path), server=httpbin_server, notify=told.append)
    elapsed = time.monotonic() - began
    # Each stage is started only when its estimated cost fits; a busy machine can make the last one run long.
    assert elapsed <= 1.5 * BUDGET, f"{elapsed:.1f} s for a {BUDGET:g} s budget"

    results = load_results(path)
    plan = results.plan
    assert results.complete and plan is not None and plan.auto and plan.budget_seconds == BUDGET
    assert plan.stages[0].name == "predict" and plan.stages[0].workers["s1"] == (1, 2, 4)
    assert plan.outcomes["s1"] in {"converged", "budget", "noisy", "resolution"}, plan.outcomes
    assert any(line.startswith("prediction for http-delay(delay=0.01) / threads: N* ≈") for line in told), told
    points = results.series[1].points
    assert [point.workers for point in points] == sorted(point.workers for point in points)
    assert all(point.stage in STAGES and len(point.rounds) >= 4 for point in points)
    assert max(point.workers for point in points) <= 64

    (finding,) = find_all(results)
    interval = finding.interval
    assert interval is not None and interval.status == "found", interval
    assert interval.low <= interval.estimate <= interval.high
    assert finding.predicted_before and finding.ratio is not None

    assert main(["report", str(path)]) == 0
    report = capsys.readouterr().out
    assert re.search(r"Saturates at N = \d+ \(95% CI \d+–\d+", report), report
    assert "Recommendation: N = " in report and "Search (--workers auto)" in report
