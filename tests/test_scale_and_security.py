"""Scale edges (1024 workers against the open-files limit) and security (loopback only, no leaked secrets)."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from iobench.cli import main
from iobench.measure.config import MAX_WORKERS, SeriesSpec, SweepConfig
from iobench.measure.limits import ensure_open_files, open_files_needed
from iobench.measure.server import LOOPBACK, LocalServer
from iobench.measure.sweep import run_sweep
from iobench.results import ResultsWriter, load_results


@pytest.fixture
def common_default_limit() -> Iterator[None]:
    """This process with the soft open-files limit many systems default to (1024), restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < open_files_needed(MAX_WORKERS):
        pytest.skip(f"the hard open-files limit here ({hard}) is below what 1024 workers need")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_soft_limit_is_raised_as_far_as_the_pool_needs(common_default_limit: None) -> None:
    assert ensure_open_files(MAX_WORKERS) >= open_files_needed(MAX_WORKERS)
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= open_files_needed(MAX_WORKERS)


def test_a_1024_worker_sweep_runs_from_a_1024_file_limit(common_default_limit: None, tmp_path: Path) -> None:
    """The preflight and the batch each hold 1024 connections at once, in iobench and in the server."""
    config = SweepConfig(series=(SeriesSpec("http-delay", {"delay": 0.1}, "threads"),), workers=(MAX_WORKERS,),
                         rounds=1, waves=1, warmup_rounds=0)  # fmt: skip
    run_sweep(config, ResultsWriter(tmp_path / "r.json"))
    results = load_results(tmp_path / "r.json")
    assert results.status == "complete"
    assert results.server.preflight.concurrency == MAX_WORKERS
    assert results.server.worker_connections >= 2 * MAX_WORKERS
    [sample] = results.series[1].points[0].rounds
    assert sample.errors == {} and len(sample.latencies) == MAX_WORKERS


def _with_hard_limit_512() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))


def test_a_hard_limit_too_low_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "iobench", "run", "--workers", "1,1024", "--out", str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=60, preexec_fn=_with_hard_limit_512,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "ulimit -Hn" in done.stderr and "use at most 224 workers" in done.stderr, done.stderr
    assert not (tmp_path / "r.json").exists(), "nothing is written for a run that never started"
    assert time.monotonic() - began < 20, "it must stop before starting a server or measuring"


def _listening_addresses(pid: int) -> list[str]:
    process = psutil.Process(pid)
    connections = getattr(process, "net_connections", process.connections)(kind="inet")
    return [c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN]


def test_the_local_server_listens_on_loopback_only(httpbin_server: LocalServer) -> None:
    listening = [address for pid in httpbin_server.pids() for address in _listening_addresses(pid)]
    assert listening and set(listening) == {LOOPBACK}, listening


def test_credentials_in_the_target_never_reach_the_results_file(httpbin_server: LocalServer, tmp_path: Path) -> None:
    with_credentials = httpbin_server.url.replace("http://", "http://alice-user:s3cr3t-pass@")
    out = tmp_path / "r.json"
    assert main(["run", "--target", with_credentials, "--delay", "0", "--workers", "2", "--rounds", "1",
                 "--waves", "1", "--out", str(out), "--plots", ""]) == 0  # fmt: skip
    text = out.read_text()
    assert "s3cr3t-pass" not in text and "alice-user" not in text
    results = load_results(out)
    assert results.config["target"] == results.server.url == httpbin_server.url
    assert all(not sample.errors for s in results.series for p in s.points for sample in p.rounds)
