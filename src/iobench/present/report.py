"""The numbers of results documents as tables and sentences: rich for the terminal, Markdown for docs.

Every concurrent series ends in one sentence that answers the benchmark's question: "Saturates at
N = 88 (95% CI 74–104; …); predicted N* ≈ …; bottleneck: …; the USL peak is at …", followed by the
evidence behind it, the prediction held against the measurement, the search that found it, and the
pool size to use. Both formats are built from the same rows and sentences, so they cannot disagree.
Columns that only some runs have data for (the wait for a pooled database connection, the
responsiveness probe's lateness) appear in the documents that have it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from iobench.analysis.diagnosis import Diagnosis
from iobench.analysis.prediction import Finding, find
from iobench.analysis.recommend import Recommendation, recommend
from iobench.analysis.saturation import saturation_interval
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


Column = tuple[str, Callable[[PointStats], str]]


def _pool_wait(point: PointStats) -> str:
    return "–" if point.pool_wait_per_task is None else f"{point.pool_wait_per_task * 1000:.2f}"


def _lateness(point: PointStats) -> str:
    if point.probe_p50 is None or point.probe_p99 is None or point.probe_max is None:
        return "–"
    return f"{point.probe_p50 * 1000:.2f}/{point.probe_p99 * 1000:.2f}/{point.probe_max * 1000:.1f}"


def _extra_columns(series: Sequence[SeriesStats]) -> list[Column]:
    """The optional columns a document has data for, the same for all its tables."""
    points = [point for stats in series for point in stats.points]
    columns: list[Column] = []
    if any(point.pool_wait_per_task is not None for point in points):
        columns.append(("pool wait ms/task", _pool_wait))
    if any(point.probe_p99 is not None for point in points):
        columns.append(("late ms p50/p99/max", _lateness))
    return columns


def responsiveness(stats: SeriesStats) -> str | None:
    """What the probe saw over the series: its worst p99 lateness and where, or None without a probe."""
    probed = [point for point in stats.points if point.probe_p99 is not None]
    period = stats.series.probe_period
    if not probed or period is None:
        return None
    worst = max(probed, key=lambda point: point.probe_p99 or 0.0)
    largest = max(point.probe_max or 0.0 for point in probed)
    return (f"Responsiveness: a thread that wants to wake every {period * 1000:g} ms ran up to "
            f"{worst.probe_p99 * 1000:.1f} ms late at p99 (N = {worst.workers}), {largest * 1000:.1f} ms at worst: "
            "the delay a GUI or CLI thread in this process would feel while the batches run.")  # type: ignore[operator]  # fmt: skip


def _usl_clause(diagnosis: Diagnosis) -> str:
    usl = diagnosis.usl
    if usl is None:
        return f"the USL is not fitted ({len(diagnosis.series.points)} points; a fit needs {MIN_POINTS})"
    shape = f"α = {usl.alpha:.3g}, β = {usl.beta:.2g}, R² = {usl.r_squared:.3f}"
    if usl.peak_workers is None:
        return f"the USL has no peak ({shape}: no coherency cost within the sweep)"
    return f"the USL peak is at N ≈ {usl.peak_workers:.0f} ({shape})"


#: Why a search that ended with the curve still rising stopped, in words.
_STOPPED = {"budget": "budget reached", "max-workers": "--max-workers reached"}


def saturation_clause(finding: Finding) -> str:
    """Where it saturates: a continuous N* with its interval, or honestly a bound ("at least N = 256")."""
    found, interval = finding.diagnosis.saturation, finding.interval
    if found is None:
        return "Saturates at: not measured"
    best = f"{found.best_throughput.value:.0f} req/s at best, N = {found.best_workers}"
    if interval is None:  # one measured pool: nothing to interpolate between
        return f"Saturates at N ≥ {found.workers} (only N = {found.workers} measured; {best})"
    if interval.status == "rising":
        why = _STOPPED.get(finding.outcome or "", "the largest pool measured")
        t = found.best_throughput
        return (f"Saturates at N ≥ {interval.largest} (at least N = {interval.largest}: still rising, {t.value:.0f} "
                f"req/s, 95% CI {t.low:.0f}–{t.high:.0f}; {why})")  # fmt: skip
    if interval.status == "flat":
        first = int(interval.estimate)
        sign = "=" if first == 1 else "≤"
        return (f"Saturates at N {sign} {first} (95% CI {first}–{interval.high:.0f}: flat, more workers never "
                f"helped; {best})")  # fmt: skip
    text = f"Saturates at N = {interval.estimate:.0f} (95% CI {interval.low:.0f}–{interval.high:.0f}; {best}"
    if finding.outcome in ("budget", "noisy", "resolution"):
        text += f"; the interval is ±{interval.half_width:.0%}, {_OUTCOMES[finding.outcome]}"
    if interval.best_at_edge:
        text += "; the best is the largest pool measured, so the peak may lie beyond"
    return text + ")"


def saturation_cell(stats: SeriesStats) -> str:
    """N* as a table cell, the point the verdict names: "187 (129–230)", "≥ 128" while still rising, "≤ 4" (or
    "1") when flat."""
    interval = saturation_interval(stats)
    if interval is None:
        return f"≥ {stats.points[-1].workers}" if stats.points else "–"
    if interval.status == "rising":
        return f"≥ {interval.largest}"
    if interval.status == "flat":
        first = int(interval.estimate)
        return "1" if first == 1 else f"≤ {first}"
    low, high = f"{interval.low:.0f}", f"{interval.high:.0f}"
    return f"{interval.estimate:.0f}" + ("" if low == high else f" ({low}–{high})")


def prediction_clause(finding: Finding) -> str:
    """The predicted N*, and the measured one over it."""
    prediction = finding.prediction
    if prediction is None:
        return "no prediction (no client CPU measured)"
    if prediction.workers is None:
        return "no prediction of N* (the workload has no wait d)"
    when = "before the sweep" if finding.predicted_before else "from the sweep's demands"
    ratio = f"; measured/predicted {finding.ratio:.2f}" if finding.ratio is not None else ""
    return f"predicted N* ≈ {prediction.workers:.0f} ({when}{ratio})"


def verdict(finding: Finding) -> str:
    """The one sentence: where it saturates, what was predicted, why, and where the fitted model would peak."""
    diagnosis = finding.diagnosis
    return (f"{saturation_clause(finding)}; {prediction_clause(finding)}; bottleneck: "
            f"{diagnosis.bottleneck.description}; {_usl_clause(diagnosis)}.")  # fmt: skip


#: How an auto search ended, in words (``Plan.outcomes``).
_OUTCOMES = {
    "converged": "the interval reached the tolerance",
    "budget": "the time budget ran out",
    "max-workers": "the largest pool allowed (--max-workers) was reached",
    "flat": "throughput did not grow with N",
    "resolution": "the pools around N* are next to each other",
    "noisy": "more rounds did not narrow it: the rounds scatter too much",
    "unmeasured": "nothing was measured",
}


def prediction_line(finding: Finding) -> str | None:
    """Prediction against measurement: N* and the ceiling, predicted and measured, with their ratios."""
    prediction, found = finding.prediction, finding.diagnosis.saturation
    if prediction is None or prediction.workers is None or prediction.ceiling is None or found is None:
        return None
    source = ("before the sweep, from the sequential loop and N = 1, 2, 4" if finding.predicted_before
              else "from the service demands of the whole sweep")  # fmt: skip
    held = ("" if prediction.server_concurrency is None
            else f", a server holding about {prediction.server_concurrency:.0f} requests at once")  # fmt: skip
    wait = f"d = {prediction.wait * 1000:.0f} ms, " if prediction.wait is not None else ""
    text = (f"Prediction against measurement: predicted {source} ({wait}client CPU "
            f"{prediction.client_cpu * 1000:.2f} ms/request{held}): N* ≈ {prediction.workers:.0f}, ceiling "
            f"{prediction.ceiling:.0f} req/s. Measured: ")  # fmt: skip
    interval = finding.interval
    if interval is not None and interval.status == "found":
        text += f"N* = {interval.estimate:.0f} (95% CI {interval.low:.0f}–{interval.high:.0f})"
        text += "" if finding.ratio is None else f", ratio {finding.ratio:.2f}"
    elif interval is not None and interval.status == "rising":
        text += f"N* ≥ {interval.largest} (still rising)"
    elif interval is not None:
        text += f"flat from N = {interval.estimate:.0f}"
    peak = found.best_throughput.value
    text += f"; best {peak:.0f} req/s, {peak / prediction.ceiling:.2f} of the predicted ceiling."
    return text


def search_line(results: Results, finding: Finding) -> str | None:
    """How an auto search went: its stages, pools, time, and why it stopped."""
    plan = results.plan
    if plan is None or not plan.auto:
        return None
    points = finding.stats.series.points
    stages = [stage for stage in plan.stages if finding.stats.id in stage.workers]
    seconds = max((stage.started + stage.seconds for stage in plan.stages), default=0.0)
    reason = _OUTCOMES.get(finding.outcome or "", "stopped before it finished")
    tolerance = f" (±{plan.tolerance:.0%} wanted)" if plan.tolerance else ""
    phases = ", ".join(dict.fromkeys(stage.name for stage in stages))
    return (f"Search (--workers auto): {len(points)} pools in {len(stages)} stages ({phases}), {seconds:.0f} s "
            f"including server start; stopped because {reason}{tolerance}.")  # fmt: skip


def recommendation_line(advice: Recommendation) -> str:
    """The pool size to use, in one line, with the usual advice beside it."""
    text = (f"Recommendation: N = {advice.workers}, the smallest pool measured within {advice.tolerance:.0%} of "
            f"the peak ({advice.peak_throughput:.0f} req/s at N = {advice.peak_workers}); p99 latency there "
            f"{advice.latency_p99 * 1000:.0f} ms")  # fmt: skip
    if advice.still_rising:
        text += "; throughput was still rising, so more workers may help"
    shares = "; ".join(f"{rule.name} = {rule.workers} reaches {rule.share_of_peak:.0%} of the peak"
                       f"{'' if rule.measured else ' (interpolated)'}" for rule in advice.rules_of_thumb)  # fmt: skip
    text += f". {shares}"
    if advice.wait and advice.at_half_wait is not None and advice.at_double_wait is not None:
        text += (f". If d changes, the model's N* is ≈ {advice.at_half_wait:.0f} at d = {advice.wait * 500:.0f} ms "
                 f"and ≈ {advice.at_double_wait:.0f} at d = {advice.wait * 2000:.0f} ms")  # fmt: skip
    return text + "."


def evidence(finding: Finding, results: Results) -> list[str]:
    """What the verdict rests on: the rule and the Kneedle knee, the demands, the fits, the prediction, the advice."""
    diagnosis = finding.diagnosis
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
    for extra in (prediction_line(finding), search_line(results, finding)):
        if extra is not None:
            lines.append(extra)
    advice = recommend(finding, results.environment.cpu_count)
    if advice is not None:
        lines.append(recommendation_line(advice))
    late = responsiveness(diagnosis.series)
    if late is not None:
        lines.append(late)
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


def _sections(results: Results) -> list[tuple[SeriesStats, Finding | None]]:
    return [(stats, None if stats.is_baseline else find(stats, results)) for stats in analyze(results)]


def render_terminal(results: Results | Sequence[Results], console: Console, names: Sequence[str] | None = None) -> None:
    """Print tables and sentences for one document or several (``names`` tell apart identical environments)."""
    for document, heading in _documents(results, names):
        if heading:
            console.rule(Text(heading))
        sections = _sections(document)
        extra = _extra_columns([stats for stats, _ in sections])
        for stats, finding in sections:
            table = Table(title=Text(series_label(stats, document)), title_justify="left")
            for column in (*COLUMNS, *(name for name, _ in extra)):
                table.add_column(column, justify="right")
            for point in stats.points:
                table.add_row(*_row(point), *(cell(point) for _, cell in extra))
            console.print(table)
            if finding is not None:
                console.print(Text(verdict(finding), style="bold"))
                for line in evidence(finding, document):
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
        extra = _extra_columns([stats for stats, _ in sections])
        columns = (*COLUMNS, *(name for name, _ in extra))
        for stats, finding in sections:
            lines += [f"### {series_label(stats, document)}", "", "| " + " | ".join(columns) + " |",
                      "|" + "---:|" * len(columns)]  # fmt: skip
            lines += ["| " + " | ".join([*_row(point), *(cell(point) for _, cell in extra)]) + " |"
                      for point in stats.points]  # fmt: skip
            lines.append("")
            if finding is not None:
                lines += [f"**{verdict(finding)}**", ""]
                lines += [f"- {line}" for line in evidence(finding, document)]
                lines.append("")
        lines += [f"> note: {note}" for note in _notes(document, [stats for stats, _ in sections])]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
