"""The HTTP client a task uses, the ``client`` parameter of the HTTP workloads: requests, httpx or urllib3.

The client's CPU per request caps a GIL-bound pool at 1 / D (DESIGN.md), so the library a program uses
moves the knee as much as the pool size does. Each client is shared between threads in the four ways of
the session strategies (``iobench.measure.sessions``), with each library's own objects:

- ``requests`` (the default): ``requests.Session``, as ``sessions.py`` builds them.
- ``httpx``: ``httpx.Client``, whose documentation calls it safe to share between threads. ``per-thread``:
  a Client per worker thread; ``shared-sized``: one Client whose limits are N connections, all kept alive;
  ``shared-default``: one Client with httpx's default limits (100 connections, of which 20 are kept
  alive: beyond 20 threads the rest are closed after each request and opened again);
  ``per-request``: a new Client per request, as ``httpx.get()`` does.
- ``urllib3``: a bare ``urllib3.PoolManager``, the floor of what a Python HTTP client costs (requests
  runs on it). ``shared-sized``: one PoolManager whose pool keeps N connections; ``per-thread``: one per
  thread; ``shared-default``: one with urllib3's default pool of *one* kept connection (the others are
  discarded and counted, like requests' pool of 10); ``per-request``: a new PoolManager per request.

Building an ``httpx.Client`` loads the CA bundle into a new SSL context, 26 ms of CPU here. A program
builds its clients once; the harness builds them per batch, so the long-lived strategies share one SSL
context made before the clock starts, while ``per-request`` pays it every time, as ``httpx.get()`` does.

Connections opened are counted exactly: urllib3's (bare or under requests) by the executor's urllib3
hook, httpx's by a network backend that reports each connection before opening it.
Standard library only at import: httpx and urllib3 load when a batch asks for them.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, Protocol

from iobench.errors import UsageError
from iobench.measure.sessions import (
    PER_REQUEST,
    PER_THREAD,
    SHARED_DEFAULT,
    SHARED_SIZED,
    open_sessions,
)

REQUESTS, HTTPX, URLLIB3 = "requests", "httpx", "urllib3"
CLIENTS = (REQUESTS, HTTPX, URLLIB3)


class ClientSource(Protocol):
    """Hands a task its client object and takes it back; ``close`` ends every client it made."""

    def acquire(self) -> Any: ...

    def release(self, client: Any) -> None: ...

    def close(self) -> None: ...


def _library(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise UsageError(f"client = {name!r} needs {name} in this interpreter (pip install {name})") from None


class _PerThread:
    """Each thread's own client, made on its first task and closed after the batch."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def acquire(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._make()
            with self._lock:
                self._all.append(client)
        return client

    def release(self, client: Any) -> None:
        return None

    def close(self) -> None:
        for client in self._all:
            client.close()


class _Shared:
    """One client for every thread."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def acquire(self) -> Any:
        return self._client

    def release(self, client: Any) -> None:
        return None

    def close(self) -> None:
        self._client.close()


class _PerRequest:
    """A new client for each task, closed as soon as the task ends."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make

    def acquire(self) -> Any:
        return self._make()

    def release(self, client: Any) -> None:
        client.close()

    def close(self) -> None:
        return None


def _sources(strategy: str, workers: int, make: Callable[[int | None], Any]) -> ClientSource:
    """The strategy's source over ``make(pool_size)``, where None asks for the library's default pool."""
    if strategy == PER_THREAD:
        return _PerThread(lambda: make(1))
    if strategy == SHARED_SIZED:
        return _Shared(make(workers))
    if strategy == SHARED_DEFAULT:
        return _Shared(make(None))
    if strategy == PER_REQUEST:
        return _PerRequest(lambda: make(1))
    raise ValueError(f"unknown session strategy {strategy!r}")


# --- httpx ------------------------------------------------------------------------------------------


def _httpx_source(strategy: str, workers: int, on_open: Callable[[], None]) -> ClientSource:
    httpx = _library(HTTPX)
    import httpcore

    class CountingBackend(httpcore.NetworkBackend):
        """httpcore's own backend, reporting each connection it is asked to open."""

        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            on_open()
            return self._inner.connect_tcp(*args, **kwargs)

        def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
            on_open()
            return self._inner.connect_unix_socket(*args, **kwargs)

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    shared_context = None if strategy == PER_REQUEST else httpx.create_ssl_context()

    def make(pool_size: int | None) -> Any:
        limits = httpx.Limits() if pool_size is None else httpx.Limits(max_connections=pool_size,
                                                                       max_keepalive_connections=pool_size)  # fmt: skip
        verify = True if shared_context is None else shared_context
        transport = httpx.HTTPTransport(limits=limits, verify=verify)
        # httpx does not take a network backend, its connection pool (httpcore's) does: the one place that
        # sees every connection open, at no cost per request. tests/test_clients.py checks the count.
        pool = transport._pool
        pool._network_backend = CountingBackend(pool._network_backend)
        return httpx.Client(transport=transport, verify=verify)

    return _sources(strategy, workers, make)


# --- urllib3 ----------------------------------------------------------------------------------------


class HttpStatusError(Exception):
    """A response whose status is 4xx or 5xx, with ``response.status_code`` as requests and httpx give it."""

    def __init__(self, response: Urllib3Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class Urllib3Response:
    """urllib3's response behind the two things an HTTP task reads: ``raise_for_status()`` and ``content``."""

    def __init__(self, response: Any) -> None:
        self.status_code: int = response.status
        self.content: bytes = response.data

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise HttpStatusError(self)


class Urllib3Client:
    """A bare ``urllib3.PoolManager`` with the one call an HTTP task makes: ``get(url, timeout=...)``.

    No retries and no redirects, as requests' and httpx's defaults: one request is one attempt.
    """

    def __init__(self, pool_size: int | None) -> None:
        urllib3 = _library(URLLIB3)
        self.manager = urllib3.PoolManager() if pool_size is None else urllib3.PoolManager(maxsize=pool_size)

    def get(self, url: str, timeout: float) -> Urllib3Response:
        return Urllib3Response(self.manager.request("GET", url, timeout=timeout, retries=False))

    def close(self) -> None:
        self.manager.clear()


# --- the choice -------------------------------------------------------------------------------------


def open_clients(client: str, strategy: str, workers: int, on_open: Callable[[], None]) -> ClientSource:
    """The source of ``client`` objects for one batch run by ``workers`` workers sharing them by ``strategy``.

    ``on_open`` hears of every connection an httpx client opens; urllib3's, requests' included, are counted
    by ``sessions.counting_connections``.
    """
    if client == REQUESTS:
        return open_sessions(strategy, workers)
    if client == HTTPX:
        return _httpx_source(strategy, workers, on_open)
    if client == URLLIB3:
        _library(URLLIB3)
        return _sources(strategy, workers, Urllib3Client)
    raise ValueError(f"unknown HTTP client {client!r}")
