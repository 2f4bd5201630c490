"""What the harness costs the client per request, against the bare script it claims to measure.

Why: iobench's headline figures are the throughput of a thread pool over I/O. If the harness itself (its
bookkeeping, its connection counting, its health checks, the objects its process holds) costs the client
CPU that a bare script does not pay, a saturated point is the harness's ceiling rather than the pattern's.
This script measures that gap directly.

How: one LocalServer; for each pool size N (``--workers``) and M = waves x N tasks of GET /delay/d, it runs
interleaved pairs of batches A B A B ... after one unrecorded warm-up pair:

- A, the bare pattern: ThreadPoolExecutor(max_workers=N), submit + as_completed, one requests.Session
  per thread through threading.local, each task ``session.get(url).raise_for_status()``. It runs in a
  child process that imports only requests and the standard library, as a bare script would, unless
  ``--bare-in-process`` runs it here.
- B, the harness: the ``threads`` executor with its default session strategy through the path
  ``iobench run`` takes: the sweep's client subprocess (``runners.open_runners``), each batch under
  ``health.watched`` with the server's CPU sampled around it, from a process that has imported what the
  CLI imports before a sweep starts (rich, numpy, matplotlib).

Both are timed by perf_counter around the whole batch, pool creation included. The ratio is harness/bare
throughput per pair, from the batch time each side recorded itself (the outer clock of B, around the
request to its client, is shown too); its median and range over pairs are printed, with both sides'
client CPU per request. The harness's requests carry a socket timeout (``--timeout``) and the article's
do not; ``--bare-timeout`` gives the bare ones the same, to tell what the timeout costs.

Each pair also reads how much CPU other processes of the machine used meanwhile (the "other" column: the
largest over the pairs, in cores). On a shared machine ``--quiet-below F`` waits before each pair until
the others use less than F of a core, and measures a pair again when they used more during it.

Run it on a quiet machine, from the repository root:

    python bench/overhead.py                       # N = 1..128, d = 0.1 s, 6 pairs
    python bench/overhead.py --workers 32,128 --pairs 12 --json /tmp/overhead.json
    python bench/overhead.py --pairs 12 --quiet-below 0.05     # on a shared machine
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import requests

DEFAULT_WORKERS = (1, 2, 4, 8, 16, 32, 64, 128)


def bare_batch(url: str, workers: int, tasks: int, timeout: float | None = None) -> tuple[float, float]:
    """One batch of the bare pattern; returns (wall seconds, client CPU seconds of this process).

    Sessions are closed after the clock stops, as the harness closes its own. ``timeout`` None is the
    article's pattern; a number gives each socket a timeout, as the harness's requests have.
    """
    local = threading.local()
    sessions: list[requests.Session] = []

    def task() -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            sessions.append(session)
        session.get(url, timeout=timeout).raise_for_status()

    cpu_before, began = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(task) for _ in range(tasks)]
        for future in as_completed(futures):
            future.result()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_before
    for session in sessions:
        session.close()
    return wall, cpu


def serve_bare() -> None:
    """The bare child: one JSON request per stdin line, one JSON reply per stdout line, until end of input."""
    for line in sys.stdin:
        request = json.loads(line)
        wall, cpu = bare_batch(request["url"], request["workers"], request["tasks"], request["timeout"])
        print(json.dumps({"wall": wall, "cpu": cpu}), flush=True)


class BareChild:
    """A long-lived bare-script process, so its heap holds nothing of iobench, numpy or matplotlib."""

    def __init__(self) -> None:
        self._process = subprocess.Popen([sys.executable, __file__, "--serve-bare"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)  # fmt: skip

    def batch(self, url: str, workers: int, tasks: int, timeout: float | None = None) -> tuple[float, float]:
        assert self._process.stdin is not None and self._process.stdout is not None
        request = {"url": url, "workers": workers, "tasks": tasks, "timeout": timeout}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        reply = self._process.stdout.readline()
        if not reply:
            raise RuntimeError(f"the bare child exited ({self._process.wait()})")
        answer = json.loads(reply)
        return answer["wall"], answer["cpu"]

    @property
    def pid(self) -> int:
        return self._process.pid

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=10)


@dataclass
class Point:
    """Every pair measured at one pool size: walls and CPU seconds of both sides."""

    workers: int
    tasks: int
    bare_wall: list[float] = field(default_factory=list)
    bare_cpu: list[float] = field(default_factory=list)
    harness_wall: list[float] = field(default_factory=list)
    recorded_wall: list[float] = field(default_factory=list)
    harness_cpu: list[float] = field(default_factory=list)
    harness_errors: int = 0
    foreign_cores: list[float] = field(default_factory=list)
    discarded: int = 0

    def row(self) -> str:
        rate = [self.tasks / wall for wall in self.bare_wall]
        outer = [bare / wall for bare, wall in zip(self.bare_wall, self.harness_wall, strict=True)]
        inner = [bare / wall for bare, wall in zip(self.bare_wall, self.recorded_wall, strict=True)]
        cpu_ms = [1000 * statistics.median(cpu) / self.tasks for cpu in (self.bare_cpu, self.harness_cpu)]
        notes = f"  ({self.harness_errors} failed)" if self.harness_errors else ""
        notes += f"  ({self.discarded} busy pairs measured again)" if self.discarded else ""
        return (f"{self.workers:>4} {self.tasks:>5} {statistics.median(rate):>9.1f} "
                f"{self.tasks / statistics.median(self.harness_wall):>9.1f} "
                f"{statistics.median(outer):>6.3f} {min(outer):.3f}-{max(outer):.3f}   "
                f"{statistics.median(inner):>6.3f} {min(inner):.3f}-{max(inner):.3f}   "
                f"{cpu_ms[0]:>6.3f} {cpu_ms[1]:>6.3f}  {max(self.foreign_cores):>5.2f}{notes}")  # fmt: skip


HEADER = ("   N     M    bare/s harness/s  ratio (min-max)   rec.ratio (min-max)  CPU ms/req bare harness  other\n"
          "                                 outer clock       recorded wall                       (cores)")  # fmt: skip


class ForeignLoad:
    """CPU seconds that processes other than this benchmark's own used since the last reading.

    Another job's CPU lands on whichever side of a pair it overlaps, so a pair measured while the machine
    was busy says little about the harness.
    """

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids
        self._last = self._others()

    def _others(self) -> float:
        times = psutil.cpu_times()
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        busy -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)  # already in user and nice
        ours = 0.0
        for pid in self._pids():
            try:
                used = psutil.Process(pid).cpu_times()
            except psutil.NoSuchProcess:
                continue
            ours += used.user + used.system
        return busy - ours

    def since_last(self) -> float:
        now = self._others()
        used, self._last = now - self._last, now
        return used

    def wait_below(self, cores: float, patience: float) -> None:
        """Return once the others used less than ``cores`` over one second, or after ``patience`` seconds."""
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            self.since_last()
            time.sleep(1.0)
            if self.since_last() < cores:
                return


class Harness:
    """B: batches as ``sweep.run_sweep`` runs them, in its client subprocess, watched, with server CPU sampled."""

    def __init__(self, server: Any, delay: float, timeout: float) -> None:
        # What ``iobench run`` has imported by the time its sweep starts.
        for module in ("iobench.cli", "iobench.present.plots", "iobench.present.report"):
            importlib.import_module(module)
        from iobench.measure.runners import open_runners
        from iobench.measure.workloads import make_workload

        self.server = server
        self.timeout = timeout
        (self.runner,), _ = open_runners((), print)
        self.workload = make_workload("http-delay", {"delay": delay})

    def batch(self, workers: int, tasks: int) -> tuple[float, float, float, int]:
        """(outer wall, recorded wall, client CPU, failed requests) of one batch."""
        from iobench.measure.health import watched

        work = partial(self.runner.run_batch, self.workload, executor="threads", workers=workers, tasks=tasks,
                       target=self.server.url, timeout=self.timeout, session_strategy="per-thread")  # fmt: skip
        began = time.perf_counter()
        self.server.cpu_seconds()
        sample = watched(self.server, work)
        self.server.cpu_seconds()
        outer = time.perf_counter() - began
        return outer, sample.wall_seconds, sample.cpu_seconds, sample.error_count

    def close(self) -> None:
        self.runner.close()


#: How many times one pair is measured again for ``--quiet-below`` before it is kept as it is.
MAX_TRIES = 10
#: How long ``--quiet-below`` waits for a quiet second before measuring anyway.
PATIENCE_SECONDS = 600.0


def measure_point(
    run_bare: Callable[[int, int], tuple[float, float]],
    harness: Harness,
    load: ForeignLoad,
    workers: int,
    args: argparse.Namespace,
) -> Point:
    """One warm-up pair, then ``args.pairs`` pairs, bare first in each."""
    point = Point(workers, args.waves * workers)
    run_bare(workers, point.tasks)
    harness.batch(workers, point.tasks)
    tries = 0
    while len(point.bare_wall) < args.pairs:
        if args.quiet_below is not None:
            load.wait_below(args.quiet_below, PATIENCE_SECONDS)
        began = time.perf_counter()
        load.since_last()
        bare_wall, bare_cpu = run_bare(workers, point.tasks)
        outer, recorded, cpu, errors = harness.batch(workers, point.tasks)
        foreign = load.since_last() / (time.perf_counter() - began)
        if args.quiet_below is not None and foreign > args.quiet_below and tries < MAX_TRIES:
            point.discarded += 1
            tries += 1
            continue
        tries = 0
        point.bare_wall.append(bare_wall)
        point.bare_cpu.append(bare_cpu)
        point.harness_wall.append(outer)
        point.recorded_wall.append(recorded)
        point.harness_cpu.append(cpu)
        point.harness_errors += errors
        point.foreign_cores.append(foreign)
    return point


def measure(args: argparse.Namespace) -> list[Point]:
    """Every pool size against one server, printing each row as it is done."""
    from iobench.measure.server import LocalServer
    from iobench.measure.workloads import format_seconds

    points = []
    with LocalServer(max_concurrency=max(args.workers)) as server:
        url = f"{server.url}/delay/{format_seconds(args.delay)}"
        harness = Harness(server, args.delay, args.timeout)
        bare = None if args.bare_in_process else BareChild()
        run_bare = partial(bare_batch if bare is None else bare.batch, url, timeout=args.bare_timeout)
        ours = [os.getpid(), harness.runner.pid] + ([] if bare is None else [bare.pid])
        load = ForeignLoad(lambda: ours + server.pids())
        try:
            print(HEADER, flush=True)
            for workers in args.workers:
                points.append(measure_point(run_bare, harness, load, workers, args))
                print(points[-1].row(), flush=True)
        finally:
            harness.close()
            if bare is not None:
                bare.close()
    return points


def _workers(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("give pool sizes like 1,2,4")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=_workers, default=list(DEFAULT_WORKERS), help="pool sizes (1,2,...,128)")
    parser.add_argument("--waves", type=int, default=4, help="tasks per worker: M = waves x N (4)")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds each request waits at the server (0.1)")
    parser.add_argument("--pairs", type=int, default=6, help="interleaved bare/harness pairs per N (6)")
    parser.add_argument("--timeout", type=float, default=30.0, help="the harness's request timeout (30)")
    parser.add_argument("--bare-timeout", type=float, default=None,
                        help="give the bare requests a socket timeout too (the harness's is --timeout), to tell "
                             "what a timeout costs from what the harness costs")  # fmt: skip
    parser.add_argument("--bare-in-process", action="store_true",
                        help="run the bare pattern in this process, not in a bare child process")  # fmt: skip
    parser.add_argument("--quiet-below", type=float, default=None, metavar="CORES",
                        help="wait before each pair until other processes use less than this much of a core, and "
                             "measure a pair again when they used more during it (default: never wait)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write every pair's numbers to this file")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        serve_bare()
        return 0
    points = measure(args)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: v for k, v in vars(args).items() if k != "json"},
                                         "points": [asdict(point) for point in points]}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
