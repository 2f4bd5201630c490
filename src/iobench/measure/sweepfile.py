"""A sweep described in a TOML file: several series measured in one go against one server.

Layout (every key but ``series`` optional; see ``bench/*.toml`` for worked examples)::

    workers = [1, 2, 4, 8, 16, 32]      # pool sizes of every series (default 1, 2, 4, ..., 128), or "auto"
    rounds = 5                          # measured rounds per point
    waves = 4                           # tasks per worker in a batch: M = waves x N
    warmup_rounds = 1
    seed = 0                            # order of the points in each round
    timeout = 30.0                      # per-task timeout, seconds
    target = "http://host:port"         # an external httpbin instead of the local one
    db_url = "postgresql://user@host/db"  # an external PostgreSQL for db series instead of the embedded one
    switch_interval = 0.001             # sys.setswitchinterval in the client, for series that set none
    probe = true                        # the responsiveness probe beside every batch
    pythons = ["python3.13", "~/.cache/iobench/python-3.13t/bin/python3.13t"]  # client interpreters
    gil = "both"                        # a free-threaded one with the GIL on and off (or on, off, auto)

    [defaults]                          # workload parameters for every series whose workload takes them
    delay = 0.1

    [[series]]
    workload = "http-delay"             # http-delay, http-payload, file-io, cpu, hybrid, db, task
    executor = ["threads", "asyncio"]   # one executor, or a list: one series each
    session_strategy = "per-thread"     # likewise a name or a list (HTTP and db workloads only)
    switch_interval = [0.005, 0.001]    # likewise seconds or a list: this series' own switch interval
    params = { jitter = "exponential", spread = 0.05 }
    workers = [1, 8, 32]                # this series' own pool sizes (optional)
    name = "my label"                   # replaces the generated label (not with lists)

Values given explicitly on the command line override the file's top-level values (the file stays the
plan, the flags are for a quick shrunken run of it); ``--workers`` replaces every series' own list too.
Every mistake is a one-line UsageError naming the file and the field.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from iobench.defaults import FIXED_WORKERS
from iobench.errors import UsageError
from iobench.measure.config import AUTO, SeriesSpec, SweepConfig
from iobench.measure.executors import EXECUTORS
from iobench.measure.workloads import WORKLOADS

SWEEP_KEYS = ("workers", "rounds", "waves", "warmup_rounds", "seed", "timeout", "target", "db_url",
              "switch_interval", "probe", "pythons", "gil")  # fmt: skip
SERIES_KEYS = ("workload", "executor", "session_strategy", "params", "workers", "name", "switch_interval")


def load_sweep_file(path: str | Path, overrides: dict[str, Any] | None = None) -> SweepConfig:
    """Read a TOML sweep file into a validated SweepConfig; ``overrides`` replace its top-level values."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: no such sweep file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read sweep file ({type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    try:
        return sweep_from_table(data, overrides or {})
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def sweep_from_table(data: dict[str, Any], overrides: dict[str, Any]) -> SweepConfig:
    """The SweepConfig a parsed sweep file describes (the part of loading that needs no file)."""
    unknown = sorted(set(data) - {*SWEEP_KEYS, "defaults", "series"})
    if unknown:
        raise UsageError(f"{unknown[0]} is not a sweep-file key; use {', '.join((*SWEEP_KEYS, 'defaults', 'series'))}")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise UsageError("defaults must be a table of workload parameters")
    taken_by_some = {name for workload in WORKLOADS.values() for name in workload.accepted}
    for key in defaults:
        if key not in taken_by_some:
            raise UsageError(f"defaults.{key} is not a parameter of any workload")
    tables = data.get("series")
    if not isinstance(tables, list) or not tables or not all(isinstance(table, dict) for table in tables):
        raise UsageError("series must be one or more [[series]] tables")
    keep_own_workers = "workers" not in overrides  # --workers shrinks (or grows) every series alike
    series = tuple(spec for index, table in enumerate(tables)
                   for spec in _series_specs(index, table, defaults, keep_own_workers))  # fmt: skip
    fields = {key: data[key] for key in SWEEP_KEYS if key in data}
    fields.update(overrides)
    fields.setdefault("workers", FIXED_WORKERS)  # a sweep file is a fixed plan unless it says auto
    if fields["workers"] != AUTO:
        fields["workers"] = _pool_sizes_field(fields["workers"], "workers")
    if "target" in fields and not isinstance(fields["target"], str):
        raise UsageError(f"target must be a URL string, got {fields['target']!r}")
    if "db_url" in fields and not isinstance(fields["db_url"], str):
        raise UsageError(f"db_url must be a postgresql:// URL string, got {type(fields['db_url']).__name__}")
    if "switch_interval" in overrides:  # --switch-interval sets every series alike, as --workers does
        series = tuple(replace(spec, switch_interval=None) for spec in series)
    if "pythons" in fields:
        if not isinstance(fields["pythons"], list | tuple):
            raise UsageError(f"pythons must be a list of interpreters, got {fields['pythons']!r}")
        fields["pythons"] = tuple(fields["pythons"])
    return SweepConfig(series=series, **fields)


def _pool_sizes_field(value: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise UsageError(f"{where} must be a list of pool sizes, got {value!r}")
    return tuple(value)


def _names(table: dict[str, Any], key: str, where: str, default: str | None) -> list[str | None]:
    """A field that takes one name or a list of names, as a list."""
    value = table.get(key, default)
    values = value if isinstance(value, list) else [value]
    if not values or not all(item is None or isinstance(item, str) for item in values):
        raise UsageError(f"{where}.{key} must be a name or a list of names, got {value!r}")
    return values


def _series_specs(
    index: int, table: dict[str, Any], defaults: dict[str, Any], keep_own_workers: bool
) -> list[SeriesSpec]:
    """One [[series]] table: a SeriesSpec per executor x session strategy it lists."""
    where = f"series[{index}]"
    unknown = sorted(set(table) - set(SERIES_KEYS))
    if unknown:
        raise UsageError(f"{where}.{unknown[0]} is not a series key; use {', '.join(SERIES_KEYS)}")
    workload = table.get("workload")
    if workload not in WORKLOADS:
        raise UsageError(f"{where}.workload must be one of {', '.join(WORKLOADS)}, got {workload!r}")
    executors = _names(table, "executor", where, "threads")
    for executor in executors:
        if executor not in EXECUTORS:
            raise UsageError(f"{where}.executor: unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    strategies = _names(table, "session_strategy", where, None)
    params = table.get("params", {})
    if not isinstance(params, dict):
        raise UsageError(f"{where}.params must be a table of parameters, got {params!r}")
    accepted = WORKLOADS[workload].accepted
    merged = {key: value for key, value in defaults.items() if key in accepted} | params
    workers = table.get("workers")
    if workers is not None:
        workers = _pool_sizes_field(workers, f"{where}.workers") if keep_own_workers else None
    name = table.get("name", "")
    intervals = table.get("switch_interval", [None])
    intervals = intervals if isinstance(intervals, list) and intervals else [intervals]
    combinations = list(itertools.product(executors, strategies, intervals))
    if name and len(combinations) > 1:
        raise UsageError(f"{where}.name would label {len(combinations)} series alike; give each its own table")
    specs = []
    for executor, strategy, interval in combinations:
        try:
            specs.append(SeriesSpec(workload, dict(merged), executor, strategy, name, workers, interval))
        except UsageError as exc:
            raise UsageError(_locate(str(exc), where, accepted)) from None
    return specs


def _locate(message: str, where: str, accepted: tuple[str, ...]) -> str:
    """Prefix a SeriesSpec's message with the field it is about, named as the file names it."""
    first = message.split(maxsplit=1)[0]
    if first in accepted:
        return f"{where}.params.{message}"
    if first in SERIES_KEYS:
        return f"{where}.{message}"
    return f"{where}: {message}"
