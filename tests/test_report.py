"""The report's table and sentence, in both formats, from synthetic runs."""

from __future__ import annotations

import io
import re
from dataclasses import replace

from rich.console import Console

from iobench.analysis.stats import concurrent
from iobench.present.report import render_markdown, render_terminal, saturation_cell

from .conftest import synthetic_results

SATURATING = {"workers": (1, 2, 4, 8, 16, 32, 64, 128), "client_cpu": 0.004}


def test_markdown_has_the_table_and_the_sentence() -> None:
    text = render_markdown(synthetic_results(**SATURATING))
    assert "| N |" in text and "server CPU ms/task" in text
    (sentence,) = [line for line in text.splitlines() if "Saturates at" in line]
    found = re.search(r"Saturates at N = (\d+) \(95% CI (\d+)–(\d+)", sentence)
    assert found, sentence
    # 4 ms of client CPU caps throughput at 250/s, reached at N = 102 ms / 4 ms = 25.5; the rule's threshold,
    # 95 % of that, at N = 24.2: between the measured 16 and 32, and inside the interval.
    estimate, low, high = map(int, found.groups())
    assert 16 < estimate < 32 and low <= 24.2 <= high + 0.5
    assert "bottleneck: client CPU under the GIL" in sentence
    assert "the USL peak is at N ≈" in sentence or "the USL has no peak" in sentence
    assert "Kneedle knee on log2 N" in text and "predicted N*" in text


def test_terminal_and_markdown_say_the_same_sentence() -> None:
    results = synthetic_results(**SATURATING)
    buffer = io.StringIO()
    render_terminal(results, Console(file=buffer, width=400))
    sentence = next(line for line in render_markdown(results).splitlines() if "Saturates at" in line).strip("*")
    assert sentence in buffer.getvalue()


def test_too_few_points_for_a_fit_are_said_so() -> None:
    text = render_markdown(synthetic_results(workers=(1, 2, 4)))
    assert "the USL is not fitted (3 points; a fit needs 5)" in text
    assert "Saturates at N ≥ 4" in text, "the largest pool is a lower bound, and the sentence says so"


def test_errors_are_counted_not_averaged_away() -> None:
    results = synthetic_results()
    point = results.series[1].points[2]
    point.rounds[1] = replace(point.rounds[1], errors={"ConnectionError": 3})
    text = render_markdown(results)
    assert "3 in 1/5 rounds" in text
    assert "N=4: 3 failed tasks in 1 of 5 rounds" in text


def test_several_documents_get_a_heading_each() -> None:
    first, second = synthetic_results(), synthetic_results(delay=0.2)
    python = replace(second.environment.python, version="3.13.1", gil_enabled=False)
    second.environment = replace(second.environment, python=python)
    for series in second.series:
        series.interpreter = python
    text = render_markdown([first, second])
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert len(headings) == 2 and "GIL off" in headings[1] and "3.13.1" in headings[1]
    assert text.count("Saturates at") == 2


def test_documents_from_one_environment_are_told_apart_by_name() -> None:
    text = render_markdown([synthetic_results(), synthetic_results()], names=["a.json", "b.json"])
    assert [line.rsplit(" ", 1)[-1] for line in text.splitlines() if line.startswith("## ")] == ["a.json", "b.json"]


def test_tables_name_the_same_saturation_point_as_the_sentence() -> None:
    """The docs tables' "saturates at N" cell is the verdict's N* with its interval, not another rule's pool."""
    results = synthetic_results(**SATURATING)
    sentence = next(line for line in render_markdown(results).splitlines() if "Saturates at" in line)
    estimate, low, high = re.search(r"Saturates at N = (\d+) \(95% CI (\d+)–(\d+)", sentence).groups()  # type: ignore[union-attr]
    (stats,) = concurrent(results)
    assert saturation_cell(stats) == f"{estimate} ({low}–{high})"
    rising = synthetic_results(workers=(1, 2, 4))
    assert saturation_cell(concurrent(rising)[0]) == "≥ 4"
