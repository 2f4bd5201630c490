"""The results file: the one contract between measuring and presenting.

Everything analysis, plots, reports and compare need is in it (configuration, environment, server,
every raw sample), so none of them ever re-runs anything. It is versioned, written atomically
(temporary file, fsync, rename) after every batch so an interrupted sweep keeps what it finished, and a
run never replaces another run's file unless told to.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from iobench.errors import UsageError

SCHEMA = "iobench-results"
SCHEMA_VERSION = 1
_RECORDED_PACKAGES = ("iobench", "requests", "urllib3", "httpbin", "gunicorn", "gevent", "numpy", "matplotlib")

Results = dict[str, Any]


def python_info() -> dict[str, Any]:
    """The running interpreter, with the GIL state read after imports (extensions can re-enable it)."""
    gil_check = getattr(sys, "_is_gil_enabled", None)
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "build": sys.version.replace("\n", " "),
        "executable": sys.executable,
        "free_threaded_build": "free-threading" in sys.version,
        "gil_enabled": bool(gil_check()) if gil_check else True,
    }


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


def capture_environment() -> dict[str, Any]:
    """Everything about this machine and software that could explain a difference between two runs."""
    return {
        "python": python_info(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "os": platform.platform(),
        "packages": {name: _package_version(name) for name in _RECORDED_PACKAGES},
        "git_commit": _git_commit(),
    }


def new_document(config: dict[str, Any], environment: dict[str, Any]) -> Results:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "running",
        "status_detail": "",
        "config": config,
        "environment": environment,
        "server": {},
        "series": [],
    }


def is_complete(results: Results) -> bool:
    return results.get("status") == "complete"


class ResultsWriter:
    """Saves one run's document, again and again, atomically, to a path no other run owns.

    The first save claims the path with a hard link, which fails if the file exists: two runs started in
    the same second cannot silently replace each other. Later saves replace only this run's own file.
    """

    def __init__(self, path: Path, force: bool = False) -> None:
        """Check now, before anything is measured, that the results can be written where asked."""
        self.path = path
        self._claimed = force
        try:
            if path.is_dir():
                raise UsageError(f"{path} is a folder; name a .json file or a folder without the .json suffix")
            if path.exists() and not force:
                raise UsageError(f"{path} exists; choose another --out or pass --force to replace it")
            path.parent.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path.parent).close()  # the only sure test of "can write here"
        except FileExistsError:
            blocker = next(folder for folder in (path.parent, *path.parent.parents) if folder.exists())
            raise UsageError(f"cannot write results to {path}: {blocker} is a file, not a folder") from None
        except OSError as exc:
            raise UsageError(f"cannot write results to {path} ({exc.strerror or exc})") from None

    def save(self, results: Results) -> None:
        """Write ``results`` to a temporary file beside the target, then rename it over the target.

        A failure (disk full, folder removed mid-run) is a one-line UsageError; the previous save stays.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w") as handle:
                    json.dump(results, handle, indent=1, allow_nan=False)
                    handle.flush()
                    os.fsync(handle.fileno())
                self._publish(temporary)
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
        except OSError as exc:
            raise UsageError(f"cannot save results to {self.path} ({exc.strerror or exc})") from None

    def _publish(self, temporary: str) -> None:
        if self._claimed:
            os.replace(temporary, self.path)
            return
        try:
            os.link(temporary, self.path)
        except FileExistsError:
            raise UsageError(f"{self.path} appeared while this run started; not replacing it") from None
        self._claimed = True


def results_path(out: Path, now: datetime | None = None) -> Path:
    """``out`` itself when it names a .json file, else a new timestamped file inside the ``out`` folder."""
    if out.suffix == ".json":
        return out
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    candidate = out / f"iobench-{stamp}.json"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = out / f"iobench-{stamp}-{suffix}.json"
    return candidate


# --- loading and validation -------------------------------------------------------------------------
#
# Everything analysis, plots and reports read is checked here, so that a file that loads can be
# presented: a bad file is one line naming its first bad field, never a traceback further down.

_NUMBER = (int, float)
#: Fields of a sample that older files may lack, with their types; None means "not measured" for the
#: server's CPU (an external server's is not visible).
_OPTIONAL_SAMPLE_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "server_cpu_seconds": (_NUMBER, True),
    "connections_opened": (int, False),
    "pool_full_discards": (int, False),
    "round": (int, False),
    "position": (int, False),
}


def _is_number(value: Any) -> bool:
    """A JSON number that arithmetic can use: not a bool, and finite as a float (1e999 and 10**400 are not)."""
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _require(container: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in container:
        raise UsageError(f"{where}.{key} is missing")
    value = container[key]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise UsageError(f"{where}.{key} must be {names}, got {type(value).__name__}")
    if kind in (_NUMBER, int) and not _is_number(value):
        raise UsageError(f"{where}.{key} must be a finite number, got {value!r:.40}")
    return value


def _optional(
    container: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, nullable: bool = False
) -> None:
    """Check a field older files may lack; when present it must have the right type (counts: not negative)."""
    if key not in container or (nullable and container[key] is None):
        return
    value = _require(container, key, kind, where)
    if kind is int and value < 0:
        raise UsageError(f"{where}.{key} must not be negative")


def _validate_sample(sample: Any, where: str) -> None:
    if not isinstance(sample, dict):
        raise UsageError(f"{where} must be an object")
    if _require(sample, "wall_seconds", _NUMBER, where) <= 0:
        raise UsageError(f"{where}.wall_seconds must be positive")
    _require(sample, "cpu_seconds", _NUMBER, where)
    latencies = _require(sample, "latencies", list, where)
    if not all(_is_number(x) and x >= 0 for x in latencies):
        raise UsageError(f"{where}.latencies must hold only non-negative numbers")
    errors = _require(sample, "errors", dict, where)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in errors.values()):
        raise UsageError(f"{where}.errors must map error kinds to counts")
    for key, (kind, nullable) in _OPTIONAL_SAMPLE_FIELDS.items():
        _optional(sample, key, kind, where, nullable)


def validate(results: Any) -> Results:
    """Check a loaded document against the schema; name the first field that is wrong."""
    where = "results"
    if not isinstance(results, dict):
        raise UsageError("results file must hold a JSON object")
    if results.get("schema") != SCHEMA:
        raise UsageError(f"not an iobench results file (schema is {results.get('schema')!r})")
    version = _require(results, "schema_version", int, where)
    if version > SCHEMA_VERSION:
        raise UsageError(f"schema_version {version} is newer than this iobench reads ({SCHEMA_VERSION}); upgrade")
    if version < 1:
        raise UsageError(f"schema_version {version} is not a valid version")
    _require(results, "status", str, where)
    _optional(results, "status_detail", str, where, nullable=True)
    _require(results, "config", dict, where)
    environment = _require(results, "environment", dict, where)
    _optional(environment, "python", dict, f"{where}.environment")
    _optional(_require(results, "server", dict, where), "kind", str, f"{where}.server")
    for s, series in enumerate(_require(results, "series", list, where)):
        at = f"series[{s}]"
        if not isinstance(series, dict):
            raise UsageError(f"{at} must be an object")
        for key, kind in (("id", str), ("label", str), ("workload", str), ("params", dict), ("executor", str)):
            _require(series, key, kind, at)
        _optional(series, "wait_seconds", _NUMBER, at, nullable=True)
        for p, point in enumerate(_require(series, "points", list, at)):
            pat = f"{at}.points[{p}]"
            if not isinstance(point, dict):
                raise UsageError(f"{pat} must be an object")
            for key in ("workers", "tasks"):
                if _require(point, key, int, pat) < 1:
                    raise UsageError(f"{pat}.{key} must be at least 1")
            for phase in ("rounds", "warmup") if "warmup" in point else ("rounds",):
                for r, sample in enumerate(_require(point, phase, list, pat)):
                    _validate_sample(sample, f"{pat}.{phase}[{r}]")
    return results


def _refuse_constant(name: str) -> None:
    raise ValueError(f"it holds {name}, which iobench never writes")


def load_results(path: str | Path) -> Results:
    """Read and validate a results file; any problem is a one-line UsageError naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read results file ({exc.__class__.__name__})") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # NaN, a 5000-digit number, arrays nested 10^5 deep
        raise UsageError(f"{path}: not a results file iobench can read ({str(exc).splitlines()[0]:.100})") from None
    try:
        return validate(document)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
