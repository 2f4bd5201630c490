"""Does the analysis explain the curve? Predicted vs measured saturation for several delays, and how stable.

For each delay d it runs one sweep (through the library, reusing one local server) and prints, side
by side, the saturation point predicted from service demands, N* ≈ (d + D) / D_max, the one measured
(the saturation rule, and the Kneedle knee), the USL peak and the named bottleneck. The target is
prediction and measurement within a factor of 2, one step of the doubling sweep.

With --repeat K it runs K sweeps per delay instead and prints the coefficient of variation of each
point's speedup across them (target: at most 5 %).

    python bench/analysis_table.py                       # d = 0.05, 0.1, 0.2 s; N = 1..256
    python bench/analysis_table.py --repeat 5            # the CV of speedup over 5 runs
    python bench/analysis_table.py --delays 0.02 --workers 1,2,4 --rounds 2 --waves 2   # a smoke test

Every results document is kept in --out, so ``iobench report`` and ``iobench plot`` can re-read them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from iobench.analysis.diagnosis import Diagnosis, diagnose_results
from iobench.analysis.stats import analyze
from iobench.errors import UsageError
from iobench.measure.config import SeriesSpec, SweepConfig, parse_workers
from iobench.measure.server import LocalServer
from iobench.measure.sweep import run_sweep
from iobench.results import ResultsWriter, results_path
from iobench.results.model import Results

DEFAULT_WORKERS = "1,2,4,8,16,32,64,128,256"


def sweep(server: LocalServer, delay: float, args: argparse.Namespace) -> Results:
    config = SweepConfig(series=(SeriesSpec("http-delay", {"delay": delay}, "threads"),),
                         workers=parse_workers(args.workers), rounds=args.rounds, waves=args.waves)  # fmt: skip
    writer = ResultsWriter(results_path(Path(args.out)))
    results = run_sweep(config, writer, server=server)
    print(f"  d = {delay:g} s: {writer.path}", file=sys.stderr)
    return results


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def explanation_row(delay: float, diagnosis: Diagnosis) -> list[str]:
    demands, found = diagnosis.demands, diagnosis.saturation
    predicted = demands.predicted_saturation if demands else None
    measured = None if found is None else found.workers
    ratio = measured / predicted if measured and predicted else None
    edge = " (edge)" if found is not None and found.at_sweep_edge else ""
    return [
        f"{delay:g}",
        _number(demands.client_cpu * 1000 if demands else None, 2),
        _number(demands.server_cpu * 1000 if demands and demands.server_cpu is not None else None, 2),
        _number(predicted),
        f"{_number(measured)}{edge}",
        _number(diagnosis.knee),
        _number(ratio, 2),
        _number(diagnosis.usl.peak_workers if diagnosis.usl else None),
        "–" if diagnosis.utilization is None else f"{diagnosis.utilization.client:.0%}",
        diagnosis.bottleneck.kind,
    ]


def markdown_table(header: Sequence[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def explain(server: LocalServer, delays: list[float], args: argparse.Namespace) -> None:
    rows = []
    for delay in delays:
        (diagnosis,) = diagnose_results(sweep(server, delay, args))
        rows.append(explanation_row(delay, diagnosis))
    header = ("d (s)", "client CPU ms/req", "server CPU ms/req", "predicted N*", "measured N (rule)",
              "Kneedle knee", "measured / predicted", "USL peak N", "client core use", "bottleneck")  # fmt: skip
    print(markdown_table(header, rows))


def stability(server: LocalServer, delays: list[float], args: argparse.Namespace) -> None:
    rows = []
    for delay in delays:
        speedups: dict[int, list[float]] = {}
        for _ in range(args.repeat):
            for stats in analyze(sweep(server, delay, args)):
                if stats.executor != "sequential":
                    for point in stats.points:
                        speedups.setdefault(point.workers, []).append(point.speedup.value)
        for workers, values in sorted(speedups.items()):
            cv = float(np.std(values, ddof=1) / np.mean(values)) if len(values) > 1 else 0.0
            rows.append([f"{delay:g}", str(workers), f"{np.mean(values):.2f}", f"{cv:.1%}",
                         "yes" if cv <= 0.05 else "NO"])  # fmt: skip
    print(markdown_table(("d (s)", "N", f"mean speedup over {args.repeat} runs", "CV", "≤ 5 %"), rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--delays", default="0.05,0.1,0.2", help="comma-separated delays in seconds")
    parser.add_argument("--workers", default=DEFAULT_WORKERS, help=f"pool sizes (default {DEFAULT_WORKERS})")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per point (default 5)")
    parser.add_argument("--waves", type=int, default=4, help="tasks per worker in each batch (default 4)")
    parser.add_argument("--repeat", type=int, default=0, help="runs per delay for the CV of speedup (e.g. 5)")
    parser.add_argument("--out", default="bench-results/analysis", help="folder for the results documents")
    args = parser.parse_args(argv)
    try:
        delays = [float(part) for part in args.delays.split(",") if part.strip()]
        capacity = max(parse_workers(args.workers))
        with LocalServer(max_concurrency=capacity) as server:
            (stability if args.repeat else explain)(server, delays, args)
    except (UsageError, ValueError) as exc:
        print(f"analysis_table: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
