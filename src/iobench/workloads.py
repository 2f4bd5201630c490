"""What ONE task does. Executors decide how many run at once; a workload never knows.

A workload is a callable taking a ``TaskContext``. It raises to report a failed task; the executor
counts the failure and goes on. This module needs only the standard library and requests, because it
also runs inside other interpreters (the interpreter matrix) where iobench's other dependencies are
absent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import requests

from iobench.errors import UsageError

#: httpbin clamps /delay to 10 s without saying so; refusing more keeps the recorded delay honest.
MAX_DELAY_SECONDS = 10.0


@dataclass(frozen=True)
class TaskContext:
    """What a task may use: where the server is, an HTTP session owned by the caller, and which task it is.

    ``session`` is None for workloads that do no HTTP. Its lifetime and sharing follow the executor's
    session strategy, so a task must not close it.
    """

    index: int
    target: str | None
    session: requests.Session | None
    timeout: float


class Workload(ABC):
    """One kind of task, with its parameters validated when it is built, before any server starts."""

    name: ClassVar[str]
    uses_http: ClassVar[bool] = True

    @abstractmethod
    def __call__(self, ctx: TaskContext) -> None: ...

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The parameters as recorded in the results file; ``make_workload(name, params)`` rebuilds it."""

    def wait_seconds(self) -> float | None:
        """Seconds each task spends waiting on something other than this process, when known.

        It is what the ideal bound T_ideal = ceil(M/N) * d is made of; None where there is no such d.
        """
        return None


def format_seconds(seconds: float) -> str:
    """A delay as httpbin's URL wants it: plain decimal, no exponent, no trailing zeros."""
    return f"{seconds:.6f}".rstrip("0").rstrip(".") or "0"


def _delay_param(params: dict[str, Any], key: str = "delay") -> float:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{key} must be a number of seconds, got {value!r}")
    if not 0 <= value <= MAX_DELAY_SECONDS:
        raise UsageError(f"{key} must be between 0 and {MAX_DELAY_SECONDS:g} seconds, got {value:g}")
    return float(value)


@dataclass(frozen=True)
class HttpDelay(Workload):
    """GET {target}/delay/{d}: the server waits d seconds, the client thread blocks in recv()."""

    delay: float
    name: ClassVar[str] = "http-delay"

    def __call__(self, ctx: TaskContext) -> None:
        assert ctx.session is not None and ctx.target is not None
        response = ctx.session.get(f"{ctx.target}/delay/{format_seconds(self.delay)}", timeout=ctx.timeout)
        response.raise_for_status()

    def params(self) -> dict[str, Any]:
        return {"delay": self.delay}

    def wait_seconds(self) -> float:
        return self.delay

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> HttpDelay:
        return cls(delay=_delay_param(params))


WORKLOADS: dict[str, Callable[[dict[str, Any]], Workload]] = {
    HttpDelay.name: HttpDelay.from_params,
}


def make_workload(name: str, params: dict[str, Any]) -> Workload:
    """Build and validate a workload by name; unknown names and bad parameters are UsageErrors."""
    try:
        factory = WORKLOADS[name]
    except KeyError:
        raise UsageError(f"unknown workload {name!r}; choose from {', '.join(sorted(WORKLOADS))}") from None
    return factory(params)
