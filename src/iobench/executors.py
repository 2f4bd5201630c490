"""HOW a batch of tasks runs: a sequential loop, or a pool of N threads. One batch, timed.

The executor owns everything around the tasks that could distort the measurement: which HTTP session
each task gets (one per thread by default, so urllib3's pool of 10 does not fake a knee at N = 10),
the wall clock, the process CPU clock and the count of connections urllib3 opened. Like
``workloads``, it needs only the standard library and requests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from iobench.errors import UsageError
from iobench.workloads import TaskContext, Workload


@dataclass
class BatchSample:
    """One timed batch: what the results file stores per round."""

    wall_seconds: float
    cpu_seconds: float
    latencies: list[float]
    errors: dict[str, int]
    connections_opened: int
    pool_full_discards: int

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


class _ConnectionCounter(logging.Handler):
    """Counts urllib3's own log records for new connections and for pool-full discards.

    Reading the records urllib3 emits (rather than scraping stderr) is exact and costs a few
    microseconds per request.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.opened = 0
        self.discarded = 0
        self._count_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        if message.startswith("Starting new HTTP"):
            with self._count_lock:
                self.opened += 1
        elif message.startswith("Connection pool is full"):
            with self._count_lock:
                self.discarded += 1


@contextmanager
def _count_connections() -> Iterator[_ConnectionCounter]:
    logger = logging.getLogger("urllib3.connectionpool")
    counter = _ConnectionCounter()
    previous_level = logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous_level)


class _SessionPerThread:
    """Gives each thread its own requests.Session, created on first use and closed after the batch."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._all.append(session)
        return session

    def close(self) -> None:
        for session in self._all:
            session.close()


def _error_kind(exc: BaseException) -> str:
    """A short, stable name for a failure, so the results file can count failures by kind."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def _run_one(workload: Workload, ctx: TaskContext) -> tuple[float, str | None]:
    started = time.perf_counter()
    try:
        workload(ctx)
    except Exception as exc:
        return time.perf_counter() - started, _error_kind(exc)
    return time.perf_counter() - started, None


TaskRunner = Callable[[int], tuple[float, str | None]]


def _sequential(run_task: TaskRunner, tasks: int, workers: int) -> list[tuple[float, str | None]]:
    return [run_task(index) for index in range(tasks)]


def _thread_pool(run_task: TaskRunner, tasks: int, workers: int) -> list[tuple[float, str | None]]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_task, index) for index in range(tasks)]
        return [future.result() for future in as_completed(futures)]


EXECUTORS: dict[str, Callable[[TaskRunner, int, int], list[tuple[float, str | None]]]] = {
    "sequential": _sequential,
    "threads": _thread_pool,
}


def run_batch(
    workload: Workload,
    executor: str,
    workers: int,
    tasks: int,
    target: str | None,
    timeout: float = 30.0,
) -> BatchSample:
    """Run ``tasks`` tasks of ``workload`` on ``executor`` with ``workers`` workers, and time it.

    The clock covers the executor's whole life (thread start-up included), as a program that creates a
    pool per batch would pay it. Per-thread sessions are created inside the clock too: connecting is
    part of the cost of each worker.
    """
    try:
        strategy = EXECUTORS[executor]
    except KeyError:
        raise UsageError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}") from None
    sessions = _SessionPerThread()

    def run_task(index: int) -> tuple[float, str | None]:
        session = sessions.get() if workload.uses_http else None
        return _run_one(workload, TaskContext(index, target, session, timeout))

    with _count_connections() as connections:
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        try:
            outcomes = strategy(run_task, tasks, workers)
        finally:
            wall, cpu = time.perf_counter() - wall_before, time.process_time() - cpu_before
            sessions.close()
    errors = Counter(kind for _, kind in outcomes if kind is not None)
    return BatchSample(
        wall_seconds=wall,
        cpu_seconds=cpu,
        latencies=[latency for latency, _ in outcomes],
        errors=dict(errors),
        connections_opened=connections.opened,
        pool_full_discards=connections.discarded,
    )
