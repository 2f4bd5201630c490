"""HOW a batch of tasks runs: a loop, a thread pool, a thread per task, an event loop or processes.

The executor owns everything around the tasks that could distort the measurement: which HTTP session
each task gets (the session strategy, see ``iobench.measure.sessions``), the wall clock, the CPU clocks
and the count of connections opened. ``EXECUTORS`` is the registry: each entry says what it can run and
its default session strategy, so no other module checks an executor by name.

- ``sequential``: a plain loop, the baseline every speedup is relative to.
- ``threads``: ThreadPoolExecutor of N, ``submit`` + ``as_completed``.
- ``threads-map``: ThreadPoolExecutor of N, ``map`` (results in order).
- ``thread-per-task``: a new ``threading.Thread`` for every task, at most N alive at once, so thread
  creation is paid per task rather than per worker.
- ``asyncio``: one event loop, aiohttp, N tasks in flight (HTTP GET workloads only): the reference a
  reader will ask about.
- ``processes``: ProcessPoolExecutor of N forked workers, for work without HTTP (cpu, hybrid, file-io),
  where one GIL per process is the point.

Like ``workloads``, this module needs only the standard library and requests (it runs in the client
subprocess too); aiohttp is imported by the asyncio executor, the only one that needs it, httpx and
psycopg by the batches whose workloads use them.

Every batch can also carry the responsiveness probe (``iobench.measure.probe``) and run under a switch
interval of its own (``sys.setswitchinterval``), both recorded with the series.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from iobench.errors import UsageError
from iobench.measure.httpclients import REQUESTS, ClientSource, open_clients
from iobench.measure.probe import ResponsivenessProbe
from iobench.measure.sessions import (
    NO_SESSION,
    SHARED_SIZED,
    STRATEGIES,
    SessionSource,
    counting_connections,
    open_sessions,
)
from iobench.measure.workloads import HttpGet, TaskContext, UserTask, Workload
from iobench.results.model import SEQUENTIAL, RoundSample

#: One task: when it started (``time.perf_counter``, the same clock in every process here), how long it took,
#: and the kind of its failure, or None.
Outcome = tuple[float, float, str | None]


class _ConnectionCounter(logging.Handler):
    """Counts the connections a batch opens and urllib3's pool-full discards.

    Connections are reported as they open, through ``count_opened``: by the batch's requests Sessions and
    urllib3 PoolManagers (see ``iobench.measure.sessions``), by httpx's and psycopg's connection sources,
    and by the asyncio executor's aiohttp tracing. Discards are urllib3's own WARNING records, read as a
    log handler (rather than by scraping stderr): exact, and only a discard costs anything.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.opened = 0
        self.discarded = 0
        self._count_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Connection pool is full"):
            with self._count_lock:
                self.discarded += 1

    def count_opened(self) -> None:
        with self._count_lock:
            self.opened += 1


@contextmanager
def _count_connections() -> Iterator[_ConnectionCounter]:
    """A counter for one batch, with urllib3's pool logger held at WARNING while it runs.

    Exactly WARNING: the discards must get through, and anything lower would have urllib3 build a log
    record for every request (it logs each one at DEBUG): 33 µs of the measured client's CPU each, 5.5 %
    of a sequential loop's client cost, measured with bench/overhead.py's profile of the harness.
    """
    logger = logging.getLogger("urllib3.connectionpool")
    counter = _ConnectionCounter()
    previous_level = logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.WARNING)
    try:
        with counting_connections(counter.count_opened):
            yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous_level)


def _error_kind(exc: BaseException) -> str:
    """A short, stable name for a failure, so the results file can count failures by kind.

    The status errors of every client (requests, httpx, iobench's urllib3 client) carry their response,
    with its ``status_code``.
    """
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return f"HTTP {status}"
    return type(exc).__name__


def _attempt(workload: Workload, ctx: TaskContext) -> str | None:
    """Run one task; the kind of its failure, or None."""
    try:
        workload(ctx)
    except Exception as exc:
        return _error_kind(exc)
    return None


def _run_one(workload: Workload, ctx: TaskContext) -> Outcome:
    """One task timed where it runs: a worker process's task, whose CPU the batch counts as it reaps them."""
    started = time.perf_counter()
    error = _attempt(workload, ctx)
    return started, time.perf_counter() - started, error


@dataclass
class _Batch:
    """One batch to run: the work, its size, and where each task's session comes from."""

    workload: Workload
    workers: int
    tasks: int
    target: str | None
    timeout: float
    sessions: SessionSource | ClientSource | None
    connections: _ConnectionCounter
    #: (wall clock, this process's CPU clock) at each task's start here: see ``steady_cpu_seconds``.
    starts: list[tuple[float, float]] = field(default_factory=list)

    def mark_start(self) -> float:
        """A task starts: its wall-clock start, with the process's CPU clock kept beside it."""
        started = time.perf_counter()
        self.starts.append((started, time.process_time()))
        return started

    def run_task(self, index: int) -> Outcome:
        """One task; its latency includes getting its connection, which with a pool may mean queueing for one."""
        started = self.mark_start()
        if self.sessions is None:
            error = _attempt(self.workload, TaskContext(index, self.target, None, self.timeout))
            return started, time.perf_counter() - started, error
        try:
            session = self.sessions.acquire()
        except Exception as exc:  # a connection that cannot be made fails this task, like a failed request
            return started, time.perf_counter() - started, _error_kind(exc)
        try:
            error = _attempt(self.workload, TaskContext(index, self.target, session, self.timeout))
            return started, time.perf_counter() - started, error
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
    outcomes: list[Outcome] = [(time.perf_counter(), 0.0, "NotRun")] * batch.tasks

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


def _import_optional(module: str, executor: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"the {executor} executor needs {module} in this interpreter (pip install {module})") from None


def _asyncio(batch: _Batch) -> list[Outcome]:
    import asyncio

    return asyncio.run(_gather_http(batch))


async def _gather_http(batch: _Batch) -> list[Outcome]:
    """All M requests as coroutines on one aiohttp session, a semaphore keeping N in flight."""
    import asyncio

    aiohttp = _import_optional("aiohttp", "asyncio")
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
                started = batch.mark_start()
                try:
                    async with session.get(f"{batch.target}{workload.path()}") as response:
                        response.raise_for_status()
                        body = await response.read()
                    workload.check_body(body)
                except aiohttp.ClientResponseError as exc:
                    return started, time.perf_counter() - started, f"HTTP {exc.status}"
                except Exception as exc:
                    return started, time.perf_counter() - started, _error_kind(exc)
                return started, time.perf_counter() - started, None

        return list(await asyncio.gather(*(one(index) for index in range(batch.tasks))))


def _refuse_non_get(workload: Workload) -> str | None:
    if isinstance(workload, HttpGet):
        if workload.client != REQUESTS:
            return (f"client = {workload.client!r} does not apply to the asyncio executor, whose client is aiohttp; "
                    "run it on threads")  # fmt: skip
        return None
    if isinstance(workload, UserTask):
        return (f"task {workload.function!r} is a synchronous function, so the asyncio executor cannot run it; "
                "use threads, threads-map, thread-per-task or sequential")  # fmt: skip
    return f"the asyncio executor runs only http-delay and http-payload, not {workload.name}"


def _refuse_http(workload: Workload) -> str | None:
    if not workload.connects():
        return None
    return (f"the processes executor runs only work without HTTP or a database (cpu, hybrid, file-io), "
            f"not {workload.name}")  # fmt: skip


@dataclass(frozen=True)
class Executor:
    """One way to run a batch, with what it can run: the registry below is the only place that knows."""

    name: str
    run: Callable[[_Batch], list[Outcome]]
    summary: str
    #: Its workers are threads of one process (or one event loop), so one GIL, when on, serializes them.
    shares_gil: bool = True
    #: False for the sequential loop, which always has one worker: it is every speedup's baseline.
    takes_pool_sizes: bool = True
    #: The session strategies it can use for HTTP workloads, the first being its default.
    session_strategies: tuple[str, ...] = STRATEGIES
    #: Why it cannot run a workload, or None when it can.
    refuses: Callable[[Workload], str | None] = lambda workload: None
    #: A module to import before the clock starts (its first import would be charged to the batch).
    needs: str | None = None
    #: Tasks get requests Sessions from the session strategy; False where the executor brings its own client.
    requests_sessions: bool = True

    def default_session_strategy(self, connects: bool) -> str:
        """The strategy a series gets when it names none: the first, or none for work that connects to nothing."""
        return self.session_strategies[0] if connects else NO_SESSION

    def check(self, workload: Workload, strategy: str) -> None:
        """Refuse, before anything runs, a workload or session strategy this executor cannot run."""
        reason = self.refuses(workload)
        if reason:
            raise UsageError(reason)
        allowed = self.session_strategies if workload.connects() else (NO_SESSION,)
        if strategy not in allowed:
            why = "it makes no HTTP requests or database connections" if not workload.connects() else (
                "" if len(allowed) > 1 else f"{self.name} uses {allowed[0]} sessions only")  # fmt: skip
            reason = f" ({why})" if why else ""
            raise UsageError(f"session_strategy {strategy!r} does not apply to {workload.name} on {self.name}{reason}; "
                             f"choose from {', '.join(allowed)}")  # fmt: skip

    def prepare(self) -> None:
        if self.needs is not None:
            _import_optional(self.needs, self.name)


EXECUTORS: dict[str, Executor] = {executor.name: executor for executor in (
    Executor(SEQUENTIAL, _sequential, "a plain loop, the baseline every speedup is relative to",
             takes_pool_sizes=False),
    Executor("threads", _pool_as_completed, "ThreadPoolExecutor of N, submit + as_completed"),
    Executor("threads-map", _pool_map, "ThreadPoolExecutor of N, map (results in order)"),
    Executor("thread-per-task", _thread_per_task, "a new Thread per task, at most N alive at once"),
    Executor("asyncio", _asyncio, "one event loop, aiohttp, N requests in flight (GET workloads only)",
             session_strategies=(SHARED_SIZED,), refuses=_refuse_non_get, needs="aiohttp", requests_sessions=False),
    Executor("processes", _processes, "ProcessPoolExecutor of N forked workers (work without HTTP only)",
             shares_gil=False, refuses=_refuse_http),
)}  # fmt: skip


def executor_named(name: str) -> Executor:
    """The registered executor called ``name``; an unknown name is a UsageError listing the known ones."""
    try:
        return EXECUTORS[name]
    except KeyError:
        raise UsageError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}") from None


_Start = TypeVar("_Start", float, tuple[float, float])


def _pool_full_between(starts: list[_Start], workers: int) -> tuple[_Start, _Start] | None:
    """The N-th task's start and the last one's, between which the pool was full; None for a single wave.

    Starts sort by their wall-clock time (first in a tuple), so the wall and CPU windows are one window.
    """
    if len(starts) <= workers:
        return None
    ordered = sorted(starts)
    return ordered[workers - 1], ordered[-1]


def steady_seconds(starts: list[float], workers: int) -> float | None:
    """How long the pool was full: from the N-th task's start to the last task's, or None for a single wave.

    Once N tasks have started, a task starts only when another frees its worker, so the M − N starts in
    this window come at the pool's sustained rate: (M − N) / window is the throughput the client keeps up,
    without the start-up of the workers before it or the drain after it, when fewer than N tasks are left
    and the pool waits on the last ones. A batch of M = 4N tasks at a client-bound N spends one whole wait d
    in that drain, so its plain tasks per second reach 95 % of the client's ceiling only at about 4.75
    times the pool where the ceiling is first reached; the sustained rate reaches it there.
    """
    ends = _pool_full_between(starts, workers)
    if ends is None:
        return None
    window = ends[1] - ends[0]
    return window if window > 0 else None


def steady_cpu_seconds(starts: list[tuple[float, float]], workers: int) -> float | None:
    """The process's CPU over the same window as ``steady_seconds``, from the N-th task's start to the last one's.

    A batch's CPU per task also pays for what comes once per batch or per worker (threads, sessions,
    connections made and closed), which the sustained rate leaves out: over this window, CPU per task and
    throughput describe the same requests, so the utilization law holds between them. None where the
    tasks' starts were not marked in this process (the processes executor) or for a single wave.
    """
    ends = _pool_full_between(starts, workers)
    if ends is None:
        return None
    cpu = ends[1][1] - ends[0][1]
    return cpu if cpu > 0 else None


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _connection_source(
    workload: Workload, executor: Executor, strategy: str, workers: int, database: str | None, timeout: float,
    connections: _ConnectionCounter,
) -> SessionSource | ClientSource | Any | None:  # fmt: skip
    """Where the batch's tasks get their connection objects: HTTP clients, database connections, or nowhere."""
    if workload.uses_database:
        if database is None:
            raise UsageError(f"the {workload.name} workload needs a database (the sweep starts one, or --db-url)")
        from iobench.measure.dbconnections import open_connections  # psycopg: only for db work

        return open_connections(strategy, workers, database, timeout, connections.count_opened)
    if not workload.uses_http or not executor.requests_sessions:
        return None
    if isinstance(workload, HttpGet):
        return open_clients(workload.client, strategy, workers, connections.count_opened)
    return open_sessions(strategy, workers)


def run_batch(
    workload: Workload,
    executor: str,
    workers: int,
    tasks: int,
    target: str | None,
    timeout: float = 30.0,
    session_strategy: str | None = None,
    database: str | None = None,
    probe: bool = False,
    switch_interval: float | None = None,
    clock: Callable[[bool], None] | None = None,
) -> RoundSample:
    """Run ``tasks`` tasks of ``workload`` on ``executor`` with ``workers`` workers, and time it.

    The clock covers the executor's whole life (thread or process start-up included), as a program that
    creates a pool per batch would pay it. Per-thread sessions are created inside the clock too:
    connecting is part of the cost of each worker. CPU time counts this process and the worker
    processes that ended during the batch (the processes executor's, reaped when its pool shuts down).

    ``database`` is the libpq connection string db tasks connect with. ``probe`` runs the responsiveness
    probe beside the batch (its own thread's CPU is left out of the batch's); ``switch_interval`` sets
    ``sys.setswitchinterval`` for the batch and restores the previous value after it. ``clock(True)`` is
    called just before the clock starts (after the connections made up front) and ``clock(False)`` just
    after it stops (before they are closed): the sweep reads the server's CPU there, so the server's side
    of setting up and tearing down is not charged to the tasks.
    """
    chosen = executor_named(executor)
    strategy = session_strategy or chosen.default_session_strategy(workload.connects())
    chosen.check(workload, strategy)
    chosen.prepare()  # before the clock: a first import costs a few hundred milliseconds
    previous_interval = sys.getswitchinterval()
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    try:
        with _count_connections() as connections:
            sessions = _connection_source(workload, chosen, strategy, workers, database, timeout, connections)
            batch = _Batch(workload, workers, tasks, target, timeout, sessions, connections)
            children_before = _children_cpu_seconds()
            with ResponsivenessProbe() if probe else nullcontext() as watching:
                if clock is not None:
                    clock(True)
                cpu_before, wall_before = time.process_time(), time.perf_counter()
                try:
                    outcomes = chosen.run(batch)
                finally:
                    wall, cpu = time.perf_counter() - wall_before, time.process_time() - cpu_before
                    cpu += _children_cpu_seconds() - children_before
                    if clock is not None:
                        clock(False)
                    if sessions is not None:
                        sessions.close()
    finally:
        sys.setswitchinterval(previous_interval)
    errors = Counter(kind for _, _, kind in outcomes if kind is not None)
    window = steady_seconds([started for started, _, _ in outcomes], workers)
    window_cpu = steady_cpu_seconds(batch.starts, workers) if window is not None else None
    if watching is not None:  # the tasks' CPU, not the probe's; in the window, its share of the probe's
        cpu = max(0.0, cpu - watching.cpu_seconds)
        if window_cpu is not None and window is not None:
            window_cpu = max(0.0, window_cpu - watching.cpu_seconds * min(1.0, window / wall)) or None
    return RoundSample(
        wall_seconds=wall,
        cpu_seconds=cpu,
        latencies=tuple(latency for _, latency, _ in outcomes),
        steady_seconds=window,
        steady_cpu_seconds=window_cpu,
        errors=dict(errors),
        connections_opened=connections.opened,
        pool_full_discards=connections.discarded,
        pool_wait_seconds=getattr(sessions, "pool_wait_seconds", None),
        probe_lateness=tuple(watching.lateness) if watching is not None else (),
    )
