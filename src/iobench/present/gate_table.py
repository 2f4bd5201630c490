"""A comparison of two runs as tables: rich for the terminal, Markdown for a CI job summary, HTML for the
dashboard.

All formats are built from the same rows, so they cannot disagree.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from iobench.analysis.gate import Change, Comparison, SeriesComparison, Verdict

COLUMNS = ("N", "efficiency", "speedup", "throughput /s", "pool-full discards /task", "connections /task", "verdict")
LEGEND = ("each cell: baseline → new median (change: median over all pairs of rounds of new/base, of new − base"
          " for the counts per task; p: of a change beyond the minimum effect); ▼ regression, ▲ improvement"
          )  # fmt: skip
_MARKS = {Verdict.REGRESSION: " ▼", Verdict.IMPROVEMENT: " ▲", Verdict.NO_CHANGE: ""}


def _cell(change: Change | None, digits: int) -> str:
    if change is None:
        return "–"
    effect = f"{change.effect:+.0%}" if change.relative else f"{change.effect:+.{digits}f}"
    return (f"{change.base:.{digits}f} → {change.new:.{digits}f} ({effect}, p={change.p_value:.3f})"
            f"{_MARKS[change.verdict]}")  # fmt: skip


def _what_moved(changes: Sequence[Change]) -> str:
    parts = []
    for verdict in (Verdict.REGRESSION, Verdict.IMPROVEMENT):
        figures = [change.figure for change in changes if change.verdict is verdict]
        if figures:
            parts.append(f"{verdict.value}: {', '.join(figures)}")
    return "; ".join(parts) or Verdict.NO_CHANGE.value


def _rows(series: SeriesComparison) -> list[list[str]]:
    rows = []
    for point in series.points:
        by_figure = {change.figure: change for change in point.changes}
        rows.append([str(point.workers), _cell(by_figure.get("efficiency"), 2), _cell(by_figure.get("speedup"), 2),
                     _cell(by_figure.get("throughput"), 1), _cell(by_figure.get("discards"), 2),
                     _cell(by_figure.get("connections"), 2),
                     _what_moved(point.changes)])  # fmt: skip
    return rows


def _saturation_line(series: SeriesComparison) -> str | None:
    moved = series.saturation
    if moved is None:
        return None
    return (f"saturation pool: {moved.base:.0f} → {moved.new:.0f}{_MARKS[moved.verdict]} {moved.verdict.value} (counts"
            " only with a significant speedup change at the pool that moved,"
            f" p={moved.p_value:.3f})")  # fmt: skip


def render_comparison_terminal(comparison: Comparison, console: Console) -> None:
    for series in comparison.series:
        table = Table(title=series.label, title_justify="left")
        for column in COLUMNS:
            table.add_column(column, justify="left" if column == "verdict" else "right")
        for row in _rows(series):
            table.add_row(*row)
        console.print(table)
        line = _saturation_line(series)
        if line:
            console.print(line)
    console.print(LEGEND, style="dim")
    for warning in comparison.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    colour = {Verdict.REGRESSION: "red", Verdict.IMPROVEMENT: "green"}.get(comparison.verdict, "default")
    console.print(f"[bold {colour}]verdict: {comparison.verdict.value.upper()}[/] — {comparison.summary()}")


def render_comparison_markdown(comparison: Comparison) -> str:
    lines: list[str] = []
    for series in comparison.series:
        lines += [
            f"### {series.label}",
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---:|" * (len(COLUMNS) - 1) + ":---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in _rows(series)]
        line = _saturation_line(series)
        lines += ["", line, ""] if line else [""]
    lines.append(f"_{LEGEND}_\n")
    lines += [f"> warning: {warning}" for warning in comparison.warnings]
    lines.append(f"**verdict: {comparison.verdict.value.upper()}** — {comparison.summary()}")
    return "\n".join(lines) + "\n"


def render_comparison_html(comparison: Comparison) -> str:
    """The same tables as HTML elements, for the dashboard page; every cell escaped."""
    parts: list[str] = []
    for series in comparison.series:
        head = "".join(f"<th>{html.escape(column)}</th>" for column in COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                       for row in _rows(series))  # fmt: skip
        parts.append(f"<h4>{html.escape(series.label)}</h4>\n<table><thead><tr>{head}</tr></thead>"
                     f"<tbody>{body}</tbody></table>")  # fmt: skip
        line = _saturation_line(series)
        if line:
            parts.append(f"<p>{html.escape(line)}</p>")
    parts.append(f'<p class="legend">{html.escape(LEGEND)}</p>')
    parts += [f'<p class="warning">warning: {html.escape(warning)}</p>' for warning in comparison.warnings]
    parts.append(
        f'<p class="verdict {comparison.verdict.name.lower()}"><strong>verdict: '
        f"{html.escape(comparison.verdict.value.upper())}</strong> — {html.escape(comparison.summary())}</p>"
    )
    return "\n".join(parts) + "\n"
