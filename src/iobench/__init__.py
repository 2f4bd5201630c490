"""iobench: how much do threads buy an I/O-bound Python program, and where does adding more stop helping?

The library API, usable without argv: build a ``SweepConfig`` of ``SeriesSpec`` curves (a list of pool
sizes, or ``workers="auto"`` bounded by ``SearchSettings``), measure it with ``run_sweep`` (saving through a
``ResultsWriter``), then work from the results document alone:
``analyze`` it, ``write_plots``, ``compare`` it with another run, or ``load_results`` an earlier one.

Names are imported on first use, so ``import iobench`` stays cheap (the plots pull in matplotlib, the
sweep psutil and requests) for the CLI, the local server and the client subprocess alike.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iobench.analysis.gate import Comparison, Thresholds, compare
    from iobench.analysis.search import SearchSettings
    from iobench.analysis.stats import SeriesStats, analyze
    from iobench.errors import ServerError, UsageError
    from iobench.measure.config import SeriesSpec, SweepConfig
    from iobench.measure.sweep import run_sweep
    from iobench.present.plots import write_plots
    from iobench.results.model import Results
    from iobench.results.store import ResultsWriter, load_results, results_path

__all__ = [
    "Comparison",
    "Results",
    "ResultsWriter",
    "SearchSettings",
    "SeriesSpec",
    "SeriesStats",
    "ServerError",
    "SweepConfig",
    "Thresholds",
    "UsageError",
    "analyze",
    "compare",
    "load_results",
    "results_path",
    "run_sweep",
    "write_plots",
]
#: Where each public name lives: the stage of the pipeline it belongs to.
_HOMES = {
    "iobench.analysis.gate": ("Comparison", "Thresholds", "compare"),
    "iobench.analysis.search": ("SearchSettings",),
    "iobench.analysis.stats": ("SeriesStats", "analyze"),
    "iobench.errors": ("ServerError", "UsageError"),
    "iobench.measure.config": ("SeriesSpec", "SweepConfig"),
    "iobench.measure.sweep": ("run_sweep",),
    "iobench.present.plots": ("write_plots",),
    "iobench.results.model": ("Results",),
    "iobench.results.store": ("ResultsWriter", "load_results", "results_path"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _HOME_OF:
        raise AttributeError(f"module 'iobench' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME_OF[name]), name)


def __dir__() -> list[str]:
    return __all__
