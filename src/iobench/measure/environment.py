"""What a run records about where it ran: the interpreter (with its GIL state) and the machine.

``this_interpreter`` also runs inside the client subprocess under other interpreters, so this module
needs only the standard library (requests and urllib3 are reported when they import).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from iobench.results.model import Environment, Interpreter

_RECORDED_PACKAGES = ("iobench", "requests", "urllib3", "httpbin", "gunicorn", "gevent", "numpy", "matplotlib")


def _version_of(module: str) -> str | None:
    try:
        return str(__import__(module).__version__)
    except Exception:  # absent or broken: the interpreter simply does not have it
        return None


def this_interpreter(requested: str | None = None, runs: str = "in-process", venv: str | None = None) -> Interpreter:
    """The running interpreter, its GIL state read now: call it after the imports a batch needs.

    Importing an extension module that does not declare free-threading support switches a free-threaded
    build's GIL back on, so the state at start-up is not the state the batches run under; PYTHON_GIL=0 in
    the environment forbids that, PYTHON_GIL=1 turns it on from the start (recorded as ``python_gil``).
    """
    gil_check = getattr(sys, "_is_gil_enabled", None)
    return Interpreter(
        implementation=platform.python_implementation(),
        version=platform.python_version(),
        gil_enabled=bool(gil_check()) if gil_check else True,
        free_threaded_build="free-threading" in sys.version,
        build=sys.version.replace("\n", " "),
        executable=sys.executable,
        requests=_version_of("requests"),
        urllib3=_version_of("urllib3"),
        requested=requested,
        runs=runs,
        venv=venv,
        python_gil=os.environ.get("PYTHON_GIL"),
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    """The commit of the iobench checkout that produced the file, when it runs from one."""
    try:
        done = subprocess.run(
            ["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def capture_environment(skipped: tuple[dict[str, str], ...] = ()) -> Environment:
    """Everything about this machine and software that could explain a difference between two runs."""
    return Environment(
        python=this_interpreter(),
        cpu_count=os.cpu_count(),
        cpu_model=_cpu_model(),
        os=platform.platform(),
        packages={name: _package_version(name) for name in _RECORDED_PACKAGES},
        git_commit=_git_commit(),
        interpreters_skipped=skipped,
    )
