"""Runs over time: each figure's value run after run, and the change points E-Divisive finds in them.

A pairwise gate compares two runs, so it is blind to a slow drift and to a step that happened three
merges ago. Here every run of a history contributes one value per figure and curve: efficiency and speedup
at each N, the saturation pool (the recommended N), the peak throughput, the client's CPU per task. Runs are
ordered by the date of the commit they measured (the run's own time when it has none), and runs from
different machines form separate histories: a change of hardware is not a change of the code.

Change points come from E-Divisive means (Matteson and James), as Apache Otava implements it: the split
of the runs that makes the two sides most different, kept when a permutation test says no shuffle of the
runs splits as well, then the same within each side. The permutations are seeded, so the same history
always gives the same answer. Each figure is tested at ``FAMILY_ALPHA`` divided by the number of figures
tested (Bonferroni), so a history with no change shows any change point at all with at most that chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from iobench.analysis.diagnosis import diagnose_results
from iobench.errors import UsageError
from iobench.results.model import Results

#: The chance that a history without any change shows a change point anywhere: split over its figures.
FAMILY_ALPHA = 0.05
#: Shuffles of the runs per test: p-values come in steps of 1/(PERMUTATIONS + 1).
PERMUTATIONS = 499
#: The permutations' seed: the same history always gives the same change points.
SEED = 0
#: Fewer runs than this cannot show a change: one side of a split would hold one or two runs.
MIN_RUNS = 6


@dataclass(frozen=True)
class Run:
    """One results document in a history, with what places it there."""

    name: str
    results: Results
    commit: str | None
    #: When the code was committed (or, without a commit date, when the run was made): the history's order.
    when: datetime
    machine: str
    #: The whole document when the run is an A/B run of ``--against`` (``results`` is then its side B).
    ab: Results | None = None

    @property
    def short(self) -> str:
        """The commit's short id, or the file's name when the run records no commit."""
        return self.commit[:7] if self.commit else self.name


def _parsed(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # a date without a zone: read it as UTC


def machine_of(results: Results) -> str:
    """The hardware a run measured on: CPU model and count. The kernel and Python are left out on purpose:
    a change there is part of a history (a kernel update is a step worth finding)."""
    environment = results.environment
    return f"{environment.cpu_model or 'unknown CPU'} × {environment.cpu_count or '?'}"


def as_run(name: str, results: Results) -> Run:
    """A results document as a run of a history. An A/B run (``run --against``) contributes its side B, the
    commit under test; it is placed at that commit."""
    commit, date = results.environment.git_commit, results.environment.git_commit_date
    ab = results if results.variants else None
    if ab is not None:
        b = ab.variant_named("B")
        results = ab.side("B")
        if b is not None:
            commit, date = b.commit, b.commit_date
    when = _parsed(date) or _parsed(results.created_utc) or datetime.fromtimestamp(0, UTC)
    return Run(name, results, commit, when, machine_of(results), ab)


def histories(runs: Sequence[Run], merge_machines: bool = False) -> dict[str, list[Run]]:
    """The runs of each machine (or all of them together), oldest first; ties keep the runs' own time."""
    ordered = sorted(runs, key=lambda run: (run.when, _parsed(run.results.created_utc) or run.when, run.name))
    if merge_machines:
        return {"all machines": ordered} if ordered else {}
    grouped: dict[str, list[Run]] = {}
    for run in ordered:
        grouped.setdefault(run.machine, []).append(run)
    return grouped


@dataclass(frozen=True)
class Trend:
    """One figure of one curve, run after run; None where a run did not measure it."""

    curve: str
    #: What the value is: efficiency, speedup, saturation, peak throughput or client CPU.
    kind: str
    workers: int | None
    values: tuple[float | None, ...]

    @property
    def figure(self) -> str:
        return f"{self.kind} at N={self.workers}" if self.workers is not None else self.kind


#: The kinds of figure a trend can be, in the order reports and figures show them, with their units.
KINDS = {"efficiency": "", "speedup": "×", "saturation pool": "", "peak throughput": "/s", "client CPU per task": " ms"}


def _figures(results: Results) -> dict[tuple[str, str, int | None], float]:
    """Every figure of one run, keyed by (curve, kind, N)."""
    found: dict[tuple[str, str, int | None], float] = {}
    for diagnosis in diagnose_results(results):
        stats = diagnosis.series
        curve = results.label_of(stats.series)
        for point in stats.points:
            found[(curve, "efficiency", point.workers)] = point.efficiency.value
            found[(curve, "speedup", point.workers)] = point.speedup.value
        if diagnosis.saturation is not None:
            found[(curve, "saturation pool", None)] = float(diagnosis.saturation.workers)
        if stats.points:
            found[(curve, "peak throughput", None)] = max(point.throughput.value for point in stats.points)
        if diagnosis.demands is not None:
            found[(curve, "client CPU per task", None)] = diagnosis.demands.client_cpu * 1000
    return found


def trends(runs: Sequence[Run]) -> list[Trend]:
    """Every figure of every curve across ``runs``, curves in order of appearance, figures in ``KINDS`` order."""
    per_run = [_figures(run.results) for run in runs]
    keys: dict[tuple[str, str, int | None], None] = {}
    for figures in per_run:
        keys.update(dict.fromkeys(figures))
    curves = list(dict.fromkeys(curve for curve, _, _ in keys))
    kinds = list(KINDS)
    ordered = sorted(keys, key=lambda k: (curves.index(k[0]), kinds.index(k[1]), k[2] or 0))
    return [Trend(curve, kind, workers, tuple(figures.get((curve, kind, workers)) for figures in per_run))
            for curve, kind, workers in ordered]  # fmt: skip


@dataclass(frozen=True)
class ChangePoint:
    """A step in one trend: ``index`` is the first run after it (the first commit that has the new level)."""

    trend: Trend
    index: int
    before: float
    after: float
    p_value: float

    @property
    def change(self) -> float:
        """The step's size relative to the level before it (-0.15 is 15 % lower)."""
        return self.after / self.before - 1 if self.before else math.inf


def _e_divisive(values: Sequence[float], alpha: float) -> list[tuple[int, float]]:
    """Otava's E-Divisive means with a seeded permutation test: (index, p-value) of each change point."""
    try:
        from otava.change_point_divisive.calculator import PairDistanceCalculator
        from otava.change_point_divisive.detector import ChangePointDetector
        from otava.change_point_divisive.significance_test import PermutationsSignificanceTester
    except ImportError:
        raise UsageError("change points need Apache Otava: pip install 'iobench[history]'") from None

    tester = PermutationsSignificanceTester(alpha, PERMUTATIONS, PairDistanceCalculator, SEED)
    detector = ChangePointDetector(significance_tester=tester, calculator=PairDistanceCalculator)
    found = detector.get_change_points(series=np.asarray(values, dtype=float))
    return sorted((int(point.index), float(point.stats.pvalue)) for point in found)


def change_points(trend_list: Sequence[Trend], family_alpha: float = FAMILY_ALPHA) -> list[ChangePoint]:
    """The change points of every trend, each tested at ``family_alpha`` / number of trends tested.

    A trend's missing values are left out of its test and the indices mapped back to runs. Each step's size
    compares the medians of the segments on either side, between neighbouring change points.
    """
    testable = [trend for trend in trend_list if sum(v is not None for v in trend.values) >= MIN_RUNS]
    if not testable:
        return []
    alpha = family_alpha / len(testable)
    found: list[ChangePoint] = []
    for trend in testable:
        runs = [i for i, value in enumerate(trend.values) if value is not None]
        values = [float(trend.values[i]) for i in runs]  # type: ignore[arg-type]
        if max(values) == min(values):
            continue  # nothing moves (a saturation pool pinned at the sweep's edge)
        p_values = dict(_e_divisive(values, alpha))
        splits = sorted(p_values)
        bounds = [0, *splits, len(values)]
        for k, split in enumerate(splits):
            before = float(np.median(values[bounds[k] : split]))
            after = float(np.median(values[split : bounds[k + 2]]))
            found.append(ChangePoint(trend, runs[split], before, after, p_values[split]))
    return found
