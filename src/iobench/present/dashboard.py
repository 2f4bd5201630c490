"""``iobench dashboard``: one static, self-contained HTML page about a history of runs.

The page needs no server and loads nothing: the figures are inline SVG and the style sheet is inline, so it
works offline, from a CI artifact, or attached to an e-mail. It shows the latest run's verdict and figures,
the speedup curves of the last K runs of its machine overlaid, that machine's history with its change
points, and the comparison with the previous run (for an A/B run of ``--against``: its side B against its
side A). The same inputs give byte-identical pages: nothing in them depends on when or where they are built.

Each figure's SVG gets its element ids prefixed with the figure's name, since matplotlib names clip paths
and glyphs the same way in every figure and ids must be unique in one page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter, ScalarFormatter

from iobench.analysis.gate import compare, compare_sides
from iobench.analysis.history import Run, histories
from iobench.analysis.prediction import find_all
from iobench.analysis.stats import concurrent
from iobench.present.gate_table import render_comparison_html
from iobench.present.history import CHANGE_COLUMNS, History, build_history, change_rows, summary, trend_figures
from iobench.present.plots import STYLE, figure_svgs, svg_text
from iobench.present.report import verdict

#: How many of the latest runs the overlaid speedup figure shows by default.
DEFAULT_LAST = 5
PAGE = "index.html"

_CSS = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1180px; padding: 1em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
.meta { color: #555; } .legend { color: #666; font-size: 0.85em; } .warning { color: #8a5a00; }
.verdict.regression { color: #b00020; } .verdict.improvement { color: #1b7a1b; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 1em; }
figure { margin: 0; border: 1px solid #e3e3e3; background: #fff; padding: 0.3em; }
figure svg { width: 100%; height: auto; display: block; }
.figures.single { grid-template-columns: minmax(0, 860px); }
figcaption { font-size: 0.85em; color: #555; padding: 0.2em 0.4em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; }
th { background: #f4f4f4; } td:last-child, td:nth-child(2), td:nth-child(3) { text-align: left; }
"""


@dataclass(frozen=True)
class Page:
    """The dashboard's HTML and the names of the figures in it (each a ``<figure data-figure=NAME>``)."""

    html: str
    figures: tuple[str, ...]


def _inline(svg: str, name: str) -> str:
    """matplotlib's SVG as an element of the page: no XML prologue, no metadata, ids unique to this figure."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{name}-\1"', svg)
    return re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", svg)


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.figures: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def figure(self, name: str, svg: str, caption: str) -> str:
        self.figures.append(name)
        return (f'<figure data-figure="{html.escape(name)}">{_inline(svg, name)}'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>")  # fmt: skip

    def figures_block(self, items: list[str], single: bool = False) -> None:
        """A grid of figures; ``single``: one column, for figures that must not be stretched across the page."""
        self.add(f'<div class="figures{" single" if single else ""}">' + "\n".join(items) + "</div>")


def _overlay_svg(runs: Sequence[Run]) -> str:
    """The speedup curves of ``runs`` (oldest lightest) with the ideal bound, one line per run and curve."""
    with plt.rc_context(STYLE):
        figure, ax = plt.subplots(layout="constrained")
        shades = np.linspace(0.25, 1.0, len(runs))
        ideal: dict[int, float] = {}
        for shade, run in zip(shades, runs, strict=True):
            for k, stats in enumerate(concurrent(run.results)):
                points = sorted(stats.points, key=lambda point: point.workers)
                ideal.update({point.workers: point.ideal_speedup for point in points})
                label = f"{run.short} ({run.when.date()})" + (f" · {stats.label}" if k else "")
                ax.plot([p.workers for p in points], [p.speedup.value for p in points], marker="o", markersize=3,
                        color=plt.get_cmap("tab10")(k % 10), alpha=float(shade), label=label)  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        if ideal:
            xs = sorted(ideal)
            ax.plot(xs, [ideal[x] for x in xs], "k--", linewidth=1, label="ideal bound M / ceil(M/N)")
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("workers N")
        ax.set_ylabel("speedup over the sequential loop (×)")
        ax.set_title(f"Speedup of the last {len(runs)} runs (latest darkest)")
        ax.legend(fontsize=7, loc="upper left")
    return svg_text(figure)


def _latest_section(page: _Builder, latest: Run) -> None:
    results = latest.results
    page.add(f"<h2>Latest run: {html.escape(latest.short)}</h2>")
    page.add(f'<p class="meta">{html.escape(latest.name)} · {html.escape(latest.when.isoformat())} · '
             f"{html.escape(results.environment.label)} · server: {html.escape(results.server.kind)} · "
             f"status: {html.escape(results.status)}</p>")  # fmt: skip
    for finding in find_all(results):
        page.add(f"<p><strong>{html.escape(results.label_of(finding.stats.series))}</strong>: "
                 f"{html.escape(verdict(finding))}</p>")  # fmt: skip
    svgs = figure_svgs(results)
    page.figures_block([page.figure(f"latest-{name}", svg, f"latest run: {name}") for name, svg in svgs.items()])


def _history_section(page: _Builder, history: History) -> None:
    page.add(f"<h2>History: {html.escape(history.machine)}</h2>")
    page.add(f"<p>{html.escape(summary(history))}</p>")
    rows = change_rows(history)
    if rows:
        head = "".join(f"<th>{html.escape(column)}</th>" for column in CHANGE_COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
        page.add(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    items = []
    for name, figure in trend_figures(history):
        items.append(page.figure(name, svg_text(figure), f"trend: {name.removeprefix('trend-')}"))
    page.figures_block(items, single=True)


def _compare_section(page: _Builder, history: History) -> None:
    latest = history.runs[-1]
    if latest.ab is not None:
        page.add("<h2>Side B against side A</h2>")
        page.add(f"<p>{html.escape(latest.name)} is an A/B run of --against: its side B (the code under test) "
                 "judged against its side A, measured in the same job.</p>")  # fmt: skip
        page.add(render_comparison_html(compare_sides(latest.ab)))
        return
    page.add("<h2>Compared with the previous run</h2>")
    if len(history.runs) < 2:
        page.add("<p>No earlier run on this machine to compare with.</p>")
        return
    previous = history.runs[-2]
    page.add(f"<p>The latest run ({html.escape(latest.name)}) against the previous one, {html.escape(previous.short)} "
             f"({html.escape(previous.name)}).</p>")  # fmt: skip
    page.add(render_comparison_html(compare(previous.results, latest.results)))


def build_dashboard(runs: Sequence[Run], last: int = DEFAULT_LAST, merge_machines: bool = False) -> Page:
    """The page for these runs; the ``last`` runs of the latest run's machine have their speedups overlaid."""
    grouped = histories(runs, merge_machines)
    latest_machine = max(grouped, key=lambda machine: grouped[machine][-1].when)
    ordered = grouped[latest_machine]
    latest = ordered[-1]
    page = _Builder()
    page.add(f"<h1>iobench dashboard</h1><p class=\"meta\">{len(runs)} runs; latest: "
             f"{html.escape(latest.short)} on {html.escape(latest_machine)}</p>")  # fmt: skip
    _latest_section(page, latest)
    recent = ordered[-last:]
    page.add(f"<h2>The last {len(recent)} runs</h2>")
    page.figures_block([page.figure("overlay-speedup", _overlay_svg(recent), "speedup of the last runs overlaid")],
                       single=True)  # fmt: skip
    history = build_history(latest_machine, ordered)
    _history_section(page, history)
    _compare_section(page, history)
    others = {machine: len(group) for machine, group in grouped.items() if machine != latest_machine}
    if others:
        listed = "; ".join(f"{machine}: {count} runs" for machine, count in others.items())
        page.add(f"<p class=\"meta\">Not shown, runs of other machines (each its own history; --merge-machines "
                 f"joins them): {html.escape(listed)}</p>")  # fmt: skip
    body = "\n".join(page.parts)
    text = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>iobench dashboard</title>'
            f"<style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n")  # fmt: skip
    return Page(text, tuple(page.figures))


def write_dashboard(page: Page, out_dir: Path) -> Path:
    """Write the page as ``out_dir/index.html`` (replaced atomically), return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PAGE
    temporary = path.with_name(f".{PAGE}.tmp")
    temporary.write_text(page.html, encoding="utf-8")
    temporary.replace(path)
    return path
