"""Figures from a results document alone: speedup and throughput against pool size.

The same document always gives byte-identical files: a fixed style, a fixed SVG hash salt and no
dates in the metadata, so regenerated docs show a diff only when the data changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # (imported after the backend is chosen)
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from iobench.analysis import SeriesStats, analyze
from iobench.results import Results, is_complete

_STYLE = {
    "figure.figsize": (7.5, 4.8),
    "figure.dpi": 100,
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "iobench",
    "svg.fonttype": "path",
}
FORMATS = ("png", "svg")


def caption(results: Results) -> str:
    """The environment in one line, so a figure pasted elsewhere still says where it was measured."""
    env = results["environment"]
    pythons = []  # the clients' interpreters (several in an interpreter matrix), else the harness's own
    for python in [s["interpreter"] for s in results["series"] if s.get("interpreter")] or [env.get("python", {})]:
        gil = "GIL on" if python.get("gil_enabled", True) else "GIL off"
        shown = f"{python.get('implementation', 'Python')} {python.get('version', '?')} ({gil})"
        pythons += [shown] if shown not in pythons else []
    server = results["server"].get("kind", "?")
    status = "" if is_complete(results) else f" — INCOMPLETE ({results['status']})"
    return f"{', '.join(pythons)}, {env.get('cpu_count', '?')} CPUs, server: {server}{status}"


def _log2_workers_axis(ax: Axes, series: list[SeriesStats]) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted({p.workers for s in series for p in s.points})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel("workers N (threads in the pool)")


def _threaded(results: Results) -> list[SeriesStats]:
    return [s for s in analyze(results) if s.executor != "sequential"]


def plot_speedup(ax: Axes, results: Results) -> None:
    series = _threaded(results)
    for stats in series:
        workers = [p.workers for p in stats.points]
        medians = [p.speedup.value for p in stats.points]
        spread = [[p.speedup.value - p.speedup.low for p in stats.points],
                  [p.speedup.high - p.speedup.value for p in stats.points]]  # fmt: skip
        ax.errorbar(workers, medians, yerr=spread, marker="o", capsize=3, label=f"{stats.label} (median, 95% CI)")
    if series:
        first = series[0]
        ax.plot([p.workers for p in first.points], [p.ideal_speedup for p in first.points], "k--",
                label="ideal bound M / ceil(M/N)")  # fmt: skip
        _log2_workers_axis(ax, series)
    ax.set_yscale("log", base=2)
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.set_ylabel("speedup over the sequential loop (×)")
    ax.set_title("Speedup from threads")
    ax.legend(loc="upper left", fontsize=8)


def plot_throughput(ax: Axes, results: Results) -> None:
    series = _threaded(results)
    for stats in series:
        workers = [p.workers for p in stats.points]
        medians = [p.throughput.value for p in stats.points]
        spread = [[p.throughput.value - p.throughput.low for p in stats.points],
                  [p.throughput.high - p.throughput.value for p in stats.points]]  # fmt: skip
        ax.errorbar(workers, medians, yerr=spread, marker="o", capsize=3, label=stats.label)
    if series:
        _log2_workers_axis(ax, series)
    ax.set_ylabel("throughput (tasks/s)")
    ax.set_title("Throughput")
    ax.legend(loc="upper left", fontsize=8)


FIGURES: dict[str, Callable[[Axes, Results], None]] = {
    "speedup": plot_speedup,
    "throughput": plot_throughput,
}


def _save(figure: Figure, out_dir: Path, name: str) -> list[Path]:
    written = []
    for fmt in FORMATS:
        path = out_dir / f"{name}.{fmt}"
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        figure.savefig(path, format=fmt, metadata=metadata)
        written.append(path)
    return written


def write_plots(results: Results, out_dir: Path) -> list[Path]:
    """Render every figure into ``out_dir`` as PNG and SVG; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with plt.rc_context(_STYLE):
        for name, draw in FIGURES.items():
            figure, ax = plt.subplots(layout="constrained")
            draw(ax, results)
            figure.text(0.5, 0.005, caption(results), ha="center", va="bottom", fontsize=7, color="0.35")
            figure.get_layout_engine().set(h_pad=0.2)
            written += _save(figure, out_dir, name)
            plt.close(figure)
    return written
