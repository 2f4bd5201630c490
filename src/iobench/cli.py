"""The ``iobench`` command: argument parsing and printing around the library, nothing else.

Exit codes: 0 success, 2 bad input (one line on stderr, never a traceback), 3 the server failed
(one line naming the point, after saving what was measured), 130 interrupted by SIGINT or SIGTERM
(whatever was measured is saved first).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import NoReturn

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from iobench.config import SeriesSpec, SweepConfig, parse_workers, preset
from iobench.errors import ServerError, UsageError
from iobench.health import abandoned_work
from iobench.limits import ensure_open_files
from iobench.results import ResultsWriter, load_results, results_path
from iobench.sweep import BatchDone, run_sweep

EXIT_USAGE, EXIT_SERVER, EXIT_INTERRUPTED = 2, 3, 130


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


def _build_config(args: argparse.Namespace) -> SweepConfig:
    defaults = preset(args.quick)
    delay = defaults["delay"] if args.delay is None else args.delay
    return SweepConfig(
        series=(SeriesSpec("http-delay", {"delay": delay}, "threads"),),
        workers=defaults["workers"] if args.workers is None else parse_workers(args.workers),
        rounds=defaults["rounds"] if args.rounds is None else args.rounds,
        waves=defaults["waves"] if args.waves is None else args.waves,
        seed=args.seed,
        target=args.target,
        timeout=args.timeout,
    )


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
    from iobench.plots import write_plots
    from iobench.report import render_terminal

    config = _build_config(args)
    plots = _writable_folder(args.plots, "--plots") if args.plots else None
    writer = ResultsWriter(results_path(Path(args.out)), force=args.force)
    progress, update = _progress_bar(Console(stderr=True))
    try:
        with _signals_interrupt(), progress:
            results = run_sweep(config, writer, progress=update)
    except KeyboardInterrupt:
        print(f"iobench: interrupted; results so far are in {writer.path}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ServerError as exc:
        raise ServerError(f"{exc}; results so far are in {writer.path}") from None
    out = _stdout_console()
    render_terminal(results, out)
    out.print(f"results: {writer.path}")
    if plots is not None:
        for path in write_plots(results, plots):
            out.print(f"plot: {path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from iobench.server import LocalServer

    ensure_open_files(args.capacity)
    with _signals_interrupt(), LocalServer(max_concurrency=args.capacity) as server:
        print(f"httpbin at {server.url} (started in {server.startup_seconds:.2f} s); Ctrl-C stops it", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            print("stopping", flush=True)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from iobench.plots import write_plots

    results = load_results(args.results)
    for path in write_plots(results, _writable_folder(args.plots, "--plots")):
        print(f"plot: {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from iobench.report import render_markdown, render_terminal

    results = load_results(args.results)
    if args.format == "markdown":
        sys.stdout.write(render_markdown(results))
    else:
        render_terminal(results, _stdout_console())
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="iobench", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="measure a sweep, save results, draw plots")
    run.add_argument("--delay", type=float, help="seconds each request waits at the server, 0-10 (default 0.1)")
    run.add_argument("--workers", help="comma-separated pool sizes (default 1,2,4,...,128)")
    run.add_argument("--rounds", type=int, help="measured rounds per point (default 5)")
    run.add_argument("--waves", type=int, help="tasks per worker in each batch, M = waves x N (default 4)")
    run.add_argument("--seed", type=int, default=0, help="seed for the order of points in each round")
    run.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    run.add_argument("--target", help="URL of an external httpbin to measure instead of starting one")
    run.add_argument("--out", default="results", help="results folder, or a .json file path (default results/)")
    run.add_argument("--plots", default="plots", help="folder for the figures (default plots/); '' for none")
    run.add_argument("--quick", action="store_true", help="a small sweep for CI (under 20 s)")
    run.add_argument("--force", action="store_true", help="replace an existing results file named by --out")
    run.set_defaults(handler=cmd_run)

    serve = commands.add_parser("serve", help="run the local httpbin server in the foreground")
    serve.add_argument("--capacity", type=_positive_int, default=128, help="concurrent requests to allow for")
    serve.set_defaults(handler=cmd_serve)

    plot = commands.add_parser("plot", help="draw the figures of a results file (runs nothing)")
    plot.add_argument("results", help="a results .json file")
    plot.add_argument("--plots", default="plots", help="output folder (default plots/)")
    plot.set_defaults(handler=cmd_plot)

    report = commands.add_parser("report", help="print the table of a results file (runs nothing)")
    report.add_argument("results", help="a results .json file")
    report.add_argument("--format", choices=("terminal", "markdown"), default="terminal")
    report.set_defaults(handler=cmd_report)
    return parser


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
