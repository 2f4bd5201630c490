"""No server process outlives the harness, however the harness ends: the five ways, one test each.

Normal exit and an exception run in this process. The three signals go to a real ``iobench run``
subprocess in the middle of its sweep (after its first batch is on disk), as a user or CI would send them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from iobench.cli import main
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.sweep import BatchDone, run_sweep
from iobench.results import ResultsWriter, load_results

from .polling import gone, measured_batches, server_processes, wait_for

TINY = SweepConfig(series=(SeriesSpec("http-delay", {"delay": 0.02}, "threads"),), workers=(1, 2), rounds=2, waves=1)
#: A sweep long enough (500 rounds) to be mid-way whenever a signal arrives; the tests never wait for its end.
LONG_RUN = [sys.executable, "-m", "iobench", "run", "--delay", "0.05", "--workers", "1,2", "--rounds", "500",
            "--waves", "1", "--plots", ""]  # fmt: skip


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def test_normal_exit_leaves_no_server(tmp_path: Path) -> None:
    before, seen = _children(), set()
    run_sweep(TINY, ResultsWriter(tmp_path / "r.json"), progress=lambda event: seen.update(_children() - before))
    assert len(seen) >= 2, "expected the sweep's own gunicorn master and worker"
    assert gone(seen), f"server processes outlived a finished sweep: {seen}"
    assert load_results(tmp_path / "r.json").status == "complete"


def test_an_exception_inside_a_sweep_leaves_no_server_and_keeps_the_batches(tmp_path: Path) -> None:
    before, seen = _children(), set()

    def failing_progress(event: BatchDone) -> None:
        seen.update(_children() - before)
        if event.done == 2:
            raise RuntimeError("a bug in a progress display")

    with pytest.raises(RuntimeError, match="progress display"):
        run_sweep(TINY, ResultsWriter(tmp_path / "r.json"), progress=failing_progress)
    assert len(seen) >= 2 and gone(seen), f"server processes outlived the exception: {seen}"
    results = load_results(tmp_path / "r.json")
    assert results.status == "failed" and "RuntimeError" in results.status_detail
    assert measured_batches(tmp_path / "r.json") == 2


def _as_a_background_job() -> None:
    """Start with SIGINT ignored, as a non-interactive shell starts ``cmd &``: iobench must re-enable it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture
def harness_mid_sweep(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, list[int]]]:
    """A real ``iobench run`` with its first batch saved, its results path and its server's PIDs.

    Killed at teardown if a failing test left it running.
    """
    out = tmp_path / "run.json"
    with (tmp_path / "stderr.log").open("wb") as log:
        harness = subprocess.Popen(
            [*LONG_RUN, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=log,
            preexec_fn=_as_a_background_job,
        )  # fmt: skip
    try:
        if not wait_for(lambda: measured_batches(out) >= 1, within=60):
            pytest.fail(f"the harness saved no batch: {(tmp_path / 'stderr.log').read_text()[-500:]}")
        pids = server_processes(harness.pid)
        assert len(pids) >= 2, "expected a gunicorn master and worker under the harness"
        yield harness, out, pids
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_stops_the_server_and_saves_an_incomplete_file(
    sig: signal.Signals, harness_mid_sweep: tuple[subprocess.Popen[bytes], Path, list[int]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    harness, out, pids = harness_mid_sweep
    harness.send_signal(sig)
    assert harness.wait(timeout=30) == 130
    assert gone(pids), f"server processes outlived {sig.name}: {pids}"
    stderr = (tmp_path / "stderr.log").read_text()
    assert "Traceback" not in stderr and f"results so far are in {out}" in stderr
    results = load_results(out)
    assert results.status == "interrupted" and measured_batches(out) >= 1
    assert main(["report", str(out), "--format", "markdown"]) == 0
    assert "INCOMPLETE run (interrupted)" in capsys.readouterr().out


def test_sigkill_of_the_harness_leaves_no_server_and_a_readable_file(
    harness_mid_sweep: tuple[subprocess.Popen[bytes], Path, list[int]], tmp_path: Path
) -> None:
    harness, out, pids = harness_mid_sweep
    harness.kill()
    harness.wait(timeout=30)
    assert gone(pids), f"server processes outlived SIGKILL of the harness: {pids}"
    results = load_results(out)
    assert results.status == "running", "nothing could mark it, but every finished batch is there"
    assert main(["plot", str(out), "--plots", str(tmp_path / "plots")]) == 0
    assert "INCOMPLETE (running)" in (tmp_path / "plots" / "speedup.svg").read_text()
