"""The HTTP client a task uses: httpx and urllib3 series run end to end against the real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from iobench.errors import UsageError
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.executors import run_batch
from iobench.measure.httpclients import Urllib3Client
from iobench.measure.server import LocalServer
from iobench.measure.sessions import counting_connections
from iobench.measure.sweep import run_sweep
from iobench.measure.workloads import make_workload
from iobench.results import ResultsWriter

DELAY = 0.02


def test_httpx_and_urllib3_series_run_end_to_end(httpbin_server: LocalServer, tmp_path: Path) -> None:
    series = (
        SeriesSpec("http-delay", {"delay": DELAY, "client": "httpx"}, "threads", "shared-sized"),
        SeriesSpec("http-delay", {"delay": DELAY, "client": "httpx"}, "threads", "per-thread"),
        SeriesSpec("http-delay", {"delay": DELAY, "client": "urllib3"}, "threads", "shared-sized"),
    )
    config = SweepConfig(series=series, workers=(1, 4), rounds=2, waves=2)
    results = run_sweep(config, ResultsWriter(tmp_path / "r.json"), server=httpbin_server)
    assert results.status == "complete"
    labels = [series.label for series in results.series]
    assert "http-delay(delay=0.02, client=httpx) / sequential" in labels
    assert "http-delay(delay=0.02, client=urllib3) / threads / shared-sized" in labels
    for recorded in results.series:
        assert recorded.params["client"] in ("httpx", "urllib3")
        for point in recorded.points:
            for sample in point.rounds:
                assert sample.errors == {}, recorded.label
                assert sample.connections_opened == point.workers, f"{recorded.label} N={point.workers}"


def test_the_default_client_is_not_recorded_so_older_files_name_the_same_work() -> None:
    assert make_workload("http-delay", {"delay": 0.1, "client": "requests"}).params() == {"delay": 0.1}
    assert make_workload("http-payload", {"client": "httpx"}).params() == {"size": 1024, "mode": "bytes",
                                                                          "client": "httpx"}  # fmt: skip


@pytest.mark.parametrize("client", ["httpx", "urllib3"])
def test_every_strategy_counts_each_connection_it_opens(httpbin_server: LocalServer, client: str) -> None:
    """Tasks that wait keep all 4 threads busy, so the pool starts all 4 (an idle one would take the next task)."""
    workload = make_workload("http-delay", {"delay": 0.05, "client": client})
    opened = {strategy: run_batch(workload, "threads", 4, 8, httpbin_server.url, session_strategy=strategy)
              for strategy in ("per-thread", "shared-sized", "per-request")}  # fmt: skip
    assert {strategy: sample.error_count for strategy, sample in opened.items()} == dict.fromkeys(opened, 0)
    assert opened["per-thread"].connections_opened == 4
    assert opened["shared-sized"].connections_opened <= 4
    assert opened["per-request"].connections_opened == 8


@pytest.mark.parametrize("client", ["requests", "httpx", "urllib3"])
def test_a_status_error_is_counted_by_its_status_for_every_client(httpbin_server: LocalServer, client: str) -> None:
    workload = make_workload("http-delay", {"delay": 0.0, "client": client})
    sample = run_batch(workload, "threads", 2, 4, f"{httpbin_server.url}/no-such-path")  # GET .../delay/0: 404
    assert sample.errors == {"HTTP 404": 4}


def test_the_urllib3_client_reads_the_whole_body(httpbin_server: LocalServer) -> None:
    opened: list[int] = []
    client = Urllib3Client(pool_size=1)
    try:
        with counting_connections(lambda: opened.append(1)):
            response = client.get(f"{httpbin_server.url}/bytes/1000", timeout=5)
            again = client.get(f"{httpbin_server.url}/bytes/10", timeout=5)
    finally:
        client.close()
    response.raise_for_status()
    assert len(response.content) == 1000 and len(again.content) == 10
    assert opened == [1], "two requests on one kept-alive connection open it once"


@pytest.mark.parametrize(
    ("params", "executor", "words"),
    [
        ({"delay": 0.1, "client": "pycurl"}, "threads", "client must be one of requests, httpx, urllib3"),
        ({"delay": 0.1, "client": "httpx"}, "asyncio", "whose client is aiohttp"),
    ],
)
def test_a_client_that_cannot_run_is_refused_up_front(params: dict, executor: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        SeriesSpec("http-delay", params, executor)
