"""Bad input anywhere is one line on stderr naming what is wrong, exit 2, and nothing started or written.

Every flag of every subcommand and every way a results file can be broken, each case listed by hand;
``test_fuzz.py`` throws generated input at the same parsers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from iobench.cli import main
from iobench.measure.server import LocalServer
from iobench.results import SCHEMA_VERSION, load_results

from .conftest import synthetic_results

#: (arguments, a fragment the one-line message must contain). {tmp} is a folder holding: ``afile`` (a
#: plain file), ``existing.json`` (a results file), ``adir.json`` (a folder) and ``good.json``.
BAD_ARGUMENTS: list[tuple[list[str], str]] = [
    (["run", "--delay", "nan"], "delay"),
    (["run", "--delay", "inf"], "delay"),
    (["run", "--delay", "10.5"], "delay"),
    (["run", "--timeout", "0"], "timeout"),
    (["run", "--timeout", "-5"], "timeout"),
    (["run", "--timeout", "nan"], "timeout"),
    (["run", "--timeout", "inf"], "timeout"),
    (["run", "--timeout", "soon"], "--timeout"),
    (["run", "--seed", "-1"], "seed"),
    (["run", "--seed", "x"], "--seed"),
    (["run", "--waves", "0"], "waves"),
    (["run", "--waves", "1.5"], "--waves"),
    (["run", "--rounds", "-3"], "rounds"),
    (["run", "--rounds", "many"], "--rounds"),
    (["run", "--workers", ""], "workers"),
    (["run", "--workers", "1025"], "workers"),
    (["run", "--workers", "-4"], "workers"),
    (["run", "--workers", "1.5"], "--workers"),
    (["run", "--workers", "2,4,2"], "twice"),
    (["run", "--workers", "1,,2"], "empty entry"),
    (["run", "--workers", "1,"], "empty entry"),
    (["run", "--workers", ","], "empty entry"),
    (["run", "--target", ""], "--target"),
    (["run", "--target", "http://"], "--target must name a host"),
    (["run", "--target", "http://[::1"], "--target is not a valid URL"),
    (["run", "--target", "http://127.0.0.1:99999"], "--target is not a valid URL"),
    (["run", "--target", "https://alice:s3cr3t@example.org/?token=abc"], "?query"),
    (["run", "--target", "http://example.org/#here"], "#fragment"),
    (["run", "--target", "file:///etc/passwd"], "http:// or https://"),
    (["run", "--target", "localhost:8000"], "http:// or https://"),
    (["run", "--out", "{tmp}/afile/r.json"], "cannot write results"),
    (["run", "--out", "{tmp}/afile"], "cannot write results"),
    (["run", "--out", "{tmp}/existing.json"], "--force"),
    (["run", "--out", "{tmp}/adir.json", "--force"], "is a folder"),
    (["run", "--plots", "{tmp}/afile/plots"], "--plots"),
    (["run", "--quick", "yes"], "unrecognized arguments"),
    (["run", "--force=1"], "--force"),
    (["serve", "--capacity", "0"], "--capacity"),
    (["serve", "--capacity", "x"], "--capacity"),
    (["serve", "--capacity", "1000000000"], "open files"),
    (["report"], "required"),
    (["report", "{tmp}/good.json", "--format", "html"], "--format"),
    (["report", "{tmp}/missing.json"], "no such results file"),
    (["plot", "{tmp}/good.json", "--plots", "{tmp}/afile/plots"], "--plots"),
    ([], "required"),
    (["frobnicate"], "invalid choice"),
]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "existing.json").write_text(json.dumps(synthetic_results().to_json()))
    (tmp_path / "good.json").write_text(json.dumps(synthetic_results().to_json()))
    (tmp_path / "adir.json").mkdir()
    return tmp_path


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("iobench: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    ("arguments", "fragment"), BAD_ARGUMENTS, ids=[" ".join(a) or "(none)" for a, _ in BAD_ARGUMENTS]
)
def test_every_bad_flag_is_one_line_and_exit_2_before_anything_starts(
    arguments: list[str],
    fragment: str,
    files: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(files)  # should a case run after all, its default results/ and plots/ land here
    children_before = {child.pid for child in psutil.Process().children(recursive=True)}
    existing = (files / "existing.json").read_text()
    assert main([argument.replace("{tmp}", str(files)) for argument in arguments]) == 2
    err = _one_line_error(capsys)
    assert fragment in err, err
    assert "s3cr3t" not in err, "a credential was echoed back"
    started = {child.pid for child in psutil.Process().children(recursive=True)} - children_before
    assert not started, "bad input must be refused before any server starts"
    assert (files / "existing.json").read_text() == existing


def test_an_existing_results_file_is_replaced_only_with_force(
    httpbin_server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    path.write_text("precious")
    tiny = ["run", "--target", httpbin_server.url, "--delay", "0", "--workers", "2", "--rounds", "1",
            "--waves", "1", "--out", str(path), "--plots", ""]  # fmt: skip
    assert main(tiny) == 2
    assert "--force" in _one_line_error(capsys)
    assert path.read_text() == "precious"
    assert main([*tiny, "--force"]) == 0
    assert load_results(path).status == "complete"


# --- results files ----------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], str]


def _edited(edit: Callable[[dict[str, Any]], None]) -> Mutation:
    def mutate(document: dict[str, Any]) -> str:
        edit(document)
        return json.dumps(document)

    return mutate


def _sample(document: dict[str, Any]) -> dict[str, Any]:
    return document["series"][1]["points"][2]["rounds"][0]


BAD_FILES: dict[str, tuple[Mutation, str]] = {
    "empty": (lambda d: "", "not valid JSON"),
    "truncated": (lambda d: json.dumps(d)[: len(json.dumps(d)) // 2], "not valid JSON"),
    "not an object": (lambda d: "[1, 2]", "JSON object"),
    "null": (lambda d: "null", "JSON object"),
    "another schema": (_edited(lambda d: d.update(schema="pytest-benchmark")), "not an iobench results file"),
    "future version": (_edited(lambda d: d.update(schema_version=SCHEMA_VERSION + 1)), "newer"),
    "version zero": (_edited(lambda d: d.update(schema_version=0)), "not a valid version"),
    "version as text": (_edited(lambda d: d.update(schema_version="1")), "schema_version must be int"),
    "no series": (_edited(lambda d: d.pop("series")), "results.series is missing"),
    "no status": (_edited(lambda d: d.pop("status")), "results.status is missing"),
    "server as text": (_edited(lambda d: d.update(server="local")), "results.server must be dict"),
    "python as text": (_edited(lambda d: d["environment"].update(python="3.11")), "environment.python"),
    "series as object": (_edited(lambda d: d.update(series={})), "results.series must be list"),
    "point without tasks": (_edited(lambda d: d["series"][1]["points"][0].pop("tasks")), "points[0].tasks"),
    "zero workers": (_edited(lambda d: d["series"][1]["points"][0].update(workers=0)), "points[0].workers"),
    "text latency": (_edited(lambda d: _sample(d)["latencies"].append("x")), "rounds[0].latencies"),
    "negative wall time": (_edited(lambda d: _sample(d).update(wall_seconds=-1)), "rounds[0].wall_seconds"),
    "float error count": (_edited(lambda d: _sample(d).update(errors={"ReadTimeout": 1.5})), "rounds[0].errors"),
    "negative connections": (_edited(lambda d: _sample(d).update(connections_opened=-1)), "connections_opened"),
    "text server CPU": (_edited(lambda d: _sample(d).update(server_cpu_seconds="lots")), "server_cpu_seconds"),
    "bad warm-up sample": (_edited(lambda d: d["series"][0]["points"][0]["warmup"].append({})), "warmup[0]"),
    "NaN": (lambda d: json.dumps(d).replace('"wall_seconds": ', '"wall_seconds": NaN, "x": ', 1), "NaN"),
    "overflowing float": (lambda d: json.dumps(d).replace('"tasks": 4', '"tasks": 1e999', 1), "tasks"),
    "huge integer": (lambda d: json.dumps(d).replace('"tasks": 4', '"tasks": ' + "9" * 5000, 1), "can read"),
    "400-digit integer": (lambda d: json.dumps(d).replace('"tasks": 4', '"tasks": ' + "9" * 400, 1), "finite"),
    "deep nesting": (lambda d: "[" * 100_000, "iobench can read"),
}


@pytest.mark.parametrize(("mutate", "fragment"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_every_broken_results_file_is_one_line_naming_the_field(
    mutate: Mutation, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(mutate(synthetic_results(workers=(1, 2, 4), rounds=2).to_json()))
    for command in (["report", str(path)], ["plot", str(path), "--plots", str(tmp_path / "plots")]):
        assert main(command) == 2
        err = _one_line_error(capsys)
        assert str(path) in err and fragment in err, err


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", None], ids=["binary", "a folder"])
def test_unreadable_paths_are_one_line(
    content: bytes | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    assert main(["report", str(path)]) == 2
    assert "cannot read results file" in _one_line_error(capsys)
