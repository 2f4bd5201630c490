"""Names for results documents and series when several are drawn or tabled together.

One document needs no name beyond its series labels. Several (runs on different interpreters or
machines) are told apart by what differs between them: Python version, GIL on or off, CPU count; when
that is the same for two of them (two runs on one machine), by the names their caller gives (file names).
An interpreter is always named by ``Interpreter.label`` and a series by ``Results.label_of``.
"""

from __future__ import annotations

from collections.abc import Sequence

from iobench.analysis.stats import SeriesStats
from iobench.results.model import Results


def document_labels(documents: Sequence[Results], names: Sequence[str] | None = None) -> list[str]:
    """One distinct label per document: its environment, plus its name (or position) where that repeats."""
    labels = [document.environment.label for document in documents]
    repeated = {label for label in labels if labels.count(label) > 1}
    return [
        f"{label} — {names[i] if names else f'#{i + 1}'}" if label in repeated else label
        for i, label in enumerate(labels)
    ]


def series_label(stats: SeriesStats, results: Results, document_label: str | None = None) -> str:
    """The series' label in its document, followed by the document's label when several are shown together."""
    label = results.label_of(stats.series)
    return f"{label} ({document_label})" if document_label else label
