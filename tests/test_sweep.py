"""A tiny real sweep against the real server, end to end into a results file."""

from __future__ import annotations

from pathlib import Path

from iobench.analysis.stats import analyze
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.server import LocalServer
from iobench.measure.sweep import run_sweep
from iobench.results import ResultsWriter, load_results


def test_eight_threads_beat_the_sequential_loop(httpbin_server: LocalServer, tmp_path: Path) -> None:
    config = SweepConfig(series=(SeriesSpec("http-delay", {"delay": 0.05}, "threads"),),
                         workers=(1, 8), rounds=3, waves=2)  # fmt: skip
    writer = ResultsWriter(tmp_path / "run.json")
    events = []
    run_sweep(config, writer, progress=events.append, server=httpbin_server)

    results = load_results(tmp_path / "run.json")
    assert results.status == "complete"
    assert events[-1].done == events[-1].total == 3 * (1 + 3)  # 3 points x (warm-up + 3 rounds)
    env = results.environment
    assert env.python.version and env.cpu_count >= 1
    assert {"requests", "urllib3", "httpbin", "gunicorn", "gevent"} <= set(env.packages)
    assert results.server.preflight.concurrency == 8

    sequential, threaded = results.series
    assert sequential.executor == "sequential" and threaded.session_strategy == "per-thread"
    eight = threaded.points[1]
    assert eight.workers == 8 and eight.tasks == 16
    for sample in eight.rounds:
        assert len(sample.latencies) == 16 and sample.errors == {}
        assert sample.cpu_seconds > 0 and sample.server_cpu_seconds > 0
        assert sample.connections_opened == 8, "one Session per thread: one connection each"

    stats = {point.workers: point for series in analyze(results) for point in series.points
             if series.executor == "threads"}  # fmt: skip
    assert stats[8].speedup.value >= 3, f"8 threads only {stats[8].speedup.value:.2f}x faster than sequential"
