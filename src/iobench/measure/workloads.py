"""What ONE task does. Executors decide how many run at once; a workload never knows.

A workload is a callable taking a ``TaskContext``. It raises to report a failed task; the executor
counts the failure and goes on. Each is built from a dict of parameters (as a sweep file or a results
file holds them) and checks them all when it is built, before any server starts; ``params()`` gives
them back complete, defaults included, so the results file records exactly what ran.

This module needs only the standard library and requests, because it also runs inside other
interpreters (the interpreter matrix) where iobench's other dependencies are absent. The db workload
talks to the connection its executor hands it and imports no driver itself.
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

from iobench.errors import UsageError
from iobench.measure.cpuwork import iterations_for, spin
from iobench.measure.httpclients import CLIENTS, REQUESTS
from iobench.measure.jitter import MAX_DELAY_SECONDS, DelayDistribution

#: httpbin's /bytes returns at most 100 KiB; /range and /drip are held to the same so the modes compare.
MAX_PAYLOAD_BYTES = 102_400
#: httpbin's /drip sleeps between bytes; measured here, pauses under 2 ms stretch the stream by 10-30 %.
DRIP_SECONDS_PER_BYTE = 0.002
#: A file-io task is a small file; large ones measure the disk, not the executor.
MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class TaskContext:
    """What a task may use: where the server is, a connection object owned by the caller, and which task it is.

    ``session`` is what the executor's session strategy hands the task: a ``requests.Session`` (an
    ``httpx.Client`` or a urllib3 client with the ``client`` parameter) for HTTP work, a psycopg connection
    for the db workload, None for work that connects to nothing. Its lifetime and sharing follow the
    strategy, so a task must not close it.
    """

    index: int
    target: str | None
    session: Any
    timeout: float


class IncompleteBody(Exception):
    """A response or a file read back had fewer (or other) bytes than the task asked for."""


class Workload(ABC):
    """One kind of task, with its parameters validated when it is built, before any server starts."""

    name: ClassVar[str]
    #: The parameter names ``from_params`` accepts; a sweep file's [defaults] fill only these.
    accepted: ClassVar[tuple[str, ...]]
    uses_http: ClassVar[bool] = True
    #: It runs queries on a PostgreSQL connection the executor hands it (the sweep starts or reaches the server).
    uses_database: ClassVar[bool] = False

    @classmethod
    def connects(cls) -> bool:
        """Whether its tasks get a connection object from a session strategy (HTTP clients, database connections)."""
        return cls.uses_http or cls.uses_database

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


def _client(params: dict[str, Any]) -> str:
    return _choice(params, "client", REQUESTS, CLIENTS)


def _client_param(client: str) -> dict[str, str]:
    """The client as recorded: only when it is not the default, so older files name the same work alike."""
    return {} if client == REQUESTS else {"client": client}


def format_seconds(seconds: float) -> str:
    """A delay as httpbin's URL wants it: plain decimal, no exponent, no trailing zeros."""
    return f"{seconds:.6f}".rstrip("0").rstrip(".") or "0"


# --- HTTP ------------------------------------------------------------------------------------------


class HttpGet(Workload):
    """A GET of one httpbin path whose whole body is read: the shape the asyncio executor can also run.

    ``client`` names the library that sends it (``iobench.measure.httpclients``); the default, requests,
    is left out of the recorded parameters, so files from before the choice existed name the same work.
    """

    client: str = REQUESTS

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
    accepted = ("delay", "jitter", "spread", "seed", "client")

    def __init__(self, distribution: DelayDistribution, seed: int = 0, client: str = REQUESTS) -> None:
        self.distribution = distribution
        self.seed = seed
        self.client = client
        self.next_delay = distribution.sampler(seed)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> HttpDelay:
        _only(params, cls)
        if "delay" not in params:
            raise UsageError("delay is required (seconds each request waits at the server)")
        distribution = DelayDistribution(params.get("jitter", "fixed"), params["delay"], params.get("spread", 0.0))
        return cls(distribution, _whole(params, "seed", 0, 0, 2**63 - 1), _client(params))

    def path(self) -> str:
        return f"/delay/{format_seconds(self.next_delay())}"

    def params(self) -> dict[str, Any]:
        mean = float(self.distribution.mean)
        if self.distribution.kind == "fixed":
            return {"delay": mean} | _client_param(self.client)
        return {"delay": mean, "jitter": self.distribution.kind, "spread": float(self.distribution.spread),
                "seed": self.seed} | _client_param(self.client)  # fmt: skip

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
    client: str = REQUESTS
    name: ClassVar[str] = "http-payload"
    accepted: ClassVar[tuple[str, ...]] = ("size", "mode", "duration", "client")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> HttpPayload:
        _only(params, cls)
        mode = _choice(params, "mode", "bytes", ("bytes", "range", "drip"))
        client = _client(params)
        if mode != "drip":
            if "duration" in params:
                raise UsageError('duration applies only to mode = "drip"')
            return cls(_whole(params, "size", 1024, 1, MAX_PAYLOAD_BYTES), mode, client=client)
        duration = _number(params, "duration", 0.1, 0, MAX_DELAY_SECONDS, low_open=True)
        size = _whole(params, "size", 10, 1, MAX_PAYLOAD_BYTES)
        if size * DRIP_SECONDS_PER_BYTE > duration + 1e-12:
            raise UsageError(f"size of a drip must be at most {duration / DRIP_SECONDS_PER_BYTE:.0f} bytes over "
                             f"{duration:g} s (httpbin sleeps per byte, and its timer stretches pauses under "
                             f"{DRIP_SECONDS_PER_BYTE * 1000:g} ms), got {size}")  # fmt: skip
        return cls(size, mode, duration, client)

    def path(self) -> str:
        if self.mode == "drip":
            return f"/drip?numbytes={self.size}&duration={format_seconds(self.duration)}&delay=0"
        return f"/{self.mode}/{self.size}"

    def check_body(self, body: bytes) -> None:
        if len(body) != self.size:
            raise IncompleteBody(f"asked for {self.size} bytes, got {len(body)}")

    def params(self) -> dict[str, Any]:
        if self.mode == "drip":
            return {"size": self.size, "mode": self.mode, "duration": self.duration} | _client_param(self.client)
        return {"size": self.size, "mode": self.mode} | _client_param(self.client)

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


# --- a database ------------------------------------------------------------------------------------

#: Rows of the lookup table: enough that lookups spread over many index pages, few enough to fill in 50 ms.
DB_ROWS = 10_000
#: The tables of the lookup-write mode, created in a schema of their own before the sweep and dropped after it.
DB_TABLES_SQL = (
    "CREATE TABLE iobench_items (id integer PRIMARY KEY, name text NOT NULL, price numeric(10, 2) NOT NULL)",
    f"INSERT INTO iobench_items SELECT i, 'item ' || i, (i % 1000) / 10.0 FROM generate_series(1, {DB_ROWS}) AS i",
    "CREATE TABLE iobench_events (id bigserial PRIMARY KEY, item_id integer NOT NULL REFERENCES iobench_items (id), "
    "at timestamptz NOT NULL DEFAULT now())",
    "ANALYZE iobench_items",
)


@dataclass(frozen=True)
class Db(Workload):
    """One task against PostgreSQL, on the connection the executor's connection strategy hands it.

    Modes:

    - ``sleep`` (the default): ``SELECT pg_sleep(delay)``. The server holds the query ``delay`` seconds
      while the client thread waits in libpq with the GIL released, as under a slow query.
    - ``lookup-write``: what a web request's database work looks like: a primary-key lookup, then a
      small write (one row inserted, committed), on tables the sweep creates in a schema of its own and
      drops at the end (``DB_TABLES_SQL``). Each of the two statements first waits ``round_trip`` seconds:
      the latency to a remote cluster, the article's case. This machine cannot delay packets (no
      ``tc netem``), so the wait is a sleep on the client thread before each statement, holding the
      connection as a real round trip would.

    Connections run in autocommit: a statement is one round trip, and the write is committed when it returns.
    """

    mode: str = "sleep"
    delay: float = 0.0
    round_trip: float = 0.0
    name: ClassVar[str] = "db"
    accepted: ClassVar[tuple[str, ...]] = ("mode", "delay", "round_trip")
    uses_http: ClassVar[bool] = False
    uses_database: ClassVar[bool] = True

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Db:
        _only(params, cls)
        mode = _choice(params, "mode", "sleep", ("sleep", "lookup-write"))
        if mode == "sleep":
            if "round_trip" in params:
                raise UsageError('round_trip applies only to mode = "lookup-write"; sleep waits delay at the server')
            return cls(mode, delay=_number(params, "delay", 0.05, 0, MAX_DELAY_SECONDS))
        if "delay" in params:
            raise UsageError('delay applies only to mode = "sleep"; lookup-write waits round_trip per statement')
        return cls(mode, round_trip=_number(params, "round_trip", 0.025, 0, MAX_DELAY_SECONDS))

    @property
    def needs_tables(self) -> bool:
        """Whether the sweep must create ``DB_TABLES_SQL`` before its batches run."""
        return self.mode == "lookup-write"

    def __call__(self, ctx: TaskContext) -> None:
        connection = ctx.session
        assert connection is not None, "the db workload needs a connection"
        if self.mode == "sleep":
            connection.execute("SELECT pg_sleep(%s)", (self.delay,)).fetchone()
            return
        key = ctx.index * 7919 % DB_ROWS + 1  # a stride prime to DB_ROWS: consecutive tasks read far apart
        time.sleep(self.round_trip)
        if connection.execute("SELECT name, price FROM iobench_items WHERE id = %s", (key,)).fetchone() is None:
            raise IncompleteBody(f"item {key} is missing from iobench_items")
        time.sleep(self.round_trip)
        connection.execute("INSERT INTO iobench_events (item_id) VALUES (%s)", (key,))

    def params(self) -> dict[str, Any]:
        if self.mode == "sleep":
            return {"mode": self.mode, "delay": self.delay}
        return {"mode": self.mode, "round_trip": self.round_trip}

    def wait_seconds(self) -> float:
        return self.delay if self.mode == "sleep" else 2 * self.round_trip


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
    workload.name: workload for workload in (HttpDelay, HttpPayload, FileIO, Cpu, Hybrid, Db, UserTask)
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
