"""Shared fixtures: one real local httpbin for the session, and synthetic results for pure functions."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from iobench.config import SeriesSpec, SweepConfig
from iobench.results import capture_environment, new_document
from iobench.server import LocalServer

# CI (which sets CI=true) replays the same generated inputs every run, so a red build always means a change
# broke something; a developer's runs draw new inputs each time and keep finding new cases.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def httpbin_server() -> Iterator[LocalServer]:
    """The real server, started once: starting gunicorn costs about a second."""
    with LocalServer(max_concurrency=64) as server:
        yield server


def synthetic_results(
    delay: float = 0.1,
    workers: tuple[int, ...] = (1, 2, 4, 8, 16, 32),
    overhead: float = 0.002,
    client_cpu: float = 0.0015,
    rounds: int = 5,
    waves: int = 4,
    noise: float = 0.01,
    seed: int = 1,
) -> dict[str, Any]:
    """A results document as a sweep would write it, for a client whose CPU per task caps throughput.

    Batch time is the larger of the wait-bound time ceil(M/N) * (delay + overhead) and the CPU-bound
    time M * client_cpu, with multiplicative noise: a known curve with a known knee.
    """
    rng = random.Random(seed)
    spec = SeriesSpec("http-delay", {"delay": delay}, "threads")
    config = SweepConfig(series=(spec,), workers=workers, rounds=rounds, waves=waves)
    document = new_document(config.to_dict(), capture_environment())
    document["status"] = "complete"
    document["server"] = {"kind": "synthetic"}

    def point(n: int, tasks: int) -> dict[str, Any]:
        samples = []
        for r in range(rounds):
            wall = max(math.ceil(tasks / n) * (delay + overhead), tasks * client_cpu) * (1 + rng.gauss(0, noise))
            samples.append({"wall_seconds": wall, "cpu_seconds": tasks * client_cpu,
                            "server_cpu_seconds": tasks * 0.001, "latencies": [delay + overhead] * tasks,
                            "errors": {}, "connections_opened": n, "pool_full_discards": 0,
                            "round": r + 1, "position": 0})  # fmt: skip
        return {"workers": n, "tasks": tasks, "warmup": [], "rounds": samples}

    document["series"] = [
        {"id": "s0", "label": spec.baseline().label, "workload": "http-delay", "params": {"delay": delay},
         "executor": "sequential", "session_strategy": "per-thread", "wait_seconds": delay,
         "points": [point(1, waves)]},
        {"id": "s1", "label": spec.label, "workload": "http-delay", "params": {"delay": delay},
         "executor": "threads", "session_strategy": "per-thread", "wait_seconds": delay,
         "points": [point(n, waves * n) for n in workers]},
    ]  # fmt: skip
    return document
