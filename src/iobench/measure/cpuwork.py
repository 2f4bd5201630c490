"""A pure-Python loop that does a fixed amount of work, sized so that it costs a given CPU time here.

The work is a fixed number of loop iterations, not "spin until the clock says so": a fixed amount of
work is what a real CPU-bound task is, and under the GIL N threads doing it must take N times as long.
The number of iterations per second is measured once per process, in the interpreter that runs the
tasks (PyPy or a free-threaded build run the same loop at a different speed), on the thread's own CPU
clock so that other busy processes on a shared machine do not make the loop look slower than it is.
Standard library only.
"""

from __future__ import annotations

import threading
import time

#: Each calibration run lasts about this long; the fastest of several is kept, being the least disturbed
#: (on a virtual machine even the thread's CPU clock runs on while the hypervisor has the core elsewhere).
_CALIBRATION_SECONDS = 0.01
_CALIBRATION_RUNS = 5
_rate_lock = threading.Lock()
_iterations_per_second: float | None = None


#: ``spin``'s modulus, less one: the modulus itself is computed in each call (see ``spin``).
_MODULUS_LESS_ONE = 1_000_002


def spin(iterations: int) -> int:
    """The work itself: integer arithmetic in the interpreter loop, holding the GIL (when there is one) throughout.

    Threads running it share no object whose reference count changes. A constant of the code would be one:
    on a free-threaded 3.13 an int above 256 in an imported module is not immortal, every thread updates its
    count on each iteration, and two threads at once each spent about 1.5 times the CPU of one alone here
    (``bench/shared_constant.py``). The modulus is made in each call instead, owned by the thread using it.
    """
    modulus = _MODULUS_LESS_ONE + 1
    total = 0
    for i in range(iterations):
        total = (total + i * i) % modulus
    return total


def iterations_per_second() -> float:
    """How many ``spin`` iterations this interpreter runs per CPU second (measured once, then cached)."""
    global _iterations_per_second
    with _rate_lock:
        if _iterations_per_second is None:
            _iterations_per_second = _calibrate()
        return _iterations_per_second


def _calibrate() -> float:
    # Doubling to a run of _CALIBRATION_SECONDS doubles as a warm-up: the interpreter specializes the loop
    # and the core reaches its clock before the runs that count.
    iterations = 1000
    while _timed_spin(iterations) < _CALIBRATION_SECONDS:
        iterations *= 2
    return max(iterations / _timed_spin(iterations) for _ in range(_CALIBRATION_RUNS))


def _timed_spin(iterations: int) -> float:
    started = time.thread_time()
    spin(iterations)
    return max(time.thread_time() - started, 1e-9)


def iterations_for(seconds: float) -> int:
    """Iterations of ``spin`` that cost ``seconds`` of CPU in this interpreter."""
    return round(seconds * iterations_per_second())
