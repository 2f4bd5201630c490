"""The results file: the typed document a sweep writes and every presenter reads (standard library only)."""

from iobench.results.model import (
    SCHEMA_VERSION,
    SEQUENTIAL,
    Environment,
    Interpreter,
    Point,
    Preflight,
    Results,
    RoundSample,
    Series,
    ServerInfo,
    WrkCeiling,
)
from iobench.results.store import ResultsWriter, load_results, results_path

__all__ = [
    "SCHEMA_VERSION",
    "SEQUENTIAL",
    "Environment",
    "Interpreter",
    "Point",
    "Preflight",
    "Results",
    "ResultsWriter",
    "RoundSample",
    "Series",
    "ServerInfo",
    "WrkCeiling",
    "load_results",
    "results_path",
]
