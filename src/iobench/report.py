"""The numbers of a results document as a table: rich for the terminal, Markdown for docs.

Both formats are built from the same rows, so they cannot disagree.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from iobench.analysis import PointStats, SeriesStats, analyze
from iobench.results import Results, is_complete

COLUMNS = ("N", "tasks", "throughput /s (95% CI)", "speedup", "ideal", "efficiency",
           "p50 ms", "p99 ms", "client CPU ms/task", "conns", "errors")  # fmt: skip


def _row(point: PointStats) -> list[str]:
    t = point.throughput
    noisy = " ⚠" if point.noisy else ""
    return [
        str(point.workers),
        str(point.tasks),
        f"{t.value:.1f} ({t.low:.1f}–{t.high:.1f}){noisy}",
        f"{point.speedup.value:.2f}",
        f"{point.ideal_speedup:.0f}",
        f"{point.efficiency.value:.2f}",
        f"{point.latency_p50 * 1000:.1f}",
        f"{point.latency_p99 * 1000:.1f}",
        f"{point.client_cpu_per_task * 1000:.2f}",
        f"{point.connections_opened:.0f}",
        str(point.errors),
    ]


def _notes(results: Results, series: list[SeriesStats]) -> list[str]:
    notes = []
    if not is_complete(results):
        notes.append(f"INCOMPLETE run ({results['status']}): {results.get('status_detail') or 'not finished'}")
    for stats in series:
        for point in stats.points:
            if point.noisy:
                notes.append(f"{stats.label} N={point.workers}: throughput varies {point.throughput_cv:.0%} "
                             f"across rounds; about {point.rounds_wanted} rounds would bring it to 10%")  # fmt: skip
    return notes


def render_terminal(results: Results, console: Console) -> None:
    series = analyze(results)
    for stats in series:
        table = Table(title=stats.label, title_justify="left")
        for column in COLUMNS:
            table.add_column(column, justify="right")
        for point in stats.points:
            table.add_row(*_row(point))
        console.print(table)
    for note in _notes(results, series):
        console.print(f"[yellow]note:[/yellow] {note}")


def render_markdown(results: Results) -> str:
    series = analyze(results)
    lines: list[str] = []
    for stats in series:
        lines += [f"### {stats.label}", "", "| " + " | ".join(COLUMNS) + " |",
                  "|" + "---:|" * len(COLUMNS)]  # fmt: skip
        lines += ["| " + " | ".join(_row(point)) + " |" for point in stats.points]
        lines.append("")
    lines += [f"> note: {note}" for note in _notes(results, series)]
    return "\n".join(lines).rstrip() + "\n"
