"""Waiting in tests: poll a condition against a deadline, never sleep a fixed time and hope."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil


def wait_for(condition: Callable[[], bool], within: float = 30.0, interval: float = 0.05) -> bool:
    """True as soon as ``condition()`` holds, False if it still does not after ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pids: Iterable[int], within: float = 10.0) -> bool:
    """Every PID has exited (a zombie awaiting its reaper counts as exited) within ``within`` seconds."""
    pids = list(pids)
    return wait_for(lambda: not any(_running(pid) for pid in pids), within)


def server_processes(root: int) -> list[int]:
    """The gunicorn processes below process ``root``: the local server a harness started."""
    try:
        below = psutil.Process(root).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for process in below:
        try:
            if "gunicorn" in " ".join(process.cmdline()):
                found.append(process.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def measured_batches(path: Path) -> int:
    """How many batches (warm-up and measured) the results file at ``path`` holds so far; 0 if none yet."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    return sum(len(point["warmup"]) + len(point["rounds"]) for s in document["series"] for point in s["points"])
