"""iobench: how much do threads buy an I/O-bound Python program, and where does adding more stop helping?

The library API, usable without argv: build a ``SweepConfig``, measure it with ``run_sweep`` (saving
through a ``ResultsWriter``), and present the document with ``analyze``, ``write_plots`` or the
``report`` renderers, or read an earlier one with ``load_results``.
"""

from iobench.config import SeriesSpec, SweepConfig
from iobench.errors import ServerError, UsageError
from iobench.results import ResultsWriter, load_results, results_path
from iobench.sweep import run_sweep

__all__ = [
    "ResultsWriter",
    "SeriesSpec",
    "ServerError",
    "SweepConfig",
    "UsageError",
    "load_results",
    "results_path",
    "run_sweep",
]
