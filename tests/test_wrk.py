"""The optional wrk measurement of the server's own ceiling."""

from __future__ import annotations

import pytest

from iobench.measure import wrk
from iobench.measure.server import LocalServer

SUMMARY = """Running 2s test @ http://127.0.0.1:34765/delay/0.05
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    53.37ms    7.33ms 118.18ms   96.45%
    Req/Sec   602.97     78.29   646.00     94.87%
  2373 requests in 2.01s, 0.91MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1182.56
Transfer/sec:    466.56KB
"""


def test_the_summary_is_parsed() -> None:
    assert wrk.parse_output(SUMMARY) == {"requests_per_second": 1182.56, "non_2xx": 4, "socket_errors": 3}
    assert wrk.parse_output("wrk: invalid URL") is None


def test_without_wrk_nothing_is_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wrk.shutil, "which", lambda name: None)
    assert wrk.server_ceilings("http://127.0.0.1:9", [0.1], 8) == ()


@pytest.mark.skipif(not wrk.available(), reason="wrk is not installed")
def test_wrk_measures_the_real_server(httpbin_server: LocalServer) -> None:
    (entry,) = wrk.server_ceilings(httpbin_server.url, [0.05, 0.05], 8)
    assert entry["delay"] == 0.05 and entry["connections"] == 8 and entry["non_2xx"] == 0
    # 8 connections each waiting 50 ms: at most 160 requests/s, and a working server gets well over half.
    assert 80 < entry["requests_per_second"] <= 8 / 0.05 * 1.05
