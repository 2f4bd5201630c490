"""The responsiveness probe and the switch interval: what a GUI thread beside the batch would feel.

Lateness depends on how busy the machine is, so the checks compare medians of one workload against
another measured the same way, with wide margins: the GIL's convoy is an effect of whole milliseconds.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import pytest

from iobench.errors import UsageError
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.executors import run_batch
from iobench.measure.interpreters import FoundInterpreter
from iobench.measure.probe import PERIOD, ResponsivenessProbe
from iobench.measure.runners import SubprocessRunner
from iobench.measure.server import LocalServer
from iobench.measure.sweepfile import load_sweep_file
from iobench.measure.workloads import TaskContext, make_workload
from iobench.present.report import render_markdown
from iobench.results.model import Results, RoundSample

from .conftest import edit_rounds, synthetic_results

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _median_lateness(sample: RoundSample) -> float:
    assert len(sample.probe_lateness) >= 5, "the probe wakes every 5 ms, or as soon as it can"
    return statistics.median(sample.probe_lateness)


def test_the_probe_is_far_later_under_cpu_work_than_under_waiting(httpbin_server: LocalServer) -> None:
    waiting = run_batch(make_workload("http-delay", {"delay": 0.05}), "threads", 4, 16, httpbin_server.url,
                        probe=True)  # fmt: skip
    computing = run_batch(make_workload("cpu", {"cpu": 0.01}), "threads", 4, 32, None, probe=True)
    late_waiting, late_computing = _median_lateness(waiting), _median_lateness(computing)
    assert late_computing > 1e-3, f"under CPU work the probe woke only {late_computing * 1000:.2f} ms late"
    assert late_computing > 3 * late_waiting, (late_computing, late_waiting)


#: The switch interval each task of ``note_switch_interval`` found in force.
SEEN_INTERVALS: list[float] = []


def note_switch_interval(ctx: TaskContext) -> None:
    SEEN_INTERVALS.append(sys.getswitchinterval())


def test_the_switch_interval_holds_while_the_batch_runs_and_is_restored_after() -> None:
    """What it does to lateness is a measurement (bench/responsiveness.toml); that it is in force is a fact."""
    before, SEEN_INTERVALS[:] = sys.getswitchinterval(), []
    task = make_workload("task", {"function": "tests.test_probe:note_switch_interval"})
    run_batch(task, "threads", 2, 4, None, switch_interval=0.001)
    assert SEEN_INTERVALS == [0.001] * 4
    assert sys.getswitchinterval() == before


def test_the_probe_off_records_nothing_and_on_keeps_its_own_cpu_apart() -> None:
    assert run_batch(make_workload("hybrid", {"cpu": 0.001, "delay": 0.01}), "threads", 2, 4, None).probe_lateness == ()
    with ResponsivenessProbe() as probe:
        time.sleep(0.2)  # what the probe watches: an idle process, 40 wake-ups' worth
    assert 20 <= len(probe.lateness) <= 45
    assert 0 < probe.cpu_seconds < 0.1
    assert probe.period == PERIOD


def _probed(results: Results) -> Results:
    edit_rounds(results, lambda point, sample: {"probe_lateness": (0.0001, 0.0003, 0.02)})
    for series in results.series:
        series.probe_period = PERIOD
    return results


def test_the_report_speaks_of_lateness_only_when_the_probe_ran() -> None:
    report = render_markdown(_probed(synthetic_results()))
    assert "late ms p50/p99/max" in report and "0.30/20.00/20.0" in report
    assert "Responsiveness: a thread that wants to wake every 5 ms ran up to 20.0 ms late at p99" in report
    plain = render_markdown(synthetic_results())
    assert "late ms" not in plain and "Responsiveness" not in plain


def test_probe_samples_and_pool_waits_survive_the_results_file(tmp_path: Path) -> None:
    results = _probed(synthetic_results())
    edit_rounds(results, lambda point, sample: {"pool_wait_seconds": 0.25})
    results.series[1].switch_interval = 0.001
    loaded = Results.from_json(results.to_json())
    sample = loaded.series[1].points[0].rounds[0]
    assert sample.probe_lateness == (0.0001, 0.0003, 0.02) and sample.pool_wait_seconds == 0.25
    assert loaded.series[1].switch_interval == 0.001 and loaded.series[1].probe_period == PERIOD
    assert "probe_lateness" not in synthetic_results().to_json()["series"][0]["points"][0]["rounds"][0]


def test_switch_intervals_in_a_sweep_file_make_a_series_each_with_its_own_baseline(tmp_path: Path) -> None:
    config = load_sweep_file(BENCH / "responsiveness.toml")
    assert config.probe
    labels = [spec.label for spec in config.all_series()]
    assert "cpu(cpu=0.01) / sequential / switch 1 ms" in labels
    assert "cpu(cpu=0.01) / threads / switch 5 ms" in labels
    assert len(labels) == 12  # 3 workloads x 2 switch intervals, each with its sequential loop
    overridden = load_sweep_file(BENCH / "responsiveness.toml", {"switch_interval": 0.002})
    assert {spec.switch_interval for spec in overridden.all_series()} == {0.002}


@pytest.mark.parametrize("value", [0, -0.001, 2.0, float("nan"), "fast", True])
def test_a_bad_switch_interval_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="switch_interval must be seconds above 0"):
        SweepConfig(series=(SeriesSpec("cpu", {"cpu": 0.01}),), switch_interval=value)  # type: ignore[arg-type]


#: A client of an iobench from before the probe: no list of batch options, and run_batch refuses new ones.
OLD_CLIENT = """
import json, sys
print(json.dumps({"hello": {"implementation": "CPython", "version": "3.11.0"}}), flush=True)
for line in sys.stdin:
    batch = json.loads(line)["batch"]
    known = {"executor", "workers", "tasks", "target", "timeout", "session_strategy"}
    if set(batch) - known:
        print(json.dumps({"error": f"TypeError: unexpected {sorted(set(batch) - known)}", "usage": False}), flush=True)
        continue
    sample = {"wall_seconds": 0.1, "cpu_seconds": 0.0, "latencies": [0.1] * batch["tasks"], "errors": {}}
    print(json.dumps({"sample": sample}), flush=True)
"""


def test_an_older_client_runs_without_the_probe_and_refuses_a_switch_interval(tmp_path: Path) -> None:
    """An A/B run's side A may be an iobench from before the probe: its batches run, just without it."""
    script = tmp_path / "old_client.py"
    script.write_text(OLD_CLIENT)
    found = FoundInterpreter("old", sys.executable, sys.executable, sys.prefix, sys.version_info[:3], True)
    runner = SubprocessRunner(found, client=script)
    try:
        workload = make_workload("cpu", {"cpu": 0.001})
        batch = {"executor": "threads", "workers": 2, "tasks": 4, "target": None, "timeout": 5.0,
                 "session_strategy": "none", "database": None, "probe": True, "clock": lambda starts: None}  # fmt: skip
        sample = runner.run_batch(workload, **batch, switch_interval=None)
        assert sample.probe_lateness == () and len(sample.latencies) == 4
        with pytest.raises(UsageError, match="cannot run batches with switch_interval"):
            runner.run_batch(workload, **batch, switch_interval=0.001)
    finally:
        runner.close()
