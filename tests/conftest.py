"""Shared fixtures: one real local httpbin for the session, and synthetic results for pure functions."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from hypothesis import settings

from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.environment import capture_environment
from iobench.measure.server import LocalServer
from iobench.results.model import Point, Results, RoundSample, Series, ServerInfo

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
) -> Results:
    """A results document as a sweep would write it, for a client whose CPU per task caps throughput.

    Batch time is the larger of the wait-bound time ceil(M/N) * (delay + overhead) and the CPU-bound
    time M * client_cpu, with multiplicative noise: a known curve with a known knee.
    """
    rng = random.Random(seed)
    spec = SeriesSpec("http-delay", {"delay": delay}, "threads")
    config = SweepConfig(series=(spec,), workers=workers, rounds=rounds, waves=waves)
    environment = capture_environment()

    def point(n: int, tasks: int) -> Point:
        samples = []
        for r in range(rounds):
            wall = max(math.ceil(tasks / n) * (delay + overhead), tasks * client_cpu) * (1 + rng.gauss(0, noise))
            steady = wall * (tasks - n) / tasks if tasks > n else None  # the same rate, while the pool is full
            samples.append(RoundSample(wall, tasks * client_cpu, (delay + overhead,) * tasks, {}, n, 0,
                                       server_cpu_seconds=tasks * 0.001, round=r + 1,
                                       steady_seconds=steady))  # fmt: skip
        return Point(n, tasks, [], samples)

    def series(index: int, executor: str, points: list[Point]) -> Series:
        label = spec.baseline().label if executor == "sequential" else spec.label
        return Series(f"s{index}", label, "http-delay", {"delay": delay}, executor, "per-thread", environment.python,
                      wait_seconds=delay, points=points)  # fmt: skip

    return Results(
        config.to_dict(),
        environment,
        ServerInfo(kind="synthetic"),
        [series(0, "sequential", [point(1, waves)]), series(1, "threads", [point(n, waves * n) for n in workers])],
        status="complete",
    )


def edit_rounds(
    results: Results, change: Callable[[Point, RoundSample], dict[str, object]], series: int | None = None
) -> None:
    """Replace each measured round (of the series at index ``series``, or of all) with ``change``'s fields."""
    for index, edited in enumerate(results.series):
        if series is not None and index != series:
            continue
        for point in edited.points:
            point.rounds = [replace(sample, **change(point, sample)) for sample in point.rounds]  # type: ignore[arg-type]
