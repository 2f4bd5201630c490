"""Names for results documents and series when several are drawn or tabled together.

One document needs no name beyond its series labels. Several (runs on different interpreters or
machines) are told apart by what differs between them: Python version, GIL on or off, CPU count; when
that is the same for two of them (two runs on one machine), by the names their caller gives (file names).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iobench.analysis import SeriesStats
from iobench.results import Results


def interpreter_label(python: dict[str, Any]) -> str:
    """'CPython 3.13.1, GIL off'."""
    gil = "GIL on" if python.get("gil_enabled", True) else "GIL off"
    return f"{python.get('implementation', 'Python')} {python.get('version', '?')}, {gil}"


def environment_label(results: Results) -> str:
    """'CPython 3.11.7, GIL on, 2 CPUs'."""
    env = results.get("environment", {})
    return f"{interpreter_label(env.get('python', {}))}, {env.get('cpu_count', '?')} CPUs"


def document_labels(documents: Sequence[Results], names: Sequence[str] | None = None) -> list[str]:
    """One distinct label per document: its environment, plus its name (or position) where that repeats."""
    labels = [environment_label(document) for document in documents]
    repeated = {label for label in labels if labels.count(label) > 1}
    return [
        f"{label} — {names[i] if names else f'#{i + 1}'}" if label in repeated else label
        for i, label in enumerate(labels)
    ]


def series_label(stats: SeriesStats, document_label: str | None = None, harness: dict[str, Any] | None = None) -> str:
    """The series' own label, with its document (when several) and its interpreter when that is news.

    A series run by another interpreter than the harness's (``harness``, the document's environment
    python) is tagged with it, unless its label already names the version (an interpreter matrix does).
    """
    parts = [stats.label]
    interpreter = stats.interpreter or {}
    differs = bool(interpreter) and interpreter_label(interpreter) != interpreter_label(harness or {})
    if differs and str(interpreter.get("version")) not in stats.label:
        parts.append(f"[{interpreter_label(interpreter)}]")
    if document_label:
        parts.append(f"({document_label})")
    return " ".join(parts)
