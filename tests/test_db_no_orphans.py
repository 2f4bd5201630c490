"""No PostgreSQL process (nor its keeper, nor its temporary folder) outlives the harness, however it ends.

The same five ways as ``test_no_orphans.py`` for gunicorn: a normal exit and an exception in this
process; SIGINT, SIGTERM and SIGKILL sent to a real ``iobench run`` subprocess in the middle of a db sweep.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from iobench.measure.config import SeriesSpec, SweepConfig
from iobench.measure.sweep import BatchDone, run_sweep
from iobench.results import ResultsWriter, load_results

from .polling import gone, measured_batches, wait_for

TINY = SweepConfig(series=(SeriesSpec("db", {"delay": 0.02}, "threads"),), workers=(1, 2), rounds=2, waves=1)


def _database_processes(root: int) -> tuple[list[int], list[Path]]:
    """The keepers and PostgreSQL processes below process ``root``, and the run folders the keepers hold."""
    try:
        below = psutil.Process(root).children(recursive=True)
    except psutil.NoSuchProcess:
        return [], []
    pids, folders = [], []
    for process in below:
        try:
            command = process.cmdline()
            if "iobench.measure.postgres_keeper" in command:
                pids.append(process.pid)
                folders.append(Path(command[command.index("iobench.measure.postgres_keeper") + 2]))
            elif process.name() == "postgres":
                pids.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, IndexError):
            continue
    return pids, folders


def _all_gone(pids: list[int], folders: list[Path]) -> bool:
    return gone(pids) and wait_for(lambda: not any(folder.exists() for folder in folders), within=10)


def _watching(seen: tuple[set[int], set[Path]]) -> None:
    pids, folders = _database_processes(psutil.Process().pid)
    seen[0].update(pids)
    seen[1].update(folders)


def test_normal_exit_leaves_no_postgres(tmp_path: Path) -> None:
    seen: tuple[set[int], set[Path]] = (set(), set())
    run_sweep(TINY, ResultsWriter(tmp_path / "r.json"), progress=lambda event: _watching(seen))
    assert len(seen[0]) >= 3 and len(seen[1]) == 1, "expected the keeper, the postmaster and its processes"
    assert _all_gone(list(seen[0]), list(seen[1])), f"left behind: {seen}"


def test_an_exception_inside_a_db_sweep_leaves_no_postgres(tmp_path: Path) -> None:
    seen: tuple[set[int], set[Path]] = (set(), set())

    def failing_progress(event: BatchDone) -> None:
        _watching(seen)
        if event.done == 2:
            raise RuntimeError("a bug in a progress display")

    with pytest.raises(RuntimeError, match="progress display"):
        run_sweep(TINY, ResultsWriter(tmp_path / "r.json"), progress=failing_progress)
    assert seen[0] and _all_gone(list(seen[0]), list(seen[1])), f"left behind: {seen}"
    assert load_results(tmp_path / "r.json").status == "failed"


def _as_a_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture
def harness_mid_db_sweep(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, list[int], list[Path]]]:
    """A real ``iobench run`` of a long db sweep with its first batch saved, and its database's processes."""
    sweep = tmp_path / "db.toml"
    sweep.write_text('[[series]]\nworkload = "db"\nparams = { delay = 0.05 }\n')
    out = tmp_path / "run.json"
    command = [sys.executable, "-m", "iobench", "run", "--config", str(sweep), "--workers", "1,2", "--rounds", "500",
               "--waves", "1", "--plots", "", "--out", str(out)]  # fmt: skip
    with (tmp_path / "stderr.log").open("wb") as log:
        harness = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, preexec_fn=_as_a_background_job)
    try:
        if not wait_for(lambda: measured_batches(out) >= 1, within=60):
            pytest.fail(f"the harness saved no batch: {(tmp_path / 'stderr.log').read_text()[-500:]}")
        pids, folders = _database_processes(harness.pid)
        assert len(pids) >= 3 and len(folders) == 1, "expected a keeper, a postmaster and its processes"
        yield harness, out, pids, folders
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_stops_postgres(
    sig: signal.Signals, harness_mid_db_sweep: tuple[subprocess.Popen[bytes], Path, list[int], list[Path]]
) -> None:
    harness, out, pids, folders = harness_mid_db_sweep
    harness.send_signal(sig)
    assert harness.wait(timeout=30) == 130
    assert _all_gone(pids, folders), f"PostgreSQL outlived {sig.name}: {pids} {folders}"
    assert load_results(out).status == "interrupted"


def test_sigkill_of_the_harness_leaves_no_postgres(
    harness_mid_db_sweep: tuple[subprocess.Popen[bytes], Path, list[int], list[Path]],
) -> None:
    harness, out, pids, folders = harness_mid_db_sweep
    harness.kill()
    harness.wait(timeout=30)
    assert _all_gone(pids, folders), f"PostgreSQL outlived SIGKILL of the harness: {pids} {folders}"
    assert load_results(out).status == "running"
