"""The responsiveness probe: how late would a GUI or CLI thread in the same process wake while a batch runs?

A user-interface thread is a loop that wants to run every few milliseconds (redraw, read a key, advance a
progress bar). With worker threads busy it must win the GIL back each time it wakes; under pure I/O the
workers hold the GIL briefly and the probe wakes nearly on time, while CPU work in any thread makes it wait
for the holder to give the GIL up, which CPython asks for only after the switch interval
(``sys.setswitchinterval``, 5 ms by default): the convoy a user feels as a stutter.

The probe thread asks to wake every ``PERIOD`` and records, for each wake-up, how long after the wanted
instant it actually ran Python code again. A wake-up that came later than the next wanted instant skips
the ticks it missed, as a GUI timer coalesces them, so one long stall is one long sample rather than a
burst of stale ones. Its own CPU (about 35 µs a wake-up here, 0.7 % of a core) is kept apart in
``cpu_seconds``, so the batch's client CPU per task stays the tasks' own. What it costs the batch's
throughput (taking the GIL 200 times a second) is measured by ``bench/probe_overhead.py``.
Standard library only: it runs in the client subprocess too.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

#: How often the probe wants to run: a 200 Hz UI loop, finer than the 16.7 ms of a 60 Hz display frame.
PERIOD = 0.005


class ResponsivenessProbe:
    """A thread that wants to wake every ``period`` seconds while the ``with`` block runs; ``lateness`` after it.

    The thread is a daemon and is joined on exit; it checks for the end once per wake-up, so leaving the
    block costs at most one period plus the lateness of that last wake-up.
    """

    def __init__(self, period: float = PERIOD) -> None:
        self.period = period
        self.lateness: list[float] = []
        #: CPU seconds the probe thread itself used, known once the block has ended.
        self.cpu_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="iobench-probe", daemon=True)

    def __enter__(self) -> ResponsivenessProbe:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        clock, sleep, record = time.perf_counter, time.sleep, self.lateness.append
        cpu_before = time.thread_time()
        wanted = clock() + self.period
        while not self._stop.is_set():
            ahead = wanted - clock()
            if ahead > 0:
                sleep(ahead)
            woke = clock()
            record(max(0.0, woke - wanted))
            wanted += self.period
            if wanted <= woke:  # missed ticks are skipped, not replayed
                wanted = woke + self.period
        self.cpu_seconds = time.thread_time() - cpu_before
