"""Find each interpreter ``--python`` names, check that it can run iobench's client, and give it requests.

The client side of a sweep (workloads and executors) needs only the standard library and requests, so
another interpreter can run it without iobench's heavy dependencies. An interpreter is named as a shell
would name it (``python3.12``) or by path. Each one is probed in a subprocess; when it lacks requests,
requests and urllib3 (the harness's own versions, so interpreters are compared on the same library code)
are installed into a venv cached under ``~/.cache/iobench/venvs``. Anything that goes wrong is a
``Skipped`` with a one-line reason: one bad interpreter never stops the others from being measured.

pyenv shims need one extra step: ``python3.12`` on PATH is a shim that refuses to run unless 3.12 is
pyenv's selected version. A shim that fails is resolved to the matching ``$PYENV_ROOT/versions/*/bin``
interpreter, newest first.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

#: results.py (run inside the client) uses datetime.UTC and ``-P`` keeps the client's folder off sys.path.
MIN_VERSION = (3, 11)
#: The libraries the client imports, pinned to the harness's versions when it has to install them.
CLIENT_PACKAGES = ("requests", "urllib3")
_PROBE_TIMEOUT = 60.0
_INSTALL_TIMEOUT = 600.0

_PROBE = """\
import json, sys, sysconfig
try:
    import requests
    has_requests = True
except Exception:
    has_requests = False
print(json.dumps({"executable": sys.executable, "prefix": sys.prefix,
                  "version": list(sys.version_info[:3]), "requests": has_requests,
                  "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED"))}))
"""

#: ``--gil``: the states to measure a free-threaded build in, as the PYTHON_GIL values its client starts
#: with (None leaves PYTHON_GIL as it is: the build decides, and an extension may switch its GIL on).
#: "both" puts the same binary into the sweep twice, so GIL on and off differ in nothing else.
GIL_SETTINGS: dict[str, tuple[str | None, ...]] = {
    "auto": (None,),
    "on": ("1",),
    "off": ("0",),
    "both": ("1", "0"),
}

Notify = Callable[[str], None]


class Skipped(Exception):
    """This interpreter cannot run the client; the message says why, in one line."""


@dataclass(frozen=True)
class FoundInterpreter:
    """An interpreter that can run the client: the command to start, and where it came from."""

    requested: str
    #: What to start: the interpreter itself, or the python of the venv made for it.
    executable: str
    #: The interpreter binary with symlinks resolved: the same for a Python and for venvs made from it.
    base: str
    prefix: str
    version: tuple[int, ...]
    has_requests: bool
    venv: str | None = None
    #: Built with --disable-gil (3.13t): its GIL can be switched on or off at start-up with PYTHON_GIL.
    free_threaded: bool = False

    @property
    def identity(self) -> tuple[str, str]:
        """Two names for the same binary and environment are one interpreter, measured once."""
        return (self.base, self.prefix)

    def is_this_process(self) -> bool:
        """The harness's own interpreter binary (from any venv): its client runs in-process, as without --python."""
        return self.base == os.path.realpath(sys.executable)


def gil_settings(interpreter: FoundInterpreter, gil: str) -> tuple[str | None, ...]:
    """The PYTHON_GIL values to run ``interpreter``'s client with under ``--gil gil``.

    Only a free-threaded build can switch its GIL; a GIL build runs as it is, GIL on (PYTHON_GIL=0 would
    make it refuse to start), so it can stand beside a free-threaded one as the reference.
    """
    return GIL_SETTINGS[gil] if interpreter.free_threaded else (None,)


def _short(text: str) -> str:
    """The last non-empty line of a tool's output: usually the one that says what went wrong."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def _probe(requested: str, executable: str) -> FoundInterpreter:
    try:
        done = subprocess.run([executable, "-c", _PROBE], capture_output=True, text=True,
                              timeout=_PROBE_TIMEOUT, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        raise Skipped(f"cannot run {executable} ({exc.__class__.__name__})") from None
    if done.returncode != 0:
        raise Skipped(f"{executable} failed to start: {_short(done.stderr or done.stdout)}")
    try:
        facts = json.loads(done.stdout.strip().splitlines()[-1])
        version = tuple(int(part) for part in facts["version"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise Skipped(f"{executable} does not behave like a Python interpreter") from None
    if version < MIN_VERSION:
        wanted = ".".join(map(str, MIN_VERSION))
        raise Skipped(f"{executable} is Python {'.'.join(map(str, version))}; the client needs {wanted} or newer")
    return FoundInterpreter(requested, facts["executable"], os.path.realpath(facts["executable"]), facts["prefix"],
                       version, bool(facts["requests"]), free_threaded=bool(facts.get("free_threaded")))  # fmt: skip


def _pyenv_candidates(shim: Path) -> Iterator[str]:
    """For a pyenv shim, the real interpreters of that name that pyenv has installed, newest first."""
    versions = shim.parent.parent / "versions"
    if shim.parent.name != "shims" or not versions.is_dir():
        return
    found = versions.glob(f"*/bin/{shim.name}")
    for path in sorted(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.parent.name)], reverse=True):
        yield str(path)


def locate(requested: str) -> FoundInterpreter:
    """Find and probe the interpreter named ``requested`` (a command on PATH or a path)."""
    if os.sep in requested:
        path = Path(requested).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise Skipped("no such executable file")
        executable = str(path)
    else:
        executable = shutil.which(requested) or ""
        if not executable:
            raise Skipped("not found on PATH")
    try:
        return _probe(requested, executable)
    except Skipped as shim_failure:
        failure = shim_failure  # a pyenv interpreter's own reason says more than the shim's refusal
        for candidate in _pyenv_candidates(Path(executable)):
            try:
                return _probe(requested, candidate)
            except Skipped as reason:
                failure = reason
        raise failure from None


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "iobench" / "venvs"


def _pins() -> list[str]:
    """The harness's own versions of the client's libraries, so every interpreter runs the same code."""
    pins = []
    for name in CLIENT_PACKAGES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def _run_step(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Skipped(f"could not {what} ({exc.__class__.__name__})") from None
    if done.returncode != 0:
        raise Skipped(f"could not {what}: {_short(done.stderr or done.stdout)}")


def with_requests(interpreter: FoundInterpreter, notify: Notify) -> FoundInterpreter:
    """The interpreter itself when it imports requests, else the python of a cached venv that has it.

    The venv is keyed by the interpreter binary, its version and the pinned packages; a file lock makes
    two sweeps started at once share one install instead of racing.
    """
    if interpreter.has_requests:
        return interpreter
    pins = _pins()
    key = hashlib.sha256(f"{interpreter.base}|{interpreter.version}|{' '.join(pins)}".encode()).hexdigest()[:16]
    root = cache_dir()
    venv = root / key
    python = venv / "bin" / "python"
    ready = venv / ".iobench-ready"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.exists():
            notify(f"{interpreter.requested}: installing {' '.join(pins)} into {venv} (first use only)")
            shutil.rmtree(venv, ignore_errors=True)
            _run_step([interpreter.base, "-m", "venv", str(venv)], f"create a venv in {venv} (is venv installed?)")
            _run_step([str(python), "-m", "pip", "install", "--quiet", *pins], f"install {' '.join(pins)}")
            ready.write_text(" ".join(pins) + "\n")
    return replace(interpreter, executable=str(python), prefix=str(venv), has_requests=True, venv=str(venv))
