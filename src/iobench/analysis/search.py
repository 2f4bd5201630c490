"""Where to measure next: the adaptive plan behind ``--workers auto``, decided from the results so far alone.

The plan is a generator of stages. A stage is a set of pool sizes (per series) that the sweep measures
together, warm-up first, rounds interleaved and shuffled, so drift within a stage cannot fake saturation.
Between stages the plan reads the results document again and decides:

1. **predict**: the sequential loop and N = 1, 2, 4. Their service demands predict N* ≈ (d + D) / D_max
   and the throughput ceiling (``analysis.prediction``), recorded before the main sweep starts.
2. **double**: while the largest pool is still significantly more than the saturation tolerance above the
   best of the others (``saturation.significantly_above``: the gate's Mann–Whitney test), double N. The
   first doubling stage measures the three doublings that end past twice the predicted N* at once (64,
   128 and 256 for a prediction of 90), so the pools around the predicted N* share one stage's interleaving;
   later ones add one doubling each.
3. **search**: the curve has levelled off, so N* lies between two measured pools. Measure the middle of
   that bracket on log N (bisection) while the bracket is what keeps the 95 % interval on N* wide;
   **repeat** the pools around the crossing with more rounds when the noise is. Stop when the interval
   is within ±tolerance.

Before each stage its cost is estimated from the throughput measured so far (and the predicted
ceiling); a stage that would not fit the time budget is trimmed or not started, and a series whose
curve still rises at ``max_workers`` stops there. Each series' reason for stopping is recorded in
``results.plan.outcomes``: "converged", "budget", "max-workers", "flat", "resolution" or "noisy".
Pure: no clock but the one passed in, no I/O, so a simulated client can drive it in tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from iobench.analysis.prediction import predict
from iobench.analysis.saturation import saturation_interval
from iobench.analysis.stats import SeriesStats, analyze
from iobench.defaults import DEFAULTS
from iobench.errors import UsageError
from iobench.results.model import STAGES, Prediction, Results

#: The pools of the first stage: enough to measure the demands a prediction needs, cheap at any delay.
START = (1, 2, 4)
#: With 3 rounds against 3 the smallest Mann–Whitney p-value is 1/20: a rising curve could never be told
#: from noise at the 5 % level, and the search would stop doubling at once. 4 against 4 reach 1/70.
MIN_SEARCH_ROUNDS = 4
#: The first doubling stage measures this many doublings. Pools far below the predicted N* cannot hold the
#: saturation point (a badly high prediction still brackets it, for the search to narrow), and each costs at least
#: (warm-up + rounds) x waves x d: 5 s at d = 0.2 s, a ninth of the default budget.
FIRST_DOUBLINGS = 3
#: A "repeat" stage may bring a pool up to this many times the configured rounds, no more.
MAX_ROUNDS_FACTOR = 3
#: Estimated stage costs are raised by this much: saving, health checks and scheduling cost a little too.
COST_MARGIN = 1.1
#: Bisect while the bracket alone makes the interval wider than this share of the tolerance.
BRACKET_SHARE = 0.5


@dataclass(frozen=True)
class SearchSettings:
    """What bounds an auto search: how narrow the interval on N* must get, and what it may spend."""

    tolerance: float = DEFAULTS["tolerance"].full
    budget_seconds: float = DEFAULTS["budget"].full
    max_workers: int = DEFAULTS["max_workers"].full

    def __post_init__(self) -> None:
        tolerance = self.tolerance
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 < tolerance < 1:
            raise UsageError(f"tolerance must be a fraction between 0 and 1 (0.15 means ±15 %), got {self.tolerance!r}")
        if (isinstance(self.budget_seconds, bool) or not isinstance(self.budget_seconds, int | float)
                or not 0 < self.budget_seconds < math.inf):  # fmt: skip
            raise UsageError(f"budget must be a positive number of seconds, got {self.budget_seconds!r}")
        if isinstance(self.max_workers, bool) or not isinstance(self.max_workers, int) or self.max_workers < max(START):
            raise UsageError(f"max_workers must be a whole number of at least {max(START)}, got {self.max_workers!r}")


@dataclass(frozen=True)
class Step:
    """What one series measures next, and why."""

    phase: str
    workers: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class Stage:
    """Pool sizes to measure together, each series' own, with the phase and the reason that chose them."""

    steps: Mapping[str, Step]
    estimated_seconds: float = 0.0

    @property
    def workers(self) -> dict[str, tuple[int, ...]]:
        return {series: step.workers for series, step in self.steps.items()}

    @property
    def name(self) -> str:
        """The phases in this stage, in plan order: "predict", "double", "double+search", …"""
        phases = {step.phase for step in self.steps.values()}
        return "+".join(phase for phase in STAGES if phase in phases)

    @property
    def reason(self) -> str:
        return "; ".join(dict.fromkeys(step.reason for step in self.steps.values()))


# --- what one series needs next -------------------------------------------------------------------


def _next_power_of_two(value: float) -> int:
    return 1 << max(0, math.ceil(math.log2(max(value, 1.0))))


def _doublings(largest: int, prediction: Prediction | None, first: bool, cap: int) -> tuple[int, ...]:
    """The pools of a doubling stage: on the first, the ``FIRST_DOUBLINGS`` doublings that end at the first
    power of two past twice the predicted N*; after that, one doubling."""
    size = target = 2 * largest
    if first and prediction is not None and prediction.workers:
        target = max(target, _next_power_of_two(2 * prediction.workers))
        size = max(size, target >> (FIRST_DOUBLINGS - 1))
    sizes = []
    while size <= min(target, cap):
        sizes.append(size)
        size *= 2
    if not sizes and largest < cap:
        sizes.append(cap)  # the cap is not a doubling away: measure the cap itself
    return tuple(sizes)


def next_step(stats: SeriesStats, prediction: Prediction | None, settings: SearchSettings, rounds: int) -> Step | str:
    """The next pools for one series, or the reason its search is over (an outcome word)."""
    interval = saturation_interval(stats)
    points = sorted(stats.points, key=lambda point: point.workers)
    largest = points[-1].workers
    if interval is None or interval.status == "rising":
        if largest >= settings.max_workers:
            return "max-workers"
        first = largest <= max(START)
        sizes = _doublings(largest, prediction, first, settings.max_workers)
        if first and prediction is not None and prediction.workers:
            reason = f"predicted N* ≈ {prediction.workers:.0f}: doubling N up to {sizes[-1]}"
        else:
            reason = f"throughput still rises at N = {largest}: doubling to {sizes[-1]}"
        return Step("double", sizes, reason)
    if interval.status == "flat":
        return "flat"
    low, high = interval.bounds
    middle = round(math.sqrt(interval.below * interval.above))
    measured = {point.workers for point in points}
    bracket_width = (high - low) / (high + low)
    can_bisect = bracket_width > BRACKET_SHARE * settings.tolerance and middle not in measured
    if interval.half_width <= settings.tolerance and not can_bisect:
        return "converged"
    if can_bisect:
        return Step("search", (middle,), f"N* lies between {interval.below} and {interval.above}: "
                                         f"measuring N = {middle}, their middle on log N")  # fmt: skip
    around = tuple(dict.fromkeys((interval.below, interval.above, interval.best_workers)))
    rounds_at = {point.workers: point.rounds for point in points}
    again = tuple(n for n in around if rounds_at[n] + rounds <= MAX_ROUNDS_FACTOR * rounds)
    if not again:
        return "noisy" if bracket_width <= BRACKET_SHARE * settings.tolerance else "resolution"
    return Step("repeat", again, f"the interval on N* is ±{interval.half_width:.0%}: "
                                 f"more rounds at N = {', '.join(map(str, again))}")  # fmt: skip


# --- what a stage costs -----------------------------------------------------------------------------


def estimated_throughput(stats: SeriesStats, workers: int, ceiling: float | None) -> float:
    """Tasks per second expected at ``workers``: interpolated on log-log axes between measured pools; beyond
    the largest, growing linearly but no higher than the predicted ceiling (or the best measured)."""
    points = sorted(stats.points, key=lambda point: point.workers)
    sizes = np.log([point.workers for point in points])
    rates = np.log([max(point.throughput.value, 1e-9) for point in points])
    if workers <= points[-1].workers:
        return float(np.exp(np.interp(math.log(workers), sizes, rates)))
    top = points[-1]
    limit = max(top.throughput.value, max(point.throughput.value for point in points), ceiling or 0.0)
    return min(top.throughput.value * workers / top.workers, limit)


def stage_seconds(stats: SeriesStats, step: Step, prediction: Prediction | None, batches: int) -> float:
    """Seconds ``batches`` batches at each of ``step``'s pools should take, with a margin."""
    largest = max(stats.points, key=lambda point: point.workers)
    tasks_per_worker = largest.tasks / largest.workers
    ceiling = prediction.ceiling if prediction is not None else None
    seconds = sum(tasks_per_worker * n / estimated_throughput(stats, n, ceiling) for n in step.workers)
    return COST_MARGIN * batches * seconds


# --- the plan ----------------------------------------------------------------------------------------


@dataclass
class AutoSearch:
    """The stages of an auto sweep; ``stages`` yields each one after the previous one has been measured."""

    settings: SearchSettings
    rounds: int
    warmup_rounds: int
    #: Series ids whose saturation point is searched (every series but the sequential baselines).
    searched: tuple[str, ...] = ()
    #: The first stage's pools of each series (``START`` for a pool, 1 for the sequential loop).
    start: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def stages(self, results: Results, clock: Callable[[], float]) -> Iterator[Stage]:
        """Yield the predict stage, record the predictions, then yield stages until every search is over.

        ``results`` is read again after each stage (the caller has added its rounds) and gets the plan's
        predictions and outcomes; ``clock()`` is the seconds spent since the sweep began.
        """
        plan = results.plan
        if plan is None:
            raise ValueError("an auto search records into results.plan; set it first")
        yield Stage({series: Step("predict", sizes, "measure the demands that predict N*")
                     for series, sizes in self.start.items()})  # fmt: skip
        analyzed = {stats.id: stats for stats in analyze(results)}
        for series in self.searched:
            prediction = predict(analyzed[series], results) if series in analyzed else None
            if prediction is not None:
                plan.predictions.append(prediction)
        while True:
            analyzed = {stats.id: stats for stats in analyze(results)}
            steps: dict[str, Step] = {}
            for series in self.searched:
                if series in plan.outcomes:
                    continue
                if series not in analyzed:
                    plan.outcomes[series] = "unmeasured"
                    continue
                step = next_step(analyzed[series], plan.prediction_for(series), self.settings, self.rounds)
                if isinstance(step, str):
                    plan.outcomes[series] = step
                else:
                    steps[series] = step
            stage = self._within_budget(steps, analyzed, plan.prediction_for, clock())
            for series in set(steps) - set(stage.steps):
                plan.outcomes[series] = "budget"
            if not stage.steps:
                return
            yield stage

    def _within_budget(
        self, steps: dict[str, Step], analyzed: Mapping[str, SeriesStats],
        prediction_for: Callable[[str], Prediction | None], elapsed: float,
    ) -> Stage:  # fmt: skip
        """The steps that fit the time left, a doubling stage trimmed from its largest pool down."""
        left = self.settings.budget_seconds - elapsed
        kept: dict[str, Step] = {}
        spent = 0.0
        for series, step in steps.items():
            batches = self.rounds + self.warmup_rounds
            sizes = step.workers
            while sizes:
                trimmed = Step(step.phase, sizes, step.reason)
                cost = stage_seconds(analyzed[series], trimmed, prediction_for(series), batches)
                if spent + cost <= left:
                    kept[series], spent = trimmed, spent + cost
                    break
                sizes = sizes[:-1] if step.phase == "double" else ()
        return Stage(kept, spent)
