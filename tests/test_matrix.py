"""The interpreter matrix: the client side of a sweep under other Pythons, in subprocesses speaking JSON lines."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from iobench.analysis.stats import analyze
from iobench.cli import main
from iobench.errors import UsageError
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.interpreters import Skipped, locate, with_requests
from iobench.measure.runners import ClientError, SubprocessRunner, close_runners, open_runners
from iobench.measure.server import LocalServer
from iobench.measure.sweep import run_sweep
from iobench.measure.workloads import make_workload
from iobench.results import ResultsWriter, load_results

HARNESS_MINOR = ".".join(platform.python_version_tuple()[:2])


def _second_python() -> str | None:
    """A pyenv interpreter of another minor version than the one running the tests, when there is one."""
    for name in ("python3.12", "python3.13", "python3.11"):
        try:
            found = locate(name)
        except Skipped:
            continue
        if ".".join(map(str, found.version[:2])) != HARNESS_MINOR:
            return name
    return None


def test_a_client_subprocess_runs_batches_and_describes_its_interpreter(httpbin_server: LocalServer) -> None:
    runner = SubprocessRunner(locate(sys.executable))  # this very interpreter, but in a client process
    try:
        assert runner.interpreter.version == platform.python_version()
        assert runner.interpreter.runs == "subprocess" and isinstance(runner.interpreter.gil_enabled, bool)
        workload = make_workload("http-delay", {"delay": 0.02})
        batch = {"executor": "threads", "workers": 4, "tasks": 8, "target": httpbin_server.url, "timeout": 10.0}
        sample = runner.run_batch(workload, **batch)
        assert len(sample.latencies) == 8 and sample.errors == {} and sample.connections_opened == 4
        assert sum(sample.latencies) > 1.5 * sample.wall_seconds, "four threads should overlap their waits"
        with pytest.raises(UsageError, match="unknown executor"):
            runner.run_batch(workload, **{**batch, "executor": "no-such-executor"})
        assert len(runner.run_batch(workload, **batch).latencies) == 8, "the client survives a bad request"
    finally:
        runner.close()
    assert runner.returncode == 0


def test_a_client_that_dies_is_a_one_line_client_error(httpbin_server: LocalServer) -> None:
    runner = SubprocessRunner(locate(sys.executable))
    try:
        os.kill(runner._process.pid, signal.SIGKILL)
        runner._process.wait(timeout=10)
        with pytest.raises(ClientError, match=r"the client process (exited|is gone)"):
            runner.run_batch(make_workload("http-delay", {"delay": 0.0}), executor="sequential", workers=1, tasks=1,
                             target=httpbin_server.url, timeout=5.0)  # fmt: skip
    finally:
        runner.close()


def test_matrix_sweep_under_a_second_interpreter(httpbin_server: LocalServer, tmp_path: Path) -> None:
    second = _second_python()
    if second is None:
        pytest.skip("no second interpreter (python3.12, python3.13) on this machine")
    config = SweepConfig(series=(SeriesSpec("http-delay", {"delay": 0.02}, "threads"),), workers=(1, 4),
                         rounds=2, waves=2, pythons=(sys.executable, second))  # fmt: skip
    run_sweep(config, ResultsWriter(tmp_path / "m.json"), server=httpbin_server, notify=print)

    results = load_results(tmp_path / "m.json")
    assert results.status == "complete" and len(results.series) == 4
    versions = {series.interpreter.version[:4] for series in results.series}
    assert versions == {HARNESS_MINOR, second.removeprefix("python")}
    assert {series.interpreter.runs for series in results.series} == {"subprocess"}, "every client runs apart"
    for series in results.series:
        assert series.interpreter.version in results.label_of(series)
    threaded = [stats for stats in analyze(results) if stats.executor == "threads"]
    assert len(threaded) == 2
    for stats in threaded:
        assert stats.baseline.interpreter == stats.series.interpreter, "own sequential baseline"
        assert stats.points[-1].speedup.value >= 2, f"{stats.label}: 4 threads barely beat one"


def test_unfindable_and_duplicate_interpreters_are_skipped_with_a_message() -> None:
    messages: list[str] = []
    runners, skipped = open_runners((sys.executable, "no-such-python3.99", sys.executable), messages.append)
    close_runners(runners)
    assert len(runners) == 1
    assert [item["requested"] for item in skipped] == ["no-such-python3.99", sys.executable]
    assert messages[0] == "skipping no-such-python3.99: not found on PATH"
    assert "same interpreter" in messages[1]


def test_a_run_with_no_usable_interpreter_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    impostor = tmp_path / "python"
    impostor.write_text("#!/bin/sh\necho hello\n")
    impostor.chmod(0o755)
    code = main(["run", "--quick", "--python", "no-such-python3.99", "--python", str(impostor),
                 "--out", str(tmp_path / "results"), "--plots", ""])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "skipping no-such-python3.99: not found on PATH" in err
    assert "does not behave like a Python interpreter" in err
    assert err.strip().splitlines()[-1].startswith("iobench: error: none of the interpreters")
    assert "Traceback" not in err and not list(tmp_path.glob("results/*.json")), "no results file is written"


def test_a_pyenv_shim_that_refuses_resolves_to_the_installed_version(tmp_path: Path) -> None:
    """pyenv's shim for python3.12 refuses to run unless 3.12 is selected; its versions/ folder has it."""
    shim = tmp_path / "shims" / "python9.9"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\necho 'pyenv: python9.9: command not found' >&2\nexit 127\n")
    shim.chmod(0o755)
    for version in ("9.9.1", "9.9.10"):
        real = tmp_path / "versions" / version / "bin" / "python9.9"
        real.parent.mkdir(parents=True)
        real.symlink_to(os.path.realpath(sys.executable))
    found = locate(str(shim))
    assert found.executable == str(tmp_path / "versions" / "9.9.10" / "bin" / "python9.9"), "newest version first"
    assert found.version == sys.version_info[:3]


def test_an_interpreter_without_requests_gets_a_cached_venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bare = locate(sys.executable)
    bare = type(bare)(**{**bare.__dict__, "has_requests": False})  # as if this Python had no requests
    messages: list[str] = []
    prepared = with_requests(bare, messages.append)
    assert len(messages) == 1 and "installing requests==" in messages[0]
    assert Path(prepared.executable).is_relative_to(tmp_path / "iobench" / "venvs")
    import requests

    imported = subprocess.run([prepared.executable, "-c", "import requests; print(requests.__version__)"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    assert imported.stdout.strip() == requests.__version__, "the harness's own requests version, pinned"
    assert with_requests(bare, messages.append) == prepared and len(messages) == 1, "second use: cached, silent"


def test_the_clients_batch_clock_reaches_the_harness_through_the_pipe(httpbin_server: LocalServer) -> None:
    """The sweep reads its server's CPU when the client's clock starts and stops, in whichever process it runs."""
    runner = SubprocessRunner(locate(sys.executable))
    moments: list[bool] = []
    try:
        sample = runner.run_batch(make_workload("http-delay", {"delay": 0.0}), executor="threads", workers=2, tasks=4,
                                  target=httpbin_server.url, timeout=5.0, clock=moments.append)  # fmt: skip
    finally:
        runner.close()
    assert moments == [True, False] and len(sample.latencies) == 4
