"""Measure the CI gate itself: how often it cries wolf, and how often it catches a real regression.

Each pair starts with one quick sweep as the baseline (the same sweep as ``iobench run --quick``), then
runs one quick sweep per variant, in a shuffled order, and judges each against the baseline with
``iobench.analysis.gate`` at its default thresholds:

- ``unchanged``: the same code again. A regression verdict here is a false alarm.
- ``lock``: each task spends the last 10 % of its work holding a process-wide lock (a shared cache or log
  file guarded by one lock). Each task takes as long as before, so the sequential loop does not move, but
  no more than 1/(0.1·d) tasks per second can pass the lock: scaling breaks at high N.
- ``shared-session``: every thread shares one ``requests.Session`` with urllib3's default pool of 10
  connections, so at N = 32 most requests open a new connection and throw it away afterwards.
- ``slow-server``: the server answers 20 % later (each task asks for a 20 % longer delay while the results
  still record the old one). Throughput falls at every N, the sequential loop's too, so efficiency and
  speedup hold: the verdict must name throughput alone.

A regression is injected the way a code change would land: the ``http-delay`` workload is swapped for a
regressed class for one sweep, so the results file records the same workload and parameters as before.
One local server serves every sweep. Every results file is kept in ``--out``; ``--from DIR`` judges the
files of an earlier measurement again (for example at other thresholds) without running anything.

    python bench/gate_power.py --pairs 20    # 5 quick sweeps a pair, about 65 s a pair on 2 idle cores
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from iobench.analysis.gate import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_EFFECT,
    DRIFT_PROOF,
    Comparison,
    Thresholds,
    Verdict,
    compare,
)
from iobench.measure.config import SeriesSpec, SweepConfig, preset
from iobench.measure.jitter import DelayDistribution
from iobench.measure.server import LocalServer
from iobench.measure.sweep import run_sweep
from iobench.measure.workloads import WORKLOADS, HttpDelay, TaskContext, format_seconds
from iobench.results import ResultsWriter, load_results
from iobench.results.model import Results

LOCK_SHARE = 0.10
SLOWDOWN = 1.20
_GLOBAL_LOCK = threading.Lock()


def _get_delay(ctx: TaskContext, session: requests.Session, seconds: float) -> None:
    assert ctx.target is not None
    session.get(f"{ctx.target}/delay/{format_seconds(seconds)}", timeout=ctx.timeout).raise_for_status()


class HeldLockDelay(HttpDelay):
    """The same total time per task, its last 10 % spent holding one lock every thread shares."""

    def __call__(self, ctx: TaskContext) -> None:
        assert ctx.session is not None
        delay = self.next_delay()
        held = delay * LOCK_SHARE
        _get_delay(ctx, ctx.session, delay - held)
        with _GLOBAL_LOCK:
            time.sleep(held)  # I/O under the lock: a write to a shared file, a call on a shared client


class SharedSessionDelay(HttpDelay):
    """Every thread of the series uses one Session, whose urllib3 pool keeps 10 connections (the default)."""

    def __init__(self, distribution: DelayDistribution, seed: int = 0) -> None:
        super().__init__(distribution, seed)
        self.shared = requests.Session()

    def __call__(self, ctx: TaskContext) -> None:
        _get_delay(ctx, self.shared, self.next_delay())


class SlowServerDelay(HttpDelay):
    """The server takes 20 % longer to answer; the results file still records the old delay."""

    def __call__(self, ctx: TaskContext) -> None:
        assert ctx.session is not None
        _get_delay(ctx, ctx.session, self.next_delay() * SLOWDOWN)


VARIANTS: dict[str, type[HttpDelay] | None] = {
    "unchanged": None,
    "lock": HeldLockDelay,
    "shared-session": SharedSessionDelay,
    "slow-server": SlowServerDelay,
}


@contextmanager
def _http_delay_as(regressed: type[HttpDelay] | None) -> Iterator[None]:
    """Build the ``http-delay`` workload from ``regressed`` for one sweep, as a code change would."""
    original = WORKLOADS[HttpDelay.name]
    WORKLOADS[HttpDelay.name] = regressed or original
    try:
        yield
    finally:
        WORKLOADS[HttpDelay.name] = original


def quick_config() -> SweepConfig:
    """Exactly the sweep ``iobench run --quick`` measures."""
    quick = preset(True)
    spec = SeriesSpec("http-delay", {"delay": quick["delay"]}, "threads")
    return SweepConfig(series=(spec,), workers=quick["workers"], rounds=quick["rounds"], waves=quick["waves"])


def _measure(out: Path, pairs: int, variants: list[str], seed: int) -> Iterator[tuple[int, str, Results, Results]]:
    """Run the sweeps, saving each, and yield (pair, variant, baseline, new) as each comparison is ready."""
    config = quick_config()
    order = random.Random(seed)
    with LocalServer(max_concurrency=max(config.workers)) as server:
        for pair in range(1, pairs + 1):
            baseline = _sweep(config, server, out / f"pair{pair:02d}-base.json", None)
            for variant in order.sample(variants, len(variants)):
                new = _sweep(config, server, out / f"pair{pair:02d}-{variant}.json", VARIANTS[variant])
                yield pair, variant, baseline, new


def _sweep(config: SweepConfig, server: LocalServer, path: Path, regressed: type[HttpDelay] | None) -> Results:
    began = time.perf_counter()
    with _http_delay_as(regressed):
        results = run_sweep(config, ResultsWriter(path), server=server)
    print(f"  {path.name}: {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)
    return results


def _saved(directory: Path, variants: list[str]) -> Iterator[tuple[int, str, Results, Results]]:
    for base_path in sorted(directory.glob("pair*-base.json")):
        pair = int(base_path.name[4:6])
        for variant in variants:
            new_path = directory / base_path.name.replace("-base", f"-{variant}")
            if new_path.exists():
                yield pair, variant, load_results(base_path), load_results(new_path)


def _caught(variant: str, comparison: Comparison) -> bool:
    """Whether the gate did what it should: quiet for an unchanged run, a regression for the others.

    For the slower server the verdict must also name throughput and only throughput.
    """
    if variant == "unchanged":
        return comparison.verdict is not Verdict.REGRESSION
    regressed = set(comparison.moved(Verdict.REGRESSION))
    if variant == "slow-server":
        return "throughput" in regressed and not regressed & DRIFT_PROOF
    return bool(regressed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=20, help="baselines to measure, each judged against every variant")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset (default: all)")
    parser.add_argument("--out", type=Path, help="folder for the results files (default: a new temporary folder)")
    parser.add_argument("--from", dest="source", type=Path, help="judge the files saved in this folder; run nothing")
    parser.add_argument("--min-effect", type=float, default=DEFAULT_MIN_EFFECT)
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    parser.add_argument("--seed", type=int, default=0, help="seed for the order of variants within each pair")
    args = parser.parse_args(argv)
    variants = [name for name in args.variants.split(",") if name]
    if unknown := set(variants) - set(VARIANTS):
        parser.error(f"unknown variants {sorted(unknown)}")
    thresholds = Thresholds(min_effect=args.min_effect, alpha=args.alpha)

    began = time.perf_counter()
    if args.source:
        comparisons = _saved(args.source, variants)
    else:
        out = args.out or Path(tempfile.mkdtemp(prefix="iobench-gate-power-"))
        print(f"results files: {out}", file=sys.stderr)
        comparisons = _measure(out, args.pairs, variants, args.seed)
    right, total = Counter[str](), Counter[str]()
    for pair, variant, baseline, new in comparisons:
        comparison = compare(baseline, new, thresholds)
        total[variant] += 1
        right[variant] += _caught(variant, comparison)
        print(f"pair {pair:2d} {variant:15s} {comparison.verdict.value:22s} {comparison.summary()}", flush=True)

    print(f"\n{'variant':15s} {'gate right':>10s}  target")
    met = True
    for variant in variants:
        n = total[variant]
        # Targets for 20 pairs, scaled: at most 1 false alarm in 20, at least 19 detections in 20.
        wrong_allowed = n // 20
        ok = n > 0 and n - right[variant] <= wrong_allowed
        met &= ok
        goal = f"<= {wrong_allowed} false alarms" if variant == "unchanged" else f">= {n - wrong_allowed} detected"
        print(f"{variant:15s} {right[variant]:>4d} / {n:<3d}  {goal}  {'ok' if ok else 'MISSED'}")
    print(f"elapsed {time.perf_counter() - began:.0f} s")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
