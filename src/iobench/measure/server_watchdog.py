"""gunicorn config module (``--config python:iobench.measure.server_watchdog``): never outlive the harness.

``finally`` blocks cover normal exits, exceptions and SIGINT/SIGTERM, but not SIGKILL of the harness.
So the gunicorn master watches its parent itself: when the harness whose PID it was given is gone (the
master is re-parented), it kills its own process group, which holds the master and its workers.
This runs inside the server process and must stay free of iobench's other imports.
"""

import os
import signal
import threading
import time

_POLL_SECONDS = 0.2


def _watch(harness_pid: int) -> None:
    while os.getppid() == harness_pid:
        time.sleep(_POLL_SECONDS)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def on_starting(server: object) -> None:
    """gunicorn hook, run in the master before it binds or forks: the earliest point it can watch from.

    A harness killed before this runs is caught too: the parent is then already someone else.
    """
    harness_pid = int(os.environ.get("IOBENCH_HARNESS_PID", os.getppid()))
    threading.Thread(target=_watch, args=(harness_pid,), name="iobench-watchdog", daemon=True).start()
