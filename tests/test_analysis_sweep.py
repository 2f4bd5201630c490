"""A small real sweep, explained end to end: every figure, the table and the sentence, from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iobench.analysis.diagnosis import diagnose_results
from iobench.cli import main
from iobench.measure import wrk
from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.server import LocalServer
from iobench.measure.sweep import run_sweep
from iobench.present.plots import FIGURES
from iobench.results import ResultsWriter

from .conftest import synthetic_results


def test_a_real_sweep_is_explained(
    httpbin_server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SweepConfig(series=(SeriesSpec("http-delay", {"delay": 0.02}, "threads"),),
                         workers=(1, 2, 4, 8, 16), rounds=2, waves=2)  # fmt: skip
    path = tmp_path / "real.json"
    results = run_sweep(config, ResultsWriter(path), server=httpbin_server)

    (diagnosis,) = diagnose_results(results)
    assert diagnosis.saturation is not None and diagnosis.usl is not None, "five pool sizes are enough for a fit"
    demands = diagnosis.demands
    assert demands is not None and demands.server_cpu is not None
    assert 0 < demands.client_cpu < 0.05, f"client CPU per request {demands.client_cpu * 1000:.1f} ms"
    assert demands.predicted_saturation is not None and demands.predicted_saturation > 1
    assert bool(results.server.wrk) == wrk.available()

    other = tmp_path / "synthetic.json"
    other.write_text(json.dumps(synthetic_results().to_json()))
    assert main(["plot", str(path), str(other), "--plots", str(tmp_path / "plots")]) == 0
    for name in FIGURES:
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 5000, name
        assert (tmp_path / "plots" / f"{name}.svg").stat().st_size > 5000, name
    capsys.readouterr()

    assert main(["report", str(path), str(other), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.count("Saturates at N") == 2 and "real.json" in markdown and "synthetic.json" in markdown
    assert "bottleneck:" in markdown and "USL" in markdown and "| N |" in markdown

    assert main(["report", str(path)]) == 0
    assert "Saturates at N" in capsys.readouterr().out
