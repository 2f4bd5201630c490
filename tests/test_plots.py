"""Figures from a results file alone."""

from __future__ import annotations

from pathlib import Path

from iobench.plots import write_plots

from .conftest import synthetic_results


def test_plots_are_written_as_png_and_svg(tmp_path: Path) -> None:
    written = write_plots(synthetic_results(), tmp_path)
    names = {path.name for path in written}
    assert {"speedup.png", "speedup.svg", "throughput.png", "throughput.svg"} <= names
    for path in written:
        assert path.stat().st_size > 5000, f"{path.name} is suspiciously small"
    assert (tmp_path / "speedup.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / "speedup.svg").read_bytes()


def test_same_results_give_byte_identical_figures(tmp_path: Path) -> None:
    results = synthetic_results()
    write_plots(results, tmp_path / "a")
    write_plots(results, tmp_path / "b")
    for first in (tmp_path / "a").iterdir():
        assert first.read_bytes() == (tmp_path / "b" / first.name).read_bytes(), first.name


def test_incomplete_runs_are_labelled(tmp_path: Path) -> None:
    results = synthetic_results()
    results["status"] = "interrupted"
    write_plots(results, tmp_path)
    assert b"INCOMPLETE" in (tmp_path / "speedup.svg").read_bytes() or "INCOMPLETE" in (
        tmp_path / "speedup.svg"
    ).read_text()
