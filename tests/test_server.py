"""The real local server: starts, answers, stops with nothing left, and refuses to be the bottleneck."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from iobench.errors import ServerError, UsageError
from iobench.measure.server import LocalServer, default_worker_class, preflight, redact_url, validate_target


def _gone(pids: list[int], within: float = 10.0) -> bool:
    """Poll until every PID has exited (or is a zombie awaiting its reaper), up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_server_starts_answers_and_stops_without_leftovers() -> None:
    with LocalServer(max_concurrency=8) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert requests.get(f"{server.url}/delay/0", timeout=5).status_code == 200
        pids = server.pids()
        assert len(pids) >= 2, "expected a gunicorn master and a gevent worker"
        assert all(psutil.pid_exists(pid) for pid in pids)
        assert server.cpu_seconds() is not None
    assert _gone(pids)
    assert not server.alive()


def test_server_start_failure_reports_the_log_tail() -> None:
    with pytest.raises(ServerError, match="no_such_module_for_iobench"):
        LocalServer(app="no_such_module_for_iobench:app", startup_timeout=15).start()


def test_server_dies_with_a_sigkilled_harness() -> None:
    """SIGKILL runs no cleanup in the harness, so the watchdog inside gunicorn must stop the server."""
    script = (
        "import sys\n"
        "from iobench.measure.server import LocalServer\n"
        "server = LocalServer(max_concurrency=4); server.start()\n"
        "print(*server.pids(), flush=True)\n"
        "sys.stdin.read()\n"
    )
    harness = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert harness.stdout is not None
    pids = [int(pid) for pid in harness.stdout.readline().split()]
    assert pids and all(psutil.pid_exists(pid) for pid in pids)
    harness.kill()
    harness.wait()
    assert _gone(pids), f"server processes outlived a SIGKILLed harness: {pids}"


def test_preflight_passes_the_gevent_server(httpbin_server: LocalServer) -> None:
    result = preflight(httpbin_server.url, concurrency=32, delay=0.3)
    assert result.effective_concurrency > 16


@pytest.fixture
def waitress_two_threads(tmp_path: Path) -> Iterator[str]:
    """httpbin served by waitress with 2 threads: a server that serializes beyond 2 requests."""
    log = (tmp_path / "waitress.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "waitress", "--threads=2", "--listen=127.0.0.1:0", "httpbin:app"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        url = None
        while url is None and time.monotonic() < deadline and process.poll() is None:
            found = re.search(r"Serving on (http://127\.0\.0\.1:\d+)", Path(log.name).read_text())
            url = found.group(1) if found else None
            time.sleep(0.05)
        assert url, f"waitress did not start: {Path(log.name).read_text()[-300:]}"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_preflight_rejects_a_server_that_serializes(waitress_two_threads: str) -> None:
    with pytest.raises(ServerError, match="the server is the bottleneck"):
        preflight(waitress_two_threads, concurrency=16, delay=0.3)


@pytest.mark.parametrize("url", ["ftp://example.org", "127.0.0.1:8000", "http://", "file:///etc/passwd"])
def test_target_must_be_an_http_url(url: str) -> None:
    with pytest.raises(UsageError):
        validate_target(url)


def test_recorded_target_drops_credentials_and_query() -> None:
    assert redact_url("https://user:secret@example.org:8443/api?token=abc#x") == "https://example.org:8443/api"


def test_without_gevent_the_server_runs_threads_sized_to_the_sweep() -> None:
    """The threaded worker (a free-threaded Python cannot install gevent) holds the largest pool at once."""
    with LocalServer(max_concurrency=32, worker_class="gthread") as server:
        assert preflight(server.url, concurrency=32, delay=0.3).effective_concurrency > 16
        described = server.describe()
    assert (described.kind, described.worker_class) == ("local-httpbin-gunicorn-gthread", "gthread")
    assert described.threads is not None and described.threads >= 32
    assert default_worker_class() == "gevent", "the dev install has the gevent extra: gevent where it can be"


def test_an_external_server_that_queues_is_measured_not_refused(waitress_two_threads: str, tmp_path: Path) -> None:
    """With --target the server is part of the system under test: its concurrency is recorded and named."""
    from iobench.analysis.diagnosis import diagnose_results
    from iobench.measure.config import SeriesSpec, SweepConfig
    from iobench.measure.sweep import run_sweep
    from iobench.results import ResultsWriter

    config = SweepConfig(series=(SeriesSpec("http-delay", {"delay": 0.05}, "threads"),), workers=(1, 2, 4, 8),
                         rounds=2, waves=2, target=waitress_two_threads)  # fmt: skip
    told: list[str] = []
    results = run_sweep(config, ResultsWriter(tmp_path / "r.json"), notify=told.append)
    assert results.status == "complete"
    check = results.server.preflight
    assert check.queued and check.effective_concurrency < 4, check
    assert any("the server serves about 2 requests at a time" in line for line in told), told
    (diagnosis,) = diagnose_results(results)
    assert diagnosis.bottleneck.kind == "server", diagnosis.bottleneck
    assert "it serves about 2 requests at a time" in diagnosis.bottleneck.description
