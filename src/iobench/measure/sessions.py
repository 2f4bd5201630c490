"""Which requests.Session each task gets: the HTTP client strategy, chosen and recorded per series.

The choice moves the curve as much as the pool size does, which is why it is a named, recorded part
of every series rather than an implementation detail:

- ``per-thread``: one Session per worker thread, so one kept-alive connection each (the default).
- ``shared-sized``: one Session for all threads, its urllib3 pool sized to the number of workers.
- ``shared-default``: one Session with requests' default pool of 10 connections. Beyond 10 threads
  urllib3 discards the connections it cannot keep when threads hand them back together and opens new
  ones later (the executor counts the discards). Measured here on loopback this cost no throughput at
  N = 32, since a thread takes its connection straight back after each request; on a real network
  every reopened connection pays a handshake. Kept selectable so the trap can be shown.
- ``per-request``: a new Session, hence a new TCP connection, for every request, as bare
  ``requests.get()`` does.

``counting_connections`` counts every connection urllib3 opens in the process while a batch runs: those
of the Sessions made here and those of a Session a user's task makes itself, exactly, without turning on
urllib3's per-request debug logging.

Standard library and requests only, like the executors that use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool

PER_THREAD, SHARED_SIZED, SHARED_DEFAULT, PER_REQUEST = "per-thread", "shared-sized", "shared-default", "per-request"
STRATEGIES = (PER_THREAD, SHARED_SIZED, SHARED_DEFAULT, PER_REQUEST)
#: Recorded for workloads that make no HTTP requests, where no strategy applies.
NO_SESSION = "none"


@contextmanager
def counting_connections(on_open: Callable[[], None]) -> Iterator[None]:
    """While the block runs, every urllib3 connection pool in this process calls ``on_open`` for each connection.

    Every pool, not only the ones iobench builds: a user's task that makes a Session of its own (a new one
    for each request, say) is the code under test, and its connections are what the gate compares. urllib3
    does count connections itself, in each pool's ``num_connections``, but that count goes when the pool is
    closed (a per-request Session closes its pool after one task) and is incremented without a lock, so
    threads sharing a pool can lose counts on a free-threaded build. One batch runs at a time in a process.
    """
    originals = {
        pool_class: pool_class.__dict__["_new_conn"] for pool_class in (HTTPConnectionPool, HTTPSConnectionPool)
    }

    def reporting(new_conn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def _new_conn(pool: Any) -> Any:
            on_open()
            return new_conn(pool)

        return _new_conn

    for pool_class, new_conn in originals.items():
        pool_class._new_conn = reporting(new_conn)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for pool_class, new_conn in originals.items():
            pool_class._new_conn = new_conn  # type: ignore[method-assign]


def _session(pool_size: int | None = None) -> requests.Session:
    """A Session like ``requests.Session()``, its pools of ``pool_size`` connections (default 10)."""
    session = requests.Session()
    if pool_size is not None:
        for prefix in ("https://", "http://"):
            session.mount(prefix, HTTPAdapter(pool_maxsize=pool_size))
    return session


class SessionSource(Protocol):
    """Hands a task its Session and takes it back; ``close`` ends every session it made."""

    def acquire(self) -> requests.Session: ...

    def release(self, session: requests.Session) -> None: ...

    def close(self) -> None: ...


class _PerThread:
    """Each thread's own Session, created on its first task and closed after the batch."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def acquire(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = _session()
            with self._lock:
                self._all.append(session)
        return session

    def release(self, session: requests.Session) -> None:
        return None

    def close(self) -> None:
        for session in self._all:
            session.close()


class _Shared:
    """One Session for every thread; ``pool_size`` None keeps requests' default pool of 10."""

    def __init__(self, pool_size: int | None) -> None:
        self._session = _session(pool_size)

    def acquire(self) -> requests.Session:
        return self._session

    def release(self, session: requests.Session) -> None:
        return None

    def close(self) -> None:
        self._session.close()


class _PerRequest:
    """A fresh Session for each task, closed as soon as the task ends."""

    def acquire(self) -> requests.Session:
        return _session()

    def release(self, session: requests.Session) -> None:
        session.close()

    def close(self) -> None:
        return None


def open_sessions(strategy: str, workers: int) -> SessionSource:
    """The session source for one batch run by ``workers`` workers (its connections: ``counting_connections``)."""
    if strategy == PER_THREAD:
        return _PerThread()
    if strategy == SHARED_SIZED:
        return _Shared(pool_size=workers)
    if strategy == SHARED_DEFAULT:
        return _Shared(pool_size=None)
    if strategy == PER_REQUEST:
        return _PerRequest()
    raise ValueError(f"unknown session strategy {strategy!r}")
