"""How well does ``--workers auto`` find the saturation point? Predicted and measured N*, and what it cost.

For each delay d it runs the auto search (the default run's settings, 5 rounds and pools up to 512, but a
120 s budget: the table asks what the search needs, not what fits the default run) and then, unless
--no-grid, the fixed doubling grid 1, 2, 4 … up to the largest pool the search measured, on the same
local server. It prints, per delay: N* predicted before the sweep, N* measured
with its 95 % interval and the interval's half width, measured over predicted, why the search stopped,
the pools and seconds it took, and the same for the grid with the N* the grid alone gives.

Goals (issue 11): measured N* within ×1.5 of the prediction; an interval within ±15 %; the default run
(``iobench run``, server start and plots included) within 60 s, which ``--default-run`` times.

    python bench/saturation_table.py                          # d = 0.05, 0.1, 0.2 s, auto and grid
    python bench/saturation_table.py --no-grid --default-run  # auto only, then time `iobench run`
    python bench/saturation_table.py --budget 45              # the default run's budget at every delay
    python bench/saturation_table.py --delays 0.02 --budget 15 --no-grid   # a smoke test

Every results document is kept in --out, so ``iobench report``, ``plot`` and ``recommend`` can re-read them.
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from iobench.analysis.prediction import Finding, find_all
from iobench.analysis.search import SearchSettings
from iobench.defaults import DEFAULTS
from iobench.errors import UsageError
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.server import LocalServer
from iobench.measure.sweep import run_sweep
from iobench.results import ResultsWriter, results_path
from iobench.results.model import Results


def sweep(server: LocalServer, config: SweepConfig, out: Path) -> tuple[Results, float]:
    writer = ResultsWriter(results_path(out))
    began = time.perf_counter()
    results = run_sweep(config, writer, server=server)
    seconds = time.perf_counter() - began
    print(f"  {writer.path} ({seconds:.0f} s)", file=sys.stderr)
    return results, seconds


def measured(finding: Finding) -> str:
    interval = finding.interval
    if interval is None:
        return "–"
    if interval.status == "rising":
        return f"≥ {interval.largest}"
    if interval.status == "flat":
        return f"flat from {interval.estimate:.0f}"
    return f"{interval.estimate:.0f} ({interval.low:.0f}–{interval.high:.0f})"


def half_width(finding: Finding) -> str:
    interval = finding.interval
    return "–" if interval is None or math.isinf(interval.half_width) else f"±{interval.half_width:.0%}"


def row(delay: float, auto: Results, auto_seconds: float, grid: Results | None, grid_seconds: float) -> list[str]:
    (finding,) = find_all(auto)
    prediction = finding.prediction
    predicted = "–" if prediction is None or prediction.workers is None else f"{prediction.workers:.0f}"
    ratio = "–" if finding.ratio is None else f"{finding.ratio:.2f}"
    pools = len(auto.series[1].points)
    cells = [f"{delay:g}", predicted, measured(finding), half_width(finding), ratio, finding.outcome or "–",
             f"{pools} pools, {auto_seconds:.0f} s"]  # fmt: skip
    if grid is not None:
        (on_grid,) = find_all(grid)
        largest = max(point.workers for point in grid.series[1].points)
        cells += [f"1…{largest}: {len(grid.series[1].points)} pools, {grid_seconds:.0f} s",
                  f"{measured(on_grid)} {half_width(on_grid)}"]  # fmt: skip
    return cells


def markdown_table(header: Sequence[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows])


def time_default_run(out: Path) -> str:
    """`iobench run` as a user types it (server start, the auto search, the report and the plots), timed."""
    command = shutil.which("iobench") or str(Path(sys.executable).with_name("iobench"))
    began = time.perf_counter()
    arguments = ["run", "--out", str(out / "default.json"), "--force", "--plots", str(out / "plots")]
    done = subprocess.run([command, *arguments], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    verdict = next((line for line in done.stdout.splitlines() if line.startswith("Saturates")), done.stderr[-200:])
    return f"default run: exit {done.returncode} in {seconds:.1f} s; {verdict[:160]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--delays", default="0.05,0.1,0.2", help="comma-separated delays in seconds")
    parser.add_argument("--rounds", type=int, default=DEFAULTS["rounds"].full, help="measured rounds per point")
    parser.add_argument("--budget", type=float, default=120.0, help="the search's budget in seconds (default 120)")
    parser.add_argument("--max-workers", type=int, default=DEFAULTS["max_workers"].full, help="largest pool")
    parser.add_argument("--no-grid", action="store_true", help="skip the fixed doubling grid")
    parser.add_argument("--default-run", action="store_true", help="also time `iobench run` as a user runs it")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "iobench-saturation"),
                        help="folder for the results documents")  # fmt: skip
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        delays = [float(part) for part in args.delays.split(",") if part.strip()]
        settings = SearchSettings(budget_seconds=args.budget, max_workers=args.max_workers)
        rows = []
        with LocalServer(max_concurrency=args.max_workers) as server:
            for delay in delays:
                spec = SeriesSpec("http-delay", {"delay": delay}, "threads")
                auto, auto_seconds = sweep(server, SweepConfig(series=(spec,), workers="auto", rounds=args.rounds,
                                                               search=settings), out)  # fmt: skip
                grid, grid_seconds = None, 0.0
                if not args.no_grid:
                    largest = max(point.workers for point in auto.series[1].points)
                    doubling = tuple(2**k for k in range(math.ceil(math.log2(largest)) + 1))
                    grid, grid_seconds = sweep(server, SweepConfig(series=(spec,), workers=doubling,
                                                                   rounds=args.rounds), out)  # fmt: skip
                rows.append(row(delay, auto, auto_seconds, grid, grid_seconds))
        header = ["d (s)", "predicted N*", "measured N* (95% CI)", "interval", "measured / predicted",
                  "search stopped", "auto needed"]  # fmt: skip
        if not args.no_grid:
            header += ["doubling grid", "grid's N* (95% CI)"]
        print(markdown_table(header, rows))
        if args.default_run:
            print(time_default_run(out))
    except (UsageError, ValueError) as exc:
        print(f"saturation_table: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
