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

Standard library and requests only, like the executors that use it.
"""

from __future__ import annotations

import threading
from typing import Protocol

import requests
from requests.adapters import HTTPAdapter

PER_THREAD, SHARED_SIZED, SHARED_DEFAULT, PER_REQUEST = "per-thread", "shared-sized", "shared-default", "per-request"
STRATEGIES = (PER_THREAD, SHARED_SIZED, SHARED_DEFAULT, PER_REQUEST)
#: Recorded for workloads that make no HTTP requests, where no strategy applies.
NO_SESSION = "none"


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
            session = self._local.session = requests.Session()
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
        self._session = requests.Session()
        if pool_size is not None:
            adapter = HTTPAdapter(pool_maxsize=pool_size)
            self._session.mount("http://", adapter)
            self._session.mount("https://", adapter)

    def acquire(self) -> requests.Session:
        return self._session

    def release(self, session: requests.Session) -> None:
        return None

    def close(self) -> None:
        self._session.close()


class _PerRequest:
    """A fresh Session for each task, closed as soon as the task ends."""

    def acquire(self) -> requests.Session:
        return requests.Session()

    def release(self, session: requests.Session) -> None:
        session.close()

    def close(self) -> None:
        return None


def open_sessions(strategy: str, workers: int) -> SessionSource:
    """The session source for one batch run by ``workers`` workers."""
    if strategy == PER_THREAD:
        return _PerThread()
    if strategy == SHARED_SIZED:
        return _Shared(pool_size=workers)
    if strategy == SHARED_DEFAULT:
        return _Shared(pool_size=None)
    if strategy == PER_REQUEST:
        return _PerRequest()
    raise ValueError(f"unknown session strategy {strategy!r}")
