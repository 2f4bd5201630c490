"""``iobench docs``: regenerate every figure and table the README embeds, from committed results files.

No number in the README is typed by hand. Each generated part sits between ``<!-- iobench:docs:NAME -->``
and ``<!-- /iobench:docs:NAME -->``; this module rewrites those regions and redraws the figures under
``plots/docs/`` from the docs inputs ``results/docs-*.json``. The same inputs give byte-identical output,
so a second run leaves no diff, and the diff after a new measurement shows exactly what it changed. A docs
input that has not been measured yet turns into a TODO naming the command that measures it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from iobench.analysis.diagnosis import Diagnosis, diagnose_results
from iobench.analysis.free_threading import PREDICTED_CORES, SingleThreadCost, gil_states, single_thread_cost
from iobench.analysis.prediction import find_all
from iobench.analysis.stats import SeriesStats, analyze, concurrent
from iobench.errors import UsageError
from iobench.present.claims import CLAIMS, saturation
from iobench.present.plots import FORMATS, write_plots
from iobench.present.report import render_markdown, saturation_cell
from iobench.results.model import Results
from iobench.results.store import load_results

README = "README.md"
_REGION = re.compile(r"<!-- iobench:docs:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /iobench:docs:(?P=name) -->", re.S)
_OPENING = re.compile(r"<!-- iobench:docs:([\w-]+) -->")


@dataclass(frozen=True)
class DocsInput:
    """A committed results file the docs are drawn from, with the command that measures it again."""

    name: str
    command: str
    plots: str | None = None  # folder, under the checkout, for its figures
    needs: str = ""  # what must exist before the command can run, when something must
    #: Draw each workload's series in a folder of its own under ``plots`` (one chart of them all is unreadable).
    figures_per_workload: bool = False

    @property
    def path(self) -> str:
        return f"results/docs-{self.name}.json"


INPUTS = {item.name: item for item in (
    # The default run is an auto search (--workers auto): the README's verdict and main figures come from it.
    DocsInput("default", "iobench run --out results/docs-default.json --force --plots ''", "plots/docs"),
    DocsInput("threads", "iobench run --workers 1,2,4,8,10,16,32,64,128,256,512 --out results/docs-threads.json "
              "--force --plots ''", "plots/docs/threads"),
    DocsInput("matrix", "iobench run --delay 0.02 --workers 1,2,4,8,16,32,64,128 --python python3.11 "
              "--python python3.12 --python python3.13 --out results/docs-matrix.json --force --plots ''",
              "plots/docs/matrix"),
    DocsInput("ten-requests", "iobench run --delay 1 --workers 10 --waves 1 --rounds 5 "
              "--out results/docs-ten-requests.json --force --plots ''"),
    DocsInput("cpu", "iobench run --config bench/claims-cpu.toml --out results/docs-cpu.json --force --plots ''"),
    DocsInput("file-io", "iobench run --config bench/claims-file-io.toml --out results/docs-file-io.json "
              "--force --plots ''"),
    DocsInput("workloads", "iobench run --config bench/docs-table.toml --out results/docs-workloads.json "
              "--force --plots ''"),
    DocsInput("free-threaded", "iobench run --config bench/free-threaded.toml --out results/docs-free-threaded.json "
              "--force --plots ''", "plots/docs/free-threaded",
              needs="CPython 3.13.5t and 3.13.5 from bench/build-free-threaded-python.sh", figures_per_workload=True),
    DocsInput("free-threaded-cost", "iobench run --delay 0 --workers 1 --waves 50 --rounds 10 --python "
              "~/.cache/iobench/python-3.13/bin/python3.13 --python ~/.cache/iobench/python-3.13t/bin/python3.13t "
              "--gil off --out results/docs-free-threaded-cost.json --force --plots ''",
              needs="CPython 3.13.5t and 3.13.5 from bench/build-free-threaded-python.sh"),
    DocsInput("db", "iobench run --config bench/db.toml --out results/docs-db.json --force --plots ''",
              "plots/docs/db", needs="the db extra: pip install 'iobench[db]'"),
    DocsInput("clients", "iobench run --config bench/clients.toml --out results/docs-clients.json --force --plots ''"),
    DocsInput("responsiveness", "iobench run --config bench/responsiveness.toml --out results/docs-responsiveness.json "
              "--force --plots ''", "plots/docs/responsiveness"),
)}  # fmt: skip


class DocsInputs:
    """Loads each docs input once; a missing file is None (a TODO), a broken one is an error.

    It also carries the CLI's help texts, which the caller (the CLI itself) hands over: docs never
    imports the CLI, whose ``docs`` command imports this module.
    """

    def __init__(self, root: Path, cli_help: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.cli_help = dict(cli_help or {})
        self._loaded: dict[str, Results | None] = {}

    def get(self, name: str) -> Results | None:
        if name not in self._loaded:
            path = self.root / INPUTS[name].path
            self._loaded[name] = load_results(path) if path.exists() else None
        return self._loaded[name]


def _todo(name: str) -> str:
    item = INPUTS[name]
    needs = f" (needs {item.needs})" if item.needs else ""
    return f"**TODO**: not measured yet{needs}: run `{item.command}`, then `iobench docs`."


# --- the regions ------------------------------------------------------------------------------------


def verdict(inputs: DocsInputs) -> str:
    """The README's headline, from the default run (an auto search in new files, a fixed list in old ones)."""
    results = inputs.get("default")
    findings = find_all(results) if results is not None else []
    if results is None or not findings:
        return _todo("default")
    finding = findings[0]
    stats, interval, prediction = finding.stats, finding.interval, finding.prediction
    where = f"{results.environment.cpu_count or '?'} CPUs, {stats.interpreter.label}"
    best = max(stats.points, key=lambda point: point.speedup.value)
    peak = max(stats.points, key=lambda point: point.throughput.value)
    if interval is None or interval.status == "rising":
        ending = f"and more threads still helped at N = {stats.points[-1].workers}, the largest pool measured"
    elif interval.status == "flat":
        ending = "and more threads did not help at all"
    else:
        ending = (f"and beyond about N = {interval.estimate:.0f} (95 % CI {interval.low:.0f}–{interval.high:.0f}) "
                  "more threads stopped helping")  # fmt: skip
        if prediction is not None and prediction.workers and finding.predicted_before:
            ending += f", where the demands measured before the sweep predicted N ≈ {prediction.workers:.0f}"
    return (f"**On this machine ({where}), threads multiplied the throughput of requests that wait "
            f"{stats.wait_seconds:g} s by up to {best.speedup.value:.0f} over a sequential loop (peak "
            f"{peak.throughput.value:.0f} requests/s at N = {peak.workers}), {ending}.**")  # fmt: skip


def saturation_report(inputs: DocsInputs) -> str:
    """The default run in full: its table, the verdict, the prediction, the search and the recommendation."""
    results = inputs.get("default")
    return _todo("default") if results is None else render_markdown(results).strip()


def threads_table(inputs: DocsInputs) -> str:
    results = inputs.get("threads")
    return _todo("threads") if results is None else render_markdown(results).strip()


def matrix(inputs: DocsInputs) -> str:
    results = inputs.get("matrix")
    if results is None:
        return _todo("matrix")
    lines = ["| interpreter | GIL after imports | requests | sequential /s | saturates at N | peak /s (at N) "
             "| best speedup | client CPU ms/request at N = 1 |", "|---|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for stats in concurrent(results):
        interpreter = stats.interpreter
        _, peak = saturation(stats)
        best = max(point.speedup.value for point in stats.points)
        lines.append(f"| {interpreter.label} | {'on' if interpreter.gil_enabled else 'off'} "
                     f"| {interpreter.requests or '?'} | {stats.sequential_throughput:.1f} | {saturation_cell(stats)} "
                     f"| {peak.throughput.value:.0f} ({peak.workers}) | {best:.1f}× "
                     f"| {stats.points[0].client_cpu_per_task * 1000:.2f} |")  # fmt: skip
    skipped = results.environment.interpreters_skipped
    if skipped:
        lines += ["", *(f"Skipped {item.get('requested')}: {item.get('reason')}." for item in skipped)]
    return "\n".join(lines)


def workloads(inputs: DocsInputs) -> str:
    """Each workload x executor x strategy: best speedup, saturation and bottleneck; then every http-delay
    series side by side at N = 32, where asyncio meets threads and the session strategies differ."""
    results = inputs.get("workloads")
    if results is None:
        return _todo("workloads")
    diagnoses = diagnose_results(results)
    lines = ["| series | best speedup (at N) | saturates at N | peak /s | bottleneck |", "|---|---:|---:|---:|---|"]
    for diagnosis in diagnoses:
        stats, found = diagnosis.series, diagnosis.saturation
        assert found is not None, "diagnose_results only yields series with points"
        best = max(stats.points, key=lambda point: point.speedup.value)
        named = re.split(r" \(|:", diagnosis.bottleneck.description)[0]
        lines.append(f"| {stats.label} | {best.speedup.value:.1f}× ({best.workers}) | {saturation_cell(stats)} "
                     f"| {found.best_throughput.value:.0f} | {named} |")  # fmt: skip
    lines += ["", "| at N = 32 | throughput /s (95 % CI) | speedup | client CPU ms/request | connections per batch "
              "| pool-full discards per batch |", "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for diagnosis in diagnoses:
        point = next((p for p in diagnosis.series.points if p.workers == 32), None)
        if diagnosis.series.workload != "http-delay" or point is None:
            continue
        t = point.throughput
        lines.append(f"| {diagnosis.series.label} | {t.value:.0f} ({t.low:.0f}–{t.high:.0f}) "
                     f"| {point.speedup.value:.1f}× | {point.client_cpu_per_task * 1000:.2f} "
                     f"| {point.connections_opened:.0f} | {point.pool_full_discards / point.rounds:.0f} |")  # fmt: skip
    return "\n".join(lines)


_BOTTLENECKS = {"client-cpu": "client CPU", "machine-cpu": "client + server CPU", "server": "server",
                "none": "none in the sweep", "connection-pool": "connection pool", "unexplained": "not CPU",
                "unknown": "unknown"}  # fmt: skip


def _bottleneck(diagnosis: Diagnosis) -> str:
    demands = diagnosis.demands
    name = _BOTTLENECKS.get(diagnosis.bottleneck.kind, diagnosis.bottleneck.kind)
    if demands is not None and diagnosis.bottleneck.kind in ("client-cpu", "machine-cpu"):
        name += " (GIL)" if demands.client_cores == 1 else f", {demands.machine_cores or demands.client_cores} cores"
    return name


def _prediction(diagnosis: Diagnosis, cores: int) -> str:
    demands = diagnosis.demands.on_cores(cores) if diagnosis.demands else None
    if demands is None or demands.ceiling is None:
        return "—"
    knee = demands.predicted_saturation
    return f"{demands.ceiling:.0f}" + (f", N* ≈ {knee:.0f}" if knee is not None else "") + f" ({demands.limiting})"


def _free_threaded_row(diagnosis: Diagnosis, versus: str) -> list[str]:
    stats, found, demands, used = diagnosis.series, diagnosis.saturation, diagnosis.demands, diagnosis.utilization
    assert found is not None and demands is not None and used is not None, "a measured series has points and CPU"
    knee = demands.predicted_saturation
    return [
        stats.label.split(" / ")[0],
        stats.interpreter.label,
        f"{found.best_throughput.value:.0f} ({found.best_workers})",
        versus,
        saturation_cell(stats),
        "—" if knee is None else f"{knee:.0f}",
        _bottleneck(diagnosis),
        f"{used.client:.2f}",
        f"{demands.client_cpu * 1000:.2f}",
        *(_prediction(diagnosis, cores) for cores in PREDICTED_CORES),
    ]


def free_threaded(inputs: DocsInputs) -> str:
    """Per workload: the free-threaded build with the GIL on and off and the GIL build, what each reached, why,
    and what the same demands predict on more cores; then the single-thread cost of the build."""
    results = inputs.get("free-threaded")
    if results is None:
        return _todo("free-threaded")
    predicted = " | ".join(f"{cores} cores: ceiling /s (limit)" for cores in PREDICTED_CORES)
    lines = [f"| work | interpreter | peak /s (at N) | GIL off / on, same binary | saturates at N | predicted N* "
             f"| bottleneck | client cores busy at the peak | client CPU ms/task | {predicted} |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|" + "---:|" * len(PREDICTED_CORES)]  # fmt: skip
    for states in gil_states(results):
        ratio = states.peak_ratio
        for diagnosis in (states.gil_build, states.on, states.off):
            if diagnosis is not None:
                versus = f"{ratio.value:.2f}× ({ratio.low:.2f}–{ratio.high:.2f})" if diagnosis is states.off else ""
                lines.append("| " + " | ".join(_free_threaded_row(diagnosis, versus)) + " |")
    # Its own input, many requests one at a time, when measured: the sweep's few at N = 1 are a noisy estimate.
    cost = single_thread_cost(inputs.get("free-threaded-cost") or results)
    if cost is not None:
        lines += ["", _single_thread_sentence(cost)]
    return "\n".join(lines)


def _single_thread_sentence(cost: SingleThreadCost) -> str:
    r = cost.ratio
    return (f"Single-thread cost of the free-threaded build: one {cost.workload} request at a time costs the client "
            f"{cost.free_threaded_cpu * 1000:.2f} ms of CPU on {cost.free_threaded.label} against "
            f"{cost.gil_build_cpu * 1000:.2f} ms on {cost.gil_build.label} (medians of {cost.rounds} rounds, "
            f"{cost.tasks} requests), {r.value - 1:+.0%} (95 % CI {r.low - 1:+.0%} to {r.high - 1:+.0%}); PEP 703 "
            "estimated 5–8 % and the Python 3.14 docs 1–8 % (pyperformance).")  # fmt: skip


def _outcome(diagnosis: Diagnosis) -> tuple[str, str, str, str]:
    """Best speedup (at N), the saturation point, the peak throughput and the bottleneck's name, as table cells."""
    stats, found = diagnosis.series, diagnosis.saturation
    assert found is not None, "diagnose_results only yields series with points"
    best = max(stats.points, key=lambda point: point.speedup.value)
    named = re.split(r" \(|:", diagnosis.bottleneck.description)[0]
    peak = f"{found.best_throughput.value:.0f}"
    return f"{best.speedup.value:.1f}× ({best.workers})", saturation_cell(stats), peak, named


def _ms(seconds: float | None, digits: int = 2) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.{digits}f}"


def database(inputs: DocsInputs) -> str:
    """Each connection strategy of the db workload: speedup, saturation, CPU per query, connections, pool waits."""
    results = inputs.get("db")
    if results is None or results.database is None:
        return _todo("db")
    server = results.database
    started = f"started in {server.startup_seconds:.2f} s" if server.startup_seconds is not None else "external"
    lines = [f"PostgreSQL {server.version or '?'} ({server.kind}, {started}, initdb included; max_connections "
             f"{server.max_connections or '?'}).", "",
             "| series | best speedup (at N) | saturates at N | peak queries/s | client CPU ms/query "
             "| server CPU ms/query | connections per batch (largest N) | pool wait ms/query (largest N) "
             "| bottleneck |", "|---|---:|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for diagnosis in diagnose_results(results):
        best, at, peak, named = _outcome(diagnosis)
        demands, largest = diagnosis.demands, diagnosis.series.points[-1]
        client, server_cpu = (demands.client_cpu, demands.server_cpu) if demands else (None, None)
        lines.append(f"| {diagnosis.series.label} | {best} | {at} | {peak} | {_ms(client)} | {_ms(server_cpu)} "
                     f"| {largest.connections_opened:.0f} (N = {largest.workers}) "
                     f"| {_ms(largest.pool_wait_per_task, 1)} | {named} |")  # fmt: skip
    return "\n".join(lines)


def _sequential_cpu(stats: SeriesStats, analyzed: list[SeriesStats]) -> float | None:
    """Client CPU per task of the series' own sequential loop: the client's cost with no threads at all."""
    baseline = next((other for other in analyzed if other.series is stats.baseline), None)
    return baseline.points[0].client_cpu_per_task if baseline and baseline.points else None


def clients(inputs: DocsInputs) -> str:
    """Each HTTP client and way of sharing it: its CPU per request alone and in a pool, and where it saturates."""
    results = inputs.get("clients")
    if results is None:
        return _todo("clients")
    analyzed = analyze(results)
    lines = ["| series | client CPU ms/request, sequential | client CPU ms/request, pools | best speedup (at N) "
             "| saturates at N | peak /s | bottleneck |", "|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for diagnosis in diagnose_results(results):
        best, at, peak, named = _outcome(diagnosis)
        demands = diagnosis.demands
        alone = _sequential_cpu(diagnosis.series, analyzed)
        lines.append(f"| {diagnosis.series.label} | {_ms(alone)} | {_ms(demands.client_cpu if demands else None)} "
                     f"| {best} | {at} | {peak} | {named} |")  # fmt: skip
    return "\n".join(lines)


def responsiveness_table(inputs: DocsInputs) -> str:
    """How late the probe woke beside each workload and switch interval: p99 per pool size, and the worst wake-up."""
    results = inputs.get("responsiveness")
    if results is None:
        return _todo("responsiveness")
    probed = [stats for stats in concurrent(results) if any(p.probe_p99 is not None for p in stats.points)]
    sizes = sorted({point.workers for stats in probed for point in stats.points})
    lines = ["| series | " + " | ".join(f"p99 late ms, N = {n}" for n in sizes) + " | worst wake-up ms "
             "| speedup at the largest N |", "|---|" + "---:|" * (len(sizes) + 2)]  # fmt: skip
    for stats in probed:
        by_size = {point.workers: point for point in stats.points}
        cells = [_ms(by_size[n].probe_p99, 1) if n in by_size else "–" for n in sizes]
        worst = max(point.probe_max or 0.0 for point in stats.points)
        last = stats.points[-1]
        lines.append(f"| {stats.label} | {' | '.join(cells)} | {worst * 1000:.1f} "
                     f"| {last.speedup.value:.1f}× (N = {last.workers}) |")  # fmt: skip
    return "\n".join(lines)


def claims(inputs: DocsInputs) -> str:
    lines = ["| the article says | iobench measured here | verdict | reproduce |", "|---|---|---|---|"]
    for claim in CLAIMS:
        results = inputs.get(claim.input)
        item = INPUTS[claim.input]
        if results is None:
            needs = f" (needs {item.needs})" if item.needs else ""
            measured, verdict_text = f"**TODO**: not measured yet{needs}", "—"
        else:
            measured, verdict_text = claim.evaluate(results)
        lines.append(f"| {claim.says} | {measured} | {verdict_text} | `{item.command}` |")
    return "\n".join(lines)


def inputs_table(inputs: DocsInputs) -> str:
    lines = ["| docs input | measured | command |", "|---|---|---|"]
    for item in INPUTS.values():
        results = inputs.get(item.name)
        if results is None:
            state = "**TODO**: not yet" + (f" (needs {item.needs})" if item.needs else "")
        else:
            state = f"{results.created_utc[:10]}, {results.environment.label}, {results.status}"
        lines.append(f"| `{item.path}` | {state} | `{item.command}` |")
    return "\n".join(lines)


def cli_reference(inputs: DocsInputs) -> str:
    """Every subcommand's ``--help``, as the CLI prints it, so the reference cannot drift from the parser."""
    if not inputs.cli_help:
        raise UsageError("the CLI reference needs the CLI's help texts; run iobench docs")
    return "\n\n".join(f"```text\n{text.rstrip()}\n```" for text in inputs.cli_help.values())


REGIONS: dict[str, Callable[[DocsInputs], str]] = {
    "verdict": verdict,
    "saturation": saturation_report,
    "threads-table": threads_table,
    "matrix": matrix,
    "workloads": workloads,
    "free-threaded": free_threaded,
    "db": database,
    "clients": clients,
    "responsiveness": responsiveness_table,
    "claims": claims,
    "inputs": inputs_table,
    "cli": cli_reference,
}


# --- the files --------------------------------------------------------------------------------------


def render_readme(text: str, inputs: DocsInputs) -> str:
    """``text`` with every marked region regenerated; an unknown or unclosed region is a UsageError."""
    opened = _OPENING.findall(text)
    closed = [match.group("name") for match in _REGION.finditer(text)]
    for name in opened:
        if name not in REGIONS:
            raise UsageError(f"{README} has a region {name!r} that iobench docs does not generate")
    if sorted(opened) != sorted(closed):
        unclosed = sorted(set(opened) - set(closed)) or opened
        raise UsageError(f"{README}: region {unclosed[0]!r} has no closing <!-- /iobench:docs:{unclosed[0]} -->")

    def fill(match: re.Match[str]) -> str:
        name = match.group("name")
        return f"<!-- iobench:docs:{name} -->\n{REGIONS[name](inputs).rstrip()}\n<!-- /iobench:docs:{name} -->"

    return _REGION.sub(fill, text)


def _write_figures(item: DocsInput, results: Results, root: Path) -> list[Path]:
    """Redraw one input's figures (per workload, when it asks) and drop stale ones, so each folder holds
    exactly what is drawn."""
    assert item.plots is not None
    if not item.figures_per_workload:
        return _redraw(results, root / item.plots)
    workloads = dict.fromkeys(series.workload for series in results.series)
    return [
        path
        for workload in workloads
        for path in _redraw(
            replace(results, series=[s for s in results.series if s.workload == workload]), root / item.plots / workload
        )
    ]


def _redraw(results: Results, folder: Path) -> list[Path]:
    written = write_plots(results, folder)
    for stale in folder.iterdir():
        if stale.is_file() and stale.suffix.lstrip(".") in FORMATS and stale not in written:
            stale.unlink()
    return written


def regenerate(root: Path, cli_help: Mapping[str, str]) -> list[str]:
    """Redraw the docs figures and rewrite README.md's regions under ``root``; return what was done, a line each.

    ``cli_help`` maps each subcommand to its ``--help`` text, for the CLI reference.
    """
    readme = root / README
    if not readme.is_file():
        raise UsageError(f"{readme}: not found; run iobench docs in the checkout's root, or pass --root")
    inputs = DocsInputs(root, cli_help)
    done: list[str] = []
    for item in INPUTS.values():
        results = inputs.get(item.name)
        if results is None:
            done.append(f"missing {item.path}: {item.command}")
        elif item.plots:
            done += [f"plot: {path.relative_to(root)}" for path in _write_figures(item, results, root)]
    before = readme.read_text()
    after = render_readme(before, inputs)
    if after != before:
        readme.write_text(after)
    done.append(f"{README}: {len(_REGION.findall(after))} regions, {'updated' if after != before else 'unchanged'}")
    return done
