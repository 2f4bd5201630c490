"""The open-files limit a large sweep runs into: raised, or the sweep refused, before any server starts.

Every worker holds a connection, so a batch on N workers needs N sockets in iobench and N more in the
local server (which inherits iobench's limits when it starts). A common default soft limit is 1024
open files: left alone, a 1024-worker batch would fail halfway with "Too many open files" and record
failures that belong to the harness, not to the server. Raising the soft limit up to the hard limit
needs no privileges; beyond the hard limit only the user can help, so say so before measuring anything.
"""

from __future__ import annotations

import resource

from iobench.errors import UsageError

#: Files a process holds besides its connections: the interpreter's own, logs, pipes, the health probe.
_SLACK = 64


def open_files_needed(workers: int) -> int:
    """Twice the pool: a batch's connections plus, briefly, those of the batch before still closing."""
    return 2 * workers + _SLACK


def ensure_open_files(workers: int) -> int:
    """Raise the soft RLIMIT_NOFILE to what a pool of ``workers`` needs; return the limit now in force.

    Raises UsageError, naming the numbers and the way out, when the hard limit is too low.
    """
    needed = open_files_needed(workers)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise UsageError(
            f"{workers} workers need about {needed} open files (a connection per worker here and in the "
            f"server) but this process may open at most {hard} (ulimit -Hn); raise that limit or use at most "
            f"{max(1, (hard - _SLACK) // 2)} workers"
        )
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    except (ValueError, OSError) as exc:
        raise UsageError(f"could not raise the open-files limit from {soft} to {needed} ({exc})") from None
    return needed
