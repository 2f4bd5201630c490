"""A history of runs as tables and trend figures: where each figure went, and the change points in it.

The terminal and Markdown reports are built from the same rows. Each curve gets one trend figure, a panel
per kind of figure (efficiency and speedup with a line per N, saturation pool, peak throughput, client CPU
per task) against the runs in commit order, each change point a dashed line before the first run that has
the new level, labelled with that run's commit and the step's size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter
from rich.console import Console
from rich.table import Table

from iobench.analysis.history import (
    FAMILY_ALPHA,
    KINDS,
    MIN_RUNS,
    PERMUTATIONS,
    ChangePoint,
    Run,
    Trend,
    change_points,
    trends,
)
from iobench.present.plots import STYLE, save_figure

_SPARKS = "▁▂▃▄▅▆▇█"
#: Commit labels on a trend figure's x axis: at most this many, evenly spaced, so they stay legible.
_MAX_TICKS = 25


@dataclass(frozen=True)
class History:
    """One machine's runs in order, their trends, and the change points found in them."""

    machine: str
    runs: list[Run]
    trends: list[Trend]
    change_points: list[ChangePoint]

    @property
    def curves(self) -> list[str]:
        return list(dict.fromkeys(trend.curve for trend in self.trends))

    def run_label(self, index: int) -> str:
        run = self.runs[index]
        return f"{run.short} ({run.when.date().isoformat()})"


def build_history(machine: str, runs: Sequence[Run]) -> History:
    found = trends(runs)
    return History(machine, list(runs), found, change_points(found))


def p_text(p_value: float) -> str:
    """A permutation p-value: 0 means no shuffle split the runs as well, i.e. below the test's resolution."""
    return f"p < {1 / (PERMUTATIONS + 1):.3f}" if p_value == 0 else f"p = {p_value:.3f}"


def _value(value: float | None, kind: str) -> str:
    if value is None:
        return "–"
    digits = 0 if kind in ("saturation pool", "peak throughput") else 2
    return f"{value:.{digits}f}{KINDS[kind]}"


def sparkline(values: Sequence[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return ""
    low, high = min(present), max(present)
    span = high - low or 1.0
    return "".join(" " if v is None else _SPARKS[round((v - low) / span * (len(_SPARKS) - 1))] for v in values)


def change_rows(history: History) -> list[list[str]]:
    """One row per change point, in run order: the first commit after it, what moved, by how much, how sure."""
    rows = []
    for point in sorted(history.change_points, key=lambda c: (c.index, history.trends.index(c.trend))):
        kind = point.trend.kind
        rows.append([history.run_label(point.index), point.trend.curve, point.trend.figure,
                     f"{_value(point.before, kind)} → {_value(point.after, kind)}", f"{point.change:+.1%}",
                     p_text(point.p_value)])  # fmt: skip
    return rows


def trend_rows(history: History) -> list[list[str]]:
    """One row per trend: oldest and latest value, the shape in between, how many change points."""
    counts = {id(trend): 0 for trend in history.trends}
    for point in history.change_points:
        counts[id(point.trend)] += 1
    rows = []
    for trend in history.trends:
        present = [v for v in trend.values if v is not None]
        first, last = (present[0], present[-1]) if present else (None, None)
        rows.append([trend.curve, trend.figure, f"{_value(first, trend.kind)} → {_value(last, trend.kind)}",
                     sparkline(trend.values), str(counts[id(trend)])])  # fmt: skip
    return rows


CHANGE_COLUMNS = ("first run after", "curve", "figure", "before → after", "change", "p")
TREND_COLUMNS = ("curve", "figure", "oldest → latest", "runs", "change points")


def summary(history: History) -> str:
    first, last = history.runs[0], history.runs[-1]
    span = (f"{len(history.runs)} runs on {history.machine}, {first.short} ({first.when.date()}) → {last.short} "
            f"({last.when.date()})")  # fmt: skip
    if len(history.runs) < MIN_RUNS:
        return f"{span}; too few runs to look for change points (E-Divisive needs {MIN_RUNS})"
    found = len(history.change_points)
    method = (f"E-Divisive means, {PERMUTATIONS} permutations, family-wise α = {FAMILY_ALPHA:g} over "
              f"{len(history.trends)} figures")  # fmt: skip
    return f"{span}; {found} change point{'s' if found != 1 else ''} ({method})"


def render_history_terminal(history: History, console: Console) -> None:
    console.print(f"[bold]History:[/bold] {summary(history)}", soft_wrap=True)
    for title, columns, rows in (("change points", CHANGE_COLUMNS, change_rows(history)),
                                 ("trends", TREND_COLUMNS, trend_rows(history))):  # fmt: skip
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)


def _markdown_table(columns: Sequence[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def render_history_markdown(history: History) -> str:
    lines = [f"## History: {history.machine}", "", summary(history), ""]
    if history.change_points:
        lines += ["### Change points", "", *_markdown_table(CHANGE_COLUMNS, change_rows(history)), ""]
    lines += ["### Trends", "", *_markdown_table(TREND_COLUMNS, [[*r[:3], f"`{r[3]}`", r[4]]
                                                                  for r in trend_rows(history)]), ""]  # fmt: skip
    return "\n".join(lines) + "\n"


# --- figures ----------------------------------------------------------------------------------------


def slug(text: str) -> str:
    """A file-name-safe form of a label."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "curve"


def trend_figures(history: History) -> Iterator[tuple[str, Figure]]:
    """One figure per curve, named ``trend-<curve>``; the caller saves and closes it."""
    for curve in history.curves:
        yield f"trend-{slug(curve)}", _trend_figure(history, curve)


def _trend_figure(history: History, curve: str) -> Figure:
    own = [trend for trend in history.trends if trend.curve == curve]
    kinds = [kind for kind in KINDS if any(trend.kind == kind for trend in own)]
    runs = range(1, len(history.runs) + 1)
    with plt.rc_context(STYLE):
        width, _ = STYLE["figure.figsize"]
        figure, axes = plt.subplots(len(kinds), 1, sharex=True, squeeze=False, layout="constrained",
                                    figsize=(width, 1.0 + 1.9 * len(kinds)))  # fmt: skip
        for ax, kind in zip(axes[:, 0], kinds, strict=True):
            shown = [trend for trend in own if trend.kind == kind]
            for trend in shown:
                ys = [float("nan") if v is None else v for v in trend.values]
                label = f"N={trend.workers}" if trend.workers is not None else None
                ax.plot(runs, ys, marker="o", markersize=3, linewidth=1, label=label)
            _mark_change_points(ax, history, shown)
            if kind == "speedup":
                ax.set_yscale("log", base=2)
                ax.yaxis.set_major_formatter(ScalarFormatter())
                ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_ylabel(f"{kind}{KINDS[kind].replace('×', ' (×)').replace('/s', ' (/s)').replace(' ms', ' (ms)')}",
                          fontsize=8)  # fmt: skip
            if len(shown) > 1:
                ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        bottom = axes[-1, 0]
        step = max(1, -(-len(history.runs) // _MAX_TICKS))
        ticks = list(runs)[::step]
        bottom.set_xticks(ticks, [history.runs[i - 1].short for i in ticks], rotation=90, fontsize=7)
        first, last = history.runs[0], history.runs[-1]
        bottom.set_xlabel(f"runs in commit order: {len(history.runs)} runs on {history.machine}, "
                          f"{first.when.date()} → {last.when.date()}", fontsize=8)  # fmt: skip
        axes[0, 0].set_title(f"{curve}: history, change points dashed", fontsize=9)
    return figure


def _mark_change_points(ax: plt.Axes, history: History, shown: Sequence[Trend]) -> None:
    """A dashed line before the first run with the new level, labelled with its commit and the step."""
    marked: dict[int, list[ChangePoint]] = {}
    for point in history.change_points:
        if point.trend in shown:
            marked.setdefault(point.index, []).append(point)
    for index, points in sorted(marked.items()):
        x = index + 0.5  # between the last run before (index) and the first after (index + 1), 1-based
        ax.axvline(x, color="red", linestyle="--", linewidth=1)
        largest = max(points, key=lambda c: abs(c.change))
        ax.annotate(f"{history.runs[index].short} {largest.change:+.0%}", (x, 1),
                    xycoords=("data", "axes fraction"), xytext=(2, -2), textcoords="offset points",
                    ha="left", va="top", fontsize=6, color="red")  # fmt: skip


def write_trend_figures(history: History, out_dir: Path, prefix: str = "") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, figure in trend_figures(history):
        written += save_figure(figure, out_dir, f"{prefix}{name}")
    return written
