"""The numbers of results documents as tables and sentences: rich for the terminal, Markdown for docs.

Every concurrent series ends in one sentence that answers the benchmark's question: "Saturates at
N = … (… req/s); bottleneck: …; the USL peak is at …", followed by the evidence behind it. Both
formats are built from the same rows and sentences, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from iobench.analysis.diagnosis import Diagnosis, diagnose
from iobench.analysis.scaling import MIN_POINTS
from iobench.analysis.stats import PointStats, SeriesStats, analyze
from iobench.present.labels import document_labels, series_label
from iobench.results.model import Results

COLUMNS = ("N", "tasks", "throughput /s (95% CI)", "speedup", "ideal", "efficiency", "p50 ms", "p99 ms",
           "client CPU ms/task", "server CPU ms/task", "conns", "errors")  # fmt: skip


def _row(point: PointStats) -> list[str]:
    t = point.throughput
    noisy = " ⚠" if point.noisy else ""
    server = "–" if point.server_cpu_per_task is None else f"{point.server_cpu_per_task * 1000:.2f}"
    discards = f" (+{point.pool_full_discards} discarded)" if point.pool_full_discards else ""
    errors = f"{point.errors} in {point.error_rounds}/{point.rounds} rounds" if point.errors else "0"
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
        server,
        f"{point.connections_opened:.0f}{discards}",
        errors,
    ]


def _usl_clause(diagnosis: Diagnosis) -> str:
    usl = diagnosis.usl
    if usl is None:
        return f"the USL is not fitted ({len(diagnosis.series.points)} points; a fit needs {MIN_POINTS})"
    shape = f"α = {usl.alpha:.3g}, β = {usl.beta:.2g}, R² = {usl.r_squared:.3f}"
    if usl.peak_workers is None:
        return f"the USL has no peak ({shape}: no coherency cost within the sweep)"
    return f"the USL peak is at N ≈ {usl.peak_workers:.0f} ({shape})"


def verdict(diagnosis: Diagnosis) -> str:
    """The one sentence: where it saturates, why, and where the fitted model says it would peak."""
    found = diagnosis.saturation
    if found is None:
        where = "Saturates at: not measured"
    else:
        t = found.throughput
        sign, edge = ("≥", "; the largest pool measured") if found.at_sweep_edge else ("=", "")
        where = f"Saturates at N {sign} {found.workers} ({t.value:.0f} req/s, 95% CI {t.low:.0f}–{t.high:.0f}{edge})"
    return f"{where}; bottleneck: {diagnosis.bottleneck.description}; {_usl_clause(diagnosis)}."


def evidence(diagnosis: Diagnosis) -> list[str]:
    """What the verdict rests on: the saturation rule and the Kneedle knee, the service demands, the fits."""
    lines = []
    found = diagnosis.saturation
    if found is not None:
        r = found.ratio_to_best
        knee = f"N = {diagnosis.knee}" if diagnosis.knee is not None else "none found"
        lines.append(
            f"Saturation rule: the smallest N within {found.tolerance:.0%} of the best (N = {found.best_workers}, "
            f"{found.best_throughput.value:.0f} req/s) and not significantly below it: ratio {r.value:.2f} "
            f"(95% CI {r.low:.2f}–{r.high:.2f}). Kneedle knee on log2 N: {knee}. "
            "The plots mark the rule's point (★)."
        )
    demands = diagnosis.demands
    if demands is not None:
        server = "not measured" if demands.server_cpu is None else f"{demands.server_cpu * 1000:.2f} ms/request"
        text = f"Service demands: client CPU {demands.client_cpu * 1000:.2f} ms/request, server CPU {server}"
        if demands.ceiling is not None:
            where = demands.limiting
            if demands.client_cores > 1:
                others = [f"{name} {rate:.0f}" for name, rate in demands.bounds.items() if name != demands.limiting]
                where += f"; the client can use {demands.client_cores} cores"
                where += f"; the other ceilings: {', '.join(others)} req/s" if others else ""
            text += f"; ceiling {demands.ceiling_formula} = {demands.ceiling:.0f} req/s ({where})"
        if demands.predicted_saturation is not None:
            text += f"; with wait d = {demands.wait * 1000:.0f} ms, predicted N* ≈ (d + D)/D_max = "  # type: ignore[operator]
            text += f"{demands.predicted_saturation:.0f}"
        used = diagnosis.utilization
        if used is not None:
            server_use = "" if used.server is None else f", the server {used.server:.0%}"
            client_use = (f"{used.client:.2f} of its {demands.client_cores} cores" if demands.client_cores > 1
                          else f"{used.client:.0%} of a core")  # fmt: skip
            text += f"; at the best pool (N = {used.workers}) the client kept {client_use} busy{server_use}"
        lines.append(text + ".")
    if diagnosis.amdahl is not None:
        amdahl = diagnosis.amdahl
        ceiling = f", ceiling {amdahl.ceiling:.0f} req/s" if amdahl.ceiling else ""
        lines.append(f"Amdahl fit: serial fraction σ = {amdahl.serial_fraction:.3g}{ceiling}, "
                     f"R² = {amdahl.r_squared:.3f}.")  # fmt: skip
    server = diagnosis.server_ceiling
    if server is not None and found is not None:
        lines.append(f"The server alone (wrk, same delay, {server.connections} connections) serves "
                     f"{server.requests_per_second:.0f} req/s; the Python client reaches "
                     f"{found.best_throughput.value:.0f}.")  # fmt: skip
    return lines


def _notes(results: Results, series: list[SeriesStats]) -> list[str]:
    notes = []
    if not results.complete:
        notes.append(f"INCOMPLETE run ({results.status}): {results.status_detail or 'not finished'}")
    for stats in series:
        for point in stats.points:
            if point.noisy:
                notes.append(f"{stats.label} N={point.workers}: throughput varies {point.throughput_cv:.0%} "
                             f"across rounds; about {point.rounds_wanted} rounds would bring it to 10%")  # fmt: skip
            if point.errors:
                notes.append(f"{stats.label} N={point.workers}: {point.errors} failed tasks in {point.error_rounds} "
                             f"of {point.rounds} rounds; the medians include those rounds")  # fmt: skip
    return notes


def _documents(results: Results | Sequence[Results], names: Sequence[str] | None) -> list[tuple[Results, str]]:
    documents = [results] if isinstance(results, Results) else list(results)
    labels = document_labels(documents, names) if len(documents) > 1 else [""]
    return list(zip(documents, labels, strict=True))


def _sections(results: Results) -> list[tuple[SeriesStats, Diagnosis | None]]:
    return [(stats, None if stats.is_baseline else diagnose(stats, results)) for stats in analyze(results)]


def render_terminal(results: Results | Sequence[Results], console: Console, names: Sequence[str] | None = None) -> None:
    """Print tables and sentences for one document or several (``names`` tell apart identical environments)."""
    for document, heading in _documents(results, names):
        if heading:
            console.rule(Text(heading))
        sections = _sections(document)
        for stats, diagnosis in sections:
            table = Table(title=Text(series_label(stats, document)), title_justify="left")
            for column in COLUMNS:
                table.add_column(column, justify="right")
            for point in stats.points:
                table.add_row(*_row(point))
            console.print(table)
            if diagnosis is not None:
                console.print(Text(verdict(diagnosis), style="bold"))
                for line in evidence(diagnosis):
                    console.print(Text(line))
        for note in _notes(document, [stats for stats, _ in sections]):
            console.print(Text.assemble(("note: ", "yellow"), note))


def render_markdown(results: Results | Sequence[Results], names: Sequence[str] | None = None) -> str:
    """The same as ``render_terminal``, as Markdown for docs."""
    lines: list[str] = []
    for document, heading in _documents(results, names):
        if heading:
            lines += [f"## {heading}", ""]
        sections = _sections(document)
        for stats, diagnosis in sections:
            lines += [f"### {series_label(stats, document)}", "", "| " + " | ".join(COLUMNS) + " |",
                      "|" + "---:|" * len(COLUMNS)]  # fmt: skip
            lines += ["| " + " | ".join(_row(point)) + " |" for point in stats.points]
            lines.append("")
            if diagnosis is not None:
                lines += [f"**{verdict(diagnosis)}**", ""]
                lines += [f"- {line}" for line in evidence(diagnosis)]
                lines.append("")
        lines += [f"> note: {note}" for note in _notes(document, [stats for stats, _ in sections])]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
