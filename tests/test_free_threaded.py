"""A real free-threaded CPython in the sweep: one binary with the GIL on and off, each state recorded.

The interpreter is the one bench/build-free-threaded-python.sh builds (or IOBENCH_FREE_THREADED_PYTHON).
Without one these tests skip, except under CI (CI=true), where .ci/run builds it and a skip would hide
that the free-threaded path went untested: there they fail.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from iobench.analysis.free_threading import gil_states
from iobench.analysis.stats import analyze
from iobench.cli import main
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.interpreters import locate
from iobench.measure.runners import close_runners, open_runners
from iobench.measure.sweep import run_sweep
from iobench.results import ResultsWriter, load_results

DEFAULT_BUILD = Path.home() / ".cache" / "iobench" / "python-3.13t" / "bin" / "python3.13t"
#: Hybrid work (10 ms CPU, 50 ms wait) at N = 16: the GIL holds threads under 1 / 10 ms = 100/s, while two
#: free cores allow 200/s. Measured on this 2-core machine: 1.8-1.9x when quiet (see the README's table).
HYBRID_MARGIN = 1.3
#: Worker processes doing the same work this much faster than the GIL-bound threads show that the machine had
#: a second core to give during the sweep; on a machine busy with other work it may have none.
CORES_AVAILABLE = 1.5


@pytest.fixture(scope="module")
def free_threaded() -> str:
    path = os.environ.get("IOBENCH_FREE_THREADED_PYTHON") or str(DEFAULT_BUILD)
    if Path(path).is_file() and os.access(path, os.X_OK) and locate(path).free_threaded:
        return path
    reason = f"no free-threaded CPython at {path} (bench/build-free-threaded-python.sh builds one)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must test a free-threaded interpreter: {reason}")
    pytest.skip(reason)


def test_gil_both_gives_one_binary_two_clients_that_differ_in_the_gil_alone(free_threaded: str) -> None:
    messages: list[str] = []
    runners, skipped = open_runners((free_threaded, sys.executable), messages.append, gil="both")
    try:
        interpreters = [runner.interpreter for runner in runners]
    finally:
        close_runners(runners)
    assert not skipped, messages
    on, off, harness = interpreters
    assert (on.gil_enabled, on.python_gil, off.gil_enabled, off.python_gil) == (True, "1", False, "0")
    assert on.free_threaded_build and off.free_threaded_build and on.executable == off.executable
    assert on.key != off.key and (on.label, off.label) == ("CPython 3.13.5t, GIL on", "CPython 3.13.5t, GIL off")
    assert harness.gil_enabled and harness.python_gil is None, "a GIL build runs as it is, once"


def test_hybrid_work_with_the_gil_off_beats_it_on(free_threaded: str, tmp_path: Path) -> None:
    """GIL-bound threads stay on one core; GIL-free threads do what worker processes do, and when the machine
    has the second core to give (the processes show it), that is a wide margin over the GIL.

    Worker processes (one GIL each) doing the same work in the same shuffled rounds are the control: on a
    machine busy with other work no client gets two cores, and GIL-free threads cannot be expected to.
    """
    spec = SeriesSpec("hybrid", {"cpu": 0.01, "delay": 0.05}, "threads")
    control = SeriesSpec("hybrid", {"cpu": 0.01, "delay": 0.05}, "processes")
    config = SweepConfig(series=(spec, control), workers=(1, 16), rounds=3, waves=4, pythons=(free_threaded,),
                         gil="both")  # fmt: skip
    run_sweep(config, ResultsWriter(tmp_path / "ft.json"))
    results = load_results(tmp_path / "ft.json")
    assert results.status == "complete" and len(results.series) == 6
    for series in results.series:
        state = "on" if series.interpreter.gil_enabled else "off"
        assert series.interpreter.python_gil == {"on": "1", "off": "0"}[state]
        assert f"GIL {state}" in results.label_of(series), "each series is labelled by the state it ran in"
    cores = results.environment.cpu_count
    bounds = {s.interpreter.gil_enabled: s.speedup_bound for s in results.series if s.executor == "threads"}
    assert bounds == {True: pytest.approx(6.0), False: pytest.approx(6.0 * cores)}

    def at_16(executor: str, gil: bool) -> float:
        series = next(s for s in analyze(results) if s.executor == executor and s.interpreter.gil_enabled is gil)
        return next(point for point in series.points if point.workers == 16).throughput.value

    on, off, processes = at_16("threads", True), at_16("threads", False), at_16("processes", True)
    rates = f"GIL on {on:.0f}/s, GIL off {off:.0f}/s, processes {processes:.0f}/s"
    assert on <= 1.15 / 0.01, f"GIL-bound threads beat one core: {rates}"
    assert off >= 0.7 * processes, f"GIL-free threads did less than worker processes: {rates}"
    if processes >= CORES_AVAILABLE * on:
        assert off >= HYBRID_MARGIN * on, f"two cores were there, but GIL-free threads did not use them: {rates}"
    threaded = next(states for states in gil_states(results) if states.off.series.executor == "threads")
    assert threaded.off.demands.client_cores == cores and threaded.on.demands.client_cores == 1


@pytest.mark.parametrize("gil", ["off", "both"])
def test_the_gil_cannot_be_turned_off_in_a_gil_build(
    gil: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Needs no free-threaded build: with only the harness's GIL build, there is no GIL to turn off (exit 2)."""
    code = main(["run", "--quick", "--gil", gil, "--out", str(tmp_path / "r.json"), "--plots", ""])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"iobench: error: --gil {gil} needs a free-threaded interpreter (a 3.13t, with --python); "
        "a GIL build cannot run with its GIL off")  # fmt: skip
    assert not (tmp_path / "r.json").exists() and "Traceback" not in err
