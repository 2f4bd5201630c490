"""The ``iobench`` command: argument parsing and printing around the library, nothing else.

Exit codes: 0 success, 1 a regression (``compare``, ``run --compare``), 2 bad input (one line on stderr,
never a traceback), 3 the server failed (one line naming the point, after saving what was measured),
130 interrupted by SIGINT or SIGTERM (whatever was measured is saved first).
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from iobench.analysis.gate import (
    DEFAULT_ALPHA,
    DEFAULT_DISCARDS_EFFECT,
    DEFAULT_MIN_EFFECT,
    FIGURES,
    Comparison,
    Thresholds,
    Verdict,
    compare,
    compare_sides,
)
from iobench.analysis.saturation import SATURATION_TOLERANCE
from iobench.analysis.search import SearchSettings
from iobench.defaults import FIXED_WORKERS, help_text, preset
from iobench.errors import ServerError, UsageError
from iobench.measure.config import AUTO, SeriesSpec, SweepConfig, parse_workers
from iobench.measure.executors import EXECUTORS
from iobench.measure.health import abandoned_work
from iobench.measure.interpreters import GIL_SETTINGS
from iobench.measure.limits import ensure_open_files
from iobench.measure.sweep import BatchDone, run_sweep
from iobench.measure.sweepfile import load_sweep_file
from iobench.present.gate_table import render_comparison_markdown, render_comparison_terminal
from iobench.results.model import Results

if TYPE_CHECKING:
    from iobench.analysis.history import Run
from iobench.results.store import ResultsWriter, load_many, load_results, results_path

EXIT_REGRESSION, EXIT_USAGE, EXIT_SERVER, EXIT_INTERRUPTED = 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting, so every error is one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt inside the block, so one cleanup path (save, stop the
    server) serves both; the previous handlers come back after it, so calling ``main`` leaves no trace.

    SIGINT needs it as much as SIGTERM: a shell starts background jobs with SIGINT ignored, Python then
    keeps it ignored, and ``kill -INT`` would not stop the run.
    """
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _writable_folder(text: str, flag: str) -> Path:
    """The folder ``flag`` names, created now: a path that cannot take files fails before measuring."""
    folder = Path(text)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise UsageError(f"{flag} {text}: cannot write files into this folder ({exc.strerror or exc})") from None
    return folder


def _search_settings(args: argparse.Namespace, auto: bool) -> SearchSettings:
    """The auto search's bounds from the flags; a bound given for a fixed list of pool sizes is refused."""
    given = {"tolerance": args.tolerance, "budget_seconds": args.budget, "max_workers": args.max_workers}
    if not auto:
        named = next((name for name, value in given.items() if value is not None), None)
        if named is not None:
            flag = "--" + named.removesuffix("_seconds").replace("_", "-")
            raise UsageError(f"{flag} bounds the search of --workers auto; it does not apply to a list of pool sizes")
    return SearchSettings(**{name: value for name, value in given.items() if value is not None})


def _build_config(args: argparse.Namespace) -> SweepConfig:
    if args.config:
        return _config_from_file(args)
    defaults = preset(args.quick)
    given = {name: getattr(args, name) for name in ("delay", "rounds", "waves", "seed", "timeout", "executor", "gil")}
    chosen = {name: defaults[name] if value is None else value for name, value in given.items()}
    if args.task:
        if args.delay is not None:
            raise UsageError("--delay applies to the http-delay workload, not to a --task function")
        spec = SeriesSpec("task", {"function": args.task}, chosen["executor"])
    else:
        spec = SeriesSpec("http-delay", {"delay": chosen["delay"]}, chosen["executor"])
    workers = defaults["workers"] if args.workers is None else parse_workers(args.workers)
    if workers == AUTO and args.workers is None and args.against:
        workers = FIXED_WORKERS  # an A/B run measures both sides at the same pool sizes
    return SweepConfig(
        series=(spec,),
        workers=workers,
        search=_search_settings(args, workers == AUTO),
        rounds=chosen["rounds"],
        waves=chosen["waves"],
        seed=chosen["seed"],
        target=args.target,
        timeout=chosen["timeout"],
        pythons=tuple(args.pythons or ()),
        gil=chosen["gil"],
        db_url=args.db_url,
        switch_interval=args.switch_interval,
        probe=defaults["probe"] if args.probe is None else args.probe,
    )


def _config_from_file(args: argparse.Namespace) -> SweepConfig:
    """The sweep file's plan; the sweep-wide flags given explicitly override its values."""
    for flag, given in (("--quick", args.quick), ("--delay", args.delay is not None), ("--task", args.task),
                        ("--executor", args.executor)):  # fmt: skip
        if given:
            raise UsageError(f"{flag} describes a single series; with --config the file describes the series")
    flags = {"workers": None if args.workers is None else parse_workers(args.workers), "rounds": args.rounds,
             "waves": args.waves, "seed": args.seed, "timeout": args.timeout, "target": args.target,
             "db_url": args.db_url, "switch_interval": args.switch_interval, "probe": args.probe,
             "pythons": tuple(args.pythons) if args.pythons else None, "gil": args.gil}  # fmt: skip
    config = load_sweep_file(args.config, {key: value for key, value in flags.items() if value is not None})
    return replace(config, search=_search_settings(args, config.auto))


def _stdout_console() -> Console:
    """A console for tables: the terminal's width, or wide enough for the table when piped to a file."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def _progress_bar(console: Console) -> tuple[Progress, Callable[[BatchDone], None]]:
    """A live bar on a terminal; nothing when stderr is a log or a pipe, where it would only leave blank lines."""
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )  # fmt: skip
    task = progress.add_task("starting server", total=None)
    failed_requests = 0

    def update(event: BatchDone) -> None:
        nonlocal failed_requests
        failed_requests += event.errors
        phase = "warm-up" if event.warmup else f"round {event.round_index}"
        failures = f" ({failed_requests} requests failed so far)" if failed_requests else ""
        progress.update(task, completed=event.done, total=event.total,
                        description=f"{phase}: {event.label} N={event.workers}{failures}")  # fmt: skip

    return progress, update


def cmd_run(args: argparse.Namespace) -> int:
    if args.against:
        return _run_against(args)
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # --task and sweep-file tasks import from here, as with `python -m`
    config = _build_config(args)
    # A bad baseline, threshold or output folder fails before the sweep, not after it.
    baseline, thresholds = (_gate_baseline(args), _thresholds(args)) if args.compare else (None, None)
    plots = _writable_folder(args.plots, "--plots") if args.plots else None
    writer = ResultsWriter(results_path(Path(args.out)), force=args.force)

    def sweep(progress: Progress, update: Callable[[BatchDone], None], notify: Callable[[str], None]) -> Results:
        with progress:
            return run_sweep(config, writer, progress=update, notify=notify)

    results = _measure_and_show(sweep, writer, plots)
    if results is None:
        return EXIT_INTERRUPTED
    if baseline is None or thresholds is None:
        return 0
    return _gate(compare(baseline, results, thresholds), args, _stdout_console())


def _run_against(args: argparse.Namespace) -> int:
    """``run --against REF``: the sweep for REF (A) and the working tree (B) in one job, then B judged against A."""
    from iobench.measure.against import Repository, sides, working_tree_importable

    for flag, given in (("--compare", args.compare), ("--python", args.pythons)):
        if given:
            raise UsageError(f"--against judges the working tree against a git ref in one job; {flag} does not apply")
    repository = Repository.containing(Path.cwd())
    with working_tree_importable(repository):
        config = _build_config(args)
    thresholds = _thresholds(args)
    plots = _writable_folder(args.plots, "--plots") if args.plots else None
    writer = ResultsWriter(results_path(Path(args.out)), force=args.force)

    def sweep(progress: Progress, update: Callable[[BatchDone], None], notify: Callable[[str], None]) -> Results:
        with working_tree_importable(repository):
            workloads = [spec.build_workload() for spec in config.all_series()]
        with sides(args.against, repository, workloads, notify) as opened, progress:
            return run_sweep(config, writer, progress=update, notify=notify, sides=opened)

    results = _measure_and_show(sweep, writer, plots)
    if results is None:
        return EXIT_INTERRUPTED
    a, b = (results.variant_named(name) for name in ("A", "B"))
    out = _stdout_console()
    out.print(f"B judged against A: {b.label if b else 'B'} against {a.label if a else 'A'}")
    return _gate(compare_sides(results, thresholds), args, out)


def _measure_and_show(
    sweep: Callable[[Progress, Callable[[BatchDone], None], Callable[[str], None]], Results],
    writer: ResultsWriter,
    plots: Path | None,
) -> Results | None:
    """Run ``sweep`` with a progress bar and one-line notices, then print its table and draw its figures.

    Both ways a sweep ends early keep what it measured and say where: Ctrl-C (or SIGTERM) returns None
    after one line, and a server that failed gets the results file named in its error.
    """
    from iobench.present.plots import write_plots
    from iobench.present.report import render_terminal

    console = Console(stderr=True)
    progress, update = _progress_bar(console)

    def notify(line: str) -> None:
        console.print(line, markup=False, soft_wrap=True)  # one line, however narrow the terminal

    try:
        with _signals_interrupt():
            results = sweep(progress, update, notify)
    except KeyboardInterrupt:
        print(f"iobench: interrupted; results so far are in {writer.path}", file=sys.stderr)
        return None
    except ServerError as exc:
        raise ServerError(f"{exc}; results so far are in {writer.path}") from None
    out = _stdout_console()
    render_terminal(results, out)
    out.print(f"results: {writer.path}")
    if plots is not None:
        for path in write_plots(results, plots):
            out.print(f"plot: {path}")
    return results


def _thresholds(args: argparse.Namespace) -> Thresholds:
    return Thresholds(min_effect=args.min_effect, alpha=args.alpha, figures=dict(args.threshold),
                      series=dict(args.series_min_effect))  # fmt: skip


def _gate_baseline(args: argparse.Namespace) -> Results | None:
    """The baseline to compare against; None (after a warning) when it is missing and that is allowed."""
    if args.allow_missing and not Path(args.compare).exists():
        print(f"iobench: warning: no baseline at {args.compare}; nothing compared (--allow-missing)", file=sys.stderr)
        return None
    return load_results(args.compare)


def _gate(comparison: Comparison, args: argparse.Namespace, out: Console) -> int:
    if getattr(args, "format", "terminal") == "markdown":
        sys.stdout.write(render_comparison_markdown(comparison))
    else:
        render_comparison_terminal(comparison, out)
    return EXIT_REGRESSION if comparison.verdict is Verdict.REGRESSION else 0


def cmd_compare(args: argparse.Namespace) -> int:
    thresholds = _thresholds(args)
    if args.new is None:  # one A/B file: its side B against its side A
        results = load_results(args.compare)
        if not results.variants:
            raise UsageError(f"{args.compare} is not an A/B run of --against; give a baseline and a new results file")
        return _gate(compare_sides(results, thresholds), args, _stdout_console())
    baseline = _gate_baseline(args)
    new = load_results(args.new)
    if baseline is None:
        return 0
    return _gate(compare(baseline, new, thresholds), args, _stdout_console())


def cmd_serve(args: argparse.Namespace) -> int:
    from iobench.measure.server import LocalServer

    ensure_open_files(args.capacity)
    with _signals_interrupt(), LocalServer(max_concurrency=args.capacity) as server:
        print(f"httpbin at {server.url} (started in {server.startup_seconds:.2f} s); Ctrl-C stops it", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            print("stopping", flush=True)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from iobench.present.plots import write_plots

    documents = [load_results(path) for path in args.results]
    folder = _writable_folder(args.plots, "--plots")
    for path in write_plots(documents, folder, names=[Path(p).name for p in args.results]):
        print(f"plot: {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from iobench.present.report import render_markdown, render_terminal

    documents = [load_results(path) for path in args.results]
    names = [Path(path).name for path in args.results]
    if args.format == "markdown":
        sys.stdout.write(render_markdown(documents, names))
    else:
        render_terminal(documents, _stdout_console(), names)
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from iobench.present.recommend import recommendation_lines

    for path in args.results:
        results = load_results(path)
        lines = recommendation_lines(results, args.within)
        if len(args.results) > 1:
            print(f"{path}:")
        print("\n".join(lines) if lines else "no concurrent series with a measured sequential loop to recommend from")
    return 0


def _history_runs(paths: list[str]) -> list[Run]:
    """The complete runs among the results files and folders given; each incomplete one is named and left out."""
    from iobench.analysis.history import as_run

    runs = []
    for name, results in load_many(paths):
        if results.complete:
            runs.append(as_run(name, results))
        else:
            print(f"iobench: note: {name} left out: the run is {results.status}", file=sys.stderr)
    if not runs:
        raise UsageError("no complete runs among the results given")
    return runs


def cmd_history(args: argparse.Namespace) -> int:
    from iobench.analysis.history import histories
    from iobench.present.history import (
        build_history,
        render_history_markdown,
        render_history_terminal,
        slug,
        write_trend_figures,
    )

    grouped = histories(_history_runs(args.results), args.merge_machines)
    plots = _writable_folder(args.plots, "--plots") if args.plots else None
    out = _stdout_console()
    for machine, runs in grouped.items():
        history = build_history(machine, runs)
        if args.format == "markdown":
            sys.stdout.write(render_history_markdown(history))
        else:
            render_history_terminal(history, out)
        if plots is not None:
            prefix = f"{slug(machine)}-" if len(grouped) > 1 else ""
            for path in write_trend_figures(history, plots, prefix):
                print(f"plot: {path}", file=sys.stderr if args.format == "markdown" else sys.stdout)
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from iobench.present.dashboard import build_dashboard, write_dashboard

    runs = _history_runs(args.results)
    folder = _writable_folder(args.out, "--out")
    path = write_dashboard(build_dashboard(runs, args.last, args.merge_machines), folder)
    print(f"dashboard: {path} ({path.stat().st_size // 1024} kB, {len(runs)} runs)")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from iobench.present.docs import regenerate

    for line in regenerate(Path(args.root), command_help()):
        print(line)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _fraction(text: str) -> float:
    """'0.1', '10%' -> 0.1; 'off' -> infinity (a figure that can never move enough to count)."""
    if text.strip().lower() == "off":
        return math.inf
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not value >= 0:
        raise ValueError(text)
    return value


def _share(text: str) -> float:
    """'0.05', '5%' -> 0.05: a share strictly between 0 and 1."""
    value = _fraction(text)
    if not 0 < value < 1:
        raise ValueError(text)
    return value


def _assignment(text: str) -> tuple[str, float]:
    """'NAME=0.2' -> ('NAME', 0.2); split at the last '=', since series labels contain '=' themselves."""
    name, _, value = text.rpartition("=")
    if not name:
        raise ValueError(text)
    return name, _fraction(value)


def _add_gate_options(parser: argparse.ArgumentParser) -> None:
    """The comparison flags, shared by ``compare`` and ``run --compare`` so the two never drift apart."""
    parser.add_argument(
        "--allow-missing", action="store_true", help="a missing baseline is a warning and exit 0 instead of an error"
    )
    parser.add_argument(
        "--min-effect",
        type=_fraction,
        default=DEFAULT_MIN_EFFECT,
        metavar="F",
        help="smallest change of a rate or ratio that counts, as a fraction or percent (default 0.1 = 10%%)",
    )
    parser.add_argument(
        "--threshold",
        type=_assignment,
        action="append",
        default=[],
        metavar="FIGURE=F",
        help=f"minimum effect for one figure ({', '.join(FIGURES)}); discards and connections are per task "
        f"(default {DEFAULT_DISCARDS_EFFECT:g}); 'off' ignores the figure; repeatable",
    )
    parser.add_argument(
        "--series-min-effect",
        type=_assignment,
        action="append",
        default=[],
        metavar="LABEL_GLOB=F",
        help="minimum effect for the series whose label matches; repeatable",
    )
    parser.add_argument(
        "--alpha", type=float, default=DEFAULT_ALPHA, help="significance level of the Mann-Whitney test (default 0.05)"
    )


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    """A fixed width, so ``--help`` (and the README's CLI reference made from it) reads the same everywhere."""
    return argparse.HelpFormatter(prog, width=100)


#: Python 3.14's argparse colours help on a terminal; the README's copy of it must stay plain text.
_PLAIN = {"color": False} if sys.version_info >= (3, 14) else {}


def _add_run_options(run: argparse.ArgumentParser) -> None:
    for name, kind in (("delay", float), ("rounds", int), ("waves", int), ("seed", int), ("timeout", float)):
        run.add_argument(f"--{name}", type=kind, help=help_text(name))
    run.add_argument("--workers", help=help_text("workers"))
    run.add_argument("--budget", type=float, metavar="SECONDS", help=help_text("budget"))
    run.add_argument("--max-workers", type=int, metavar="N", help=help_text("max_workers"))
    run.add_argument("--tolerance", type=_share, metavar="F", help=help_text("tolerance"))
    run.add_argument("--target", help="URL of an external httpbin to measure instead of starting one")
    run.add_argument("--db-url", metavar="postgresql://...",
                     help="an external PostgreSQL for the db workloads instead of the embedded one the sweep starts "
                          "(its password is never written or echoed)")  # fmt: skip
    run.add_argument("--switch-interval", type=float, metavar="SECONDS",
                     help="sys.setswitchinterval for the client while batches run, recorded per series "
                          "(default: the interpreter's, 0.005)")  # fmt: skip
    run.add_argument("--probe", action=argparse.BooleanOptionalAction, help=help_text("probe"))
    run.add_argument("--out", default="results", help="results folder, or a .json file path (default results/)")
    run.add_argument("--plots", default="plots", help="folder for the figures (default plots/); '' for none")
    run.add_argument("--quick", action="store_true", help="a small sweep for CI (under 20 s)")
    run.add_argument(
        "--config",
        metavar="FILE.toml",
        help="a TOML sweep file of several series: workloads http-delay, http-payload, file-io, cpu, "
        "hybrid, db, task x executors x session strategies (see bench/); the flags --workers, --rounds, "
        "--waves, --seed, --timeout, --target, --db-url, --switch-interval, --probe, --python, --gil override "
        "its values",
    )
    run.add_argument(
        "--task",
        metavar="MODULE:FUNCTION",
        help="sweep your own function instead of http-delay; it is called with a TaskContext "
        "(index, target URL, Session, timeout)",
    )
    run.add_argument("--executor", choices=tuple(EXECUTORS), help=help_text("executor"))
    run.add_argument("--force", action="store_true", help="replace an existing results file named by --out")
    run.add_argument("--python", action="append", dest="pythons", metavar="PYTHON",
                     help="run the client under this interpreter (command or path); repeat for a matrix")  # fmt: skip
    run.add_argument("--gil", choices=tuple(GIL_SETTINGS), help=help_text("gil"))
    run.add_argument(
        "--compare", metavar="BASE.json", help="then compare with this baseline; exit 1 on a regression (the CI gate)"
    )
    run.add_argument(
        "--against",
        metavar="REF",
        help="measure the code at this git ref (A, in a temporary worktree) and the working tree (B) in one job, "
        "rounds interleaved, then judge B against A; exit 1 on a regression (the CI gate without a baseline)",
    )
    _add_gate_options(run)


def _add_report_options(report: argparse.ArgumentParser) -> None:
    report.add_argument("results", nargs="+", help="one or more results .json files")
    report.add_argument("--format", choices=("terminal", "markdown"), default="terminal")


def _add_plot_options(plot: argparse.ArgumentParser) -> None:
    plot.add_argument("results", nargs="+", help="one or more results .json files")
    plot.add_argument("--plots", default="plots", help="output folder (default plots/)")


def _add_compare_options(gate: argparse.ArgumentParser) -> None:
    gate.add_argument("compare", metavar="BASE.json", help="the baseline results file (or one A/B run of --against)")
    gate.add_argument("new", metavar="NEW.json", nargs="?", help="the results file to judge (none: B against A)")
    gate.add_argument("--format", choices=("terminal", "markdown"), default="terminal")
    _add_gate_options(gate)


def _add_recommend_options(recommend: argparse.ArgumentParser) -> None:
    recommend.add_argument("results", nargs="+", help="one or more results .json files")
    recommend.add_argument("--within", type=_share, default=SATURATION_TOLERANCE, metavar="F",
                           help="the smallest pool within this share of the peak (default 0.05 = 5%%)")  # fmt: skip


def _add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--capacity", type=_positive_int, default=128, help="concurrent requests to allow for")


def _add_history_options(history: argparse.ArgumentParser) -> None:
    history.add_argument("results", nargs="+", metavar="RESULTS", help="results .json files, or folders of them")
    history.add_argument("--format", choices=("terminal", "markdown"), default="terminal")
    history.add_argument("--plots", default="plots", help="folder for the trend figures (default plots/); '' for none")
    history.add_argument("--merge-machines", action="store_true",
                         help="one history of all runs, instead of one per machine (CPU model and count)")  # fmt: skip


def _add_dashboard_options(dashboard: argparse.ArgumentParser) -> None:
    dashboard.add_argument("results", nargs="+", metavar="RESULTS", help="results .json files, or folders of them")
    dashboard.add_argument("--out", required=True, metavar="FOLDER", help="where to write index.html")
    dashboard.add_argument("--last", type=_positive_int, default=5, metavar="K",
                           help="overlay the speedup curves of the last K runs (default 5)")  # fmt: skip
    dashboard.add_argument("--merge-machines", action="store_true",
                           help="one history of all runs, instead of the latest run's machine only")  # fmt: skip


def _add_docs_options(docs: argparse.ArgumentParser) -> None:
    docs.add_argument("--root", default=".", help="the checkout whose README.md to update (default .)")


#: Each subcommand: what it does (its help and description), its options, and its handler.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "run": ("measure a sweep, save results, draw plots", _add_run_options, cmd_run),
    "report": ("print the tables and verdicts of results files (runs nothing)", _add_report_options, cmd_report),
    "plot": ("draw the figures of results files, overlaid (runs nothing)", _add_plot_options, cmd_plot),
    "compare": ("compare two results files; exit 1 on a regression (runs nothing)", _add_compare_options,
                cmd_compare),
    "history": ("trends and change points over many runs, by commit (runs nothing)", _add_history_options,
                cmd_history),
    "dashboard": ("one self-contained HTML page: latest run, recent runs, history, comparison (runs nothing)",
                  _add_dashboard_options, cmd_dashboard),
    "recommend": ("the pool size to use, from results files (runs nothing)", _add_recommend_options,
                  cmd_recommend),
    "serve": ("run the local httpbin server in the foreground", _add_serve_options, cmd_serve),
    "docs": ("regenerate the README's figures and tables from results/docs-*.json", _add_docs_options, cmd_docs),
}  # fmt: skip


def _with_options(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    _, add_options, handler = COMMANDS[name]
    add_options(parser)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="iobench", description=__doc__.splitlines()[0] if __doc__ else None,
                     formatter_class=_help_formatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (summary, _, _) in COMMANDS.items():
        _with_options(commands.add_parser(name, help=summary, description=summary, formatter_class=_help_formatter),
                      name)  # fmt: skip
    return parser


def command_help() -> dict[str, str]:
    """Each subcommand's ``--help`` text, as ``iobench NAME --help`` prints it, for the README's CLI reference."""
    return {
        name: _with_options(_Parser(prog=f"iobench {name}", description=summary, formatter_class=_help_formatter,
                                    **_PLAIN), name).format_help()
        for name, (summary, _, _) in COMMANDS.items()
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` (default ``sys.argv[1:]``), run the command, map errors to exit codes."""
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except UsageError as exc:
        print(f"iobench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServerError as exc:
        print(f"iobench: server error: {exc}", file=sys.stderr)
        return EXIT_SERVER
    except KeyboardInterrupt:
        print("iobench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def console_main() -> NoReturn:
    """The ``iobench`` command: ``main()``, then exit without waiting for requests nobody wants.

    After a server failure or Ctrl-C, requests of the abandoned batch may still be waiting on a hung
    external server (up to --timeout each, wave after wave). The error is reported, the results are
    saved and a local server is stopped by then, so the process ends at once instead of joining those
    threads at interpreter shutdown.
    """
    code = main()
    if abandoned_work():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    console_main()
