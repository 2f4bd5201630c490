"""The results file: round trip, atomic and exclusive writes, one-line errors for bad files."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from iobench.errors import UsageError
from iobench.results import SCHEMA_VERSION, ResultsWriter, ServerInfo, load_results, results_path

from .conftest import synthetic_results


def test_round_trip(tmp_path: Path) -> None:
    document = synthetic_results()
    ResultsWriter(tmp_path / "a.json").save(document)
    assert load_results(tmp_path / "a.json").to_json() == document.to_json()


def test_lists_of_numbers_take_one_line_and_text_is_left_as_it_is(tmp_path: Path) -> None:
    document = synthetic_results()
    document.status_detail = "stopped at [1,\n 2]"  # list-like text inside a string stays as written
    ResultsWriter(tmp_path / "a.json").save(document)
    text = (tmp_path / "a.json").read_text()
    assert '"latencies": [0.102, 0.102, 0.102, 0.102],' in text, "one round's four latencies on their line"
    assert load_results(tmp_path / "a.json").to_json() == document.to_json()


def test_the_gil_setting_and_the_threaded_server_round_trip(tmp_path: Path) -> None:
    document = synthetic_results()
    document.series[1].interpreter = replace(document.series[1].interpreter, gil_enabled=False,
                                             free_threaded_build=True, python_gil="0")  # fmt: skip
    document.server = ServerInfo(kind="local-httpbin-gunicorn-gthread", worker_class="gthread", threads=48)
    ResultsWriter(tmp_path / "a.json").save(document)
    loaded = load_results(tmp_path / "a.json")
    assert loaded.series[1].interpreter.python_gil == "0" and loaded.series[0].interpreter.python_gil is None
    assert loaded.server.threads == 48 and loaded.to_json() == document.to_json()


def test_saving_again_replaces_only_this_runs_file(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "a.json")
    document = synthetic_results()
    writer.save(document)
    document.status = "interrupted"
    writer.save(document)
    assert load_results(tmp_path / "a.json").status == "interrupted"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"], "no temporary files are left behind"


def test_an_existing_file_is_never_replaced_without_force(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text("precious")
    with pytest.raises(UsageError, match="--force"):
        ResultsWriter(tmp_path / "old.json")
    ResultsWriter(tmp_path / "old.json", force=True).save(synthetic_results())
    assert load_results(tmp_path / "old.json").status == "complete"


def test_timestamped_names_do_not_collide(tmp_path: Path) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = results_path(tmp_path, now)
    first.write_text("{}")
    second = results_path(tmp_path, now)
    assert first.name == "iobench-20260102T030405Z.json" and second != first


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema": ', "not valid JSON"),
        ("[]", "JSON object"),
        ('{"schema": "other"}', "not an iobench results file"),
        (json.dumps({"schema": "iobench-results", "schema_version": SCHEMA_VERSION + 1}), "newer"),
        (json.dumps({"schema": "iobench-results", "schema_version": 1}), "status is missing"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as caught:
        load_results(path)
    assert "\n" not in str(caught.value)


def test_a_wrong_type_deep_inside_is_named(tmp_path: Path) -> None:
    document = synthetic_results().to_json()
    document["series"][1]["points"][2]["rounds"][0]["wall_seconds"] = "fast"
    (tmp_path / "bad.json").write_text(json.dumps(document))
    with pytest.raises(UsageError, match=r"series\[1\]\.points\[2\]\.rounds\[0\]\.wall_seconds"):
        load_results(tmp_path / "bad.json")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such results file"):
        load_results(tmp_path / "nope.json")
