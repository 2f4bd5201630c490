"""The command line: bad input is one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from iobench.cli import main

from .conftest import synthetic_results

BAD_RUNS = [
    ["--delay", "-1"],
    ["--delay", "11"],
    ["--delay", "soon"],
    ["--workers", "0"],
    ["--workers", "1,x"],
    ["--workers", "2,2"],
    ["--rounds", "0"],
    ["--no-such-flag"],
    ["--target", "ftp://example.org"],
    ["--workers", "1,2", "--budget", "10"],
    ["--workers", "auto", "--rounds", "3"],
    ["--tolerance", "2"],
    ["--max-workers", "2000"],
    ["--max-workers", "2"],
    ["--budget", "0"],
]


@pytest.mark.parametrize("arguments", BAD_RUNS, ids=" ".join)
def test_bad_run_arguments_exit_2_with_one_line(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("iobench: error:") and err.count("\n") == 1, err


def test_bad_input_in_a_real_process_prints_no_traceback() -> None:
    done = subprocess.run([sys.executable, "-m", "iobench", "run", "--delay", "-1"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("content", ['{"schema": ', "", json.dumps({"schema": "iobench-results"})])
def test_unreadable_results_exit_2(tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    for command in (["plot", str(path), "--plots", str(tmp_path)], ["report", str(path)]):
        assert main(command) == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_missing_results_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(tmp_path / "missing.json")]) == 2
    assert "no such results file" in capsys.readouterr().err


def test_plot_and_report_run_from_the_file_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(synthetic_results().to_json()))
    assert main(["plot", str(path), "--plots", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots" / "speedup.svg").exists()
    assert main(["report", str(path), "--format", "markdown"]) == 0
    assert "| N |" in capsys.readouterr().out


def test_run_end_to_end_writes_results_and_plots(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iobench", "run", "--delay", "0.02", "--workers", "1,4", "--rounds", "2",
         "--waves", "2", "--out", str(tmp_path / "results"), "--plots", str(tmp_path / "plots")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-500:]
    assert len(list((tmp_path / "results").glob("iobench-*.json"))) == 1
    assert (tmp_path / "plots" / "speedup.png").stat().st_size > 0
    assert "results:" in done.stdout
