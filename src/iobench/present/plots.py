"""Figures from results documents alone: speedup, throughput, efficiency, latency and responsiveness against N.

Each figure carries what explains it: the ideal bound and the saturation point on the speedup; the
asymptotes N / (d + D) and 1 / D_max (the cores each resource can use over its CPU per request: one for a
client under the GIL, all of them with the GIL off; and the server's own ceiling, when wrk measured it),
the USL fit, the measured N* with its 95 % interval and the predicted N* on the throughput;
ThreadPoolExecutor's default pool size and the cpu × 5 rule of thumb on all of them; points whose rounds
had errors in red. Several documents (say, one per interpreter) overlay, labelled by what differs between
them. The responsiveness figure (how late the probe thread woke) is drawn for documents that ran the probe.

The same documents always give byte-identical files: a fixed style, a fixed SVG hash salt and no
dates in the metadata, so regenerated docs show a diff only when the data changed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # (imported after the backend is chosen)
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from iobench.analysis.diagnosis import Diagnosis
from iobench.analysis.prediction import Finding, find_all
from iobench.analysis.saturation import SATURATION_TOLERANCE
from iobench.analysis.statistics import Estimate
from iobench.analysis.stats import PointStats
from iobench.present.labels import document_labels, series_label
from iobench.results.model import Results

STYLE = {
    "figure.figsize": (7.5, 5.2),
    "figure.dpi": 100,
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "iobench",
    "svg.fonttype": "path",
}
FORMATS = ("png", "svg")
#: More legend entries than this go below the axes, where they cannot cover the data.
_LEGEND_INSIDE_MAX = 7
_ERROR_STYLE = {"marker": "X", "color": "red", "markersize": 10, "linestyle": "none", "zorder": 5}


@dataclass(frozen=True)
class Curve:
    """One series of one document, with its colour and the diagnosis every figure draws from."""

    label: str
    color: str
    finding: Finding

    @property
    def diagnosis(self) -> Diagnosis:
        return self.finding.diagnosis

    @property
    def points(self) -> list[PointStats]:
        return sorted(self.diagnosis.series.points, key=lambda point: point.workers)

    @property
    def workers(self) -> np.ndarray:
        return np.array([point.workers for point in self.points], dtype=float)


@dataclass(frozen=True)
class Chart:
    """What all figures share: the curves and the CPU counts that place the rule-of-thumb markers."""

    curves: list[Curve]
    cpu_counts: list[int]
    caption: str


def caption(results: Results) -> str:
    """The environment in one line, so a figure pasted elsewhere still says where it was measured.

    The interpreters are the clients' (several in an interpreter matrix), else the harness's own.
    """
    clients = results.interpreters or [results.environment.python]
    pythons = " + ".join(interpreter.label for interpreter in clients)
    status = "" if results.complete else f" — INCOMPLETE ({results.status})"
    database = f", database: {results.database.kind}" if results.database else ""
    return f"{pythons}, {results.environment.cpu_count or '?'} CPUs, server: {results.server.kind}{database}{status}"


def build_chart(documents: Sequence[Results], names: Sequence[str] | None = None) -> Chart:
    labels = document_labels(documents, names) if len(documents) > 1 else [None]
    curves: list[Curve] = []
    for document, document_label in zip(documents, labels, strict=True):
        for finding in find_all(document):
            label = series_label(finding.stats, document, document_label)
            curves.append(Curve(label, f"C{len(curves) % 10}", finding))
    cpu_counts = sorted({d.environment.cpu_count for d in documents if d.environment.cpu_count})
    captions = list(dict.fromkeys(caption(document) for document in documents))
    return Chart(curves, cpu_counts, "; ".join(captions))


# --- shared decorations -----------------------------------------------------------------------------


#: Pool sizes closer than this on log2 N share one tick label (an auto search measures 128, 152 and 181).
_TICK_SPACING = 0.3


def _tick_sizes(measured: set[int]) -> list[int]:
    """The measured pool sizes to label: powers of two first, then the others that leave room for a label."""
    ticks: list[int] = []
    for size in sorted(measured, key=lambda n: (n & (n - 1) != 0, n)):
        if all(abs(np.log2(size / other)) >= _TICK_SPACING for other in ticks):
            ticks.append(size)
    return sorted(ticks)


def _workers_axis(ax: Axes, chart: Chart) -> None:
    ax.set_xscale("log", base=2)
    ticks = _tick_sizes({p.workers for curve in chart.curves for p in curve.points})
    if ticks:
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("workers N (threads in the pool)")


def _rule_of_thumb_markers(ax: Axes, chart: Chart) -> None:
    """Where the usual advice would put the pool size, next to where the data puts it."""
    for cpus in chart.cpu_counts:
        default = min(32, cpus + 4)
        ax.axvline(default, color="0.45", linestyle=":", linewidth=1.2,
                   label=f"ThreadPoolExecutor default min(32, cpu+4) = {default}")  # fmt: skip
        ax.axvline(cpus * 5, color="0.45", linestyle="-.", linewidth=1.2, label=f"cpu × 5 rule = {cpus * 5}")


def _mark_errors(ax: Axes, chart: Chart, value: Callable[[PointStats], float]) -> None:
    """A red cross on every point with failed tasks: its median includes rounds that did not all succeed."""
    failed = [(p.workers, value(p)) for curve in chart.curves for p in curve.points if p.error_rounds]
    if failed:
        xs, ys = zip(*failed, strict=True)
        ax.plot(xs, ys, label="rounds with errors (see report)", **_ERROR_STYLE)


def _errorbars(ax: Axes, curve: Curve, estimate: Callable[[PointStats], Estimate], label: str) -> None:
    values = [estimate(p) for p in curve.points]
    medians = [v.value for v in values]
    spread = [[v.value - v.low for v in values], [v.high - v.value for v in values]]
    ax.errorbar(curve.workers, medians, yerr=spread, marker="o", capsize=3, color=curve.color, label=label)


def _log2_y_axis(ax: Axes) -> None:
    """Log scale, so equal ratios look equal, with plain numbers on the ticks instead of powers."""
    ax.set_yscale("log", base=2)
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def _legend(ax: Axes, loc: str) -> None:
    """Inside, in the corner the curves leave empty; below the axes when several curves would crowd it."""
    entries = len(ax.get_legend_handles_labels()[0])
    if entries > _LEGEND_INSIDE_MAX:
        width, height = STYLE["figure.figsize"]
        ax.figure.set_size_inches(width, height + 0.15 * entries)  # room below, so the axes keep their size
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), fontsize=7, frameon=False)
    else:
        ax.legend(loc=loc, fontsize=7, framealpha=0.85)


def _dense(curve: Curve) -> np.ndarray:
    return np.geomspace(curve.workers.min(), curve.workers.max(), 200)


# --- the figures ------------------------------------------------------------------------------------


def plot_speedup(ax: Axes, chart: Chart) -> None:
    for curve in chart.curves:
        _errorbars(ax, curve, lambda p: p.speedup, f"{curve.label} (median, 95% CI)")
        diagnosis = curve.diagnosis
        found = diagnosis.saturation
        if found is not None:
            speedup = next(p.speedup.value for p in curve.points if p.workers == found.workers)
            edge = " (edge of sweep)" if found.at_sweep_edge else ""
            label = f"smallest N measured within {found.tolerance:.0%} of the best: {found.workers}{edge}"
            ax.plot([found.workers], [speedup], marker="*", markersize=16, color=curve.color, markeredgecolor="black",
                    linestyle="none", label=label)  # fmt: skip
        if diagnosis.series.speedup_bound is not None:
            bound = diagnosis.series.speedup_bound
            ax.axhline(bound, color=curve.color, linestyle="--", linewidth=1,
                       label=f"workload's speedup bound {bound:.3g}×")  # fmt: skip
    if chart.curves:
        first = chart.curves[0]
        ax.plot(first.workers, [p.ideal_speedup for p in first.points], "k--", linewidth=1,
                label="ideal bound M / ceil(M/N)")  # fmt: skip
    _mark_errors(ax, chart, lambda p: p.speedup.value)
    _log2_y_axis(ax)
    ax.set_ylabel("speedup over the sequential loop (×)")
    ax.set_title(
        f"Speedup from threads (★ = saturation rule: smallest N within {SATURATION_TOLERANCE:.0%} of the best)"
    )
    _legend(ax, "lower right")


def _mark_saturation_points(ax: Axes, curve: Curve) -> None:
    """The measured N* where the curve crosses the rule's threshold, its 95 % interval as a horizontal bar,
    and the predicted N* as a dash-dot line."""
    interval, prediction = curve.finding.interval, curve.finding.prediction
    if interval is not None and interval.status == "found":
        label = f"measured N* = {interval.estimate:.0f} (95% CI {interval.low:.0f}–{interval.high:.0f})"
        spread = [[interval.estimate - interval.low], [interval.high - interval.estimate]]
        ax.errorbar([interval.estimate], [interval.threshold], xerr=spread, marker="D", markersize=7, capsize=5,
                    color=curve.color, markeredgecolor="black", linewidth=2, zorder=6, label=label)  # fmt: skip
    elif interval is not None and interval.status == "rising":
        ax.axvline(interval.largest, color=curve.color, linewidth=1.5,
                   label=f"measured N* ≥ {interval.largest} (still rising)")  # fmt: skip
    if prediction is not None and prediction.workers:
        when = "before the sweep" if curve.finding.predicted_before else "from the demands"
        ax.axvline(prediction.workers, color=curve.color, linestyle=(0, (6, 2, 1, 2)), linewidth=1.2,
                   label=f"predicted N* ≈ {prediction.workers:.0f} ({when})")  # fmt: skip


def plot_throughput(ax: Axes, chart: Chart) -> None:
    tops: list[float] = []
    for curve in chart.curves:
        _errorbars(ax, curve, lambda p: p.throughput, curve.label)
        tops += [p.throughput.high for p in curve.points]
        diagnosis, grid = curve.diagnosis, _dense(curve)
        demands = diagnosis.demands
        wait_bound = demands.wait_bound(grid) if demands is not None else None
        if demands is not None and wait_bound is not None:
            ax.plot(grid, wait_bound, "--", color=curve.color, linewidth=1,
                    label=f"N/(d+D), d={demands.wait:g} s, D={demands.total * 1000:.2f} ms")  # fmt: skip
        if demands is not None and demands.ceiling is not None:
            label = f"{demands.ceiling_formula} = {demands.ceiling:.0f}/s ({demands.limiting_text})"
            ax.axhline(demands.ceiling, color=curve.color, linestyle=":", linewidth=1.5, label=label)
            tops.append(demands.ceiling)
        if diagnosis.usl is not None:
            usl = diagnosis.usl
            ax.plot(grid, usl.throughput(grid), linestyle=(0, (1, 1)), color=curve.color, linewidth=1.2,
                    label=f"USL fit α={usl.alpha:.3g}, β={usl.beta:.2g}, R²={usl.r_squared:.3f}")  # fmt: skip
        server = diagnosis.server_ceiling
        if server is not None:
            ax.axhline(
                server.requests_per_second,
                color=curve.color,
                linestyle="-.",
                linewidth=1.5,
                alpha=0.7,
                label=f"server alone (wrk, {server.connections} conns) = {server.requests_per_second:.0f}/s",
            )
            tops.append(server.requests_per_second)
        _mark_saturation_points(ax, curve)
    _mark_errors(ax, chart, lambda p: p.throughput.value)
    _log2_y_axis(ax)
    if tops:
        bottom = min(p.throughput.low for curve in chart.curves for p in curve.points)
        ax.set_ylim(max(bottom / 1.5, 1e-3), max(tops) * 1.5)
    ax.set_ylabel("throughput (tasks/s)")
    ax.set_title("Throughput and the two asymptotes that bound it")
    _legend(ax, "lower right")


def plot_efficiency(ax: Axes, chart: Chart) -> None:
    for curve in chart.curves:
        _errorbars(ax, curve, lambda p: p.efficiency, curve.label)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="ideal (speedup = M / ceil(M/N))")
    _mark_errors(ax, chart, lambda p: p.efficiency.value)
    ax.set_ylim(0, max([1.1, *(p.efficiency.high * 1.05 for c in chart.curves for p in c.points)]))
    ax.set_ylabel("efficiency (speedup / ideal speedup)")
    ax.set_title("Efficiency: the share of the ideal speedup each pool reaches")
    _legend(ax, "lower left")


_PERCENTILES = (("p50", "-", lambda p: p.latency_p50), ("p95", "--", lambda p: p.latency_p95),
                ("p99", ":", lambda p: p.latency_p99))  # fmt: skip


def plot_latency(ax: Axes, chart: Chart) -> None:
    for curve in chart.curves:
        for name, style, value in _PERCENTILES:
            ax.plot(curve.workers, [value(p) * 1000 for p in curve.points], style, marker="o", markersize=3,
                    color=curve.color, label=curve.label if name == "p50" else None)  # fmt: skip
    for name, style, _ in _PERCENTILES:
        ax.plot([], [], style, color="0.3", label=name)  # legend entries for the line styles
    _mark_errors(ax, chart, lambda p: p.latency_p99 * 1000)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("task latency (ms)")
    ax.set_title("Latency per task: p50, p95, p99")
    _legend(ax, "upper left")


def _probed(chart: Chart) -> bool:
    return any(point.probe_p99 is not None for curve in chart.curves for point in curve.points)


def plot_responsiveness(ax: Axes, chart: Chart) -> None:
    """How late a thread that wants to wake every period runs beside the batch: p99 solid, max dotted."""
    for curve in chart.curves:
        probed = [point for point in curve.points if point.probe_p99 is not None and point.probe_max is not None]
        if not probed:
            continue
        workers = [point.workers for point in probed]
        ax.plot(workers, [point.probe_p99 * 1000 for point in probed], "-", marker="o", color=curve.color,  # type: ignore[operator]
                label=curve.label)  # fmt: skip
        ax.plot(workers, [point.probe_max * 1000 for point in probed], ":", marker=".", color=curve.color)  # type: ignore[operator]
    ax.plot([], [], "-", color="0.3", label="p99")
    ax.plot([], [], ":", color="0.3", label="max")
    ax.axhline(5.0, color="0.45", linestyle="--", linewidth=1, label="5 ms: CPython's default switch interval")
    _mark_errors(ax, chart, lambda p: p.probe_p99 * 1000 if p.probe_p99 is not None else math.nan)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.set_ylabel("how late the probe thread woke (ms)")
    ax.set_title("Responsiveness: lateness of a thread that wants to wake every 5 ms")
    _legend(ax, "upper left")


FIGURES: dict[str, Callable[[Axes, Chart], None]] = {
    "speedup": plot_speedup,
    "throughput": plot_throughput,
    "efficiency": plot_efficiency,
    "latency": plot_latency,
    "responsiveness": plot_responsiveness,
}
#: Figures drawn only for documents that have their data.
_DRAWN_IF: dict[str, Callable[[Chart], bool]] = {"responsiveness": _probed}


def _save(figure: Figure, out_dir: Path, name: str) -> list[Path]:
    written = []
    for fmt in FORMATS:
        path = out_dir / f"{name}.{fmt}"
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        figure.savefig(path, format=fmt, metadata=metadata)
        written.append(path)
    return written


def save_figure(figure: Figure, out_dir: Path, name: str) -> list[Path]:
    """Save ``figure`` as ``name``.png and .svg with no date or software stamp, so the bytes depend on the data
    alone; the figure is closed afterwards."""
    try:
        with plt.rc_context(STYLE):  # the SVG ids are salted by the style: saved outside it, they would be random
            return _save(figure, out_dir, name)
    finally:
        plt.close(figure)


def svg_text(figure: Figure) -> str:
    """``figure`` as SVG text, as ``save_figure`` writes it, for a page that inlines its figures; then closed."""
    buffer = io.StringIO()
    try:
        with plt.rc_context(STYLE):
            figure.savefig(buffer, format="svg", metadata={"Date": None})
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _drawn(documents: Sequence[Results], names: Sequence[str] | None) -> Iterator[tuple[str, Figure]]:
    """Each figure of the documents, drawn in the house style; the caller saves and closes it."""
    chart = build_chart(documents, names)
    with plt.rc_context(STYLE):
        for name, draw in FIGURES.items():
            if name in _DRAWN_IF and not _DRAWN_IF[name](chart):
                continue
            figure, ax = plt.subplots(layout="constrained")
            _rule_of_thumb_markers(ax, chart)
            draw(ax, chart)
            _workers_axis(ax, chart)
            figure.text(0.5, 0.005, chart.caption, ha="center", va="bottom", fontsize=7, color="0.35")
            figure.get_layout_engine().set(h_pad=0.2)
            yield name, figure


def write_plots(results: Results | Sequence[Results], out_dir: Path, names: Sequence[str] | None = None) -> list[Path]:
    """Render every figure into ``out_dir`` as PNG and SVG; return the paths written.

    ``results`` is one document or several to overlay; ``names`` (file names, say) tell apart documents
    whose environments are the same.
    """
    documents = [results] if isinstance(results, Results) else list(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, figure in _drawn(documents, names):
        written += save_figure(figure, out_dir, name)
    return written


def figure_svgs(results: Results) -> dict[str, str]:
    """Every figure of one document as SVG text, by name (speedup, throughput, efficiency, latency)."""
    return {name: svg_text(figure) for name, figure in _drawn([results], None)}
