"""What ONE task does. Executors decide how many run at once; a workload never knows.

A workload is a callable taking a ``TaskContext``. It raises to report a failed task; the executor
counts the failure and goes on. Each is built from a dict of parameters (as a sweep file or a results
file holds them) and checks them all when it is built, before any server starts; ``params()`` gives
them back complete, defaults included, so the results file records exactly what ran.

This module needs only the standard library and requests, because it also runs inside other
interpreters (the interpreter matrix) where iobench's other dependencies are absent.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests

from iobench.errors import UsageError
from iobench.measure.cpuwork import iterations_for, spin
from iobench.measure.jitter import MAX_DELAY_SECONDS, DelayDistribution

#: httpbin's /bytes returns at most 100 KiB; /range and /drip are held to the same so the modes compare.
MAX_PAYLOAD_BYTES = 102_400
#: httpbin's /drip sleeps between bytes; measured here, pauses under 2 ms stretch the stream by 10-30 %.
DRIP_SECONDS_PER_BYTE = 0.002
#: A file-io task is a small file; large ones measure the disk, not the executor.
MAX_FILE_BYTES = 16 * 1024 * 1024


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


class IncompleteBody(Exception):
    """A response or a file read back had fewer (or other) bytes than the task asked for."""


class Workload(ABC):
    """One kind of task, with its parameters validated when it is built, before any server starts."""

    name: ClassVar[str]
    #: The parameter names ``from_params`` accepts; a sweep file's [defaults] fill only these.
    accepted: ClassVar[tuple[str, ...]]
    uses_http: ClassVar[bool] = True

    @abstractmethod
    def __call__(self, ctx: TaskContext) -> None: ...

    @classmethod
    @abstractmethod
    def from_params(cls, params: dict[str, Any]) -> Workload:
        """Build from recorded parameters; every bad or unknown parameter is a UsageError naming it."""

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The parameters as recorded in the results file; ``make_workload(name, params)`` rebuilds it."""

    def wait_seconds(self) -> float | None:
        """Seconds each task spends waiting on something other than this process, when known.

        It is what the ideal bound T_ideal = ceil(M/N) * d is made of; None where there is no such d.
        """
        return None

    def gil_speedup_bound(self) -> float | None:
        """The most any number of threads sharing one GIL can speed this up, when the workload knows it."""
        return None


# --- parameter checks: each message starts with the parameter's name -------------------------------


def _only(params: dict[str, Any], workload: type[Workload]) -> None:
    unknown = sorted(set(params) - set(workload.accepted))
    if unknown:
        raise UsageError(f"{unknown[0]} is not a parameter of {workload.name}; it takes {', '.join(workload.accepted)}")


def _number(params: dict[str, Any], key: str, default: float, low: float, high: float, low_open: bool = False) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"{key} must be a number, got {value!r}")
    if value > high or value < low or (low_open and value == low):
        bounds = f"above {low:g} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"
        raise UsageError(f"{key} must be {bounds}, got {value:g}")
    return float(value)


def _whole(params: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"{key} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _choice(params: dict[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = params.get(key, default)
    if value not in choices:
        raise UsageError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def format_seconds(seconds: float) -> str:
    """A delay as httpbin's URL wants it: plain decimal, no exponent, no trailing zeros."""
    return f"{seconds:.6f}".rstrip("0").rstrip(".") or "0"


# --- HTTP ------------------------------------------------------------------------------------------


class HttpGet(Workload):
    """A GET of one httpbin path whose whole body is read: the shape the asyncio executor can also run."""

    @abstractmethod
    def path(self) -> str:
        """The path (and query) of the next request, starting with '/'."""

    def check_body(self, body: bytes) -> None:
        """Raise if the body is not what the request asked for; a short read is a failure, not a result."""

    def __call__(self, ctx: TaskContext) -> None:
        assert ctx.session is not None and ctx.target is not None, "an HTTP workload needs a session and a target"
        response = ctx.session.get(f"{ctx.target}{self.path()}", timeout=ctx.timeout)
        response.raise_for_status()
        self.check_body(response.content)


class HttpDelay(HttpGet):
    """GET {target}/delay/{d}: the server waits d seconds, the client thread blocks in recv().

    With jitter each task draws its own d from a seeded generator (see ``iobench.measure.jitter``); the seed is
    recorded with the other parameters, so the same sweep file asks for the same delays again.
    """

    name = "http-delay"
    accepted = ("delay", "jitter", "spread", "seed")

    def __init__(self, distribution: DelayDistribution, seed: int = 0) -> None:
        self.distribution = distribution
        self.seed = seed
        self.next_delay = distribution.sampler(seed)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> HttpDelay:
        _only(params, cls)
        if "delay" not in params:
            raise UsageError("delay is required (seconds each request waits at the server)")
        distribution = DelayDistribution(params.get("jitter", "fixed"), params["delay"], params.get("spread", 0.0))
        return cls(distribution, _whole(params, "seed", 0, 0, 2**63 - 1))

    def path(self) -> str:
        return f"/delay/{format_seconds(self.next_delay())}"

    def params(self) -> dict[str, Any]:
        mean = float(self.distribution.mean)
        if self.distribution.kind == "fixed":
            return {"delay": mean}
        return {"delay": mean, "jitter": self.distribution.kind, "spread": float(self.distribution.spread),
                "seed": self.seed}  # fmt: skip

    def wait_seconds(self) -> float:
        return float(self.distribution.mean)


@dataclass(frozen=True)
class HttpPayload(HttpGet):
    """Download ``size`` bytes, so bandwidth and parsing show up and not only waiting.

    Modes: ``bytes`` (/bytes/<n>, random bytes), ``range`` (/range/<n>, the same size at about a quarter
    of the server CPU: httpbin builds both bodies one Python call per byte, and at 100 KiB /bytes costs
    the server ~40 ms per request, enough to make the server the bottleneck), and ``drip`` (/drip: one
    byte at a time over ``duration`` seconds, a slow stream where the client wakes once per byte).
    ``size`` defaults to 1024 bytes, or 10 for ``drip``.
    """

    size: int
    mode: str = "bytes"
    duration: float = 0.0
    name: ClassVar[str] = "http-payload"
    accepted: ClassVar[tuple[str, ...]] = ("size", "mode", "duration")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> HttpPayload:
        _only(params, cls)
        mode = _choice(params, "mode", "bytes", ("bytes", "range", "drip"))
        if mode != "drip":
            if "duration" in params:
                raise UsageError('duration applies only to mode = "drip"')
            return cls(_whole(params, "size", 1024, 1, MAX_PAYLOAD_BYTES), mode)
        duration = _number(params, "duration", 0.1, 0, MAX_DELAY_SECONDS, low_open=True)
        size = _whole(params, "size", 10, 1, MAX_PAYLOAD_BYTES)
        if size * DRIP_SECONDS_PER_BYTE > duration + 1e-12:
            raise UsageError(f"size of a drip must be at most {duration / DRIP_SECONDS_PER_BYTE:.0f} bytes over "
                             f"{duration:g} s (httpbin sleeps per byte, and its timer stretches pauses under "
                             f"{DRIP_SECONDS_PER_BYTE * 1000:g} ms), got {size}")  # fmt: skip
        return cls(size, mode, duration)

    def path(self) -> str:
        if self.mode == "drip":
            return f"/drip?numbytes={self.size}&duration={format_seconds(self.duration)}&delay=0"
        return f"/{self.mode}/{self.size}"

    def check_body(self, body: bytes) -> None:
        if len(body) != self.size:
            raise IncompleteBody(f"asked for {self.size} bytes, got {len(body)}")

    def params(self) -> dict[str, Any]:
        if self.mode == "drip":
            return {"size": self.size, "mode": self.mode, "duration": self.duration}
        return {"size": self.size, "mode": self.mode}

    def wait_seconds(self) -> float | None:
        return self.duration if self.mode == "drip" else None


# --- local work: files, CPU, both ------------------------------------------------------------------


@dataclass(frozen=True)
class FileIO(Workload):
    """Write ``size`` bytes to a new file, optionally fsync it, read it back and compare.

    Each task works in a fresh temporary directory that is removed when the task ends, failed or not,
    so nothing accumulates and no task sees another's file. Without fsync the read is usually served
    from the page cache: that is the common case being measured; fsync adds the device's flush.
    """

    size: int = 4096
    fsync: bool = False
    dir: str = ""
    name: ClassVar[str] = "file-io"
    accepted: ClassVar[tuple[str, ...]] = ("size", "fsync", "dir")
    uses_http: ClassVar[bool] = False

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> FileIO:
        _only(params, cls)
        fsync = params.get("fsync", False)
        if not isinstance(fsync, bool):
            raise UsageError(f"fsync must be true or false, got {fsync!r}")
        folder = params.get("dir", "")
        if not isinstance(folder, str) or (folder and not os.path.isdir(folder)):
            raise UsageError(f"dir must be an existing directory, got {folder!r}")
        return cls(_whole(params, "size", 4096, 1, MAX_FILE_BYTES), fsync, folder)

    def __call__(self, ctx: TaskContext) -> None:
        data = bytes([ctx.index % 256]) * self.size
        with tempfile.TemporaryDirectory(prefix="iobench-file-", dir=self.dir or None) as folder:
            path = os.path.join(folder, "task.bin")
            with open(path, "wb") as out:
                out.write(data)
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            with open(path, "rb") as back:
                if back.read() != data:
                    raise IncompleteBody(f"read back differs from the {self.size} bytes written")

    def params(self) -> dict[str, Any]:
        recorded: dict[str, Any] = {"size": self.size, "fsync": self.fsync}
        if self.dir:
            recorded["dir"] = self.dir
        return recorded


@dataclass(frozen=True)
class Cpu(Workload):
    """A pure-Python loop costing ``cpu`` seconds of CPU: the control case threads cannot speed up.

    ``iterations`` is calibrated when the workload is built (see ``iobench.measure.cpuwork``) and travels with it
    into worker processes, so every executor runs exactly the same work.
    """

    cpu: float
    iterations: int = field(compare=False)
    name: ClassVar[str] = "cpu"
    accepted: ClassVar[tuple[str, ...]] = ("cpu",)
    uses_http: ClassVar[bool] = False

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Cpu:
        _only(params, cls)
        seconds = _number(params, "cpu", 0.01, 0, MAX_DELAY_SECONDS, low_open=True)
        return cls(seconds, iterations_for(seconds))

    def __call__(self, ctx: TaskContext) -> None:
        spin(self.iterations)

    def params(self) -> dict[str, Any]:
        return {"cpu": self.cpu}

    def gil_speedup_bound(self) -> float:
        return 1.0


@dataclass(frozen=True)
class Hybrid(Workload):
    """``cpu`` seconds of pure-Python work, then ``delay`` seconds of waiting with the GIL released.

    The wait is a ``time.sleep``, which releases the GIL exactly as a blocking socket read does, without
    the server's noise. Only the CPU part is serialized, so under the GIL N threads finish N tasks no
    faster than N·c, and the speedup over one thread cannot exceed (c + d) / c.
    """

    cpu: float
    delay: float
    iterations: int = field(compare=False)
    name: ClassVar[str] = "hybrid"
    accepted: ClassVar[tuple[str, ...]] = ("cpu", "delay")
    uses_http: ClassVar[bool] = False

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Hybrid:
        _only(params, cls)
        seconds = _number(params, "cpu", 0.01, 0, MAX_DELAY_SECONDS, low_open=True)
        delay = _number(params, "delay", 0.1, 0, MAX_DELAY_SECONDS)
        return cls(seconds, delay, iterations_for(seconds))

    def __call__(self, ctx: TaskContext) -> None:
        spin(self.iterations)
        time.sleep(self.delay)

    def params(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "delay": self.delay}

    def wait_seconds(self) -> float:
        return self.delay

    def gil_speedup_bound(self) -> float:
        return (self.cpu + self.delay) / self.cpu


# --- the user's own function -----------------------------------------------------------------------


@dataclass(frozen=True)
class UserTask(Workload):
    """A user's synchronous callable, ``package.module:function``, called with the ``TaskContext``.

    It gets the target URL, a Session managed by the executor's session strategy and its task index,
    so it is swept exactly like a built-in workload. It is loaded when the workload is built, so a typo
    is a one-line error before any server starts.
    """

    function: str
    call: Any = field(compare=False, repr=False)
    name: ClassVar[str] = "task"
    accepted: ClassVar[tuple[str, ...]] = ("function",)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> UserTask:
        _only(params, cls)
        reference = params.get("function")
        if not isinstance(reference, str):
            raise UsageError(f"function must be a 'package.module:function' string, got {reference!r}")
        return cls(reference, load_callable(reference))

    def __call__(self, ctx: TaskContext) -> None:
        self.call(ctx)

    def params(self) -> dict[str, Any]:
        return {"function": self.function}


def load_callable(reference: str) -> Any:
    """Import ``package.module:attr.path`` and return it; anything wrong is a one-line UsageError."""
    module_name, colon, attribute = reference.partition(":")
    names = attribute.split(".")
    if not colon or not all(part.isidentifier() for part in [*module_name.split("."), *names]):
        raise UsageError(f"task {reference!r} must look like package.module:function")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # any failure while importing the user's module is their input, not our bug
        detail = " ".join(str(exc).split())
        raise UsageError(f"task {reference!r}: cannot import {module_name!r}: {type(exc).__name__}: {detail}") from None
    for part in names:
        if not hasattr(found, part):
            raise UsageError(f"task {reference!r}: {module_name!r} has no attribute {attribute!r}")
        found = getattr(found, part)
    if not callable(found):
        raise UsageError(f"task {reference!r} is not callable (it is {type(found).__name__})")
    if inspect.iscoroutinefunction(found):
        raise UsageError(f"task {reference!r} is an async function; iobench sweeps synchronous callables")
    return found


WORKLOADS: dict[str, type[Workload]] = {
    workload.name: workload for workload in (HttpDelay, HttpPayload, FileIO, Cpu, Hybrid, UserTask)
}


def make_workload(name: str, params: dict[str, Any]) -> Workload:
    """Build and validate a workload by name; unknown names and bad parameters are UsageErrors."""
    try:
        workload = WORKLOADS[name]
    except KeyError:
        raise UsageError(f"unknown workload {name!r}; choose from {', '.join(sorted(WORKLOADS))}") from None
    if not isinstance(params, dict):
        raise UsageError(f"params of {name} must be a table of parameters, got {params!r}")
    return workload.from_params(params)
