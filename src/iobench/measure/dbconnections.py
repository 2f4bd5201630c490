"""Which PostgreSQL connection each db task gets: the connection strategy, recorded per series.

The strategies mirror the HTTP session strategies (``iobench.measure.sessions``) and take their names:

- ``per-thread``: one psycopg connection per worker thread, opened on its first task (the default).
- ``shared-sized``: one ``psycopg_pool.ConnectionPool`` of N connections for the N threads.
- ``shared-default``: one pool of psycopg_pool's default size, 4 connections, whatever N is: the trap.
  Past N = 4 threads queue for a connection, so throughput stops rising at the pool size, not at the
  server; the time they spend queueing is recorded per round (``RoundSample.pool_wait_seconds``).
- ``per-request``: a new connection for every task, closed after it, as code that calls
  ``psycopg.connect()`` inside each task does; PostgreSQL starts a server process per connection.

Everything a batch opens is opened inside its clock, like the HTTP clients' connections: the pools open
on their first task. Every connection is counted as it opens (``on_open``): the direct ones where they
are made, the pools' through psycopg_pool's ``configure`` hook, which runs once per new connection.
psycopg is imported only here, and this module only when a db workload runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from iobench.errors import UsageError
from iobench.measure.sessions import PER_REQUEST, PER_THREAD, SHARED_DEFAULT, SHARED_SIZED

try:
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - the [db] extra is missing
    raise UsageError("the db workload needs psycopg and psycopg-pool: pip install 'iobench[db]'") from None


def _connect(conninfo: str, on_open: Callable[[], None]) -> psycopg.Connection[Any]:
    on_open()
    return psycopg.connect(conninfo, autocommit=True)


class _PerThread:
    """Each thread's own connection, opened on its first task and closed after the batch."""

    pool_wait_seconds = None

    def __init__(self, conninfo: str, on_open: Callable[[], None]) -> None:
        self._conninfo, self._on_open = conninfo, on_open
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()

    def acquire(self) -> psycopg.Connection[Any]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = _connect(self._conninfo, self._on_open)
            with self._lock:
                self._all.append(connection)
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
    """One psycopg_pool.ConnectionPool of ``size`` connections shared by every thread.

    It opens (and fills) on the first task, inside the batch's clock; ``pool_wait_seconds`` adds up the
    time every task spent in ``getconn``, which is the wait for a free connection once the pool is full.
    """

    def __init__(self, conninfo: str, size: int | None, timeout: float, on_open: Callable[[], None]) -> None:
        sizing = {} if size is None else {"min_size": size, "max_size": size}
        self._pool = psycopg_pool.ConnectionPool(
            conninfo, kwargs={"autocommit": True}, configure=lambda connection: on_open(), timeout=timeout,
            open=False, **sizing,
        )  # fmt: skip
        self._opened = False
        self._open_lock = threading.Lock()
        self._wait_lock = threading.Lock()
        self.pool_wait_seconds = 0.0

    def acquire(self) -> psycopg.Connection[Any]:
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    self._pool.open(wait=True)
                    self._opened = True
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
        return _PerThread(conninfo, on_open)
    if strategy == SHARED_SIZED:
        return _Pool(conninfo, workers, timeout, on_open)
    if strategy == SHARED_DEFAULT:
        return _Pool(conninfo, None, timeout, on_open)
    if strategy == PER_REQUEST:
        return _PerRequest(conninfo, on_open)
    raise ValueError(f"unknown connection strategy {strategy!r}")
