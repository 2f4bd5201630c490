"""``run --against REF``: A/B in one job, against real git repositories, a real server and real clients.

Each test builds a throwaway repository whose commits hold a task module, as a user's project would, and
runs ``iobench run --task ... --against REF`` in it as a subprocess. The sweep is tiny (two pool sizes,
four rounds: the fewest that can give p < 0.05), so a test costs a few seconds.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from iobench.measure.sweep import abba
from iobench.results import load_results
from iobench.results.model import Results, Variant
from tests.conftest import synthetic_results

from .polling import gone, measured_batches, server_processes, wait_for

IOBENCH = [sys.executable, "-m", "iobench"]
TINY = ["--workers", "1,8", "--rounds", "4", "--waves", "2", "--plots", ""]
FETCH = """\
def fetch(ctx):
    ctx.session.get(f"{ctx.target}/delay/0.05", timeout=ctx.timeout).raise_for_status()
"""
SERIALIZED = """\
import threading, time
_LOCK = threading.Lock()
def fetch(ctx):
    ctx.session.get(f"{ctx.target}/delay/0.05", timeout=ctx.timeout).raise_for_status()
    with _LOCK:
        time.sleep(0.02)
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def _repository(tmp_path: Path, *versions: str | None) -> Path:
    """A repository whose commits hold ``mytask.py`` at each version in turn (None: a commit without it)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "a@b")
    _git(repo, "config", "user.name", "t")
    for number, source in enumerate(versions):
        if source is None:
            (repo / "README").write_text(f"v{number + 1}\n")
        else:
            (repo / "mytask.py").write_text(source)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", f"v{number + 1}")
    return repo


def _run(repo: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IOBENCH, "run", "--task", "mytask:fetch", *TINY, *args], cwd=repo, capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip


def _worktrees(repo: Path) -> list[str]:
    return [line for line in _git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree")]


def test_sides_alternate_in_abba_blocks() -> None:
    assert [abba(k, 2) for k in range(8)] == [[0, 1], [1, 0], [1, 0], [0, 1]] * 2


def test_each_side_has_its_own_baseline_and_a_side_reads_as_a_run_of_its_own() -> None:
    results = synthetic_results()
    for series in results.series:
        series.variant = "A"
    b_side = synthetic_results(seed=2)
    for series in b_side.series:
        series.variant = "B"
    results.series += b_side.series
    results.variants = (Variant("A", "HEAD~1", "a" * 40), Variant("B", "working tree", "b" * 40, dirty=True))
    a_threads, b_threads = results.series[1], results.series[3]
    assert results.baseline_of(b_threads) is results.series[2]
    assert results.baseline_of(a_threads) is results.series[0]
    assert a_threads.key != b_threads.key
    again = Results.from_json(results.to_json())
    assert again.variants == results.variants and [s.variant for s in again.series] == ["A", "A", "B", "B"]
    side = results.side("B")
    assert [s.variant for s in side.series] == [None, None] and side.series[1].key == synthetic_results().series[1].key
    assert "B: working tree (bbbbbbb + changes)" in results.label_of(b_threads)


def test_a_serialized_task_fails_against_its_parent_and_passes_against_itself(tmp_path: Path) -> None:
    repo = _repository(tmp_path, FETCH, SERIALIZED)
    regressed = _run(repo, "--against", "HEAD~1", "--out", str(tmp_path / "ab1.json"))
    assert regressed.returncode == 1, regressed.stdout[-2000:] + regressed.stderr[-2000:]
    assert "verdict: REGRESSION" in regressed.stdout
    results = load_results(tmp_path / "ab1.json")
    a, b = results.variants
    assert (a.name, a.ref, a.commit, a.client) == ("A", "HEAD~1", _git(repo, "rev-parse", "HEAD~1"), "harness")
    assert (b.name, b.commit, b.dirty) == ("B", _git(repo, "rev-parse", "HEAD"), False)
    assert sorted({s.variant for s in results.series}) == ["A", "B"]
    half = len(results.series) // 2
    for a_series, b_series in zip(results.series[:half], results.series[half:], strict=True):
        for a_point, b_point in zip(a_series.points, b_series.points, strict=True):
            for a_round, b_round in zip(a_point.rounds, b_point.rounds, strict=True):
                assert a_round.round == b_round.round and abs(a_round.position - b_round.position) == 1
    assert _worktrees(repo) == [f"worktree {repo}"]
    unchanged = _run(repo, "--against", "HEAD", "--out", str(tmp_path / "ab0.json"))
    assert unchanged.returncode == 0, unchanged.stdout[-2000:] + unchanged.stderr[-2000:]
    assert _worktrees(repo) == [f"worktree {repo}"]


@pytest.mark.parametrize(
    ("ref", "where", "expected"),
    [
        ("no-such-ref", "repo", "--against no-such-ref: no such commit"),
        ("HEAD", "outside", "is not in a git repository"),
        ("HEAD~1", "repo", "A: HEAD~1"),  # the task's module does not exist at HEAD~1
    ],
)
def test_bad_refs_and_tasks_that_do_not_import_are_one_line_errors(
    tmp_path: Path, ref: str, where: str, expected: str
) -> None:
    repo = _repository(tmp_path, None, FETCH)
    cwd = repo if where == "repo" else tmp_path
    done = subprocess.run([*IOBENCH, "run", "--task", "mytask:fetch", *TINY, "--against", ref, "--out",
                           str(tmp_path / "r.json")], cwd=cwd, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert _worktrees(repo) == [f"worktree {repo}"]
    assert not (tmp_path / "r.json").exists()


def _start_long_run(repo: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*IOBENCH, "run", "--task", "mytask:fetch", "--workers", "1,2", "--rounds", "500",
                             "--waves", "1", "--plots", "", "--against", "HEAD", "--out", str(out)], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_the_worktree_goes_however_the_harness_ends(tmp_path: Path, how: signal.Signals) -> None:
    repo = _repository(tmp_path, FETCH)
    out = tmp_path / "r.json"
    harness = _start_long_run(repo, out)
    try:
        assert wait_for(lambda: measured_batches(out) >= 2, within=60), "the sweep did not start"
        assert len(_worktrees(repo)) == 2, "the A side's worktree should exist mid-sweep"
        servers = server_processes(harness.pid)
        harness.send_signal(how)
        code = harness.wait(timeout=30)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
    assert code == (-signal.SIGKILL if how is signal.SIGKILL else 130)
    assert wait_for(lambda: _worktrees(repo) == [f"worktree {repo}"], within=20), _worktrees(repo)
    assert gone(servers), "a server outlived the harness"
    assert load_results(out).series, "the measured batches were not kept"


def test_in_an_iobench_checkout_each_side_runs_its_own_client(tmp_path: Path) -> None:
    """The client side (workloads, executors) comes from each tree, so iobench's CI gates its own hot path."""
    repo = _repository(tmp_path, FETCH)
    source = Path(__file__).resolve().parents[1] / "src" / "iobench"
    shutil.copytree(source, repo / "src" / "iobench", ignore=shutil.ignore_patterns("__pycache__"))
    _git(repo, "add", "src")
    _git(repo, "commit", "-qm", "iobench itself")
    done = _run(repo, "--against", "HEAD", "--out", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert [v.client for v in load_results(tmp_path / "r.json").variants] == ["tree", "tree"]
    # A client that cannot talk to this harness (an iobench from before the protocol) is replaced, said so.
    (repo / "src" / "iobench" / "measure" / "client.py").write_text("import sys\nsys.exit(3)\n")
    _git(repo, "commit", "-qam", "a broken client")
    done = _run(repo, "--against", "HEAD", "--out", str(tmp_path / "r2.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert [v.client for v in load_results(tmp_path / "r2.json").variants] == ["harness", "harness"]
    assert "using this iobench's client" in done.stderr
