"""The results document as typed values: the one contract between measuring and presenting.

A sweep builds these objects and saves them; every reader (analysis, report, plots, compare, docs) gets
them back from one loader and reads attributes, never raw keys. Parsing checks every field a reader
relies on, once, and names the first bad one, so a file that loads can be presented. Schema 1 files
(iobench 0.1) are read too: ``from_json`` fills in what they did not record.

Standard library only: the client subprocess, which may run under an interpreter without iobench's other
dependencies, builds ``RoundSample`` and ``Interpreter`` values too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from iobench.errors import UsageError

SCHEMA = "iobench-results"
SCHEMA_VERSION = 2
#: The executor every speedup is relative to: one task after another on one thread.
SEQUENTIAL = "sequential"
STATUSES = ("running", "complete", "interrupted", "failed")


# --- reading JSON values with one-line errors -------------------------------------------------------


def _is_number(value: Any) -> bool:
    """A JSON number arithmetic can use: not a bool, finite as a float (1e999 and 10**400 are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class _Fields:
    """One JSON object being parsed; every getter names ``where.key`` in its error."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise UsageError(f"{where} must be an object")
        self.data, self.where = data, where

    def _missing(self, key: str) -> UsageError:
        return UsageError(f"{self.where}.{key} is missing")

    def _wrong(self, key: str, wanted: str) -> UsageError:
        return UsageError(f"{self.where}.{key} must be {wanted}, got {type(self.data[key]).__name__}")

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def text(self, key: str, default: str | None = None) -> str:
        if key not in self.data or (self.data[key] is None and default is not None):
            if default is None:
                raise self._missing(key)
            return default
        if not isinstance(self.data[key], str):
            raise self._wrong(key, "str")
        return self.data[key]

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def number(self, key: str, minimum: float | None = None, above: bool = False) -> float:
        if key not in self.data:
            raise self._missing(key)
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, "int or float")
        if not _is_number(value):
            raise UsageError(f"{self.where}.{key} must be a finite number, got {value!r:.40}")
        if minimum is not None and (value < minimum or (above and value == minimum)):
            raise UsageError(f"{self.where}.{key} must be {'positive' if above else f'at least {minimum:g}'}")
        return float(value)

    def optional_number(self, key: str, minimum: float | None = None) -> float | None:
        return self.number(key, minimum) if self.has(key) else None

    def whole(self, key: str, minimum: int = 0, default: int | None = None) -> int:
        if key not in self.data or (self.data[key] is None and default is not None):
            if default is None:
                raise self._missing(key)
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "int")
        if not _is_number(value):
            raise UsageError(f"{self.where}.{key} must be a finite number, got {value!r:.40}")
        if value < minimum:
            raise UsageError(f"{self.where}.{key} must be {'not negative' if minimum == 0 else f'at least {minimum}'}")
        return value

    def optional_whole(self, key: str) -> int | None:
        return self.whole(key) if self.has(key) else None

    def flag(self, key: str, default: bool) -> bool:
        if not self.has(key):
            return default
        if not isinstance(self.data[key], bool):
            raise self._wrong(key, "true or false")
        return self.data[key]

    def table(self, key: str, required: bool = True) -> dict[str, Any]:
        if key not in self.data:
            if required:
                raise self._missing(key)
            return {}
        if not isinstance(self.data[key], dict):
            raise self._wrong(key, "dict")
        return self.data[key]

    def items(self, key: str, required: bool = True) -> list[Any]:
        if key not in self.data:
            if required:
                raise self._missing(key)
            return []
        if not isinstance(self.data[key], list):
            raise self._wrong(key, "list")
        return self.data[key]


def _drop_none(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if value is not None}


# --- the parts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpreter:
    """The Python that ran a series' client side, with the GIL state it read after its imports."""

    implementation: str
    version: str
    gil_enabled: bool = True
    free_threaded_build: bool = False
    build: str = ""
    executable: str = ""
    #: The HTTP client libraries it ran, when it has them.
    requests: str | None = None
    urllib3: str | None = None
    #: How it was asked for (``--python`` value), where the client ran, and the venv made for it.
    requested: str | None = None
    runs: str = "in-process"
    venv: str | None = None
    #: The PYTHON_GIL its client ran with ("0" forces a free-threaded build's GIL off, "1" on); None: not set.
    python_gil: str | None = None

    @property
    def label(self) -> str:
        """'CPython 3.11.7, GIL on' or 'CPython 3.13.5t, GIL off': the one way iobench names an interpreter."""
        build = "t" if self.free_threaded_build else ""
        return f"{self.implementation} {self.version}{build}, GIL {'on' if self.gil_enabled else 'off'}"

    @property
    def key(self) -> tuple[str, str, bool, bool]:
        """What makes two interpreters the same for comparing numbers: not their paths, which differ by machine."""
        return (self.implementation, self.version, self.free_threaded_build, self.gil_enabled)

    def to_json(self) -> dict[str, Any]:
        return {
            "implementation": self.implementation, "version": self.version, "gil_enabled": self.gil_enabled,
            "free_threaded_build": self.free_threaded_build, "build": self.build, "executable": self.executable,
            "requests": self.requests, "urllib3": self.urllib3, "requested": self.requested, "runs": self.runs,
            "venv": self.venv, "python_gil": self.python_gil,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, where: str) -> Interpreter:
        fields = _Fields(data, where)
        return cls(
            implementation=fields.text("implementation", "Python"),
            version=fields.text("version", "?"),
            gil_enabled=fields.flag("gil_enabled", True),
            free_threaded_build=fields.flag("free_threaded_build", False),
            build=fields.text("build", ""),
            executable=fields.text("executable", ""),
            requests=fields.optional_text("requests"),
            urllib3=fields.optional_text("urllib3"),
            requested=fields.optional_text("requested"),
            runs=fields.text("runs", "in-process"),
            venv=fields.optional_text("venv"),
            python_gil=fields.optional_text("python_gil"),
        )


@dataclass(frozen=True)
class RoundSample:
    """One timed batch: what an executor measures, and what the results file keeps per round."""

    wall_seconds: float
    cpu_seconds: float
    latencies: tuple[float, ...]
    errors: Mapping[str, int]
    connections_opened: int = 0
    pool_full_discards: int = 0
    #: The server's CPU seconds during the batch; None where it is not visible (an external server).
    server_cpu_seconds: float | None = None
    #: Which round of the sweep, and where in that round's shuffled order, the batch ran.
    round: int = 0
    position: int = 0
    #: Seconds the batch's tasks spent in all waiting for a free connection of a shared pool (db workloads on a
    #: psycopg pool); None where tasks take no connection from a pool.
    pool_wait_seconds: float | None = None
    #: How late, in seconds, each wake-up of the responsiveness probe came (see ``iobench.measure.probe``); empty
    #: when the probe was off.
    probe_lateness: tuple[float, ...] = ()
    #: Seconds from the N-th task's start to the last task's: the window in which the pool was full, over
    #: which its M − N starts give the sustained throughput. None for one wave (M ≤ N) and in older files.
    steady_seconds: float | None = None
    #: The client's CPU seconds over that window, the probe's share left out; None where the tasks ran in
    #: worker processes, for one wave, and in older files.
    steady_cpu_seconds: float | None = None

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def placed(self, round_index: int, position: int, server_cpu_seconds: float | None) -> RoundSample:
        """This sample as the sweep records it: with its place in the sweep and the server's CPU."""
        return replace(self, round=round_index, position=position, server_cpu_seconds=server_cpu_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "wall_seconds": self.wall_seconds, "cpu_seconds": self.cpu_seconds,
            "latencies": [round(latency, 6) for latency in self.latencies], "errors": dict(self.errors),
            "connections_opened": self.connections_opened, "pool_full_discards": self.pool_full_discards,
            "server_cpu_seconds": self.server_cpu_seconds, "round": self.round, "position": self.position,
        } | _drop_none({
            "pool_wait_seconds": self.pool_wait_seconds,
            "probe_lateness": [round(late, 6) for late in self.probe_lateness] or None,
            "steady_seconds": self.steady_seconds,
            "steady_cpu_seconds": self.steady_cpu_seconds,
        })  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, where: str) -> RoundSample:
        fields = _Fields(data, where)
        latencies = fields.items("latencies")
        if not all(_is_number(x) and x >= 0 for x in latencies):
            raise UsageError(f"{where}.latencies must hold only non-negative numbers")
        errors = fields.table("errors")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in errors.values()):
            raise UsageError(f"{where}.errors must map error kinds to counts")
        lateness = fields.items("probe_lateness", required=False)
        if not all(_is_number(x) and x >= 0 for x in lateness):
            raise UsageError(f"{where}.probe_lateness must hold only non-negative numbers")
        return cls(
            wall_seconds=fields.number("wall_seconds", 0, above=True),
            cpu_seconds=fields.number("cpu_seconds"),
            latencies=tuple(float(x) for x in latencies),
            errors=dict(errors),
            connections_opened=fields.whole("connections_opened", default=0),
            pool_full_discards=fields.whole("pool_full_discards", default=0),
            server_cpu_seconds=fields.optional_number("server_cpu_seconds"),
            round=fields.whole("round", default=0),
            position=fields.whole("position", default=0),
            pool_wait_seconds=fields.optional_number("pool_wait_seconds", 0),
            probe_lateness=tuple(float(x) for x in lateness),
            steady_seconds=fields.optional_number("steady_seconds", 0) or None,
            steady_cpu_seconds=fields.optional_number("steady_cpu_seconds", 0) or None,
        )


@dataclass
class Point:
    """One pool size of a series: its batch size and the batches measured there, warm-up kept apart."""

    workers: int
    tasks: int
    warmup: list[RoundSample] = field(default_factory=list)
    rounds: list[RoundSample] = field(default_factory=list)
    #: The stage of the plan that chose this pool size (``STAGES``); None in files older than adaptive sweeps.
    stage: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _drop_none({"workers": self.workers, "tasks": self.tasks, "stage": self.stage,
                           "warmup": [s.to_json() for s in self.warmup],
                           "rounds": [s.to_json() for s in self.rounds]})  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, where: str) -> Point:
        fields = _Fields(data, where)
        warmup, rounds = fields.items("warmup", required=False), fields.items("rounds")
        return cls(
            workers=fields.whole("workers", 1),
            tasks=fields.whole("tasks", 1),
            warmup=[RoundSample.from_json(s, f"{where}.warmup[{i}]") for i, s in enumerate(warmup)],
            rounds=[RoundSample.from_json(s, f"{where}.rounds[{i}]") for i, s in enumerate(rounds)],
            stage=fields.optional_text("stage"),
        )


@dataclass
class Series:
    """One curve: a workload with its parameters, run by one executor and session strategy, under one interpreter."""

    id: str
    label: str
    workload: str
    params: dict[str, Any]
    executor: str
    session_strategy: str
    interpreter: Interpreter
    #: Whether the workers share one interpreter lock when it is on (threads, an event loop), or not (processes).
    workers_share_gil: bool = True
    #: The wait d each task spends outside this process, when the workload has one: the ideal bound is made of it.
    wait_seconds: float | None = None
    #: The most any number of workers can speed this series up when they share a GIL that is on (cpu: 1).
    speedup_bound: float | None = None
    points: list[Point] = field(default_factory=list)
    #: ``sys.setswitchinterval`` in the client while it ran, when the sweep set it; None: the interpreter's default.
    switch_interval: float | None = None
    #: The period the responsiveness probe wanted to wake at (``iobench.measure.probe``); None when it was off.
    probe_period: float | None = None
    #: Which code ran it in an A/B run (``run --against``): "A" (the ref) or "B" (the working tree); else None.
    variant: str | None = None

    @property
    def is_baseline(self) -> bool:
        return self.executor == SEQUENTIAL

    @property
    def work_key(self) -> tuple[object, ...]:
        """The same work under the same interpreter and code variant: what a series shares with its sequential
        baseline (in an A/B run each variant has its own).

        A switch interval the sweep set is part of it (the sequential loop under 1 ms is another baseline than
        under the default); the default adds nothing, so files that never set one keep their keys.
        """
        key = (self.workload, json.dumps(self.params, sort_keys=True), self.interpreter.key, self.variant)
        return key if self.switch_interval is None else (*key, self.switch_interval)

    @property
    def key(self) -> tuple[object, ...]:
        """What makes two series the same experiment, whatever their ids, labels or order in a file."""
        return (*self.work_key, self.executor, self.session_strategy)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "label": self.label, "workload": self.workload, "params": self.params,
            "executor": self.executor, "session_strategy": self.session_strategy,
            "interpreter": self.interpreter.to_json(), "workers_share_gil": self.workers_share_gil,
            "wait_seconds": self.wait_seconds, "speedup_bound": self.speedup_bound,
            "points": [point.to_json() for point in self.points],
        } | _drop_none({"switch_interval": self.switch_interval, "probe_period": self.probe_period,
                        "variant": self.variant or None})  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, where: str, harness: Interpreter, version: int) -> Series:
        """A series; schema 1 did not record the interpreter of a single-interpreter run (the harness's)."""
        fields = _Fields(data, where)
        label = fields.text("label")
        executor = fields.text("executor")
        if version == 1:
            label = label.split(" · ")[0]  # schema 1 appended the interpreter's name to matrix labels
        interpreter = Interpreter.from_json(data["interpreter"], f"{where}.interpreter") if fields.has(
            "interpreter") else harness  # fmt: skip
        return cls(
            id=fields.text("id"),
            label=label,
            workload=fields.text("workload"),
            params=fields.table("params"),
            executor=executor,
            session_strategy=fields.text("session_strategy", "none"),
            interpreter=interpreter,
            workers_share_gil=fields.flag("workers_share_gil", executor != "processes"),
            wait_seconds=fields.optional_number("wait_seconds"),
            speedup_bound=fields.optional_number("speedup_bound"),
            points=[Point.from_json(p, f"{where}.points[{i}]") for i, p in enumerate(fields.items("points"))],
            switch_interval=fields.number("switch_interval", 0, above=True) if fields.has("switch_interval") else None,
            probe_period=fields.number("probe_period", 0, above=True) if fields.has("probe_period") else None,
            variant=fields.optional_text("variant"),
        )


@dataclass(frozen=True)
class Environment:
    """The machine and software a run measured on: what could explain a difference between two runs."""

    python: Interpreter
    cpu_count: int | None = None
    cpu_model: str = ""
    os: str = ""
    packages: Mapping[str, str | None] = field(default_factory=dict)
    git_commit: str | None = None
    #: That commit's committer date (ISO 8601): ``iobench history`` orders runs by it.
    git_commit_date: str | None = None
    #: Interpreters ``--python`` named that could not run the client, each with its reason.
    interpreters_skipped: tuple[Mapping[str, str], ...] = ()

    @property
    def label(self) -> str:
        """'CPython 3.11.7, GIL on, 2 CPUs'."""
        return f"{self.python.label}, {self.cpu_count or '?'} CPUs"

    def to_json(self) -> dict[str, Any]:
        return {"python": self.python.to_json(), "cpu_count": self.cpu_count, "cpu_model": self.cpu_model,
                "os": self.os, "packages": dict(self.packages), "git_commit": self.git_commit,
                "git_commit_date": self.git_commit_date,
                "interpreters_skipped": [dict(item) for item in self.interpreters_skipped]}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, where: str) -> Environment:
        fields = _Fields(data, where)
        skipped = fields.items("interpreters_skipped", required=False)
        if not all(isinstance(item, dict) and all(isinstance(v, str) for v in item.values()) for item in skipped):
            raise UsageError(f"{where}.interpreters_skipped must list objects of strings")
        packages = fields.table("packages", required=False)
        return cls(
            python=Interpreter.from_json(fields.table("python", required=False), f"{where}.python"),
            cpu_count=fields.whole("cpu_count", 1) if fields.has("cpu_count") else None,
            cpu_model=fields.text("cpu_model", ""),
            os=fields.text("os", ""),
            packages={str(name): (value if isinstance(value, str) else None) for name, value in packages.items()},
            git_commit=fields.optional_text("git_commit"),
            git_commit_date=fields.optional_text("git_commit_date"),
            interpreters_skipped=tuple(skipped),
        )


@dataclass(frozen=True)
class Preflight:
    """The capacity check: ``concurrency`` requests of ``delay`` seconds at once took ``elapsed`` seconds."""

    concurrency: int
    delay: float
    elapsed: float

    @property
    def effective_concurrency(self) -> float:
        """How many requests the server held open at once, judged by total time."""
        return self.concurrency * self.delay / self.elapsed if self.elapsed > 0 else math.inf

    @property
    def allowance(self) -> float:
        """The longest the check may take for a server that holds every request at once.

        Twice the delay plus a per-request client cost: generous enough for a busy 2-core machine, far
        below what a server that serializes even half the requests needs.
        """
        return 2 * self.delay + 0.5 + 0.01 * self.concurrency

    @property
    def queued(self) -> bool:
        """True when the server made requests wait for each other: it holds fewer than ``concurrency`` at once."""
        return self.elapsed > self.allowance

    def to_json(self) -> dict[str, Any]:
        return {"concurrency": self.concurrency, "delay": self.delay, "elapsed": self.elapsed}

    @classmethod
    def from_json(cls, data: Any, where: str) -> Preflight:
        fields = _Fields(data, where)
        return cls(fields.whole("concurrency", 1), fields.number("delay", 0), fields.number("elapsed", 0))


@dataclass(frozen=True)
class WrkCeiling:
    """What the server delivered to wrk, a client of negligible CPU cost, at one delay."""

    delay: float
    connections: int
    requests_per_second: float
    threads: int = 1
    seconds: float = 0.0
    non_2xx: int = 0
    socket_errors: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"delay": self.delay, "connections": self.connections, "requests_per_second": self.requests_per_second,
                "threads": self.threads, "seconds": self.seconds, "non_2xx": self.non_2xx,
                "socket_errors": self.socket_errors}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, where: str) -> WrkCeiling:
        fields = _Fields(data, where)
        return cls(fields.number("delay", 0), fields.whole("connections"), fields.number("requests_per_second", 0),
                   fields.whole("threads", default=1), fields.number("seconds", 0) if fields.has("seconds") else 0.0,
                   fields.whole("non_2xx", default=0), fields.whole("socket_errors", default=0))  # fmt: skip


@dataclass(frozen=True)
class ServerInfo:
    """The server a run measured against: the local httpbin iobench started, an external one, or none."""

    kind: str = "none"
    url: str | None = None
    startup_seconds: float | None = None
    #: How the local server was run (gunicorn's worker class and its limits); None for other servers.
    worker_class: str | None = None
    worker_connections: int | None = None
    keep_alive_seconds: float | None = None
    processes: int | None = None
    #: The threaded (gthread) worker's threads: the requests it can serve at once. None for gevent.
    threads: int | None = None
    preflight: Preflight | None = None
    wrk: tuple[WrkCeiling, ...] = ()
    #: A database server's version ('18.6') and connection limit; None for HTTP servers.
    version: str | None = None
    max_connections: int | None = None

    def with_checks(self, preflight: Preflight | None = None, wrk: tuple[WrkCeiling, ...] = ()) -> ServerInfo:
        return replace(self, preflight=preflight or self.preflight, wrk=wrk or self.wrk)

    def wrk_at(self, delay: float | None) -> WrkCeiling | None:
        """The wrk measurement at this delay, if the sweep made one."""
        if delay is None:
            return None
        return next((entry for entry in self.wrk if abs(entry.delay - delay) < 1e-9), None)

    def to_json(self) -> dict[str, Any]:
        record = {"kind": self.kind, "url": self.url, "startup_seconds": self.startup_seconds,
                  "worker_class": self.worker_class, "worker_connections": self.worker_connections,
                  "keep_alive_seconds": self.keep_alive_seconds, "processes": self.processes, "threads": self.threads,
                  "preflight": self.preflight.to_json() if self.preflight else None,
                  "wrk": [entry.to_json() for entry in self.wrk] or None, "version": self.version,
                  "max_connections": self.max_connections}  # fmt: skip
        return _drop_none(record)

    @classmethod
    def from_json(cls, data: Any, where: str) -> ServerInfo:
        fields = _Fields(data, where)
        startup = fields.data.get(
            "startup_seconds"
        )  # schema 1 wrote NaN-free floats; a server that never started: none
        return cls(
            kind=fields.text("kind", "none"),
            url=fields.optional_text("url"),
            startup_seconds=fields.number("startup_seconds") if _is_number(startup) else None,
            worker_class=fields.optional_text("worker_class"),
            worker_connections=fields.optional_whole("worker_connections"),
            keep_alive_seconds=fields.optional_number("keep_alive_seconds"),
            processes=fields.optional_whole("processes"),
            threads=fields.optional_whole("threads"),
            preflight=Preflight.from_json(data["preflight"], f"{where}.preflight") if fields.has("preflight") else None,
            wrk=tuple(WrkCeiling.from_json(e, f"{where}.wrk[{i}]") for i, e in enumerate(fields.items("wrk", False))),
            version=fields.optional_text("version"),
            max_connections=fields.optional_whole("max_connections"),
        )


@dataclass(frozen=True)
class Variant:
    """One side of an A/B run (``run --against REF``): which code its client imported.

    A is the ref checked out into a temporary worktree, B the working tree (uncommitted changes included).
    ``client`` says whose client side ran the batches: the tree's own iobench client ("tree", in iobench's
    own repository), or the harness's ("harness": the tree has none, or none this harness can talk to).
    """

    name: str
    ref: str
    commit: str | None = None
    commit_date: str | None = None
    #: The working tree had uncommitted changes (B only): its code is not exactly ``commit``.
    dirty: bool = False
    client: str = "harness"

    @property
    def label(self) -> str:
        """'A: HEAD~1 (3f2a1bc)' or 'B: working tree (9d8e7f6 + changes)'."""
        commit = (self.commit or "?")[:7] + (" + changes" if self.dirty else "")
        return f"{self.name}: {self.ref} ({commit})"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ref": self.ref, "commit": self.commit, "commit_date": self.commit_date,
                "dirty": self.dirty, "client": self.client}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, where: str) -> Variant:
        fields = _Fields(data, where)
        return cls(fields.text("name"), fields.text("ref"), fields.optional_text("commit"),
                   fields.optional_text("commit_date"), fields.flag("dirty", False),
                   fields.text("client", "harness"))  # fmt: skip


#: Why each pool size was measured: a fixed list, or one of the stages of an adaptive search.
STAGES = ("fixed", "predict", "double", "search", "repeat")


@dataclass(frozen=True)
class Prediction:
    """What one series' service demands, measured before the main sweep, said about where it saturates.

    N* ≈ (d + D) / D_max, where the wait-bound asymptote N / (d + D) meets the ceiling 1 / D_max; a server
    that holds only ``server_concurrency`` requests at once lowers both to about that many.
    """

    series: str
    workers: float | None
    ceiling: float | None
    client_cpu: float
    server_cpu: float | None = None
    wait: float | None = None
    client_cores: int = 1
    server_concurrency: float | None = None
    #: What the prediction says will limit throughput: "client", "server", "machine" (the cores a GIL-free
    #: client shares with a local server) or "server-concurrency".
    limiting: str = "client"
    #: The cores the client shares with a local server (``ServiceDemands.machine_cores``); None: not counted.
    machine_cores: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"series": self.series, "workers": self.workers, "ceiling": self.ceiling, "client_cpu": self.client_cpu,
                "server_cpu": self.server_cpu, "wait": self.wait, "client_cores": self.client_cores,
                "server_concurrency": self.server_concurrency, "limiting": self.limiting,
                "machine_cores": self.machine_cores}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, where: str) -> Prediction:
        fields = _Fields(data, where)

        def positive(key: str) -> float | None:
            return fields.number(key, 0, above=True) if fields.has(key) else None

        return cls(
            series=fields.text("series"),
            workers=positive("workers"),
            ceiling=positive("ceiling"),
            client_cpu=fields.number("client_cpu", 0),
            server_cpu=fields.optional_number("server_cpu", 0),
            wait=fields.optional_number("wait", 0),
            client_cores=fields.whole("client_cores", 1, default=1),
            server_concurrency=positive("server_concurrency"),
            limiting=fields.text("limiting", "client"),
            machine_cores=fields.whole("machine_cores", 1) if fields.has("machine_cores") else None,
        )


@dataclass(frozen=True)
class StageRecord:
    """One stage of a plan: the pool sizes it measured for each series, why, and when."""

    name: str
    workers: Mapping[str, tuple[int, ...]]
    reason: str = ""
    #: Seconds since the sweep began when the stage started, and how long it took.
    started: float = 0.0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "workers": {key: list(value) for key, value in self.workers.items()},
                "reason": self.reason, "started": round(self.started, 3),
                "seconds": round(self.seconds, 3)}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, where: str) -> StageRecord:
        fields = _Fields(data, where)
        workers = fields.table("workers")
        for key, sizes in workers.items():
            if not isinstance(sizes, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                                                      for n in sizes):  # fmt: skip
                raise UsageError(f"{where}.workers.{key} must list pool sizes")
        return cls(fields.text("name"), {key: tuple(sizes) for key, sizes in workers.items()},
                   fields.text("reason", ""), fields.number("started", 0) if fields.has("started") else 0.0,
                   fields.number("seconds", 0) if fields.has("seconds") else 0.0)  # fmt: skip


@dataclass
class Plan:
    """How the pool sizes of a run were chosen: a fixed list, or an adaptive search for the saturation point.

    An auto plan records its settings, the prediction made before the main sweep, every stage, and why
    each series' search ended (``outcomes``: "converged", "budget", "max-workers", "flat", "resolution" or
    "stopped"), so a report can say "at least N = 256; budget reached" without re-running anything.
    """

    kind: str = "fixed"
    tolerance: float | None = None
    budget_seconds: float | None = None
    max_workers: int | None = None
    predictions: list[Prediction] = field(default_factory=list)
    stages: list[StageRecord] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)

    @property
    def auto(self) -> bool:
        return self.kind == "auto"

    def prediction_for(self, series_id: str) -> Prediction | None:
        return next((item for item in self.predictions if item.series == series_id), None)

    def to_json(self) -> dict[str, Any]:
        return _drop_none({
            "kind": self.kind, "tolerance": self.tolerance, "budget_seconds": self.budget_seconds,
            "max_workers": self.max_workers, "predictions": [item.to_json() for item in self.predictions],
            "stages": [stage.to_json() for stage in self.stages], "outcomes": dict(self.outcomes),
        })  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, where: str) -> Plan:
        fields = _Fields(data, where)
        outcomes = fields.table("outcomes", required=False)
        if not all(isinstance(value, str) for value in outcomes.values()):
            raise UsageError(f"{where}.outcomes must map series ids to reasons")
        return cls(
            kind=fields.text("kind", "fixed"),
            tolerance=fields.optional_number("tolerance", 0),
            budget_seconds=fields.optional_number("budget_seconds", 0),
            max_workers=fields.optional_whole("max_workers"),
            predictions=[Prediction.from_json(item, f"{where}.predictions[{i}]")
                         for i, item in enumerate(fields.items("predictions", required=False))],
            stages=[StageRecord.from_json(item, f"{where}.stages[{i}]")
                    for i, item in enumerate(fields.items("stages", required=False))],
            outcomes=dict(outcomes),
        )  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Results:
    """One run: the plan it followed, where it ran, against which server, and every batch it measured."""

    #: The sweep's configuration as recorded (``SweepConfig.to_dict``), so the run can be repeated.
    config: dict[str, Any]
    environment: Environment
    server: ServerInfo = field(default_factory=ServerInfo)
    series: list[Series] = field(default_factory=list)
    status: str = "running"
    status_detail: str = ""
    created_utc: str = field(default_factory=_now)
    #: The two sides of an A/B run, A first; empty for any other run.
    variants: tuple[Variant, ...] = ()
    #: How the pool sizes were chosen; None in files older than adaptive sweeps (a fixed list).
    plan: Plan | None = None
    #: The PostgreSQL server of the db workloads, when the sweep had any; ``server`` is the HTTP one.
    database: ServerInfo | None = None

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    def baseline_of(self, series: Series) -> Series | None:
        """The sequential loop over the same work under the same interpreter: what ``series``' speedup is against.

        The one rule for it: every reader (analysis, compare, claims, plots) gets the baseline here.
        """
        return next((c for c in self.series if c.is_baseline and c.work_key == series.work_key), None)

    def label_of(self, series: Series) -> str:
        """The series' label, naming its interpreter when that is news (in a matrix, or not the harness's own)
        and its side in an A/B run."""
        others = {s.interpreter.key for s in self.series} | {self.environment.python.key}
        label = f"{series.label} · {series.interpreter.label}" if len(others) > 1 else series.label
        if series.variant is None:
            return label
        variant = next((v for v in self.variants if v.name == series.variant), None)
        return f"{label} · {variant.label if variant else series.variant}"

    def variant_named(self, name: str) -> Variant | None:
        return next((variant for variant in self.variants if variant.name == name), None)

    def side(self, name: str) -> Results:
        """One side of an A/B run as a document of its own, its series no longer tagged: what ``compare`` and
        ``history`` read, so the two sides of one file compare exactly like two files."""
        if self.variant_named(name) is None:
            raise UsageError(f"this results file has no variant {name!r} (it is not an A/B run of --against)")
        series = [replace(s, variant=None) for s in self.series if s.variant == name]
        return replace(self, series=series, variants=())

    @property
    def interpreters(self) -> list[Interpreter]:
        """The distinct interpreters whose clients ran this document's series, in order of appearance."""
        return list({series.interpreter.key: series.interpreter for series in self.series}.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "created_utc": self.created_utc,
            "status": self.status, "status_detail": self.status_detail, "config": self.config,
            "environment": self.environment.to_json(), "server": self.server.to_json(),
            "series": [series.to_json() for series in self.series],
        } | _drop_none({"variants": [variant.to_json() for variant in self.variants] or None,
                        "plan": self.plan.to_json() if self.plan is not None else None,
                        "database": self.database.to_json() if self.database else None})  # fmt: skip

    @classmethod
    def from_json(cls, data: Any) -> Results:
        """Validate a parsed document of schema 1 or 2 and build it; the first bad field is a one-line UsageError."""
        if not isinstance(data, dict):
            raise UsageError("results file must hold a JSON object")
        if data.get("schema") != SCHEMA:
            raise UsageError(f"not an iobench results file (schema is {data.get('schema')!r})")
        fields = _Fields(data, "results")
        version = fields.whole("schema_version", 0)
        if version < 1:
            raise UsageError(f"schema_version {version} is not a valid version")
        if version > SCHEMA_VERSION:
            raise UsageError(f"schema_version {version} is newer than this iobench reads ({SCHEMA_VERSION}); upgrade")
        status, status_detail = fields.text("status"), fields.text("status_detail", "")
        config = fields.table("config")
        environment = Environment.from_json(fields.table("environment"), "results.environment")
        server = ServerInfo.from_json(fields.table("server"), "results.server")
        series = [Series.from_json(s, f"series[{i}]", environment.python, version)
                  for i, s in enumerate(fields.items("series"))]  # fmt: skip
        created = fields.text("created_utc", "")
        variants = tuple(Variant.from_json(v, f"results.variants[{i}]")
                         for i, v in enumerate(fields.items("variants", required=False)))  # fmt: skip
        plan = Plan.from_json(data["plan"], "results.plan") if fields.has("plan") else None
        database = ServerInfo.from_json(data["database"], "results.database") if fields.has("database") else None
        return cls(config, environment, server, series, status, status_detail, created, variants, plan, database)
