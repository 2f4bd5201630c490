"""Regression verdicts between two results files: did the new run get worse, and in which figure?

Shared CI runners drift: the same commit runs faster or slower from one day to the next. So the figures
compared first are ratios measured within one run, from which that drift cancels: efficiency against the
ideal bound, speedup over the same run's sequential loop, and the saturation pool (the recommended N).
Throughput, the absolute figure, is compared too, with its own threshold, because a slower server or
heavier task shows only there.

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

Besides timings, the gate watches two exact counts per task. urllib3's "connection pool is full"
discards are the signature of threads sharing a connection pool smaller than their number; the connections
opened are the signature of requests that no longer reuse one (a new Session, or client, per request). On
loopback a new connection is cheap, so these traps may cost little throughput here (a Session per request
cost 2-10 % in the quick sweep) and much on a real network, where each is a TCP and TLS handshake.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from iobench.analysis.saturation import saturation
from iobench.analysis.statistics import mann_whitney_p, median_ratio
from iobench.analysis.stats import PointStats, SeriesStats, analyze
from iobench.errors import UsageError
from iobench.results.model import Results

DEFAULT_MIN_EFFECT = 0.10
DEFAULT_ALPHA = 0.05
#: Pool-full discards, or connections opened, per task that count as a change: one request in 20.
DEFAULT_DISCARDS_EFFECT = 0.05
#: Per-point figures, in the table's order: the drift-proof ratios, throughput, then the discard count.
POINT_FIGURES = ("efficiency", "speedup", "throughput", "discards", "connections")
FIGURES = ("efficiency", "speedup", "saturation", "throughput", "discards", "connections")
DRIFT_PROOF = frozenset({"efficiency", "speedup", "saturation", "discards", "connections"})
#: Figures measured in their own units (a change is a difference), where fewer is better.
_COUNTS = frozenset({"discards", "connections"})


class Verdict(StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NO_CHANGE = "no significant change"


# --- the decision on per-round samples ------------------------------------------------------------


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


def _samples(stats: SeriesStats, point: PointStats) -> dict[str, Sequence[float]]:
    """Each figure's per-round values at one point, as analysis computed them.

    The sequential loop has only throughput and the counts: its speedup is 1 by definition.
    """
    samples: dict[str, Sequence[float]] = {"throughput": point.round_throughputs,
                                           "discards": point.round_discards_per_task,
                                           "connections": point.round_connections_per_task}  # fmt: skip
    if not stats.is_baseline:
        samples["speedup"] = point.round_speedups
        samples["efficiency"] = point.round_efficiencies
    return samples


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
        if "connections" in regressed:
            text += (". More connections are opened per task: requests no longer reuse connections (a Session"
                     " or client made per request, a pool that closes them)")  # fmt: skip
        if DRIFT_PROOF & set(regressed) - _COUNTS:
            text += (". Scaling regressed: threads buy less than before (a lock, a too-small connection pool,"
                     " more CPU per task)")  # fmt: skip
        return text


def _fingerprint(results: Results) -> dict[str, object]:
    """What must match for two runs to be comparable. Clock speed is left out: it drifts between runners."""
    return {"CPU count": results.environment.cpu_count, "Python": results.environment.python.label}


def _file_warnings(base: Results, new: Results) -> list[str]:
    warnings = []
    for name, results in (("baseline", base), ("new run", new)):
        if not results.complete:
            detail = results.status_detail or "not finished"
            warnings.append(f"the {name} is incomplete ({results.status}: {detail}); only its measured points count")
    old_print, new_print = _fingerprint(base), _fingerprint(new)
    for key in old_print:
        if old_print[key] != new_print[key]:
            warnings.append(f"different machine: {key} {old_print[key]} in the baseline, {new_print[key]} now; "
                            "throughput may differ for that reason alone")  # fmt: skip
    return warnings


def compare(base: Results, new: Results, thresholds: Thresholds | None = None) -> Comparison:
    """Match series (by workload, parameters, executor, session strategy and interpreter) and points (by N).

    Every figure is decided on the per-round values analysis computed for each run. Raises UsageError when
    the files share no measured series: a gate that compares nothing must not pass.
    """
    thresholds = thresholds or Thresholds()
    warnings = _file_warnings(base, new)
    base_stats = {stats.series.key: stats for stats in analyze(base)}
    new_stats = {stats.series.key: stats for stats in analyze(new)}
    for name, results, analyzed in (("baseline", base, base_stats), ("new run", new, new_stats)):
        warnings += [f"{results.label_of(s)}: no measured sequential loop in the {name}, not compared"
                     for s in results.series if not s.is_baseline and s.key not in analyzed]  # fmt: skip
    compared = []
    for key, stats in new_stats.items():
        label = new.label_of(stats.series)
        if key not in base_stats:
            warnings.append(f"{label}: not in the baseline, not compared")
            continue
        old = base_stats[key]
        points = _compare_points(label, old, stats, thresholds, warnings)
        moved = _saturation_change(old, stats, points, thresholds.min_effect_for("saturation", label))
        if points:
            compared.append(SeriesComparison(label, tuple(points), moved))
    warnings += [f"{base.label_of(stats.series)}: only in the baseline, not compared"
                 for key, stats in base_stats.items() if key not in new_stats]  # fmt: skip
    if not compared:
        raise UsageError("the two results files have no measured series in common; nothing to compare")
    return Comparison(tuple(compared), tuple(warnings))


def compare_sides(results: Results, thresholds: Thresholds | None = None) -> Comparison:
    """An A/B run (``run --against``) judged like two runs: side B, the working tree, against side A, the ref."""
    return compare(results.side("A"), results.side("B"), thresholds)


def _compare_points(
    label: str, old: SeriesStats, new: SeriesStats, thresholds: Thresholds, warnings: list[str]
) -> list[PointComparison]:
    """Decide every figure at every N measured in both runs; note in ``warnings`` what cannot be compared."""
    old_points = {point.workers: point for point in old.points}
    new_points = {point.workers: point for point in new.points}
    points = []
    for workers in sorted(set(old_points) | set(new_points)):
        where = f"{label} N={workers}"
        if workers not in old_points or workers not in new_points:
            warnings.append(f"{where}: not measured in the {'new run' if workers in old_points else 'baseline'}")
            continue
        before, after = old_points[workers], new_points[workers]
        if 2 / math.comb(before.rounds + after.rounds, before.rounds) >= thresholds.alpha:  # the clearest separation
            warnings.append(f"{where}: {before.rounds} and {after.rounds} rounds can never give p < "
                            f"{thresholds.alpha:g}, so this point cannot fail the gate; use more rounds")  # fmt: skip
        if before.tasks != after.tasks:
            warnings.append(f"{where}: {before.tasks} tasks in the baseline, {after.tasks} now; "
                            "efficiency is against each run's own ideal")  # fmt: skip
        old_samples, new_samples = _samples(old, before), _samples(new, after)
        changes = tuple(
            decide(figure, old_samples[figure], new_samples[figure], thresholds.min_effect_for(figure, label),
                   thresholds.alpha)
            for figure in POINT_FIGURES if figure in old_samples and figure in new_samples
        )  # fmt: skip
        points.append(PointComparison(workers, changes))
    return points


def _saturation_change(
    base_stats: SeriesStats, new_stats: SeriesStats, points: list[PointComparison], min_effect: float
) -> Change | None:
    """The saturation pool, compared. A move counts only if the speedup at the pool that moved changed too.

    The saturation pool is one discrete N chosen by a 5 % tolerance, so on a flat plateau noise can move it a
    whole step. It is a regression only when it moves down by at least ``min_effect`` AND the speedup at the
    old point is itself a significant regression (an improvement: up, and the speedup at the new point).
    """
    if base_stats.is_baseline:
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
