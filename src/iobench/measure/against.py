"""``run --against REF``: the code at REF (side A) and the working tree (side B) measured in one job.

A committed baseline was measured on another day, often on another machine: its runner, kernel and
neighbours have drifted since, and the gate reads that drift as a change of the code. Two sides measured
in the same job, their rounds interleaved, see the same drift, so what differs between them is the code.

Each side is a client subprocess (the one ``--python`` uses) started with its tree's root and ``src/``
first on its module path and its working folder in that tree, so a user's ``--task`` module or sweep-file
tasks come from each tree. In iobench's own repository the client side itself (workloads, executors,
sessions) comes from each tree too, since the client script is the tree's own: the project's CI catches a
regression in its own hot path. A tree whose client does not start here runs under the harness's client
instead, said in one line (its tasks still come from its tree); one from before workload checks runs its
own batches, its workloads checked by the harness's client in its tree.

REF is checked out with ``git worktree add --detach`` into a temporary folder that is removed on every
exit: by the harness on a normal exit, an exception, Ctrl-C or SIGTERM, and by a watchdog process
(``worktree_watchdog``) when the harness dies by SIGKILL. ``git worktree prune`` at the start also forgets
worktrees whose folders were deleted behind git's back.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from iobench.errors import UsageError
from iobench.measure.interpreters import Notify, Skipped, locate
from iobench.measure.runners import CLIENT_SCRIPT, ClientError, SubprocessRunner
from iobench.measure.workloads import Workload
from iobench.measure.worktree_watchdog import remove_worktree
from iobench.results.model import Variant

WATCHDOG_SCRIPT = Path(__file__).with_name("worktree_watchdog.py")
#: Where an iobench checkout keeps its client script: in iobench's own repository each tree brings its own.
CLIENT_IN_TREE = Path("src") / "iobench" / "measure" / "client.py"
WORKING_TREE = "working tree"
_GIT_TIMEOUT_SECONDS = 120

#: One side of an A/B run: what it is, and the client that runs its batches.
Side = tuple[Variant, SubprocessRunner]


def _git(folder: Path, *args: str) -> str:
    """git's output, or a UsageError with its last line of complaint."""
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT_SECONDS, check=False, stdin=subprocess.DEVNULL)  # fmt: skip
    except FileNotFoundError:
        raise UsageError("--against needs git, and git is not installed") from None
    except subprocess.SubprocessError as exc:
        raise UsageError(f"git {args[0]} failed: {exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise UsageError(f"git {args[0]} failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout.strip()


@dataclass(frozen=True)
class Repository:
    """The git repository the harness runs in: its working tree is side B."""

    root: Path

    @classmethod
    def containing(cls, folder: Path) -> Repository:
        try:
            return cls(Path(_git(folder, "rev-parse", "--show-toplevel")))
        except UsageError:
            raise UsageError(f"--against compares with a git ref, but {folder} is not in a git repository") from None

    def commit(self, ref: str) -> tuple[str, str]:
        """The commit REF names and its committer date; an unknown REF is a one-line UsageError."""
        try:
            found = _git(self.root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        except UsageError:
            raise UsageError(f"--against {ref}: no such commit in {self.root}") from None
        return found, _git(self.root, "log", "-1", "--format=%cI", found)

    def has_changes(self) -> bool:
        """Uncommitted changes, untracked files included: B's code is then not exactly HEAD's."""
        return bool(_git(self.root, "status", "--porcelain"))

    def working_tree(self) -> Variant:
        try:
            head, date = self.commit("HEAD")
        except UsageError:  # a repository without a commit yet
            head, date = None, None
        return Variant("B", WORKING_TREE, head, date, dirty=self.has_changes())


def import_path(tree: Path) -> tuple[Path, Path]:
    """Where a tree's modules are imported from: its root, then its ``src/`` (the two usual layouts)."""
    return (tree, tree / "src")


@contextmanager
def working_tree_importable(repository: Repository) -> Iterator[None]:
    """The working tree first on this process's module path: the harness validates the plan (``--task``)
    against B's code, as B's client will import it."""
    added = [str(path) for path in import_path(repository.root)]
    sys.path[:0] = added
    try:
        yield
    finally:
        for path in added:
            if path in sys.path:
                sys.path.remove(path)


@contextmanager
def temporary_worktree(repository: Repository, commit: str) -> Iterator[Path]:
    """``commit`` checked out (detached) in a temporary folder, removed on every way out of the block."""
    folder = Path(tempfile.mkdtemp(prefix="iobench-against-")) / "tree"
    watchdog = subprocess.Popen(
        [sys.executable, "-P", str(WATCHDOG_SCRIPT), str(repository.root), str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _git(repository.root, "worktree", "add", "--detach", "--quiet", str(folder), commit)
        yield folder
    finally:
        try:
            remove_worktree(repository.root, folder)
        finally:
            assert watchdog.stdin is not None
            watchdog.stdin.close()  # end of input: the watchdog finds the folder gone and exits
            watchdog.wait()


def _relative_cwd(repository: Repository, tree: Path) -> Path:
    """The folder in ``tree`` that corresponds to where the harness runs in the working tree."""
    try:
        inside = tree / Path.cwd().resolve().relative_to(repository.root.resolve())
    except ValueError:
        return tree
    return inside if inside.is_dir() else tree


def _client(tree: Path, script: Path, repository: Repository) -> SubprocessRunner:
    found = locate(sys.executable)
    return SubprocessRunner(found, client=script, import_path=import_path(tree), cwd=_relative_cwd(repository, tree))


def _checked(runner: SubprocessRunner, variant: Variant, workloads: list[Workload]) -> None:
    """Have ``runner`` build every workload; a task its tree cannot import is a UsageError naming the side."""
    try:
        runner.check(workloads)
    except UsageError as exc:
        runner.close()
        raise UsageError(f"{variant.label}: {exc}") from None


def open_side(variant: Variant, tree: Path, repository: Repository, workloads: list[Workload], notify: Notify) -> Side:
    """A running client for one side whose tree has imported every workload; the variant says whose client.

    The tree's own client when the tree has one that starts here, else the harness's. A tree's client from
    before workload checks still runs the batches (the batch protocol is older); the harness's client, in
    the same tree, checks the workloads for it. A workload the tree cannot build (a task that does not
    import at REF) is a UsageError naming the side.
    """
    own = tree / CLIENT_IN_TREE
    if own.is_file():
        try:
            runner = _client(tree, own, repository)
        except Skipped as reason:
            notify(f"{variant.label}: its iobench client does not start here ({reason}); using this iobench's client")
        else:
            try:
                _checked(runner, variant, workloads)
            except ClientError:  # it predates the check request
                probe = _client(tree, CLIENT_SCRIPT, repository)
                try:
                    _checked(probe, variant, workloads)
                finally:
                    probe.close()
                notify(f"{variant.label}: its iobench client predates workload checks; this iobench's checked them")
            return replace(variant, client="tree"), runner
    try:
        runner = _client(tree, CLIENT_SCRIPT, repository)
    except Skipped as reason:
        raise UsageError(f"{variant.label}: the client did not start: {reason}") from None
    try:
        _checked(runner, variant, workloads)
    except ClientError as exc:
        runner.close()
        raise UsageError(f"{variant.label}: {exc}") from None
    return replace(variant, client="harness"), runner


@contextmanager
def sides(ref: str, repository: Repository, workloads: list[Workload], notify: Notify) -> Iterator[list[Side]]:
    """Side A (REF, in a temporary worktree) and side B (the working tree), each with its client running.

    Everything fails before a server starts: an unknown REF, and a workload either tree cannot build.
    """
    commit, date = repository.commit(ref)
    working = repository.working_tree()
    _git(repository.root, "worktree", "prune")
    finished = False
    with ExitStack() as stack:
        tree = stack.enter_context(temporary_worktree(repository, commit))
        opened: list[Side] = []
        for variant, root in ((Variant("A", ref, commit, date), tree), (working, repository.root)):
            side = open_side(variant, root, repository, workloads, notify)
            stack.callback(lambda runner=side[1]: runner.close(abandon=not finished))  # see SubprocessRunner.close
            opened.append(side)
        notify(f"A/B run: {opened[0][0].label} against {opened[1][0].label}; rounds interleaved A B B A")
        yield opened
        finished = True
