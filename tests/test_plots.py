"""Figures from results files alone: every figure, every overlay, byte-identical on a re-run.

Drawing costs about a second per document, so one module-wide drawing of a document with everything
in it (a saturating curve, a failed task, a recorded speedup bound, a wrk ceiling) serves most tests.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from iobench.present.plots import FIGURES, write_plots
from iobench.results.model import Results, WrkCeiling

from .conftest import edit_rounds, synthetic_results


def everything() -> Results:
    results = synthetic_results(workers=(1, 2, 4, 8, 16, 32, 64, 128), client_cpu=0.004)
    edit_rounds(results, lambda point, sample: {"probe_lateness": (0.0001, 0.0002 * point.workers, 0.004)})
    for series in results.series:
        series.probe_period = 0.005
    results.status = "interrupted"
    failed = results.series[1].points[3]
    failed.rounds[0] = replace(failed.rounds[0], errors={"ReadTimeout": 1})
    results.series[1].speedup_bound = 12.5
    results.server = results.server.with_checks(wrk=(WrkCeiling(0.1, 128, 1234.0),))
    return results


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plots")
    write_plots(everything(), out)
    return out


def svg_text(folder: Path, name: str) -> str:
    """The SVG with its text: matplotlib draws glyphs as paths and keeps each string in a comment."""
    return (folder / f"{name}.svg").read_text()


def test_every_figure_is_written_as_png_and_svg(drawn: Path) -> None:
    assert {"speedup", "throughput", "efficiency", "latency"} <= set(FIGURES)
    assert {path.name for path in drawn.iterdir()} == {f"{name}.{fmt}" for name in FIGURES for fmt in ("png", "svg")}
    for path in drawn.iterdir():
        assert path.stat().st_size > 5000, f"{path.name} is suspiciously small"
    assert (drawn / "speedup.png").read_bytes().startswith(b"\x89PNG")


def test_same_results_give_byte_identical_figures(drawn: Path, tmp_path: Path) -> None:
    write_plots(everything(), tmp_path)
    for first in drawn.iterdir():
        assert first.read_bytes() == (tmp_path / first.name).read_bytes(), first.name


def test_figures_carry_their_explanations(drawn: Path) -> None:
    speedup, throughput = svg_text(drawn, "speedup"), svg_text(drawn, "throughput")
    assert "USL fit α=" in speedup and "within 5% of the best: 32" in speedup and "ideal bound" in speedup
    assert "N/(d+D)" in throughput and "1/D_max = 250/s (client CPU)" in throughput
    assert "measured N* = 27 (95% CI" in throughput and "predicted N* ≈ 26 (from the demands)" in throughput
    cpus = everything().environment.cpu_count or 1
    for name in FIGURES:
        text = svg_text(drawn, name)
        assert f"ThreadPoolExecutor default min(32, cpu+4) = {min(32, cpus + 4)}" in text, name
        assert f"cpu × 5 rule = {cpus * 5}" in text, name
        assert "GIL on" in text and f"{cpus} CPUs" in text and "INCOMPLETE" in text, name


def test_points_with_errors_are_marked(drawn: Path) -> None:
    for name in FIGURES:
        assert "rounds with errors" in svg_text(drawn, name), name


def test_the_responsiveness_figure_is_drawn_only_for_documents_with_the_probe(drawn: Path, tmp_path: Path) -> None:
    text = svg_text(drawn, "responsiveness")
    assert "wake every 5 ms" in text and "p99" in text and "default switch interval" in text
    written = write_plots(synthetic_results(), tmp_path)
    assert written and not any(path.stem == "responsiveness" for path in written)


def test_a_recorded_speedup_bound_and_the_servers_ceiling_are_drawn(drawn: Path) -> None:
    assert "workload's speedup bound 12.5×" in svg_text(drawn, "speedup")
    assert "server alone (wrk, 128 conns) = 1234/s" in svg_text(drawn, "throughput")


def test_several_documents_overlay_with_a_label_each(tmp_path: Path) -> None:
    first, second = synthetic_results(), synthetic_results(delay=0.2)
    harness = replace(second.environment.python, version="3.13.1", gil_enabled=False)
    second.environment = replace(second.environment, python=harness)
    for series in second.series:  # a client run by another interpreter than the harness's own
        series.interpreter = replace(harness, version="3.14.0")
    write_plots([first, second], tmp_path)
    text = svg_text(tmp_path, "speedup")
    assert "http-delay(delay=0.1) / threads (CPython" in text
    assert "http-delay(delay=0.2) / threads · CPython 3.14.0, GIL off (CPython 3.13.1, GIL off" in text
    assert "; CPython 3.14.0, GIL off, " in text, "the caption names the clients' interpreter"
    assert "rounds with errors" not in text, "no errors, no error marker"


def test_documents_from_one_environment_are_told_apart_by_name(tmp_path: Path) -> None:
    write_plots([synthetic_results(), synthetic_results()], tmp_path, names=["one.json", "two.json"])
    text = svg_text(tmp_path, "latency")
    assert "— one.json)" in text and "— two.json)" in text
