"""HOW a batch of tasks runs: a loop, a thread pool, a thread per task, an event loop or processes.

The executor owns everything around the tasks that could distort the measurement: which HTTP session
each task gets (the session strategy, see ``iobench.sessions``), the wall clock, the CPU clocks and the
count of connections opened. Executors:

- ``sequential``: a plain loop, the baseline every speedup is relative to.
- ``threads``: ThreadPoolExecutor of N, ``submit`` + ``as_completed``.
- ``threads-map``: ThreadPoolExecutor of N, ``map`` (results in order).
- ``thread-per-task``: a new ``threading.Thread`` for every task, at most N alive at once, so thread
  creation is paid per task rather than per worker.
- ``asyncio``: one event loop, aiohttp, N tasks in flight (HTTP GET workloads only): the reference a
  reader will ask about.
- ``processes``: ProcessPoolExecutor of N forked workers, for work without HTTP (cpu, hybrid, file-io),
  where one GIL per process is the point.

Like ``workloads``, this module needs only the standard library and requests; aiohttp is imported
inside the asyncio executor, the only place that needs it.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from iobench.errors import UsageError
from iobench.sessions import NO_SESSION, SHARED_SIZED, STRATEGIES, SessionSource, open_sessions
from iobench.workloads import HttpGet, TaskContext, UserTask, Workload

#: Executors whose workers are threads of this process, so they share one GIL.
THREADED = frozenset({"threads", "threads-map", "thread-per-task"})

Outcome = tuple[float, str | None]


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
    microseconds per request. The asyncio executor adds aiohttp's connections through ``count_opened``.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.opened = 0
        self.discarded = 0
        self._count_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = str(record.msg)
        if message.startswith("Starting new HTTP"):
            self.count_opened()
        elif message.startswith("Connection pool is full"):
            with self._count_lock:
                self.discarded += 1

    def count_opened(self) -> None:
        with self._count_lock:
            self.opened += 1


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


def _error_kind(exc: BaseException) -> str:
    """A short, stable name for a failure, so the results file can count failures by kind."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def _run_one(workload: Workload, ctx: TaskContext) -> Outcome:
    started = time.perf_counter()
    try:
        workload(ctx)
    except Exception as exc:
        return time.perf_counter() - started, _error_kind(exc)
    return time.perf_counter() - started, None


@dataclass
class _Batch:
    """One batch to run: the work, its size, and where each task's session comes from."""

    workload: Workload
    workers: int
    tasks: int
    target: str | None
    timeout: float
    sessions: SessionSource | None
    connections: _ConnectionCounter

    def run_task(self, index: int) -> Outcome:
        if self.sessions is None:
            return _run_one(self.workload, TaskContext(index, self.target, None, self.timeout))
        session = self.sessions.acquire()
        try:
            return _run_one(self.workload, TaskContext(index, self.target, session, self.timeout))
        finally:
            self.sessions.release(session)


def _sequential(batch: _Batch) -> list[Outcome]:
    return [batch.run_task(index) for index in range(batch.tasks)]


def _pool_as_completed(batch: _Batch) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=batch.workers) as pool:
        futures = [pool.submit(batch.run_task, index) for index in range(batch.tasks)]
        return [future.result() for future in as_completed(futures)]


def _pool_map(batch: _Batch) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=batch.workers) as pool:
        return list(pool.map(batch.run_task, range(batch.tasks)))


def _thread_per_task(batch: _Batch) -> list[Outcome]:
    """Start one Thread per task, waiting for a free slot first so at most N run at once."""
    slots = threading.BoundedSemaphore(batch.workers)
    outcomes: list[Outcome] = [(0.0, "NotRun")] * batch.tasks

    def body(index: int) -> None:
        try:
            outcomes[index] = batch.run_task(index)
        finally:
            slots.release()

    threads = []
    for index in range(batch.tasks):
        slots.acquire()
        thread = threading.Thread(target=body, args=(index,), name=f"iobench-task-{index}")
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return outcomes


def _processes(batch: _Batch) -> list[Outcome]:
    """A pool of forked processes; each task's workload (with its calibration) is pickled to a worker.

    ``fork`` where the platform has it: a forked worker starts in milliseconds, where ``spawn`` would
    re-import iobench in every worker and charge that to the batch. The children only run the pool's
    worker loop and the workload, so the threads of the parent (a progress bar) hold nothing they need.
    """
    context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=batch.workers, mp_context=context) as pool:
        futures = [pool.submit(_run_one, batch.workload, TaskContext(index, batch.target, None, batch.timeout))
                   for index in range(batch.tasks)]  # fmt: skip
        return [future.result() for future in futures]


def _import_aiohttp() -> Any:
    try:
        import aiohttp
    except ImportError:
        raise UsageError("the asyncio executor needs aiohttp in this interpreter (pip install aiohttp)") from None
    return aiohttp


def _asyncio(batch: _Batch) -> list[Outcome]:
    import asyncio

    return asyncio.run(_gather_http(batch))


async def _gather_http(batch: _Batch) -> list[Outcome]:
    """All M requests as coroutines on one aiohttp session, a semaphore keeping N in flight."""
    import asyncio

    aiohttp = _import_aiohttp()
    assert isinstance(batch.workload, HttpGet)
    workload = batch.workload
    slots = asyncio.Semaphore(batch.workers)
    tracing = aiohttp.TraceConfig()

    async def opened(*_: Any) -> None:
        batch.connections.count_opened()

    tracing.on_connection_create_end.append(opened)
    connector = aiohttp.TCPConnector(limit=batch.workers)
    timeout = aiohttp.ClientTimeout(total=batch.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[tracing]) as session:

        async def one(index: int) -> Outcome:
            async with slots:
                started = time.perf_counter()
                try:
                    async with session.get(f"{batch.target}{workload.path()}") as response:
                        response.raise_for_status()
                        body = await response.read()
                    workload.check_body(body)
                except aiohttp.ClientResponseError as exc:
                    return time.perf_counter() - started, f"HTTP {exc.status}"
                except Exception as exc:
                    return time.perf_counter() - started, _error_kind(exc)
                return time.perf_counter() - started, None

        return list(await asyncio.gather(*(one(index) for index in range(batch.tasks))))


EXECUTORS: dict[str, Callable[[_Batch], list[Outcome]]] = {
    "sequential": _sequential,
    "threads": _pool_as_completed,
    "threads-map": _pool_map,
    "thread-per-task": _thread_per_task,
    "asyncio": _asyncio,
    "processes": _processes,
}


def default_session_strategy(uses_http: bool, executor: str) -> str:
    """Per-thread Sessions for requests; asyncio's one session sized to N; nothing without HTTP."""
    if not uses_http:
        return NO_SESSION
    return SHARED_SIZED if executor == "asyncio" else STRATEGIES[0]


def check_combination(workload: Workload, executor: str, strategy: str) -> None:
    """Refuse, before anything runs, an executor that cannot run this workload or this session strategy."""
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if executor == "asyncio" and not isinstance(workload, HttpGet):
        if isinstance(workload, UserTask):
            raise UsageError(f"task {workload.function!r} is a synchronous function, so the asyncio executor "
                             "cannot run it; use threads, threads-map, thread-per-task or sequential")  # fmt: skip
        raise UsageError(f"the asyncio executor runs only http-delay and http-payload, not {workload.name}")
    if executor == "processes" and workload.uses_http:
        raise UsageError(f"the processes executor runs only work without HTTP (cpu, hybrid, file-io), "
                         f"not {workload.name}")  # fmt: skip
    allowed = (NO_SESSION,) if not workload.uses_http else (SHARED_SIZED,) if executor == "asyncio" else STRATEGIES
    if strategy not in allowed:
        why = ("it makes no HTTP requests" if not workload.uses_http else
               "asyncio uses one aiohttp session sized to N" if executor == "asyncio" else "")  # fmt: skip
        reason = f" ({why})" if why else ""
        raise UsageError(f"session_strategy {strategy!r} does not apply to {workload.name} on {executor}{reason}; "
                         f"choose from {', '.join(allowed)}")  # fmt: skip


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_batch(
    workload: Workload,
    executor: str,
    workers: int,
    tasks: int,
    target: str | None,
    timeout: float = 30.0,
    session_strategy: str | None = None,
) -> BatchSample:
    """Run ``tasks`` tasks of ``workload`` on ``executor`` with ``workers`` workers, and time it.

    The clock covers the executor's whole life (thread or process start-up included), as a program that
    creates a pool per batch would pay it. Per-thread sessions are created inside the clock too:
    connecting is part of the cost of each worker. CPU time counts this process and the worker
    processes that ended during the batch (the processes executor's, reaped when its pool shuts down).
    """
    strategy = session_strategy or default_session_strategy(workload.uses_http, executor)
    check_combination(workload, executor, strategy)
    run = EXECUTORS[executor]
    if executor == "asyncio":
        _import_aiohttp()  # before the clock: a first import costs a few hundred milliseconds
    uses_sessions = workload.uses_http and executor != "asyncio"
    with _count_connections() as connections:
        sessions = open_sessions(strategy, workers) if uses_sessions else None
        batch = _Batch(workload, workers, tasks, target, timeout, sessions, connections)
        children_before = _children_cpu_seconds()
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        try:
            outcomes = run(batch)
        finally:
            wall, cpu = time.perf_counter() - wall_before, time.process_time() - cpu_before
            cpu += _children_cpu_seconds() - children_before
            if sessions is not None:
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
