"""Running a batch while watching the server, so a server that dies or hangs ends the sweep in seconds.

A batch against a hung server would otherwise block until each request's timeout (30 s by default)
expired, wave after wave. So the batch runs in a helper thread while the calling thread (the main
thread under the CLI) asks ``server.problem()`` several times a second: a local server by its process
states, an external one by probing it. Ctrl-C stays instant too, since the main thread only waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, TypeVar

from iobench.errors import ServerError

#: How often the server is asked whether it still serves while a batch runs.
CHECK_INTERVAL = 0.2

T = TypeVar("T")


class Watchable(Protocol):
    """A server, or the servers of a sweep (``iobench.measure.services``), that can say why it cannot serve."""

    def problem(self) -> str | None: ...


#: Helper threads of ``watched`` whose work has not finished yet; see ``abandoned_work``.
_running: set[threading.Thread] = set()


def watched(server: Watchable, work: Callable[[], T], interval: float = CHECK_INTERVAL) -> T:
    """``work()``, run in a helper thread while this thread checks ``server.problem()`` every ``interval``.

    Raises ServerError as soon as the server has a problem, and re-raises whatever ``work`` raised. Work
    given up on is not waited for: once the caller stops a local server its requests fail at once.
    """
    results: list[T] = []
    errors: list[BaseException] = []
    finished = threading.Event()

    def run() -> None:
        try:
            results.append(work())
        except BaseException as exc:
            errors.append(exc)
        finally:
            _running.discard(threading.current_thread())
            finished.set()

    helper = threading.Thread(target=run, name="iobench-watched", daemon=True)
    # Registered before it starts, and left to unregister itself: a Ctrl-C that lands inside start() (which
    # waits for the new thread to run, a while on a busy machine) must still find this work abandoned, or
    # the exit would wait for its requests.
    _running.add(helper)
    helper.start()
    while not finished.wait(interval):
        _raise_on_problem(server)
    _raise_on_problem(server)  # a server that died at the very end may have failed the last requests
    if errors:
        raise errors[0]
    return results[0]


def abandoned_work() -> bool:
    """Whether work ``watched`` gave up on is still running: requests to a hung server, say.

    Once the caller is done, any such work was abandoned (by a server failure or a Ctrl-C, wherever it
    landed). A pool's threads are joined when the interpreter exits, so its requests would hold the
    process for up to their timeout, wave after wave, after the error was already reported and saved.
    """
    return bool(_running)


def _raise_on_problem(server: Watchable) -> None:
    problem = server.problem()
    if problem is not None:
        raise ServerError(problem)
