"""The server's own ceiling, measured with wrk (a C load generator) when it is installed.

With the same delay and as many connections as the largest pool, wrk shows what the server delivers
to a client that costs almost no CPU. The gap between that line and the Python client's curve is the
client's own cost, which is the point of the whole benchmark. wrk is optional: without it nothing is
measured and nothing fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from typing import Any

from iobench.results.model import WrkCeiling

_REQUESTS_PER_SECOND = re.compile(r"Requests/sec:\s+([0-9.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
#: Long enough for several full cycles of the longest delay, short enough to add little to a sweep.
_MIN_SECONDS, _MAX_SECONDS, _CYCLES = 1.0, 3.0, 10


def available() -> bool:
    return shutil.which("wrk") is not None


def parse_output(text: str) -> dict[str, Any] | None:
    """Requests per second and error counts from wrk's summary; None if it has no rate line."""
    rate = _REQUESTS_PER_SECOND.search(text)
    if rate is None:
        return None
    non_2xx = _NON_2XX.search(text)
    sockets = _SOCKET_ERRORS.search(text)
    return {
        "requests_per_second": float(rate.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
    }


def measure(url: str, delay: float, connections: int) -> dict[str, Any] | None:
    """One short wrk run against ``url``/delay/``delay``; None when wrk is absent or its run fails."""
    if not available():
        return None
    seconds = min(_MAX_SECONDS, max(_MIN_SECONDS, _CYCLES * delay))
    threads = max(1, min(connections, os.cpu_count() or 1))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", f"{url}/delay/{delay:g}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    summary = parse_output(done.stdout) if done.returncode == 0 else None
    if summary is None:
        return None
    return {"delay": delay, "connections": connections, "threads": threads, "seconds": seconds, **summary}


def server_ceilings(url: str, delays: Iterable[float], connections: int) -> tuple[WrkCeiling, ...]:
    """A wrk measurement per distinct delay (empty without wrk), for the results file's server record."""
    measured = (measure(url, delay, connections) for delay in sorted(set(delays)))
    return tuple(WrkCeiling(**entry) for entry in measured if entry is not None)
