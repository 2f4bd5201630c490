"""The results file: the typed document a sweep writes and every presenter reads (standard library only)."""

from iobench.results.model import (
    SCHEMA_VERSION,
    SEQUENTIAL,
    Environment,
    Interpreter,
    Plan,
    Point,
    Prediction,
    Preflight,
    Results,
    RoundSample,
    Series,
    ServerInfo,
    StageRecord,
    WrkCeiling,
)
from iobench.results.store import ResultsWriter, load_results, results_path

__all__ = [
    "SCHEMA_VERSION",
    "SEQUENTIAL",
    "Environment",
    "Interpreter",
    "Plan",
    "Point",
    "Prediction",
    "Preflight",
    "Results",
    "ResultsWriter",
    "RoundSample",
    "Series",
    "ServerInfo",
    "StageRecord",
    "WrkCeiling",
    "load_results",
    "results_path",
]
