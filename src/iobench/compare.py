"""Regression verdicts between two results files: did the new run get worse, and in which figure?

Shared CI runners drift: the same commit runs faster or slower from one day to the next. So the figures
compared first are ratios measured within one run, from which that drift cancels: efficiency against the
ideal bound, speedup over the same run's sequential loop, and the saturation N. Throughput, the absolute
figure, is compared too, with its own threshold, because a slower server or heavier task shows only there.

A change is a regression or an improvement only when it is both large (at least a minimum effect, 10 %
by default) and statistically significant on the raw per-round samples. Needing both keeps the gate
quiet: a tiny but consistent shift is significant and not worth failing a build for, and a large shift
at a point whose rounds scatter widely is not evidence. The two are decided together, by a Mann–Whitney U
test of the new rounds against the baseline's rounds moved by the minimum effect: "is the new run
significantly more than 10 % worse?", not merely "is it worse?". That matters most where rounds within
one run agree better than runs agree with each other (the busy high-N points on a shared machine): a
10 % drift there is often "significant", but rarely significantly beyond 10 %. The size of a change is
the median of all pairwise ratios new/base (the Hodges–Lehmann estimate that goes with the test): it uses
every round of both runs, so one odd round moves it less than it moves a ratio of medians.

Besides timings, the gate watches one exact count: urllib3's "connection pool is full" discards per task,
the signature of threads sharing a connection pool smaller than their number. On loopback a discarded
connection is cheap to replace, so this trap may cost little throughput here and much on a real network.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from iobench.analysis import SeriesStats, analyze, ideal_speedup, round_throughputs, saturation
from iobench.errors import UsageError
from iobench.results import Results, is_complete, load_results

DEFAULT_MIN_EFFECT = 0.10
DEFAULT_ALPHA = 0.05
#: Pool-full discards per task that count as a change: one request in 20 losing its connection.
DEFAULT_DISCARDS_EFFECT = 0.05
#: Per-point figures, in the table's order: the drift-proof ratios, throughput, then the discard count.
POINT_FIGURES = ("efficiency", "speedup", "throughput", "discards")
FIGURES = ("efficiency", "speedup", "saturation", "throughput", "discards")
DRIFT_PROOF = frozenset({"efficiency", "speedup", "saturation", "discards"})
#: Figures measured in their own units (a change is a difference), where fewer is better.
_COUNTS = frozenset({"discards"})
#: Up to this many sample pairs the Mann–Whitney p-value is counted exactly; beyond, a normal approximation.
_EXACT_PAIRS = 400


class Verdict(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NO_CHANGE = "no significant change"


# --- the decision on raw samples ---------------------------------------------------------------------


@functools.cache
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many orderings of m + n distinct values give each U = 0 … m·n (Mann and Whitney's recursion).

    The largest value belongs either to the first sample, where it beats all n values of the second
    (U grows by n), or to the second sample, where it adds nothing.
    """
    if m == 0 or n == 0:
        return (1,)
    counts = [0] * (m * n + 1)
    for u, count in enumerate(_u_counts(m - 1, n)):
        counts[u + n] += count
    for u, count in enumerate(_u_counts(m, n - 1)):
        counts[u] += count
    return tuple(counts)


def mann_whitney_p(first: Sequence[float], second: Sequence[float], alternative: str = "two-sided") -> float:
    """p-value of the Mann–Whitney U test: how often chance alone would separate the samples this well.

    ``alternative`` is "less" (``first`` tends to be smaller), "greater", or "two-sided". Exact (every
    ordering counted) for small samples without ties, as a sweep's few rounds are; otherwise the normal
    approximation with tie and continuity corrections.
    """
    x, y = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    m, n = x.size, y.size
    if m == 0 or n == 0:
        raise ValueError("the Mann–Whitney test needs at least one sample on each side")
    u = float(np.sum(x[:, None] > y[None, :]) + 0.5 * np.sum(x[:, None] == y[None, :]))
    _, tie_sizes = np.unique(np.concatenate([x, y]), return_counts=True)
    if tie_sizes.max() == 1 and m * n <= _EXACT_PAIRS:
        counts = _u_counts(m, n)
        at_most, at_least = sum(counts[: int(u) + 1]) / sum(counts), sum(counts[int(u) :]) / sum(counts)
    else:
        total = m + n
        variance = m * n / 12 * (total + 1 - float(np.sum(tie_sizes**3 - tie_sizes)) / (total * (total - 1)))
        if variance <= 0:
            return 1.0  # every value equal: no evidence of any difference
        sd = math.sqrt(variance)
        at_most = 0.5 * math.erfc(-(u - m * n / 2 + 0.5) / sd / math.sqrt(2))
        at_least = 0.5 * math.erfc((u - m * n / 2 - 0.5) / sd / math.sqrt(2))
    tails = {"less": at_most, "greater": at_least, "two-sided": 2 * min(at_most, at_least)}
    return min(1.0, tails[alternative])


def median_ratio(new: Sequence[float], base: Sequence[float]) -> float:
    """Median of new_i / base_j over all pairs: the size of a change, using every round of both runs."""
    return float(np.median(np.divide.outer(np.asarray(new, dtype=float), np.asarray(base, dtype=float))))


@dataclass(frozen=True)
class Change:
    """One figure compared between the two runs.

    ``effect`` is relative (-0.2 is 20 % lower) for rates and ratios, a plain difference for counts.
    ``p_value`` is that of the change exceeding ``min_effect``, not of any change at all.
    """

    figure: str
    base: float
    new: float
    effect: float
    p_value: float
    min_effect: float
    verdict: Verdict

    @property
    def relative(self) -> bool:
        return self.figure not in _COUNTS


def decide(
    figure: str, base: Sequence[float], new: Sequence[float],
    min_effect: float = DEFAULT_MIN_EFFECT, alpha: float = DEFAULT_ALPHA,
) -> Change:  # fmt: skip
    """Compare the raw samples of one figure: a verdict needs a change beyond ``min_effect``, significant at ``alpha``.

    The test is Mann–Whitney's between the new samples and the baseline's moved by the minimum effect in
    the direction of the change (base × 0.9 for a drop of a rate, base + 0.05 for a rise of a count), so a
    shift counts only if it is significantly larger than the minimum effect. The one-sided p-value is
    doubled because the data chose the side: the test keeps its two-sided level.
    """
    old, now = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    if figure in _COUNTS:
        effect = float(np.median(np.subtract.outer(now, old)))
        moved = old + math.copysign(min_effect, effect)
    else:
        effect = median_ratio(now, old) - 1
        moved = old * (1 + math.copysign(min_effect, effect))
    p_value = 1.0 if effect == 0 else min(1.0, 2 * mann_whitney_p(now, moved, "less" if effect < 0 else "greater"))
    verdict = Verdict.NO_CHANGE
    if abs(effect) > min_effect and p_value < alpha:
        worse = effect > 0 if figure in _COUNTS else effect < 0
        verdict = Verdict.REGRESSION if worse else Verdict.IMPROVEMENT
    return Change(figure, float(np.median(old)), float(np.median(now)), effect, p_value, min_effect, verdict)


@dataclass(frozen=True)
class Thresholds:
    """The minimum effects and the significance level.

    For the rates and ratios, a series' own minimum effect (matched by a glob on its label) wins over a
    figure's, which wins over the default. Discards, a count per task, take only their figure's threshold.
    ``math.inf`` switches a figure off, e.g. throughput on runners whose speed drifts a lot.
    """

    min_effect: float = DEFAULT_MIN_EFFECT
    alpha: float = DEFAULT_ALPHA
    figures: Mapping[str, float] = field(default_factory=dict)
    series: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.figures) - set(FIGURES)
        if unknown:
            raise UsageError(f"unknown figure {sorted(unknown)[0]!r}; choose from {', '.join(FIGURES)}")
        for value in (self.min_effect, *self.figures.values(), *self.series.values()):
            if not value >= 0:
                raise UsageError(f"a minimum effect must be a fraction >= 0 (0.1 means 10 %), got {value!r}")
        if not 0 < self.alpha < 1:
            raise UsageError(f"alpha must be between 0 and 1, got {self.alpha!r}")

    def min_effect_for(self, figure: str, label: str) -> float:
        if figure in _COUNTS:
            return self.figures.get(figure, DEFAULT_DISCARDS_EFFECT)
        for pattern, value in self.series.items():
            if fnmatch.fnmatchcase(label, pattern):
                return value
        return self.figures.get(figure, self.min_effect)


# --- matching two files ------------------------------------------------------------------------------


def _series_key(series: dict[str, Any]) -> tuple[str, str, str, str | None]:
    """What makes two series the same experiment, whatever their ids or order in the file."""
    return (series["workload"], json.dumps(series["params"], sort_keys=True), series["executor"],
            series.get("session_strategy"))  # fmt: skip


def _point_samples(series: dict[str, Any], results: Results) -> dict[int, tuple[int, dict[str, list[float]]]]:
    """Per measured point: its task count and each figure's per-round samples.

    A round's speedup is its throughput over the median throughput of the same run's sequential loop, so
    drift between runs cancels; the sequential loop itself has only throughput (its speedup is 1 by
    definition), as has a series whose sequential loop was never measured.
    """
    base = next((s for s in results["series"] if s["executor"] == "sequential" and s["workload"] == series["workload"]
                 and s["params"] == series["params"] and s["points"] and s["points"][0]["rounds"]), None)  # fmt: skip
    sequential = float(np.median(round_throughputs(base["points"][0]))) if base else None
    points = {}
    for point in series["points"]:
        if not point["rounds"]:
            continue
        samples = {"throughput": round_throughputs(point),
                   "discards": [r.get("pool_full_discards", 0) / point["tasks"] for r in point["rounds"]]}  # fmt: skip
        if sequential and series["executor"] != "sequential":
            samples["speedup"] = [value / sequential for value in samples["throughput"]]
            ideal = ideal_speedup(point["tasks"], point["workers"])
            samples["efficiency"] = [value / ideal for value in samples["speedup"]]
        points[point["workers"]] = (point["tasks"], samples)
    return points


@dataclass(frozen=True)
class PointComparison:
    workers: int
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class SeriesComparison:
    label: str
    points: tuple[PointComparison, ...]
    saturation: Change | None

    @property
    def changes(self) -> list[Change]:
        found = [change for point in self.points for change in point.changes]
        return found + ([self.saturation] if self.saturation else [])


@dataclass(frozen=True)
class Comparison:
    series: tuple[SeriesComparison, ...]
    warnings: tuple[str, ...]

    def moved(self, verdict: Verdict) -> list[str]:
        """The figures with at least one change of this verdict, in the table's order."""
        found = {change.figure for series in self.series for change in series.changes if change.verdict is verdict}
        return [figure for figure in FIGURES if figure in found]

    @property
    def verdict(self) -> Verdict:
        for verdict in (Verdict.REGRESSION, Verdict.IMPROVEMENT):
            if self.moved(verdict):
                return verdict
        return Verdict.NO_CHANGE

    def summary(self) -> str:
        """One paragraph saying which figures moved and what that points at."""
        regressed, improved = self.moved(Verdict.REGRESSION), self.moved(Verdict.IMPROVEMENT)
        if not regressed and not improved:
            return "no significant change"
        moved = ((Verdict.REGRESSION, regressed), (Verdict.IMPROVEMENT, improved))
        text = "; ".join(f"{verdict.value} in {', '.join(figures)}" for verdict, figures in moved if figures)
        if "throughput" in regressed and not DRIFT_PROOF & set(regressed):
            text += (". Throughput fell but efficiency, speedup and saturation held: each task got slower"
                     " (a slower server, more work per task) or this machine is slower than the baseline's;"
                     " scaling did not")  # fmt: skip
        if "discards" in regressed:
            text += (". Connections are discarded because the pool is full: threads share a connection pool"
                     " smaller than their number (a shared requests.Session keeps 10)")  # fmt: skip
        if DRIFT_PROOF & set(regressed) - {"discards"}:
            text += (". Scaling regressed: threads buy less than before (a lock, a too-small connection pool,"
                     " more CPU per task)")  # fmt: skip
        return text


def _fingerprint(results: Results) -> dict[str, object]:
    """What must match for two runs to be comparable. Clock speed is left out: it drifts between runners."""
    environment = results.get("environment", {})
    python = environment.get("python", {})
    return {
        "CPU count": environment.get("cpu_count"),
        "Python": f"{python.get('implementation', '?')} {python.get('version', '?')}",
        "GIL": "enabled" if python.get("gil_enabled", True) else "disabled",
    }


def _file_warnings(base: Results, new: Results) -> list[str]:
    warnings = []
    for name, results in (("baseline", base), ("new run", new)):
        if not is_complete(results):
            detail = results.get("status_detail") or "not finished"
            warnings.append(f"the {name} is incomplete ({results['status']}: {detail}); only its measured points count")
    old_print, new_print = _fingerprint(base), _fingerprint(new)
    for key in old_print:
        if old_print[key] != new_print[key]:
            warnings.append(f"different machine: {key} {old_print[key]} in the baseline, {new_print[key]} now; "
                            "throughput may differ for that reason alone")  # fmt: skip
    return warnings


def compare(base: Results, new: Results, thresholds: Thresholds | None = None) -> Comparison:
    """Match series (by workload, parameters, executor, session strategy) and points (by N); decide each figure.

    Raises UsageError when the files share no measured series: a gate that compares nothing must not pass.
    """
    thresholds = thresholds or Thresholds()
    warnings = _file_warnings(base, new)
    base_series = {_series_key(series): series for series in base["series"]}
    new_stats = {stats.id: stats for stats in analyze(new)}
    base_stats = {stats.id: stats for stats in analyze(base)}
    compared = []
    for series in new["series"]:
        old = base_series.pop(_series_key(series), None)
        if old is None:
            warnings.append(f"{series['label']}: not in the baseline, not compared")
            continue
        label = series["label"]
        points = _compare_points(label, _point_samples(old, base), _point_samples(series, new), thresholds, warnings)
        knee = _saturation_change(base_stats.get(old["id"]), new_stats.get(series["id"]), points,
                                  thresholds.min_effect_for("saturation", label))  # fmt: skip
        if points:
            compared.append(SeriesComparison(label, tuple(points), knee))
    warnings += [f"{series['label']}: only in the baseline, not compared" for series in base_series.values()]
    if not compared:
        raise UsageError("the two results files have no measured series in common; nothing to compare")
    return Comparison(tuple(compared), tuple(warnings))


def _compare_points(
    label: str, old_points: dict[int, tuple[int, dict[str, list[float]]]],
    new_points: dict[int, tuple[int, dict[str, list[float]]]], thresholds: Thresholds, warnings: list[str],
) -> list[PointComparison]:  # fmt: skip
    """Decide every figure at every N measured in both runs; note in ``warnings`` what cannot be compared."""
    points = []
    for workers in sorted(set(old_points) | set(new_points)):
        where = f"{label} N={workers}"
        if workers not in old_points or workers not in new_points:
            warnings.append(f"{where}: not measured in the {'new run' if workers in old_points else 'baseline'}")
            continue
        (old_tasks, old_samples), (new_tasks, new_samples) = old_points[workers], new_points[workers]
        rounds = (len(old_samples["throughput"]), len(new_samples["throughput"]))
        if 2 / math.comb(sum(rounds), rounds[0]) >= thresholds.alpha:  # p of the clearest possible separation
            warnings.append(f"{where}: {rounds[0]} and {rounds[1]} rounds can never give p < {thresholds.alpha:g},"
                            " so this point cannot fail the gate; use more rounds")  # fmt: skip
        if old_tasks != new_tasks:
            warnings.append(f"{where}: {old_tasks} tasks in the baseline, {new_tasks} now; "
                            "efficiency is against each run's own ideal")  # fmt: skip
        changes = tuple(
            decide(figure, old_samples[figure], new_samples[figure], thresholds.min_effect_for(figure, label),
                   thresholds.alpha)
            for figure in POINT_FIGURES if figure in old_samples and figure in new_samples
        )  # fmt: skip
        points.append(PointComparison(workers, changes))
    return points


def _saturation_change(
    base_stats: SeriesStats | None, new_stats: SeriesStats | None, points: list[PointComparison], min_effect: float
) -> Change | None:
    """The saturation N, compared. A move counts only if the speedup at the knee that moved changed too.

    The knee is one discrete N chosen by a 5 % tolerance, so on a flat plateau noise can move it a whole
    step. It is a regression only when it moves down by at least ``min_effect`` AND the speedup at the
    old knee is itself a significant regression (an improvement: up, and the speedup at the new knee).
    """
    if base_stats is None or new_stats is None or base_stats.executor == "sequential":
        return None
    old, new = saturation(base_stats), saturation(new_stats)
    if old is None or new is None:
        return None
    effect = new.workers / old.workers - 1
    at = old.workers if effect < 0 else new.workers
    backing = next((c for p in points if p.workers == at for c in p.changes if c.figure == "speedup"), None)
    verdict = Verdict.NO_CHANGE
    if backing and effect < -min_effect and backing.verdict is Verdict.REGRESSION:
        verdict = Verdict.REGRESSION
    elif backing and effect > min_effect and backing.verdict is Verdict.IMPROVEMENT:
        verdict = Verdict.IMPROVEMENT
    p_value = backing.p_value if backing else 1.0
    return Change("saturation", old.workers, new.workers, effect, p_value, min_effect, verdict)


def load_baseline(path: str | Path, allow_missing: bool = False) -> Results | None:
    """The baseline document; None when the file is absent and that is allowed, else a UsageError."""
    if allow_missing and not Path(path).exists():
        return None
    return load_results(path)


# --- presenting ------------------------------------------------------------------------------------

COLUMNS = ("N", "efficiency", "speedup", "throughput /s", "pool-full discards /task", "verdict")
LEGEND = ("each cell: baseline → new median (change: median over all pairs of rounds of new/base, of new − base"
          " for discards; p: of a change beyond the minimum effect); ▼ regression, ▲ improvement")  # fmt: skip
_MARKS = {Verdict.REGRESSION: " ▼", Verdict.IMPROVEMENT: " ▲", Verdict.NO_CHANGE: ""}


def _cell(change: Change | None, digits: int) -> str:
    if change is None:
        return "–"
    effect = f"{change.effect:+.0%}" if change.relative else f"{change.effect:+.{digits}f}"
    return (f"{change.base:.{digits}f} → {change.new:.{digits}f} ({effect}, p={change.p_value:.3f})"
            f"{_MARKS[change.verdict]}")  # fmt: skip


def _what_moved(changes: Sequence[Change]) -> str:
    parts = []
    for verdict in (Verdict.REGRESSION, Verdict.IMPROVEMENT):
        figures = [change.figure for change in changes if change.verdict is verdict]
        if figures:
            parts.append(f"{verdict.value}: {', '.join(figures)}")
    return "; ".join(parts) or Verdict.NO_CHANGE.value


def _rows(series: SeriesComparison) -> list[list[str]]:
    rows = []
    for point in series.points:
        by_figure = {change.figure: change for change in point.changes}
        rows.append([str(point.workers), _cell(by_figure.get("efficiency"), 2), _cell(by_figure.get("speedup"), 2),
                     _cell(by_figure.get("throughput"), 1), _cell(by_figure.get("discards"), 2),
                     _what_moved(point.changes)])  # fmt: skip
    return rows


def _saturation_line(series: SeriesComparison) -> str | None:
    knee = series.saturation
    if knee is None:
        return None
    return (f"saturation N: {knee.base:.0f} → {knee.new:.0f}{_MARKS[knee.verdict]} {knee.verdict.value} (counts"
            f" only with a significant speedup change at the knee that moved, p={knee.p_value:.3f})")  # fmt: skip


def render_comparison_terminal(comparison: Comparison, console: Console) -> None:
    for series in comparison.series:
        table = Table(title=series.label, title_justify="left")
        for column in COLUMNS:
            table.add_column(column, justify="left" if column == "verdict" else "right")
        for row in _rows(series):
            table.add_row(*row)
        console.print(table)
        line = _saturation_line(series)
        if line:
            console.print(line)
    console.print(LEGEND, style="dim")
    for warning in comparison.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    colour = {Verdict.REGRESSION: "red", Verdict.IMPROVEMENT: "green"}.get(comparison.verdict, "default")
    console.print(f"[bold {colour}]verdict: {comparison.verdict.value.upper()}[/] — {comparison.summary()}")


def render_comparison_markdown(comparison: Comparison) -> str:
    lines: list[str] = []
    for series in comparison.series:
        lines += [
            f"### {series.label}",
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---:|" * (len(COLUMNS) - 1) + ":---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in _rows(series)]
        line = _saturation_line(series)
        lines += ["", line, ""] if line else [""]
    lines.append(f"_{LEGEND}_\n")
    lines += [f"> warning: {warning}" for warning in comparison.warnings]
    lines.append(f"**verdict: {comparison.verdict.value.upper()}** — {comparison.summary()}")
    return "\n".join(lines) + "\n"
