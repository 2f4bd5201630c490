"""Why iobench's CPU loop makes its own modulus: on free-threaded 3.13, threads sharing a constant contend.

Run it under a free-threaded interpreter with the GIL off (it says so if it is not):

    PYTHON_GIL=0 ~/.cache/iobench/python-3.13t/bin/python3.13t bench/shared_constant.py

Two copies of the same integer loop, imported from a module as iobench's workloads are: one uses a code
constant above 256 (not immortal in an imported module on 3.13t, so every load and store of it changes a
reference count that all threads share), the other a modulus each call makes for itself (owned by its
thread). Each runs alone (the fastest of several tries), then on two threads at once (the try in which they
overlapped most: cores busy = CPU / wall). Running at once, the owned loop's threads each spend what one
spends alone; the shared constant's spend more for the same work. It needs a second free core to show
anything: on a busy machine the two threads hardly run at once.
"""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

LOOPS = """
def shared_constant(iterations):
    total = 0
    for i in range(iterations):
        total = (total + i * i) % 1_000_003
    return total


def owned_modulus(iterations, modulus_less_one=1_000_002):
    modulus = modulus_less_one + 1
    total = 0
    for i in range(iterations):
        total = (total + i * i) % modulus
    return total
"""
ITERATIONS = 1_000_000
TRIES = 7


def _import_loops() -> object:
    """The loops as an imported module (a function of the running script would not show the effect)."""
    folder = Path(tempfile.mkdtemp(prefix="iobench-loops-"))
    (folder / "iobench_loops.py").write_text(LOOPS)
    spec = importlib.util.spec_from_file_location("iobench_loops", folder / "iobench_loops.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(loop: Callable[[int], int], threads: int) -> tuple[float, float]:
    """Wall seconds for ``threads`` threads each running the loop once, and the mean CPU seconds per thread."""
    cpu = [0.0] * threads
    start_together = threading.Barrier(threads)

    def body(index: int) -> None:
        start_together.wait()
        began = time.thread_time()
        loop(ITERATIONS)
        cpu[index] = time.thread_time() - began

    workers = [threading.Thread(target=body, args=(index,)) for index in range(threads)]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began, sum(cpu) / threads


def main() -> int:
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    if not sysconfig.get_config_var("Py_GIL_DISABLED") or gil:
        print(f"{sys.version.split()[0]}: run this under a free-threaded build with PYTHON_GIL=0 (the GIL is on)")
        return 2
    loops = _import_loops()
    timed(loops.owned_modulus, 2)  # a first thread started: what 3.13t would make immortal, it has by now
    constant = next(value for value in loops.shared_constant.__code__.co_consts if value == 1_000_003)
    immortal = sys.getrefcount(constant) > 2**30
    print(
        f"Python {sys.version.split()[0]}, GIL off, {ITERATIONS:,} iterations, {TRIES} tries each; "
        f"the constant 1_000_003 is {'' if immortal else 'not '}immortal"
    )
    print("| loop | alone: wall s | alone: CPU s | two threads: cores busy | wall s | CPU s per thread |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ("shared_constant", "owned_modulus"):
        loop = getattr(loops, name)
        wall, cpu = min(timed(loop, 1) for _ in range(TRIES))
        # The try in which the two threads overlapped most: the one that shows what running at once costs.
        pair_wall, pair_cpu = max((timed(loop, 2) for _ in range(TRIES)), key=lambda run: 2 * run[1] / run[0])
        print(f"| {name} | {wall:.3f} | {cpu:.3f} | {2 * pair_cpu / pair_wall:.2f} | {pair_wall:.3f} "
              f"| {pair_cpu:.3f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
