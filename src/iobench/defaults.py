"""Every default of a sweep, in one table: the config classes, ``--quick`` and the CLI help all read it.

A default has its value for a full sweep (the README's figures), its value for a quick one (CI, under
20 s), and the words that explain it. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Default:
    """One setting's full-sweep value, its ``--quick`` value, and what it means."""

    full: Any
    quick: Any
    help: str

    def value(self, quick: bool = False) -> Any:
        return self.quick if quick else self.full


def shown(value: Any) -> str:
    """A default as a user would type it: pool sizes comma-separated, numbers without trailing zeros."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple | list):
        return ",".join(shown(item) for item in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


DEFAULTS: dict[str, Default] = {
    "delay": Default(0.1, 0.05, "seconds each request waits at the server, 0-10"),
    "workers": Default(
        "auto", (1, 2, 4, 8, 16, 32), "pool sizes, comma-separated, or auto: search for the saturation point"
    ),
    "rounds": Default(5, 5, "measured rounds per point"),
    "waves": Default(4, 4, "tasks per worker in each batch, M = waves x N"),
    "warmup_rounds": Default(1, 1, "unmeasured rounds before the measured ones"),
    "seed": Default(0, 0, "seed for the order of points in each round"),
    "timeout": Default(30.0, 30.0, "per-request timeout in seconds"),
    "executor": Default("threads", "threads", "how tasks run"),
    "gil": Default(
        "auto",
        "auto",
        "GIL states to measure each free-threaded interpreter in: on, off, both (the same "
        "binary twice, PYTHON_GIL=1 and 0) or auto (as it starts); GIL builds run as they are",
    ),
    "probe": Default(True, True, "time how late a thread that wants to wake every 5 ms runs, beside every batch"),
    # The auto search (--workers auto). Its budget leaves room, in the 60 s of a default run on 2 cores, for
    # starting the server and drawing the plots.
    "tolerance": Default(0.15, 0.15, "auto: stop once the 95 percent interval on N* is within +/- this fraction"),
    "budget": Default(45.0, 45.0, "auto: seconds the sweep may take, server start included"),
    "max_workers": Default(512, 512, "auto: the largest pool the search may try"),
}
#: The pool sizes of a sweep file that lists none: the doubling grid a fixed sweep has always used.
FIXED_WORKERS = (1, 2, 4, 8, 16, 32, 64, 128)


def preset(quick: bool) -> dict[str, Any]:
    """Every default's value for a full sweep or a quick one."""
    return {name: default.value(quick) for name, default in DEFAULTS.items()}


def help_text(name: str) -> str:
    """The CLI help of a setting: its meaning, its default and, where it differs, its ``--quick`` value."""
    default = DEFAULTS[name]
    text = f"{default.help} (default {shown(default.full)}"
    if default.quick != default.full:
        text += f"; --quick: {shown(default.quick)}"
    return text + ")"
