"""Functions a user might sweep with ``--task tests.user_tasks:<name>``; the tests load them by that path."""

from __future__ import annotations

import threading
import time

import requests

from iobench.measure.workloads import TaskContext

NOT_CALLABLE = 42


def fetch_get(ctx: TaskContext) -> None:
    """A user's own I/O: one GET through the Session the executor hands out."""
    assert ctx.session is not None
    ctx.session.get(f"{ctx.target}/get", timeout=ctx.timeout).raise_for_status()


def new_session_each_time(ctx: TaskContext) -> None:
    """A user's own Session for every request, as bare ``requests.get`` does: a new connection each time."""
    with requests.Session() as session:
        session.get(f"{ctx.target}/get", timeout=ctx.timeout).raise_for_status()


def always_fails(ctx: TaskContext) -> None:
    raise ConnectionError(f"task {ctx.index} failed on purpose")


async def async_fetch(ctx: TaskContext) -> None:
    """Not sweepable: iobench runs synchronous callables."""


class ConcurrencyProbe:
    """A callable object that records which tasks ran, on which threads, and how many overlapped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.running = self.peak = 0
        self.indexes: list[int] = []
        self.threads: set[str] = set()

    def __call__(self, ctx: TaskContext) -> None:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.indexes.append(ctx.index)
            self.threads.add(threading.current_thread().name)
        time.sleep(0.01)
        with self._lock:
            self.running -= 1


probe = ConcurrencyProbe()
