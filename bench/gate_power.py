"""Measure the CI gate itself, in both of its modes: how often it cries wolf, how often it catches a regression.

The code under test is a user's task in a throwaway git repository, as in a real project: ``mytask.py``
committed unchanged (GET ``/delay/0.05`` on the executor's Session), and in the working tree one of

- ``unchanged``: the same code. A regression verdict is a false alarm.
- ``lock``: the same 50 ms per task, its last 10 % spent holding one lock every thread shares (a shared
  cache or log file): no more than 1 / 5 ms tasks per second can pass it, so scaling breaks at high N.
- ``per-request``: a new ``requests.Session`` per request, so a new connection and its set-up every time.

Each trial is one ``iobench run --task mytask:fetch --quick`` subprocess, judged by the gate in one of two
modes:

- ``baseline``: compared with a committed baseline, one quick run of the unchanged code measured once at
  the start, on a quiet machine (``results/baseline.json`` in a project);
- ``against``: ``--against HEAD``, the committed code (A) and the working tree (B) in one job.

Every cell runs again with a noisy neighbour: a CPU-bound process pinned to one core, started
``--neighbour-after`` seconds into the run and bounded in time, as another job on a shared runner would.

Every results file is kept in ``--out``, named after its cell and trial, so an interrupted measurement
resumes where it stopped (finished trials are not run again) and ``--from DIR`` judges saved files again
without running anything. The cells of each trial run in a shuffled order, so drift spreads over all.

    python bench/gate_power.py --trials 20 --out gate-power     # the full measurement: over an hour on 2 cores
    python bench/gate_power.py --trials 2 --out /tmp/smoke       # a smoke check
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from iobench.analysis.gate import Comparison, Verdict, compare, compare_sides
from iobench.errors import UsageError
from iobench.results import load_results

UNCHANGED = """\
def fetch(ctx):
    ctx.session.get(f"{ctx.target}/delay/0.05", timeout=ctx.timeout).raise_for_status()
"""
SCENARIOS = {
    "unchanged": UNCHANGED,
    "lock": """\
import threading, time
_LOCK = threading.Lock()
def fetch(ctx):
    ctx.session.get(f"{ctx.target}/delay/0.045", timeout=ctx.timeout).raise_for_status()
    with _LOCK:
        time.sleep(0.005)  # 10 % of the task's 50 ms, under a lock every thread shares
""",
    "per-request": """\
import requests
def fetch(ctx):
    with requests.Session() as session:  # a new Session, and so a new connection, per request
        session.get(f"{ctx.target}/delay/0.05", timeout=ctx.timeout).raise_for_status()
""",
}
MODES = ("baseline", "against")
NEIGHBOURS = ("quiet", "neighbour")
IOBENCH = [sys.executable, "-m", "iobench", "run", "--task", "mytask:fetch", "--quick", "--plots", ""]
#: The neighbour never outlives this, even if this script dies: a bound, as the issue asks.
NEIGHBOUR_LIMIT_SECONDS = 120
_SPIN = """\
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    pass
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _repository(out: Path) -> Path:
    """The throwaway project: ``mytask.py`` committed unchanged (made once, reused when resuming)."""
    repo = out / "repo"
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        _git(repo, "init", "-q")
        _git(repo, "config", "user.email", "gate-power@iobench")
        _git(repo, "config", "user.name", "gate power")
        (repo / "mytask.py").write_text(UNCHANGED)
        _git(repo, "add", "mytask.py")
        _git(repo, "commit", "-qm", "the task, unchanged")
    return repo


@contextmanager
def _neighbour(enabled: bool, after: float) -> Iterator[None]:
    """A CPU-bound process on the last core, started ``after`` seconds into the block, stopped at its end."""
    if not enabled:
        yield
        return
    core = max(os.sched_getaffinity(0))
    command = [sys.executable, "-c", _SPIN, str(core), str(NEIGHBOUR_LIMIT_SECONDS)]
    process: subprocess.Popen[bytes] | None = None

    def start() -> None:
        nonlocal process
        process = subprocess.Popen(command)

    timer = threading.Timer(after, start)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
        if process is not None:
            process.kill()
            process.wait()


def _trial(repo: Path, mode: str, scenario: str, neighbour: bool, path: Path, after: float) -> None:
    (repo / "mytask.py").write_text(SCENARIOS[scenario])
    try:
        command = [*IOBENCH, "--out", str(path), "--force"]
        if mode == "against":
            command += ["--against", "HEAD"]
        env = {**os.environ, "PYTHONPATH": str(repo)}
        began = time.perf_counter()
        with _neighbour(neighbour, after):
            done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"{path.name}: iobench exited {done.returncode}: {done.stderr.strip()[-300:]}")
        print(f"  {path.name}: {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    finally:
        _git(repo, "checkout", "--", "mytask.py")


def _cells(modes: list[str], scenarios: list[str], neighbours: list[str]) -> list[tuple[str, str, str]]:
    return list(itertools.product(modes, scenarios, neighbours))


def _name(mode: str, scenario: str, neighbour: str, trial: int) -> str:
    return f"{mode}-{scenario}-{neighbour}-{trial:02d}.json"


def _finished(path: Path) -> bool:
    try:
        return load_results(path).complete
    except UsageError:
        return False


def measure(out: Path, trials: int, cells: list[tuple[str, str, str]], seed: int, after: float) -> None:
    """Run every missing trial; the committed baseline first, once, without a neighbour."""
    repo = _repository(out)
    baseline = out / "baseline.json"
    if any(mode == "baseline" for mode, _, _ in cells) and not _finished(baseline):
        _trial(repo, "baseline", "unchanged", False, baseline, after)
    shuffler = random.Random(seed)
    for trial in range(1, trials + 1):
        for mode, scenario, neighbour in shuffler.sample(cells, len(cells)):
            path = out / _name(mode, scenario, neighbour, trial)
            if not _finished(path):
                _trial(repo, mode, scenario, neighbour == "neighbour", path, after)


def _judged(out: Path, mode: str, path: Path) -> Comparison:
    if mode == "against":
        return compare_sides(load_results(path))
    return compare(load_results(out / "baseline.json"), load_results(path))


def _right(scenario: str, comparison: Comparison) -> bool:
    """Quiet for unchanged code, a regression verdict for the others."""
    regressed = comparison.verdict is Verdict.REGRESSION
    return not regressed if scenario == "unchanged" else regressed


def report(out: Path, trials: int, cells: list[tuple[str, str, str]]) -> bool:
    """Print each trial's verdict and the table of counts; whether every cell met its goal."""
    right, total = Counter[tuple[str, str, str]](), Counter[tuple[str, str, str]]()
    for trial in range(1, trials + 1):
        for cell in cells:
            path = out / _name(*cell, trial)
            if not _finished(path):
                continue
            comparison = _judged(out, cell[0], path)
            total[cell] += 1
            right[cell] += _right(cell[1], comparison)
            print(f"{path.name:40s} {comparison.verdict.value:22s} {comparison.summary()[:100]}")
    print(f"\n{'mode':9s} {'load':10s} {'scenario':12s} {'gate right':>10s}  goal")
    met = True
    for cell in cells:
        n = total[cell]
        wrong_allowed = n // 20  # at most 1 false alarm in 20, at least 19 detections in 20
        ok = n > 0 and n - right[cell] <= wrong_allowed
        met &= ok
        what = "false alarms" if cell[1] == "unchanged" else "missed"
        print(f"{cell[0]:9s} {cell[2]:10s} {cell[1]:12s} {right[cell]:>4d} / {n:<4d}  {n - right[cell]} {what}, "
              f"<= {wrong_allowed} allowed: {'ok' if ok else 'MISSED'}")  # fmt: skip
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=20, help="trials per cell (default 20)")
    parser.add_argument("--out", type=Path, help="folder for the results files; resumes what is there")
    parser.add_argument("--from", dest="source", type=Path, help="judge the files saved in this folder; run nothing")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of baseline,against")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset (default: all)")
    parser.add_argument("--neighbours", default=",".join(NEIGHBOURS), help="quiet, neighbour or both (default)")
    parser.add_argument("--neighbour-after", type=float, default=6.0, help="seconds into each run (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the order of the cells in each trial")
    args = parser.parse_args(argv)
    chosen = {name: [item for item in getattr(args, name).split(",") if item]
              for name in ("modes", "scenarios", "neighbours")}  # fmt: skip
    for name, known in (("modes", MODES), ("scenarios", tuple(SCENARIOS)), ("neighbours", NEIGHBOURS)):
        if unknown := set(chosen[name]) - set(known):
            parser.error(f"unknown {name} {sorted(unknown)}")
    cells = _cells(chosen["modes"], chosen["scenarios"], chosen["neighbours"])
    began = time.perf_counter()
    out = args.source or args.out
    if out is None:
        parser.error("give --out FOLDER (to measure, or resume) or --from FOLDER (to judge saved files)")
    if args.source is None:
        out.mkdir(parents=True, exist_ok=True)
        print(f"results files: {out}", file=sys.stderr)
        measure(out, args.trials, cells, args.seed, args.neighbour_after)
    met = report(out, args.trials, cells)
    print(f"elapsed {time.perf_counter() - began:.0f} s")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
