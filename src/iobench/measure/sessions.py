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

Every Session made here tells the executor about each connection it opens (``on_open``), so the count
of connections per batch is exact without turning on urllib3's per-request debug logging.

Standard library and requests only, like the executors that use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache, partial
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, PoolManager

PER_THREAD, SHARED_SIZED, SHARED_DEFAULT, PER_REQUEST = "per-thread", "shared-sized", "shared-default", "per-request"
STRATEGIES = (PER_THREAD, SHARED_SIZED, SHARED_DEFAULT, PER_REQUEST)
#: Recorded for workloads that make no HTTP requests, where no strategy applies.
NO_SESSION = "none"


@cache
def _reporting_class(pool_class: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
    """``pool_class`` taking one more keyword, ``on_open``, which it calls for each connection it opens.

    A subclass rather than a wrapper stored on each pool: a pool holding a closure over its own bound
    method is a reference cycle, and 128 of those a batch left ~4,000 objects a batch for the cyclic
    collector, whose full passes then cost up to 30 ms inside later batches.
    """

    class Reporting(pool_class):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, on_open: Callable[[], None], **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.on_open = on_open

        def _new_conn(self) -> Any:
            self.on_open()
            return super()._new_conn()

    Reporting.__name__ = Reporting.__qualname__ = f"Reporting{pool_class.__name__}"
    return Reporting


def report_opened(manager: PoolManager, on_open: Callable[[], None]) -> None:
    """Make every pool ``manager`` builds from now on call ``on_open`` when it opens a connection.

    urllib3 does count connections itself, in each pool's ``num_connections``, but that count goes when
    the pool is closed or evicted (a per-request Session closes its pool after one task) and is
    incremented without a lock, so threads sharing a pool can lose counts on a free-threaded build.
    """
    manager.pool_classes_by_scheme = {scheme: partial(_reporting_class(pool_class), on_open=on_open)
                                      for scheme, pool_class in manager.pool_classes_by_scheme.items()}  # fmt: skip


class _ReportingAdapter(HTTPAdapter):
    """requests' HTTPAdapter, with its pools (direct or through a proxy) reporting each connection opened."""

    def __init__(self, on_open: Callable[[], None], **kwargs: Any) -> None:
        self._on_open = on_open  # before HTTPAdapter.__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        report_opened(self.poolmanager, self._on_open)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        new = proxy not in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if new:
            report_opened(manager, self._on_open)
        return manager


def _session(on_open: Callable[[], None], pool_size: int | None = None) -> requests.Session:
    """A Session like ``requests.Session()`` (pools of ``pool_size``, default 10) reporting connections opened."""
    session = requests.Session()
    sizing = {} if pool_size is None else {"pool_maxsize": pool_size}
    for prefix in ("https://", "http://"):
        session.mount(prefix, _ReportingAdapter(on_open, **sizing))
    return session


class SessionSource(Protocol):
    """Hands a task its Session and takes it back; ``close`` ends every session it made."""

    def acquire(self) -> requests.Session: ...

    def release(self, session: requests.Session) -> None: ...

    def close(self) -> None: ...


class _PerThread:
    """Each thread's own Session, created on its first task and closed after the batch."""

    def __init__(self, on_open: Callable[[], None]) -> None:
        self._on_open = on_open
        self._local = threading.local()
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()

    def acquire(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = _session(self._on_open)
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

    def __init__(self, on_open: Callable[[], None], pool_size: int | None) -> None:
        self._session = _session(on_open, pool_size)

    def acquire(self) -> requests.Session:
        return self._session

    def release(self, session: requests.Session) -> None:
        return None

    def close(self) -> None:
        self._session.close()


class _PerRequest:
    """A fresh Session for each task, closed as soon as the task ends."""

    def __init__(self, on_open: Callable[[], None]) -> None:
        self._on_open = on_open

    def acquire(self) -> requests.Session:
        return _session(self._on_open)

    def release(self, session: requests.Session) -> None:
        session.close()

    def close(self) -> None:
        return None


def open_sessions(strategy: str, workers: int, on_open: Callable[[], None]) -> SessionSource:
    """The session source for one batch run by ``workers`` workers; ``on_open`` hears of every connection opened."""
    if strategy == PER_THREAD:
        return _PerThread(on_open)
    if strategy == SHARED_SIZED:
        return _Shared(on_open, pool_size=workers)
    if strategy == SHARED_DEFAULT:
        return _Shared(on_open, pool_size=None)
    if strategy == PER_REQUEST:
        return _PerRequest(on_open)
    raise ValueError(f"unknown session strategy {strategy!r}")
