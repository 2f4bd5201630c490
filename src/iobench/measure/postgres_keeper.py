"""Runs the embedded PostgreSQL for a harness and never lets it outlive that harness.

``python -m iobench.measure.postgres_keeper HARNESS_PID RUN_DIR BIN_DIR MAX_CONNECTIONS [UID GID]``

The harness starts this keeper in a process group of its own; the keeper creates the database cluster
(``initdb``) in ``RUN_DIR/data``, runs ``postgres`` in the foreground as its child (as user UID:GID when
the harness is root, since PostgreSQL refuses to run as root) and waits. It shuts the server down and
removes ``RUN_DIR`` when the harness asks (SIGTERM or SIGINT), when the server exits, or when the harness
is gone, however it ended: SIGKILL of the harness runs no ``finally``, so only a process that outlives
it can clean up (as ``server_watchdog`` does inside gunicorn). Standard library only.

The server listens on a Unix socket in ``RUN_DIR/socket`` and on no TCP address, so only this machine
can reach it, and only users who may enter that folder (its owner and root).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

_POLL_SECONDS = 0.2
#: PostgreSQL's fast shutdown (SIGINT) ends every session and stops; after this long, SIGKILL.
_SHUTDOWN_GRACE = 5.0
#: The socket is .s.PGSQL.<port>; with no TCP listener the port only names the file.
PORT = 5432


def _as_user(uid: int | None, gid: int | None) -> dict[str, int]:
    return {} if uid is None or gid is None else {"user": uid, "group": gid, "extra_groups": []}


def _initdb(bin_dir: Path, data: Path, log: Path, owner: dict[str, int]) -> None:
    """A throwaway cluster: trust auth (only the socket's folder guards it), no fsync of its files, C locale."""
    with log.open("ab") as out:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "--username=postgres", "--encoding=UTF8",
             "--locale=C", "--no-sync", "--no-instructions"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=True, **owner,
        )  # fmt: skip


def _server_command(bin_dir: Path, run_dir: Path, max_connections: int) -> list[str]:
    return [
        str(bin_dir / "postgres"), "-D", str(run_dir / "data"), "-p", str(PORT),
        "-c", "listen_addresses=", "-c", f"unix_socket_directories={run_dir / 'socket'}",
        "-c", "unix_socket_permissions=0700", "-c", f"max_connections={max_connections}",
    ]  # fmt: skip


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Fast shutdown (every session ends, the postmaster waits for its backends), SIGKILL if it lingers."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(_SHUTDOWN_GRACE)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def keep(harness_pid: int, run_dir: Path, bin_dir: Path, max_connections: int, owner: dict[str, int]) -> int:
    """Run the server until the harness asks, the server exits or the harness is gone; always clean up."""
    asked = threading.Event()

    def ask_to_stop(signum: int, frame: FrameType | None) -> None:
        asked.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, ask_to_stop)
    log = run_dir / "server.log"
    server: subprocess.Popen[bytes] | None = None
    try:
        _initdb(bin_dir, run_dir / "data", log, owner)
        with log.open("ab") as out:
            server = subprocess.Popen(_server_command(bin_dir, run_dir, max_connections), stdout=out,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **owner)  # fmt: skip
        while not asked.is_set() and os.getppid() == harness_pid and server.poll() is None:
            asked.wait(_POLL_SECONDS)
        return 0 if server.poll() is None else 1
    except (OSError, subprocess.CalledProcessError) as exc:
        with log.open("a") as out:
            out.write(f"iobench: the server could not start: {exc}\n")
        return 1
    finally:
        if server is not None:
            _stop(server)
        if os.getppid() != harness_pid:  # no harness to read the log or reap us: nothing of the run may stay
            shutil.rmtree(run_dir, ignore_errors=True)
            if os.getpgrp() == os.getpid():  # a backend the postmaster left would be in this group
                os.killpg(os.getpgrp(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    harness_pid, run_dir, bin_dir, max_connections = int(argv[0]), Path(argv[1]), Path(argv[2]), int(argv[3])
    owner = _as_user(int(argv[4]), int(argv[5])) if len(argv) > 4 else {}
    return keep(harness_pid, run_dir, bin_dir, max_connections, owner)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
