"""The HTTP server under test: a local httpbin process, or an external one the user points at.

The local server runs in a separate process (gunicorn with one gevent worker) so that its CPU never
competes with the client for the GIL, and in its own process group so that stopping it stops all of it.
Where gevent is not installed (it is the ``gevent`` extra, which a free-threaded build cannot install),
the worker is gunicorn's threaded one, with a thread for every request the sweep can have in flight.
It must never outlive the harness: ``stop()`` runs on every normal and exceptional exit, and a watchdog
inside the gunicorn master (see ``iobench.measure.server_watchdog``) kills the group when the harness dies by
SIGKILL, where no ``finally`` runs.

A server can also fail while the harness lives: ``problem()`` says whether it can still serve, cheaply
enough to be asked several times a second while a batch runs (see ``iobench.measure.health``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import psutil
import requests

from iobench.errors import ServerError
from iobench.measure.config import validate_target
from iobench.results.model import Preflight, ServerInfo

LOOPBACK = "127.0.0.1"
_LISTENING = re.compile(r"Listening at: (http://\S+)")
#: gevent's default is 1000 open connections per worker; a sweep to N workers needs N plus slack.
_MIN_WORKER_CONNECTIONS = 1000
#: gunicorn closes a keep-alive connection idle for 2 s by default. A saturated client thread (1024 of
#: them sharing one GIL) can pause that long between two requests; the server then closes the connection
#: just as the client reuses it: a spurious "connection reset" and a reconnect counted against the client.
KEEP_ALIVE_SECONDS = 120
#: An external server is judged by GET /get (we cannot see its processes): it has stopped answering after
#: PROBE_FAILURES probes in a row got no HTTP answer within PROBE_TIMEOUT, one probe per PROBE_INTERVAL at
#: most, so 6 to 7 s after it hangs. The timeout is generous because under a saturated client a healthy
#: server's answer takes a while to be read: probes took up to 1.0 s during a 1024-thread batch here.
PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 3.0
PROBE_FAILURES = 2
STOPPED = (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
#: The threaded worker's threads beyond the largest pool: room for a probe or a straggler of the last batch.
_SPARE_THREADS = 16


def default_worker_class() -> str:
    """gevent where it is installed (the ``gevent`` extra), else gunicorn's threaded worker.

    gevent serves any number of waiting requests on one thread; gthread needs a thread per request in
    flight, so the server sizes it to the sweep, and the capacity preflight checks that it holds them.
    """
    return "gevent" if importlib.util.find_spec("gevent") is not None else "gthread"


def _log_tail(path: Path, lines: int = 5) -> str:
    """The last lines of the server log, folded into one line so an error message stays one line."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no server log)"
    return " | ".join(line.strip() for line in text[-lines:]) or "(empty server log)"


class LocalServer:
    """httpbin under ``gunicorn -k gevent`` (or ``-k gthread``), bound to 127.0.0.1 on a port the kernel picks.

    Use it as a context manager; ``url`` is valid inside the ``with`` block. Binding port 0 and reading
    the real port back from gunicorn's log avoids the race of probing for a free port first.
    """

    def __init__(
        self,
        max_concurrency: int = 128,
        startup_timeout: float = 30.0,
        app: str = "httpbin:app",
        worker_class: str | None = None,
    ) -> None:
        self.worker_connections = max(_MIN_WORKER_CONNECTIONS, 2 * max_concurrency)
        self.startup_timeout = startup_timeout
        self.app = app
        self.worker_class = worker_class or default_worker_class()
        #: The threaded worker's pool: one thread per request in flight. None for gevent, which needs none.
        self.threads = max_concurrency + _SPARE_THREADS if self.worker_class == "gthread" else None
        self.url = ""
        self.startup_seconds = float("nan")
        self._process: subprocess.Popen[bytes] | None = None
        self._watched: list[psutil.Process] = []
        self._logdir = tempfile.TemporaryDirectory(prefix="iobench-server-")
        self.log_path = Path(self._logdir.name) / "gunicorn.log"

    @property
    def kind(self) -> str:
        return f"local-httpbin-gunicorn-{self.worker_class}"

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start gunicorn and return once httpbin answers, or raise ServerError with the log tail."""
        command = [
            sys.executable, "-m", "gunicorn",
            "--config", "python:iobench.measure.server_watchdog",
            "--worker-class", self.worker_class,
            "--workers", "1",
            "--worker-connections", str(self.worker_connections),
            "--bind", f"{LOOPBACK}:0",
            "--graceful-timeout", "2",
            "--keep-alive", str(KEEP_ALIVE_SECONDS),
            "--log-level", "info",
            *(["--threads", str(self.threads)] if self.threads else []),
            self.app,
        ]  # fmt: skip
        env = {**os.environ, "IOBENCH_HARNESS_PID": str(os.getpid())}
        began = time.perf_counter()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,
            )  # fmt: skip
        try:
            self.url = self._wait_until_answering(began + self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - began

    def _wait_until_answering(self, deadline: float) -> str:
        url = ""
        while time.perf_counter() < deadline:
            if not self.alive():
                raise ServerError(f"httpbin server exited during start-up: {_log_tail(self.log_path)}")
            if not url:
                found = _LISTENING.search(self.log_path.read_text(errors="replace"))
                url = found.group(1) if found else ""
            if url:
                try:
                    if requests.get(f"{url}/get", timeout=1.0).ok:
                        return url
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        raise ServerError(
            f"httpbin server did not answer within {self.startup_timeout:g} s: {_log_tail(self.log_path)}"
        )

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def pids(self) -> list[int]:
        """The gunicorn master and its workers, for CPU accounting and for checking nothing is left."""
        if not self.alive():
            return []
        assert self._process is not None
        try:
            master = psutil.Process(self._process.pid)
            return [master.pid, *(child.pid for child in master.children(recursive=True))]
        except psutil.NoSuchProcess:
            return []

    def problem(self) -> str | None:
        """Why the server cannot serve now (its master exited, or one of its processes is stopped), or None.

        It reads process states instead of sending requests, so it costs the measured client ~0.1 ms of
        CPU and the server nothing. The process list is cached (listing children scans all of /proc,
        ~5 ms) and refreshed when a cached process is gone, e.g. after gunicorn replaced a dead worker.
        """
        if self._process is None:
            return "the server is not running"
        code = self._process.poll()
        if code is not None:
            return f"the server {_exit_reason(code)}"
        for attempt in range(2):
            try:
                if attempt or not self._watched:
                    self._watched = [psutil.Process(pid) for pid in self.pids()]
                for process in self._watched:
                    if process.status() in STOPPED:
                        return f"the server stopped answering: its process {process.pid} is stopped (SIGSTOP?)"
                return None
            except psutil.NoSuchProcess:
                continue
        return None

    def cpu_seconds(self) -> float | None:
        """CPU of the whole server tree so far, to the nanosecond; the sweep samples it around each batch."""
        total = 0.0
        for pid in self.pids():
            try:
                total += process_cpu_seconds(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue
        return total

    def stop(self) -> None:
        """Stop the whole process group: SIGINT (gunicorn's quick shutdown), SIGKILL if it lingers.

        Quick, not graceful: whatever requests are in flight belong to a sweep that is over. SIGCONT
        follows so that a stopped (SIGSTOP) server wakes up to handle it. The group is signalled even
        when the master is already gone: a worker whose master was killed would otherwise serve on.
        """
        process, self._process = self._process, None
        if process is not None:
            stop_group(process, signal.SIGINT, grace=5.0)
        self._logdir.cleanup()

    def describe(self) -> ServerInfo:
        return ServerInfo(kind=self.kind, url=self.url, startup_seconds=self.startup_seconds,
                          worker_class=self.worker_class, worker_connections=self.worker_connections,
                          keep_alive_seconds=KEEP_ALIVE_SECONDS, processes=1, threads=self.threads)  # fmt: skip


def process_cpu_seconds(process: psutil.Process) -> float:
    """A process's CPU seconds so far: to the nanosecond where Linux's schedstat has them, else to the tick.

    A server's share of a short batch is a few milliseconds, below the 10 ms tick in which /proc/PID/stat
    counts CPU, so a tick-resolution difference around a batch is often 0. schedstat counts per thread,
    so the threads of a threaded worker are summed; a thread that ends while they are read is skipped.
    """
    try:
        nanoseconds = 0
        for thread in os.scandir(f"/proc/{process.pid}/task"):
            try:
                with open(f"{thread.path}/schedstat") as stats:
                    nanoseconds += int(stats.read().split()[0])
            except FileNotFoundError:
                continue
        return nanoseconds / 1e9
    except (OSError, ValueError, IndexError):
        times = process.cpu_times()
        return times.user + times.system


def stop_group(leader: subprocess.Popen[bytes], first: signal.Signals, grace: float) -> None:
    """Send ``first`` to ``leader``'s whole process group, then SIGKILL whatever is left after ``grace`` seconds.

    SIGCONT follows each signal so that a stopped (SIGSTOP) process wakes up to handle it. The group is
    signalled even when the leader is already gone: a child it left behind would otherwise live on.
    """
    for sig, wait in ((first, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(leader.pid, sig)
            os.killpg(leader.pid, signal.SIGCONT)
        except ProcessLookupError:
            break
        if group_ends(leader, wait):
            break
    leader.poll()  # reap the leader if it is gone


def group_ends(leader: subprocess.Popen[bytes], within: float) -> bool:
    """Wait until no live process is left in ``leader``'s process group, up to ``within`` seconds.

    Every server iobench starts (gunicorn, PostgreSQL's keeper) leads a process group of its own.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        leader.poll()  # reap our own child, or it stays a zombie member of the group
        if not _live_members(leader.pid):
            return True
        time.sleep(0.02)
    return False


def _live_members(group: int) -> list[int]:
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == group and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return members


def _exit_reason(code: int) -> str:
    if code >= 0:
        return f"exited with status {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


class ExternalServer:
    """A server the user runs; iobench starts nothing and cannot see its CPU or its processes."""

    kind = "external"

    def __init__(self, url: str) -> None:
        self.url = validate_target(url)
        self.startup_seconds = 0.0
        self._probe = requests.Session()
        self._last_probe = -float("inf")
        self._failed_probes = 0
        self._last_error = ""

    def __enter__(self) -> ExternalServer:
        """Check once that the server answers at all, so an unreachable one is named as such."""
        try:
            self._probe.get(f"{self.url}/get", timeout=PROBE_TIMEOUT)
        except requests.RequestException as exc:
            self._probe.close()
            raise ServerError(f"cannot reach {redact_url(self.url)}: {failure_reason(exc)}") from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._probe.close()

    def alive(self) -> bool:
        return self._failed_probes < PROBE_FAILURES

    def problem(self) -> str | None:
        """None while GET /get gets any HTTP answer; a reason once PROBE_FAILURES probes in a row got none.

        Any status counts as an answer: a server that answers 500 is alive, and its failing requests
        are counted as errors of the points they belong to.
        """
        now = time.monotonic()
        if now - self._last_probe >= PROBE_INTERVAL:
            self._last_probe = now
            try:
                self._probe.get(f"{self.url}/get", timeout=PROBE_TIMEOUT)
                self._failed_probes = 0
            except requests.RequestException as exc:
                self._failed_probes += 1
                self._last_error = failure_reason(exc)
        if self.alive():
            return None
        return (f"the server stopped answering: {self._failed_probes} probes of /get in a row got no answer "
                f"within {PROBE_TIMEOUT:g} s ({self._last_error})")  # fmt: skip

    def cpu_seconds(self) -> float | None:
        return None

    def describe(self) -> ServerInfo:
        return ServerInfo(kind=self.kind, url=redact_url(self.url))


class NoServer:
    """Stands in for a server when no series makes HTTP requests (cpu, hybrid, file-io): nothing starts."""

    kind = "none"
    url = None
    startup_seconds = 0.0

    def __enter__(self) -> NoServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def problem(self) -> str | None:
        """Nothing runs, so nothing can fail."""
        return None

    def cpu_seconds(self) -> float | None:
        return None

    def describe(self) -> ServerInfo:
        return ServerInfo(kind=self.kind)


Server = LocalServer | ExternalServer | NoServer

_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def failure_reason(exc: BaseException) -> str:
    """A short reason for a failed request: requests nests the OS error four deep in a long repr.

    "ConnectionError: Connection refused" instead of "ConnectionError(MaxRetryError('HTTPConnectionPool(...".
    """
    found = _ERRNO_TEXT.search(str(exc))
    return f"{type(exc).__name__}: {found.group(1).strip()}" if found else type(exc).__name__


def redact_url(url: str) -> str:
    """The URL without credentials, query or fragment, safe to write into a results file."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    netloc = f"{host}:{parts.port}" if parts.port else host
    if not netloc:  # postgresql://user:pw@/db?host=/socket/dir: the // stays, the query (it may hold a password) goes
        return f"{parts.scheme}://{parts.path}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def preflight(url: str, concurrency: int, delay: float = 0.5, timeout: float = 60.0, refuse: bool = True) -> Preflight:
    """Fire ``concurrency`` simultaneous ``/delay/<delay>`` requests; refuse a server that queues them.

    A sweep to N workers measures the client only if the server can hold N requests open at once. If it
    cannot (waitress with a few threads, gunicorn sync workers) the sweep would show a saturation point
    that belongs to the server. The allowance (``Preflight.allowance``) is generous enough for a busy 2-core machine
    and far below what a server that serializes even half the requests needs.

    ``refuse=False`` is for a server that is itself the system under test (``--target``): its concurrency
    is measured and returned (``Preflight.effective_concurrency``) instead of ending the run.
    """
    released: list[float] = []
    barrier = threading.Barrier(concurrency, action=lambda: released.append(time.perf_counter()))

    def one_request() -> None:
        try:
            with requests.Session() as session:
                session.get(f"{url}/get", timeout=timeout).raise_for_status()  # connect before the clock
                barrier.wait(timeout)
                session.get(f"{url}/delay/{delay:g}", timeout=timeout).raise_for_status()
        except BaseException:
            barrier.abort()  # release the others instead of leaving them waiting for this thread
            raise

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(one_request) for _ in range(concurrency)]
    failures = [exc for exc in (future.exception() for future in futures) if exc is not None]
    if failures:
        cause = next((exc for exc in failures if not isinstance(exc, threading.BrokenBarrierError)), failures[0])
        raise ServerError(f"capacity preflight against {redact_url(url)} failed: {failure_reason(cause)}")
    result = Preflight(concurrency, delay, time.perf_counter() - released[0])
    if refuse and result.queued:
        raise ServerError(
            f"the server is the bottleneck: {concurrency} concurrent /delay/{delay:g} requests took "
            f"{result.elapsed:.2f} s (allowed {result.allowance:.2f} s), so it holds about "
            f"{result.effective_concurrency:.0f} at a time; use a server that can serve {concurrency}"
        )
    return result
