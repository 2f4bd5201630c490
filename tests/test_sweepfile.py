"""TOML sweep files, a user's own function on the command line, and what the results file records."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from iobench.cli import main
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.server import LocalServer
from iobench.measure.sweep import run_sweep
from iobench.measure.sweepfile import load_sweep_file
from iobench.results import ResultsWriter, ServerInfo, load_results

BENCH = Path(__file__).resolve().parent.parent / "bench"

MIXED = """
workers = [1, 4, 8]
rounds = 2
waves = 2
seed = 5

[defaults]
delay = 0.03

[[series]]
workload = "http-delay"
executor = ["threads", "asyncio"]

[[series]]
workload = "http-delay"
executor = "threads"
session_strategy = ["shared-default", "per-request"]
workers = [8]

[[series]]
workload = "hybrid"
executor = "threads"
params = { cpu = 0.002 }
name = "hybrid, 2 ms CPU"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_sweep_file_expands_into_series_with_defaults_and_own_pool_sizes(tmp_path: Path) -> None:
    config = load_sweep_file(_write(tmp_path, MIXED))
    assert (config.workers, config.rounds, config.waves, config.seed) == ((1, 4, 8), 2, 2, 5)
    described = [(spec.workload, spec.executor, spec.session_strategy, spec.params) for spec in config.series]
    assert described == [
        ("http-delay", "threads", "per-thread", {"delay": 0.03}),
        ("http-delay", "asyncio", "shared-sized", {"delay": 0.03}),
        ("http-delay", "threads", "shared-default", {"delay": 0.03}),
        ("http-delay", "threads", "per-request", {"delay": 0.03}),
        ("hybrid", "threads", "none", {"cpu": 0.002, "delay": 0.03}),
    ]
    assert config.pool_sizes(config.series[2]) == (8,) and config.pool_sizes(config.series[0]) == (1, 4, 8)
    assert config.series[4].label == "hybrid, 2 ms CPU"
    assert SweepConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_command_line_values_override_the_file(tmp_path: Path) -> None:
    config = load_sweep_file(_write(tmp_path, MIXED), {"rounds": 1, "workers": (1, 2)})
    assert config.rounds == 1 and config.waves == 2
    assert {config.pool_sizes(spec) for spec in config.series} == {(1, 2)}, "--workers shrinks every series"


def test_a_sweep_file_names_its_interpreters_and_gil_states(tmp_path: Path) -> None:
    path = _write(tmp_path, "pythons = ['python3.13', '~/py/bin/python3.13t']\ngil = 'both'\n" + MIXED)
    config = load_sweep_file(path)
    assert (config.pythons, config.gil) == (("python3.13", "~/py/bin/python3.13t"), "both")
    assert SweepConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    overridden = load_sweep_file(path, {"pythons": ("python3.12",), "gil": "off"})
    assert (overridden.pythons, overridden.gil) == (("python3.12",), "off")


def test_python_and_gil_flags_reach_a_sweep_file_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--python with --config is not dropped: here it names only interpreters that do not exist, so exit 2."""
    code = main(["run", "--config", str(_write(tmp_path, MIXED)), "--python", "no-such-python3.99", "--gil", "on",
                 "--out", str(tmp_path / "r.json")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "skipping no-such-python3.99: not found on PATH" in err


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.toml")), ids=lambda path: path.name)
def test_every_example_in_bench_is_a_valid_sweep(path: Path) -> None:
    assert load_sweep_file(path).series


BAD_FILES = [
    ("rounds = 0\n[[series]]\nworkload = 'cpu'", "rounds"),
    ("wrokers = [1]\n[[series]]\nworkload = 'cpu'", "wrokers"),
    ("workers = 4\n[[series]]\nworkload = 'cpu'", "workers"),
    ("[defaults]\ndelya = 1\n[[series]]\nworkload = 'cpu'", "defaults.delya"),
    ("series = 3", "series"),
    ("[[series]]\nworkload = 'nope'", "series[0].workload"),
    ("[[series]]\nworkload = 'cpu'\nexecutor = 'fibers'", "series[0].executor"),
    ("[[series]]\nworkload = 'cpu'\nexecutors = 'threads'", "series[0].executors"),
    ("[[series]]\nworkload = 'http-delay'\nparams = { delay = 11 }", "series[0].params.delay"),
    ("[[series]]\nworkload = 'cpu'\n[[series]]\nworkload = 'cpu'\nparams = { cpu = 'lots' }", "series[1].params.cpu"),
    ("[[series]]\nworkload = 'cpu'\nsession_strategy = 'per-thread'", "series[0].session_strategy"),
    ("[[series]]\nworkload = 'cpu'\nworkers = [0]", "series[0].workers"),
    ("[[series]]\nworkload = 'cpu'\nexecutor = ['threads', 'processes']\nname = 'x'", "series[0].name"),
    ("[[series]]\nworkload = 'task'\nparams = { function = 'nosuch.module:fn' }", "nosuch.module"),
    ("[[series]\nworkload = 'cpu'", "not valid TOML"),
    ("gil = 'sometimes'\n[[series]]\nworkload = 'cpu'", "gil"),
    ("pythons = 'python3.13'\n[[series]]\nworkload = 'cpu'", "pythons"),
]


@pytest.mark.parametrize(("text", "field"), BAD_FILES, ids=[field for _, field in BAD_FILES])
def test_every_sweep_file_mistake_is_one_line_naming_the_field(
    tmp_path: Path, text: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, text)
    assert main(["run", "--config", str(path), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: " in err and field in err, err
    assert not (tmp_path / "r.json").exists()


def test_single_series_flags_do_not_mix_with_a_sweep_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(_write(tmp_path, MIXED)), "--quick"]) == 2
    assert "--quick" in capsys.readouterr().err


def test_a_mixed_sweep_records_strategies_and_the_gil_bound(httpbin_server: LocalServer, tmp_path: Path) -> None:
    config = load_sweep_file(_write(tmp_path, MIXED), {"workers": (1, 8), "rounds": 1, "waves": 1})
    run_sweep(config, ResultsWriter(tmp_path / "run.json"), server=httpbin_server)
    results = load_results(tmp_path / "run.json")
    assert results.status == "complete"
    by_label = {series.label: series for series in results.series}
    assert by_label["http-delay(delay=0.03) / threads / shared-default"].session_strategy == "shared-default"
    assert by_label["http-delay(delay=0.03) / asyncio"].session_strategy == "shared-sized"
    assert by_label["hybrid, 2 ms CPU"].speedup_bound == pytest.approx(16.0)
    assert by_label["http-delay(delay=0.03) / threads"].speedup_bound is None
    for series in results.series:
        for point in series.points:
            assert [sample.errors for sample in point.rounds] == [{}], series.label


def test_work_without_http_starts_no_server(tmp_path: Path) -> None:
    path = _write(tmp_path, "workers = [1, 2]\nrounds = 1\nwaves = 2\n[[series]]\nworkload = 'cpu'\n"
                            "executor = ['threads', 'processes']\nparams = { cpu = 0.002 }")  # fmt: skip
    assert main(["run", "--config", str(path), "--out", str(tmp_path / "r.json"), "--plots", ""]) == 0
    results = load_results(tmp_path / "r.json")
    assert results.server == ServerInfo(kind="none")
    cores = results.environment.cpu_count
    assert [series.speedup_bound for series in results.series] == [None, 1.0, cores], "processes: a core each"


def test_a_users_function_is_swept_and_recorded(httpbin_server: LocalServer, tmp_path: Path) -> None:
    spec = SeriesSpec("task", {"function": "tests.user_tasks:fetch_get"}, "threads")
    config = SweepConfig(series=(spec,), workers=(1, 4), rounds=1, waves=2)
    run_sweep(config, ResultsWriter(tmp_path / "run.json"), server=httpbin_server)
    results = load_results(tmp_path / "run.json")
    threaded = results.series[1]
    assert threaded.workload == "task" and threaded.params == {"function": "tests.user_tasks:fetch_get"}
    four = threaded.points[1].rounds[0]
    assert four.errors == {} and len(four.latencies) == 8
    # Through the executor's per-thread Sessions: kept-alive connections, at most one per thread.
    assert 1 <= four.connections_opened <= 4


@pytest.mark.parametrize(
    "task",
    ["nosuch.module:fn", "tests.user_tasks:missing", "tests.user_tasks:NOT_CALLABLE", "no-colon",
     "tests.user_tasks:async_fetch", "tests.broken_module:fn"],
)  # fmt: skip
def test_a_bad_task_is_one_line_and_exit_2(task: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--quick", "--task", task]) == 2
    err = capsys.readouterr().err
    assert err.startswith("iobench: error: task") and err.count("\n") == 1, err


def test_a_bad_task_in_a_real_process_prints_no_traceback() -> None:
    done = subprocess.run([sys.executable, "-m", "iobench", "run", "--quick", "--task", "nosuch.module:fn"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1
