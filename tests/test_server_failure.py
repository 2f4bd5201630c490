"""A server that dies or hangs mid-sweep ends it within seconds, naming the point; failed requests are data.

Faults are injected into a real server while a batch is in flight: a timer started from the progress
callback after the first batch fires 0.3 s into the second, which lasts at least 0.8 s.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from iobench.analysis.stats import analyze
from iobench.cli import main
from iobench.errors import ServerError
from iobench.measure import server as server_module
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.executors import run_batch
from iobench.measure.server import LocalServer
from iobench.measure.sweep import BatchDone, run_sweep
from iobench.measure.workloads import make_workload
from iobench.present.report import render_markdown
from iobench.results import ResultsWriter, load_results

from .polling import gone, measured_batches, server_processes, wait_for

#: Every batch waits two waves of 0.4 s: long enough for a fault to land while it is in flight.
SLOW = SweepConfig(series=(SeriesSpec("http-delay", {"delay": 0.4}, "threads"),), workers=(2,), rounds=20, waves=2,
                   warmup_rounds=0)  # fmt: skip
POINT = re.compile(r", during http-delay\(delay=0\.4\) / (sequential|threads) at N=[12], round 0$")


class FaultInSecondBatch:
    """A progress callback that calls ``fault(master_pid)`` 0.3 s into the second batch, and notes when.

    ``master_pid`` is the gunicorn master the sweep started (None when it started none); the server's
    processes are noted too, to check afterwards that none is left.
    """

    def __init__(self, fault: Callable[[int | None], None]) -> None:
        self.fault = fault
        self.injected_at = float("nan")
        self.server_pids: list[int] = []
        self._before = {child.pid for child in psutil.Process().children()}

    def __call__(self, event: BatchDone) -> None:
        if event.done == 1:
            masters = [pid for pid in server_processes(os.getpid()) if pid not in self._before
                       and psutil.Process(pid).ppid() == os.getpid()]  # fmt: skip
            self.server_pids = [pid for master in masters for pid in (master, *server_processes(master))]
            threading.Timer(0.3, self._inject, args=(masters[0] if masters else None,)).start()

    def _inject(self, master: int | None) -> None:
        self.injected_at = time.monotonic()
        self.fault(master)


def _sweep_until_it_fails(config: SweepConfig, path: Path, fault: FaultInSecondBatch) -> tuple[str, float]:
    """Run the sweep into ``path``; return its ServerError message and the seconds from fault to error."""
    with pytest.raises(ServerError) as caught:
        run_sweep(config, ResultsWriter(path), progress=fault)
    return str(caught.value), time.monotonic() - fault.injected_at


def _assert_only_the_finished_batch_is_saved(path: Path, message: str) -> None:
    results = load_results(path)
    assert results.status == "failed" and results.status_detail == message
    assert measured_batches(path) == 1, "the first batch is kept; the broken one is not recorded"


def test_a_killed_local_server_ends_the_sweep_within_seconds(tmp_path: Path) -> None:
    fault = FaultInSecondBatch(lambda master: os.kill(master, signal.SIGKILL))
    message, noticed_after = _sweep_until_it_fails(SLOW, tmp_path / "r.json", fault)
    assert noticed_after < 3, f"noticed {noticed_after:.1f} s after the kill"
    assert message.startswith("the server was killed by SIGKILL") and POINT.search(message), message
    _assert_only_the_finished_batch_is_saved(tmp_path / "r.json", message)
    assert len(fault.server_pids) >= 2 and gone(fault.server_pids), "the orphaned worker must be stopped too"


def test_a_stopped_local_server_ends_the_sweep_within_seconds(tmp_path: Path) -> None:
    fault = FaultInSecondBatch(lambda master: os.killpg(master, signal.SIGSTOP))
    message, noticed_after = _sweep_until_it_fails(SLOW, tmp_path / "r.json", fault)
    assert noticed_after < 3, f"noticed {noticed_after:.1f} s after SIGSTOP"
    assert message.startswith("the server stopped answering") and POINT.search(message), message
    _assert_only_the_finished_batch_is_saved(tmp_path / "r.json", message)
    assert len(fault.server_pids) >= 2 and gone(fault.server_pids), "a stopped server must be stopped for good"


@pytest.fixture
def own_server() -> Iterator[LocalServer]:
    """A server of the test's own, since the test breaks it."""
    with LocalServer(max_concurrency=8) as server:
        yield server


def test_an_external_server_that_stops_answering_ends_the_sweep(
    own_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """iobench cannot see an external server's processes, so only its probes of /get can tell.

    The probe timeout is shortened from 3 s to keep the test short; the mechanism is the same.
    """
    monkeypatch.setattr(server_module, "PROBE_TIMEOUT", 1.0)
    config = SweepConfig(series=SLOW.series, workers=SLOW.workers, rounds=SLOW.rounds, waves=SLOW.waves,
                         warmup_rounds=0, target=own_server.url)  # fmt: skip
    fault = FaultInSecondBatch(lambda _: os.killpg(own_server.pids()[0], signal.SIGSTOP))
    message, noticed_after = _sweep_until_it_fails(config, tmp_path / "r.json", fault)
    assert noticed_after < 5, f"noticed {noticed_after:.1f} s after the server stopped answering"
    assert message.startswith("the server stopped answering: 2 probes of /get") and POINT.search(message), message
    _assert_only_the_finished_batch_is_saved(tmp_path / "r.json", message)


def test_the_cli_reports_a_dead_server_in_one_line_and_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    harness = subprocess.Popen(
        [sys.executable, "-m", "iobench", "run", "--delay", "0.4", "--workers", "2", "--rounds", "20",
         "--waves", "2", "--out", str(out), "--plots", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_for(lambda: measured_batches(out) >= 1, within=60), "the harness saved no batch"
        master = next(pid for pid in server_processes(harness.pid) if psutil.Process(pid).ppid() == harness.pid)
        os.kill(master, signal.SIGKILL)
        _, stderr = harness.communicate(timeout=30)
    finally:
        if harness.poll() is None:
            harness.kill()
    assert harness.returncode == 3
    last_line = stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr
    assert re.fullmatch(r"iobench: server error: the server was killed by SIGKILL, during .* at N=\d+, "
                        rf"(warm-up )?round \d+; results so far are in {re.escape(str(out))}",
                        last_line), last_line  # fmt: skip
    assert load_results(out).status == "failed"


# --- failed requests are counted where they happened, and the sweep goes on ---------------------------


def test_timeouts_are_counted_per_round_and_reach_the_report(httpbin_server: LocalServer, tmp_path: Path) -> None:
    config = SweepConfig(series=(SeriesSpec("http-delay", {"delay": 0.3}, "threads"),), workers=(2,), rounds=2,
                         waves=1, warmup_rounds=0, timeout=0.1)  # fmt: skip
    run_sweep(config, ResultsWriter(tmp_path / "r.json"), server=httpbin_server)
    results = load_results(tmp_path / "r.json")
    assert results.status == "complete", "failed requests are data, not a reason to stop"
    for series in results.series:
        for point in series.points:
            assert [sample.errors for sample in point.rounds] == [{"ReadTimeout": point.tasks}] * 2
            assert sorted(sample.round for sample in point.rounds) == [0, 1]
    threaded = next(stats for stats in analyze(results) if stats.executor == "threads")
    assert threaded.points[0].errors == 2 * 2
    row = next(line for line in render_markdown(results).splitlines() if line.startswith("| 2 |"))
    assert " 4 " in row, f"the report's row for N=2 does not show its 4 failed requests: {row}"


def test_a_crashed_worker_is_counted_in_the_batch_it_hit_and_the_sweep_goes_on(
    own_server: LocalServer, tmp_path: Path
) -> None:
    """gunicorn replaces a killed worker; the requests in flight fail, later ones succeed."""
    worker = own_server.pids()[1]
    hit: list[BatchDone] = []

    def kill_worker_during_second_batch(event: BatchDone) -> None:
        if event.done == 1:
            threading.Timer(0.3, os.kill, args=(worker, signal.SIGKILL)).start()
        if event.done == 2:
            hit.append(event)

    config = SweepConfig(series=SLOW.series, workers=(2,), rounds=1, waves=2, warmup_rounds=0)
    run_sweep(config, ResultsWriter(tmp_path / "r.json"), progress=kill_worker_during_second_batch, server=own_server)
    results = load_results(tmp_path / "r.json")
    assert results.status == "complete"
    failed = [(series.label, point.workers, sample.round, sample.errors)
              for series in results.series for point in series.points for sample in point.rounds
              if sample.errors]  # fmt: skip
    assert len(failed) == 1 and hit[0].errors > 0, f"expected errors in exactly the batch that was hit: {failed}"
    label, workers, round_index, errors = failed[0]
    assert (label, workers, round_index) == (hit[0].label, hit[0].workers, hit[0].round_index)
    assert set(errors) <= {"ConnectionError", "ChunkedEncodingError"}, errors


def test_server_errors_are_counted_by_status(httpbin_server: LocalServer) -> None:
    """A 5xx answer is a failed task named by its status. (The fragment makes the task GET /status/503.)"""
    no_wait = make_workload("http-delay", {"delay": 0.0})
    sample = run_batch(no_wait, "threads", 2, 4, f"{httpbin_server.url}/status/503#", timeout=5)
    assert sample.errors == {"HTTP 503": 4}


def test_an_unreachable_target_is_named_in_one_line_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["run", "--target", f"http://127.0.0.1:{port}", "--out", str(tmp_path / "r.json"), "--plots", ""]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot reach http://127.0.0.1:{port}: ConnectionError: Connection refused" in err


def test_the_cli_exits_at_once_without_waiting_for_requests_to_a_hung_server(
    own_server: LocalServer, tmp_path: Path
) -> None:
    """Ctrl-C while an external server hangs: the requests in flight would block exit for --timeout (20 s)."""
    out = tmp_path / "r.json"
    harness = subprocess.Popen(
        [sys.executable, "-m", "iobench", "run", "--target", own_server.url, "--timeout", "20", "--delay", "0.4",
         "--workers", "2", "--rounds", "20", "--waves", "2", "--out", str(out), "--plots", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_for(lambda: measured_batches(out) >= 1, within=60), "the harness saved no batch"
        os.killpg(own_server.pids()[0], signal.SIGSTOP)
        assert wait_for(lambda: psutil.Process(own_server.pids()[0]).status() == psutil.STATUS_STOPPED, within=5)
        harness.send_signal(signal.SIGINT)
        began = time.monotonic()
        _, stderr = harness.communicate(timeout=60)
        exited_after = time.monotonic() - began
    finally:
        if harness.poll() is None:
            harness.kill()
    assert harness.returncode == 130 and "interrupted" in stderr
    assert exited_after < 5, f"the harness took {exited_after:.1f} s to exit"
    assert load_results(out).status == "interrupted"
