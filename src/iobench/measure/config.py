"""What a sweep is asked to do, validated in full before any server starts or any clock runs.

A sweep is a list of series (workload x executor x session strategy) measured at every pool size. The
sequential loop of each distinct workload is added automatically: it is the baseline every speedup is
relative to. A series may run under a switch interval of its own (``sys.setswitchinterval``), and
then so does its baseline.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any
from urllib.parse import SplitResult, urlsplit

from iobench.analysis.search import MIN_SEARCH_ROUNDS, START, SearchSettings
from iobench.defaults import DEFAULTS
from iobench.errors import UsageError
from iobench.measure.executors import Executor, executor_named
from iobench.measure.interpreters import GIL_SETTINGS
from iobench.measure.workloads import WORKLOADS, Workload, make_workload
from iobench.results.model import SEQUENTIAL

MAX_WORKERS = 1024
#: The longest switch interval a sweep may set: beyond a second no thread would be interactive at all.
MAX_SWITCH_INTERVAL = 1.0
#: ``workers = "auto"``: search for the saturation point instead of measuring a fixed list.
AUTO = "auto"


@dataclass(frozen=True)
class SeriesSpec:
    """One curve on the plot: a workload with its parameters, run by one executor with one session strategy.

    ``params`` is replaced by the workload's complete parameters (defaults filled in), and an unset
    ``session_strategy`` by the executor's default, so the results file records exactly what ran.
    ``name`` replaces the generated label; ``workers`` replaces the sweep's pool sizes for this series;
    ``switch_interval`` (seconds) is set with ``sys.setswitchinterval`` while its batches run.
    """

    workload: str = "http-delay"
    params: dict[str, Any] = field(default_factory=lambda: {"delay": DEFAULTS["delay"].full})
    executor: str = DEFAULTS["executor"].full
    session_strategy: str | None = None
    name: str = ""
    workers: tuple[int, ...] | None = None
    switch_interval: float | None = None

    def __post_init__(self) -> None:
        for name, kind in (("workload", str), ("params", dict), ("executor", str)):
            if not isinstance(getattr(self, name), kind):
                raise UsageError(f"series {name} must be a {kind.__name__}, got {getattr(self, name)!r}")
        executor = executor_named(self.executor)
        workload = self.build_workload()  # validates the parameters now, not halfway through a sweep
        object.__setattr__(self, "params", workload.params())
        if self.session_strategy is None:
            object.__setattr__(self, "session_strategy", executor.default_session_strategy(workload.connects()))
        executor.check(workload, str(self.session_strategy))
        if not isinstance(self.name, str):
            raise UsageError(f"name must be a string, got {self.name!r}")
        if self.workers is not None:
            if not executor.takes_pool_sizes:
                raise UsageError(f"workers does not apply to the {self.executor} executor (it always has one)")
            object.__setattr__(self, "workers", check_pool_sizes(self.workers))
        if self.switch_interval is not None:
            object.__setattr__(self, "switch_interval", check_switch_interval(self.switch_interval))

    def build_workload(self) -> Workload:
        return make_workload(self.workload, self.params)

    @property
    def registered_executor(self) -> Executor:
        """The registered executor this series runs on."""
        return executor_named(self.executor)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        shown = ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                          for key, value in self.params.items())  # fmt: skip
        label = f"{self.workload}({shown}) / {self.executor}"
        if self.session_strategy != self.registered_executor.default_session_strategy(
            WORKLOADS[self.workload].connects()
        ):
            label += f" / {self.session_strategy}"
        if self.switch_interval is not None:
            label += f" / switch {self.switch_interval * 1000:g} ms"
        return label

    def baseline(self) -> SeriesSpec:
        """The sequential loop over the same work, under the same switch interval: what the speedup is against."""
        return SeriesSpec(self.workload, dict(self.params), SEQUENTIAL, switch_interval=self.switch_interval)

    def speedup_bound(self, gil_enabled: bool, cores: int | None = None) -> float | None:
        """The most any pool can speed this series up (cpu: 1, hybrid: (c + d) / c per core), or None.

        The workload's bound holds for one core. Workers that share one process's GIL get one core while
        the interpreter that runs them (the client's, which in an interpreter matrix is not the harness's)
        has it enabled; with the GIL off, or in worker processes, they can use all ``cores``, which
        multiplies the bound (cpu: k, hybrid: k (c + d) / c). Unknown ``cores`` leave that case unbounded.
        """
        executor = self.registered_executor
        if not executor.takes_pool_sizes:
            return None
        one_core = self.build_workload().gil_speedup_bound()
        if one_core is None:
            return None
        if executor.shares_gil and gil_enabled:
            return one_core
        return one_core * cores if cores else None


@dataclass(frozen=True)
class SweepConfig:
    """The experiment plan: series x pool sizes x rounds.

    Each point runs ``waves * N`` tasks on N workers (``waves`` tasks for the sequential loop), so every
    point's ideal time is the same ``waves * d`` and M is a multiple of N: the ideal speedup is exactly
    N, with no rounding step to mistake for saturation.

    ``workers`` is a list of pool sizes, or ``"auto"``: the pool sizes are chosen as the sweep goes, by the
    search ``analysis.search`` describes, within the bounds of ``search``.
    """

    series: tuple[SeriesSpec, ...] = (SeriesSpec(),)
    workers: tuple[int, ...] | str = DEFAULTS["workers"].full
    rounds: int = DEFAULTS["rounds"].full
    waves: int = DEFAULTS["waves"].full
    warmup_rounds: int = DEFAULTS["warmup_rounds"].full
    seed: int = DEFAULTS["seed"].full
    target: str | None = None
    timeout: float = DEFAULTS["timeout"].full
    #: Interpreters to run the client side under (``--python``); empty means this process's own Python.
    pythons: tuple[str, ...] = ()
    #: The GIL states to run each free-threaded interpreter in (``--gil``, a key of ``GIL_SETTINGS``).
    gil: str = DEFAULTS["gil"].full
    #: The bounds of an auto search (tolerance, time budget, largest pool); unused by a fixed list.
    search: SearchSettings = field(default_factory=SearchSettings)
    #: A PostgreSQL server for the db workloads (``--db-url``) instead of the one the sweep starts.
    db_url: str | None = None
    #: The switch interval of every series that sets none itself (``--switch-interval``); None: the default.
    switch_interval: float | None = None
    #: Whether the responsiveness probe runs beside every batch (``iobench.measure.probe``).
    probe: bool = DEFAULTS["probe"].full

    def __post_init__(self) -> None:
        if not self.series:
            raise UsageError("a sweep needs at least one series")
        if not isinstance(self.search, SearchSettings):
            raise UsageError(f"search must be a SearchSettings, got {type(self.search).__name__}")
        if self.workers != AUTO:
            object.__setattr__(self, "workers", check_pool_sizes(self.workers))
        elif any(spec.workers is not None for spec in self.series):
            raise UsageError("workers = auto searches every series' pool sizes; a series cannot list its own")
        elif self.search.max_workers > MAX_WORKERS:
            raise UsageError(f"max_workers must be at most {MAX_WORKERS}, got {self.search.max_workers}")
        elif isinstance(self.rounds, int) and 1 <= self.rounds < MIN_SEARCH_ROUNDS:
            raise UsageError(f"workers = auto needs at least {MIN_SEARCH_ROUNDS} rounds per point: with fewer, no "
                             f"curve can be shown still rising at the 5% level; got {self.rounds}")  # fmt: skip
        _check_int("rounds", self.rounds, 1)
        _check_int("waves", self.waves, 1)
        _check_int("warmup_rounds", self.warmup_rounds, 0)
        _check_int("seed", self.seed, 0)
        if self.target is not None:
            object.__setattr__(self, "target", validate_target(self.target))
        if (isinstance(self.timeout, bool) or not isinstance(self.timeout, int | float)
                or not 0 < self.timeout < math.inf):  # fmt: skip
            raise UsageError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if not all(isinstance(python, str) and python.strip() for python in self.pythons):
            raise UsageError(f"pythons must name interpreters (a command or a path), got {list(self.pythons)!r}")
        if self.gil not in GIL_SETTINGS:
            raise UsageError(f"gil must be one of {', '.join(GIL_SETTINGS)}, got {self.gil!r}")
        if self.db_url is not None:
            object.__setattr__(self, "db_url", validate_db_url(self.db_url))
        if not isinstance(self.probe, bool):
            raise UsageError(f"probe must be true or false, got {self.probe!r}")
        if self.switch_interval is not None:
            interval = check_switch_interval(self.switch_interval)
            object.__setattr__(self, "switch_interval", interval)
            object.__setattr__(self, "series", tuple(spec if spec.switch_interval is not None
                                                     else replace(spec, switch_interval=interval)
                                                     for spec in self.series))  # fmt: skip

    def all_series(self) -> list[SeriesSpec]:
        """The requested series with the sequential baseline of each distinct workload in front."""
        ordered: list[SeriesSpec] = []
        for spec in self.series:
            for candidate in (spec.baseline(), spec):
                if candidate not in ordered:
                    ordered.append(candidate)
        return ordered

    @property
    def auto(self) -> bool:
        """True when the pool sizes are searched for, not listed."""
        return self.workers == AUTO

    def pool_sizes(self, spec: SeriesSpec) -> tuple[int, ...]:
        """The pool sizes measured for ``spec``: its list, the sweep's, or an auto search's first stage."""
        if not spec.registered_executor.takes_pool_sizes:
            return (1,)
        if self.auto:
            return START
        return tuple(sorted(spec.workers or self.workers))

    @property
    def max_workers(self) -> int:
        """The largest pool of any series (an auto search's cap): what the server must be able to hold."""
        if self.auto:
            return self.search.max_workers
        return max(max(self.pool_sizes(spec)) for spec in self.all_series())

    @property
    def max_database_workers(self) -> int:
        """The largest pool of the db series (an auto search's cap): the connections the database must hold at once
        (0 without any)."""
        pools = [max(self.pool_sizes(spec)) for spec in self.all_series() if WORKLOADS[spec.workload].uses_database]
        if pools and self.auto:
            return self.search.max_workers
        return max(pools, default=0)

    def tasks_per_batch(self, spec: SeriesSpec, workers: int) -> int:
        """M = waves x N on a pool; the sequential loop runs ``waves`` tasks, so each point's ideal time is equal."""
        return self.waves * workers if spec.registered_executor.takes_pool_sizes else self.waves

    @property
    def uses_http(self) -> bool:
        return any(WORKLOADS[spec.workload].uses_http for spec in self.series)

    @property
    def uses_database(self) -> bool:
        return any(WORKLOADS[spec.workload].uses_database for spec in self.series)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists, as they come back from a results file."""
        data = asdict(self)
        data["series"] = list(data["series"])
        data["workers"] = self.workers if self.auto else list(self.workers)
        data["pythons"] = list(data["pythons"])
        for spec in data["series"]:
            if spec["workers"] is not None:
                spec["workers"] = list(spec["workers"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepConfig:
        """Rebuild a configuration recorded in a results file (so a run can be repeated exactly)."""
        if not isinstance(data, dict):
            raise UsageError(f"a sweep configuration must be a table of fields, got {type(data).__name__}")
        fields = dict(data)
        for name in ("series", "workers"):
            if not isinstance(fields.get(name, []), list | tuple) and fields.get(name) != AUTO:
                raise UsageError(f"{name} must be a list, got {fields[name]!r}")
        if not all(isinstance(spec, dict) for spec in fields.get("series", ())):
            raise UsageError("each entry of series must be a table of workload, params and executor")
        if not isinstance(fields.get("search", {}), dict):
            raise UsageError(f"search must be a table of tolerance, budget_seconds and max_workers, got "
                             f"{fields['search']!r}")  # fmt: skip
        _only_known_fields(cls, fields, "sweep")
        for spec in fields.get("series", ()):
            _only_known_fields(SeriesSpec, spec, "series")
        _only_known_fields(SearchSettings, fields.get("search", {}), "search")
        try:
            fields["series"] = tuple(SeriesSpec(**spec) for spec in fields.get("series", ()))
            if fields.get("workers") != AUTO:
                fields["workers"] = tuple(fields.get("workers", ()))
            fields["pythons"] = tuple(fields.get("pythons", ()))
            fields["search"] = SearchSettings(**fields.get("search", {}))
            return cls(**fields)
        except TypeError as exc:
            raise UsageError(f"bad sweep configuration: {exc}") from None


def _only_known_fields(kind: type, given: dict[str, Any], what: str) -> None:
    """Name the first unknown field (repr'd: a field name from a file may hold any character)."""
    unknown = sorted(set(given) - {field.name for field in dataclass_fields(kind)}, key=str)
    if unknown:
        raise UsageError(f"unknown {what} field {unknown[0]!r}")


def _split_url(url: object, flag: str) -> SplitResult:
    """``url`` split into its parts, its port parsed; anything else is a UsageError that does not echo it."""
    if not isinstance(url, str):
        raise UsageError(f"{flag} must be a URL string, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what raises for a bad one
    except ValueError as exc:
        raise UsageError(f"{flag} is not a valid URL ({exc})") from None
    return parts


def validate_target(url: str) -> str:
    """Accept only an http(s) URL with a host; strip a trailing slash so paths join cleanly.

    Paths such as /delay/0.1 are appended to it, so a query or fragment would swallow them: refused.
    Credentials are accepted (requests sends them as basic auth) and never echoed back: errors name
    the part that is wrong, not the URL.
    """
    parts = _split_url(url, "--target")
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"--target must be an http:// or https:// URL, got scheme {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise UsageError("--target must name a host, as in http://127.0.0.1:8000")
    if parts.query or parts.fragment:
        raise UsageError("--target must not have a ?query or #fragment: iobench appends paths like /delay/0.1")
    return url.rstrip("/")


def validate_db_url(url: object) -> str:
    """Accept only a ``postgresql://`` (or ``postgres://``) URL; errors never echo it, since it may hold a password.

    Anything libpq understands may follow the scheme (``?host=/socket/dir``, ``sslmode``...); whether the
    server is there is for the sweep to find out, before it measures anything.
    """
    parts = _split_url(url, "--db-url")
    if parts.scheme not in ("postgresql", "postgres"):
        raise UsageError(f"--db-url must be a postgresql:// URL, got scheme {parts.scheme or 'none'!r}")
    return url


def check_switch_interval(value: object) -> float:
    """A switch interval in seconds: above 0 and at most ``MAX_SWITCH_INTERVAL``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_SWITCH_INTERVAL:
        raise UsageError(f"switch_interval must be seconds above 0 and at most {MAX_SWITCH_INTERVAL:g}, got {value!r}")
    return float(value)


def check_pool_sizes(values: object, name: str = "workers") -> tuple[int, ...]:
    """A non-empty list of distinct pool sizes from 1 to MAX_WORKERS, as a tuple."""
    if isinstance(values, str) or not isinstance(values, list | tuple) or not values:
        raise UsageError(f"{name} must list at least one pool size, got {values!r}")
    for count in values:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_WORKERS:
            raise UsageError(f"{name} must be whole numbers from 1 to {MAX_WORKERS}, got {count!r}")
    if len(set(values)) != len(values):
        raise UsageError(f"{name} lists a pool size twice: {list(values)}")
    return tuple(values)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def parse_workers(text: str) -> tuple[int, ...] | str:
    """'1,2,4,8' -> (1, 2, 4, 8), 'auto' -> 'auto', as the --workers flag takes it; an empty or non-numeric
    entry is refused."""
    if text.strip().lower() == AUTO:
        return AUTO
    parts = [part.strip() for part in text.split(",")]
    if "" in parts:
        raise UsageError(f"--workers has an empty entry in {text!r}; list pool sizes like 1,2,4,8")
    if not all(part.isdigit() for part in parts):
        raise UsageError(f"--workers must be auto or comma-separated whole numbers, like 1,2,4,8; got {text!r}")
    return check_pool_sizes(tuple(int(part) for part in parts), "--workers")
