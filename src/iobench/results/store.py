"""Results files on disk: one loader that validates once, one writer that saves atomically.

A run's file is saved after every batch (temporary file, fsync, rename), so an interrupted sweep keeps
what it finished, and a run never replaces another run's file unless told to. Files of schema 1 load
too; every save writes the current schema.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from iobench.errors import UsageError
from iobench.results.model import Results

#: A list of numbers that ``json.dumps(indent=...)`` spread over lines. JSON strings hold no raw newline, so
#: this matches such lists and never text inside a string.
_NUMBER_LIST = re.compile(r"\[\n\s*(-?[\d.eE+-]+(?:,\n\s*-?[\d.eE+-]+)*)\n\s*\]")


def results_text(results: Results) -> str:
    """The document as JSON, indented for a reader, with each list of numbers on one line.

    A sweep's latencies and probe wake-ups are most of a results file: one number to a line made a docs
    input of 2.8 MB, and every save after a batch writes the whole document again.
    """
    text = json.dumps(results.to_json(), indent=1, allow_nan=False)
    return _NUMBER_LIST.sub(lambda numbers: "[" + ", ".join(re.split(r",\s*", numbers.group(1))) + "]", text)


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
        return Results.from_json(document)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def load_many(paths: list[str]) -> list[tuple[str, Results]]:
    """The results files named, and the ``*.json`` files directly inside each folder named (by name), each
    with its file name; a folder without any is a UsageError, so a typo never reads as an empty history."""
    loaded: list[tuple[str, Results]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(path.glob("*.json"))
            if not files:
                raise UsageError(f"{path}: no results files (*.json) in this folder")
            loaded += [(file.name, load_results(file)) for file in files]
        else:
            loaded.append((path.name, load_results(path)))
    return loaded


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
                    handle.write(results_text(results))
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
