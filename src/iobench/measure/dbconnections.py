"""Which PostgreSQL connection each db task gets: the connection strategy, recorded per series.

The strategies mirror the HTTP session strategies (``iobench.measure.sessions``) and take their names:

- ``per-thread``: one psycopg connection per worker thread, kept for the batch (the default).
- ``shared-sized``: one ``psycopg_pool.ConnectionPool`` of N connections for the N threads.
- ``shared-default``: one pool of psycopg_pool's default size, 4 connections, whatever N is: the trap.
  Past N = 4 threads queue for a connection, so throughput stops rising at the pool size, not at the
  server; the time they spend queueing is recorded per round (``RoundSample.pool_wait_seconds``).
- ``per-request``: a new connection for every task, closed after it, as code that calls
  ``psycopg.connect()`` inside each task does; PostgreSQL starts a server process per connection.

The long-lived strategies connect before the batch's clock starts, as a program connects its worker
threads or fills its pool once, at start-up: a PostgreSQL connection starts a server process (about
2 ms of server CPU and 4 ms of wall time here), and a batch that paid it would measure the harness's
habit of building its pools per batch. So the per-thread connections are opened beforehand (in
parallel) and each thread takes one on its first task, and a pool is full before the clock starts
(psycopg_pool fills it with 3 background workers: about 130 ms for 128 connections). Only
``per-request`` connects inside the clock, which is its point. Every connection is counted as it
opens (``on_open``): the direct ones where they are made, the pools' through psycopg_pool's
``configure`` hook, which runs once per new connection. psycopg is imported only here, and this module
only when a db workload runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from iobench.errors import UsageError
from iobench.measure.sessions import PER_REQUEST, PER_THREAD, SHARED_DEFAULT, SHARED_SIZED

try:
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - the [db] extra is missing
    raise UsageError("the db workload needs psycopg and psycopg-pool: pip install 'iobench[db]'") from None


#: Connections opened at once for the per-thread strategy: enough to keep 2 cores busy forking server processes.
_PARALLEL_CONNECTS = 16


def _connect(conninfo: str, on_open: Callable[[], None]) -> psycopg.Connection[Any]:
    on_open()
    return psycopg.connect(conninfo, autocommit=True)


class _PerThread:
    """A connection for each of ``workers`` threads, opened up front; each thread keeps the one it takes first."""

    pool_wait_seconds = None

    def __init__(self, conninfo: str, workers: int, on_open: Callable[[], None]) -> None:
        self._conninfo, self._on_open = conninfo, on_open
        self._local = threading.local()
        self._lock = threading.Lock()
        with ThreadPoolExecutor(max_workers=min(workers, _PARALLEL_CONNECTS)) as opening:
            self._all = list(opening.map(lambda _: _connect(conninfo, on_open), range(workers)))
        self._unclaimed = list(self._all)

    def acquire(self) -> psycopg.Connection[Any]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            with self._lock:
                connection = self._unclaimed.pop() if self._unclaimed else None
            if connection is None:  # thread-per-task starts a thread per task: the later ones connect themselves
                connection = _connect(self._conninfo, self._on_open)
                with self._lock:
                    self._all.append(connection)
            self._local.connection = connection
        return connection

    def release(self, connection: psycopg.Connection[Any]) -> None:
        return None

    def close(self) -> None:
        for connection in self._all:
            connection.close()


class _PerRequest:
    """A new connection for each task, closed as soon as the task ends."""

    pool_wait_seconds = None

    def __init__(self, conninfo: str, on_open: Callable[[], None]) -> None:
        self._conninfo, self._on_open = conninfo, on_open

    def acquire(self) -> psycopg.Connection[Any]:
        return _connect(self._conninfo, self._on_open)

    def release(self, connection: psycopg.Connection[Any]) -> None:
        connection.close()

    def close(self) -> None:
        return None


class _Pool:
    """One psycopg_pool.ConnectionPool of ``size`` connections shared by every thread, full before the batch.

    ``pool_wait_seconds`` adds up the time every task spent in ``getconn``: the wait for a free connection.
    """

    def __init__(self, conninfo: str, size: int | None, timeout: float, on_open: Callable[[], None]) -> None:
        sizing = {} if size is None else {"min_size": size, "max_size": size}
        self._pool = psycopg_pool.ConnectionPool(
            conninfo, kwargs={"autocommit": True}, configure=lambda connection: on_open(), timeout=timeout,
            open=False, **sizing,
        )  # fmt: skip
        self._pool.open(wait=True, timeout=timeout)
        self._wait_lock = threading.Lock()
        self.pool_wait_seconds = 0.0

    def acquire(self) -> psycopg.Connection[Any]:
        started = time.perf_counter()
        connection = self._pool.getconn()
        waited = time.perf_counter() - started
        with self._wait_lock:
            self.pool_wait_seconds += waited
        return connection

    def release(self, connection: psycopg.Connection[Any]) -> None:
        self._pool.putconn(connection)

    def close(self) -> None:
        self._pool.close()


ConnectionSource = _PerThread | _PerRequest | _Pool


def open_connections(
    strategy: str, workers: int, conninfo: str, timeout: float, on_open: Callable[[], None]
) -> ConnectionSource:
    """The connection source for one batch run by ``workers`` workers; ``on_open`` hears of every connection."""
    if strategy == PER_THREAD:
        return _PerThread(conninfo, workers, on_open)
    if strategy == SHARED_SIZED:
        return _Pool(conninfo, workers, timeout, on_open)
    if strategy == SHARED_DEFAULT:
        return _Pool(conninfo, None, timeout, on_open)
    if strategy == PER_REQUEST:
        return _PerRequest(conninfo, on_open)
    raise ValueError(f"unknown connection strategy {strategy!r}")
