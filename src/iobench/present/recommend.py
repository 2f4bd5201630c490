"""``iobench recommend``: the pool size to use for each series of a results file, in a few plain lines."""

from __future__ import annotations

from iobench.analysis.prediction import find_all
from iobench.analysis.recommend import Recommendation, recommend
from iobench.analysis.saturation import SATURATION_TOLERANCE
from iobench.present.labels import series_label
from iobench.results.model import Results


def _interval(advice: Recommendation) -> str:
    interval = advice.interval
    if interval is None:
        return "the saturation point has no interval (one pool measured)"
    if interval.status == "rising":
        return f"the saturation point is at least N = {interval.largest}: throughput still rose there"
    if interval.status == "flat":
        return f"throughput was flat from N = {interval.estimate:.0f}: more workers never helped"
    return f"the saturation point N* = {interval.estimate:.0f} (95% CI {interval.low:.0f}–{interval.high:.0f})"


def recommendation_lines(results: Results, tolerance: float = SATURATION_TOLERANCE) -> list[str]:
    """A heading and the advice for every concurrent series of ``results``."""
    lines: list[str] = []
    for finding in find_all(results):
        advice = recommend(finding, results.environment.cpu_count, tolerance)
        if advice is None:
            continue
        prediction = finding.prediction
        predicted = ""
        if prediction is not None and prediction.workers is not None:
            when = "before the sweep" if finding.predicted_before else "from the demands"
            predicted = f"; predicted {when}: N* ≈ {prediction.workers:.0f}"
        lines += [
            series_label(finding.stats, results),
            f"  recommend N = {advice.workers}: the smallest pool measured within {tolerance:.0%} of the peak "
            f"({advice.peak_throughput:.0f} req/s at N = {advice.peak_workers}); {advice.throughput:.0f} req/s and "
            f"p99 latency {advice.latency_p99 * 1000:.0f} ms there",
            f"  {_interval(advice)}{predicted}",
        ]
        if advice.still_rising:
            lines.append("  throughput was still rising at the largest pool: measure larger pools before settling")
        for rule in advice.rules_of_thumb:
            how = "measured" if rule.measured else "interpolated"
            lines.append(f"  {rule.name} = {rule.workers}: {rule.share_of_peak:.0%} of the peak ({how})")
        if advice.wait and advice.at_half_wait is not None and advice.at_double_wait is not None:
            lines.append(f"  if d halves ({advice.wait * 500:.0f} ms) the model's N* is ≈ {advice.at_half_wait:.0f}; "
                         f"if it doubles ({advice.wait * 2000:.0f} ms), ≈ {advice.at_double_wait:.0f}")  # fmt: skip
    return lines
