"""Watching a batch: work given up on is known to be abandoned, however the caller was interrupted."""

from __future__ import annotations

import threading

import pytest

from iobench.measure import health
from iobench.measure.server import NoServer

from .polling import wait_for


class _InterruptedStart(threading.Thread):
    """A thread whose start() is hit by Ctrl-C after the thread began: as when SIGINT lands in start()."""

    def start(self) -> None:
        super().start()
        raise KeyboardInterrupt


def test_work_is_abandoned_when_ctrl_c_lands_inside_the_helpers_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exit must not wait for requests to a hung server: they count as abandoned from the first moment."""
    release = threading.Event()
    monkeypatch.setattr(health.threading, "Thread", _InterruptedStart)
    with pytest.raises(KeyboardInterrupt):
        health.watched(NoServer(), lambda: release.wait(30))
    assert health.abandoned_work(), "the helper still runs; the CLI must not join it at exit"
    release.set()
    assert wait_for(lambda: not health.abandoned_work(), within=10), "finished work is no longer abandoned"


def test_finished_work_leaves_nothing_abandoned() -> None:
    assert health.watched(NoServer(), lambda: 42) == 42
    assert not health.abandoned_work()


def test_a_server_problem_abandons_the_work_and_names_the_problem() -> None:
    class Broken(NoServer):
        def problem(self) -> str | None:
            return "the server exited with status 1"

    release = threading.Event()
    with pytest.raises(health.ServerError, match="exited with status 1"):
        health.watched(Broken(), lambda: release.wait(30), interval=0.01)
    assert health.abandoned_work()
    release.set()
    assert wait_for(lambda: not health.abandoned_work(), within=10)
