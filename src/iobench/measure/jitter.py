"""Delays that vary from task to task, drawn from a seeded generator so a sweep can be repeated exactly.

Real I/O does not wait a fixed time: a few slow calls in a batch stretch it more than the mean says,
and that tail is what a thread pool has to absorb. Every distribution here is described by the same two
numbers, its mean and its standard deviation (the "spread"), so series with different shapes but equal
mean and spread sit side by side on one plot. Standard library only (it runs in other interpreters too).
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from iobench.errors import UsageError

#: httpbin clamps /delay to 10 s without saying so; draws are clamped here instead, where it is recorded.
MAX_DELAY_SECONDS = 10.0
DISTRIBUTIONS = ("fixed", "uniform", "exponential", "lognormal")


def _finite(value: float) -> bool:
    """math.isfinite, which raises for an int too large for a float (10**400 from a TOML file): not finite."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


@dataclass(frozen=True)
class DelayDistribution:
    """A delay distribution with a given mean and standard deviation (both in seconds).

    - fixed: always the mean (spread must be 0).
    - uniform: flat on mean ± sqrt(3)·spread; the spread may not exceed mean/sqrt(3), so no draw is negative.
    - exponential: mean − spread + Exp(spread), a shifted exponential, so mean and spread are both free
      (spread = mean gives the plain memoryless one); the spread may not exceed the mean.
    - lognormal: the long right tail of real network latencies; any spread.

    Draws above ``MAX_DELAY_SECONDS`` are clamped to it, which lowers the mean of a very wide lognormal.
    """

    kind: str = "fixed"
    mean: float = 0.1
    spread: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in DISTRIBUTIONS:
            raise UsageError(f"jitter must be one of {', '.join(DISTRIBUTIONS)}, got {self.kind!r}")
        for name, value in (("delay", self.mean), ("spread", self.spread)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
                raise UsageError(f"{name} must be a number of seconds, got {value!r:.40}")
        if not 0 <= self.mean <= MAX_DELAY_SECONDS:
            raise UsageError(f"delay must be between 0 and {MAX_DELAY_SECONDS:g} seconds, got {self.mean:g}")
        if self.spread < 0:
            raise UsageError(f"spread must be >= 0 seconds, got {self.spread:g}")
        limit = {"fixed": 0.0, "uniform": self.mean / math.sqrt(3), "exponential": self.mean}.get(self.kind)
        if limit is not None and self.spread > limit + 1e-12:
            raise UsageError(f"spread of a {self.kind} delay with mean {self.mean:g} s must be <= {limit:.6g} s "
                             f"(no negative delays), got {self.spread:g}")  # fmt: skip
        if self.kind == "lognormal" and self.mean == 0 and self.spread > 0:
            raise UsageError("a lognormal delay needs a positive mean")

    def sampler(self, seed: int) -> Callable[[], float]:
        """A thread-safe function returning the next draw of a generator seeded with ``seed``.

        The sequence depends only on the seed, not on which thread asks: a batch of M tasks always gets
        the same M delays in the same order, whatever the scheduling.
        """
        if self.kind == "fixed" or self.spread == 0:
            return lambda: self.mean
        rng, lock = random.Random(seed), threading.Lock()
        draw = self._draw_function(rng)

        def next_delay() -> float:
            with lock:
                value = draw()
            return min(max(value, 0.0), MAX_DELAY_SECONDS)

        return next_delay

    def _draw_function(self, rng: random.Random) -> Callable[[], float]:
        mean, spread = self.mean, self.spread
        if self.kind == "uniform":
            half_width = math.sqrt(3) * spread
            return lambda: rng.uniform(mean - half_width, mean + half_width)
        if self.kind == "exponential":
            return lambda: mean - spread + rng.expovariate(1 / spread)
        sigma = math.sqrt(math.log1p((spread / mean) ** 2))
        mu = math.log(mean) - sigma**2 / 2
        return lambda: rng.lognormvariate(mu, sigma)
