"""Remove a temporary git worktree of ``run --against``, even when the harness is killed with SIGKILL.

``python -P worktree_watchdog.py REPOSITORY FOLDER`` blocks reading its standard input, a pipe whose only
writer is the harness. The pipe reaches end of input when the harness closes it after removing the
worktree itself (then there is nothing left to do) or when the harness dies in any way, SIGKILL included
(then the watchdog removes it). It runs in its own session, so a Ctrl-C at the terminal, which the harness
handles, does not kill it first. Standard library only: the harness's cleanup imports ``remove_worktree``.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

_GIT_TIMEOUT_SECONDS = 60


def _git(repository: Path, *args: str) -> None:
    # git gone or hung: the folder is removed all the same, and the next ``worktree prune`` forgets it.
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(["git", "-C", str(repository), *args], capture_output=True, timeout=_GIT_TIMEOUT_SECONDS,
                       check=False, stdin=subprocess.DEVNULL)  # fmt: skip


def remove_worktree(repository: Path, folder: Path) -> None:
    """Unregister the worktree at ``folder`` and delete the temporary folder holding it; idempotent.

    ``folder`` is the ``tree`` inside a temporary folder of its own, so the folder's parent goes too.
    """
    if folder.exists():
        _git(repository, "worktree", "remove", "--force", "--force", str(folder))
    shutil.rmtree(folder.parent, ignore_errors=True)
    _git(repository, "worktree", "prune")


def main(argv: list[str]) -> int:
    repository, folder = Path(argv[1]), Path(argv[2])
    sys.stdin.read()  # returns at end of input: the harness is done with the worktree, or dead
    if folder.parent.exists():  # else the harness removed it already
        remove_worktree(repository, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
