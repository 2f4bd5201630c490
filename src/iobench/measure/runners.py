"""Where a batch runs: in a long-lived client subprocess, under the harness's interpreter or another one.

The measured client never runs in the harness's own process. That process holds what a script being
measured would not (rich, numpy, matplotlib, the results document, the server watching), and a bare
thread pool measured inside it ran up to 11 % slower at N = 128 than the same code in a small process
(bench/overhead.py): a larger heap for the cyclic collector to walk, more memory to keep in cache, and
the progress display and health checks taking the client's GIL. In a subprocess the client is as lean
as the script it stands for, and under another interpreter (``--python``) it could not be otherwise.

The sweep asks a runner for every batch, so points of every interpreter interleave in one shuffled order,
against one server whose CPU the harness samples around each batch's clock. Each runner carries an
``interpreter`` record (version, build, free-threaded or not, the GIL state read inside the client after
its imports, the requests and urllib3 it runs) that every series it measures stores in the results file.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from iobench.errors import ServerError, UsageError
from iobench.measure.interpreters import FoundInterpreter, Notify, Skipped, gil_settings, locate, with_requests
from iobench.measure.workloads import Workload
from iobench.results.model import Interpreter, RoundSample

CLIENT_SCRIPT = Path(__file__).with_name("client.py")
#: The batch options of a client that does not list its own (iobench before the probe): what it takes.
FIRST_BATCH_OPTIONS = ("executor", "workers", "tasks", "target", "timeout", "session_strategy")
#: Options an older client may go without: it runs the batch as before, and the round records less.
OPTIONAL_BATCH_OPTIONS = ("probe",)
#: How long a client that was told to stop may take to finish its batch before it is killed.
_STOP_GRACE_SECONDS = 5.0


class ClientError(ServerError):
    """A client subprocess died or broke the protocol: like a dead server, the sweep cannot go on.

    A ServerError, so the sweep saves what it measured, marks the run failed, and the CLI exits 3.
    """


class Runner(Protocol):
    interpreter: Interpreter

    def run_batch(self, workload: Workload, **batch: Any) -> RoundSample:
        """Run one batch; ``batch`` holds the keyword arguments of ``executors.run_batch``."""
        ...

    def close(self, abandon: bool = False) -> None: ...


class SubprocessRunner:
    """A client process, answering one batch request at a time (see ``client``).

    An A/B run (``run --against``) starts one per side, each with its own ``client`` script (a tree's own
    iobench client, or this one's), ``import_path`` put first on its module path so the user's task comes
    from that tree, and ``cwd`` in that tree. ``python_gil`` is the PYTHON_GIL the client starts with ("0"
    or "1"), for a free-threaded build measured with its GIL forced off or on; None leaves it as it is.
    """

    def __init__(
        self,
        interpreter: FoundInterpreter,
        client: Path = CLIENT_SCRIPT,
        import_path: tuple[Path, ...] = (),
        cwd: Path | None = None,
        python_gil: str | None = None,
    ) -> None:
        self._name = interpreter.requested if python_gil is None else f"{interpreter.requested} PYTHON_GIL={python_gil}"
        self._log = tempfile.TemporaryFile(mode="w+", prefix="iobench-client-")  # noqa: SIM115 (closed in close())
        env = None
        if import_path:
            inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, import_path), *inherited])}
        if python_gil is not None:
            env = {**(env or os.environ), "PYTHON_GIL": python_gil}
        try:
            self._process = subprocess.Popen(
                [interpreter.executable, "-P", str(client)], cwd=cwd, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, encoding="utf-8",
            )  # fmt: skip
        except OSError as exc:
            self._log.close()
            raise Skipped(f"cannot start {interpreter.executable} ({exc.__class__.__name__})") from None
        try:
            hello = self._receive()
        except ClientError:
            tail = self._log_tail()  # before close(), which closes the log
            self.close()
            raise Skipped(f"the client did not start under {interpreter.executable}: {tail}") from None
        if "hello" not in hello:
            self.close()
            raise Skipped(f"the client under {interpreter.executable} did not introduce itself")
        try:
            reported = Interpreter.from_json(hello["hello"], "hello")
        except UsageError as exc:
            self.close()
            raise Skipped(f"the client under {interpreter.executable} sent a bad introduction ({exc})") from None
        self.interpreter = replace(reported, requested=interpreter.requested, runs="subprocess", venv=interpreter.venv)
        self._batch_options = frozenset(hello.get("batch_options", FIRST_BATCH_OPTIONS))
        #: Whether the client waits, at each clock line, for word that the server's CPU was read (iobench
        #: before it did not, and reads a line sent to it as its next request).
        self._clock_waits = bool(hello.get("clock_waits"))

    def _log_tail(self) -> str:
        self._log.seek(0)
        lines = [line.strip() for line in self._log.read().splitlines() if line.strip()]
        return lines[-1][:300] if lines else "no output"

    def _receive(self) -> dict[str, Any]:
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line:
            self._process.wait(timeout=_STOP_GRACE_SECONDS)
            raise ClientError(f"{self._name}: the client process exited ({self._process.returncode}): "
                              f"{self._log_tail()}")  # fmt: skip
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise ClientError(f"{self._name}: the client sent something that is not a reply: {line[:100]!r}") from None

    def _tell(self, message: dict[str, Any]) -> None:
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise ClientError(f"{self._name}: the client process is gone: {self._log_tail()}") from None

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self._tell(request)
        return self._receive()

    def check(self, workloads: list[Workload]) -> None:
        """Have the client build every workload now, before any server starts: a task its tree cannot import
        is a UsageError here, not a failure halfway through a sweep. A client that does not know the request
        (an older one) is a ClientError."""
        reply = self._ask({"check": [{"workload": w.name, "params": w.params()} for w in workloads]})
        if reply.get("usage"):
            raise UsageError(str(reply.get("error")))
        if "checked" not in reply:
            raise ClientError(f"{self._name}: the client does not check workloads: {reply.get('error', reply)}")

    def run_batch(self, workload: Workload, **batch: Any) -> RoundSample:
        """The batch in the client process, with the options that client takes (an A/B run's side A may be an
        older iobench): one it lacks is left out when the batch runs the same without it (the probe, or the
        ``clock`` callback), else a one-line UsageError.

        ``clock(starts)`` is called here when the client says its batch clock starts and stopped: the
        callback cannot cross the pipe, so the client sends a line at each moment instead, and (a client
        that says ``clock_waits``) waits for the answer that ``clock`` has returned before it goes on.
        """
        clock = batch.pop("clock", None)
        missing = [key for key, value in batch.items() if key not in self._batch_options
                   and key not in OPTIONAL_BATCH_OPTIONS and value is not None]  # fmt: skip
        if missing:
            raise UsageError(f"{self._name}: its client (an older iobench) cannot run batches with {missing[0]}")
        batch = {key: value for key, value in batch.items() if key in self._batch_options}
        if clock is not None and "clock" in self._batch_options:
            batch["clock"] = True
        reply = self._ask({"workload": workload.name, "params": workload.params(), "batch": batch})
        while "clock" in reply and clock is not None:
            clock(bool(reply["clock"]))
            if self._clock_waits:
                self._tell({"clock_read": True})
            reply = self._receive()
        if "error" in reply:
            error = UsageError if reply.get("usage") else ClientError
            raise error(f"{self._name}: {reply['error']}")
        try:
            return RoundSample.from_json(reply.get("sample"), "sample")
        except UsageError as exc:
            raise ClientError(f"{self._name}: the client sent a bad sample ({exc})") from None

    @property
    def pid(self) -> int:
        """The client process, for reading its CPU from outside."""
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The client's exit status once it has ended, else None."""
        return self._process.poll()

    def close(self, abandon: bool = False) -> None:
        """End of input tells the client to stop; one that does not (stuck in a batch) is killed.

        ``abandon`` kills it at once: after a Ctrl-C or a failed server its batch is of no use, and it may
        be waiting on a hung server for as long as the request timeout.
        """
        if abandon and self._process.poll() is None:
            self._process.kill()
        if self._process.stdin is not None and not self._process.stdin.closed:
            with contextlib.suppress(OSError):  # a client that died already has nothing left to tell
                self._process.stdin.close()
        try:
            self._process.wait(timeout=_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._log.close()


def _own_import_path() -> tuple[Path, ...]:
    """This process's module path, for a client under this same interpreter: it imports what the harness can.

    The user's --task module, a sweep file's tasks, a test's helpers: whatever the harness found on its path
    (its folder, PYTHONPATH, pytest's root) the client in its subprocess finds too.
    """
    return tuple(Path(entry or os.getcwd()) for entry in sys.path)


def open_runners(
    pythons: tuple[str, ...], notify: Notify, gil: str = "auto"
) -> tuple[list[Runner], list[dict[str, str]]]:
    """A client subprocess per interpreter and GIL state that can run the client, and the skipped ones.

    No ``pythons`` means this process's own interpreter, whose client gets this process's module path.
    ``gil`` (a key of ``GIL_SETTINGS``) says in which GIL states to run each free-threaded build: "both"
    gives the same binary two runners, with PYTHON_GIL=1 and PYTHON_GIL=0, whose series differ by
    ``Interpreter.gil_enabled``. Each skip is reported through ``notify`` in one line; when nothing is
    left to measure that is bad input (UsageError), raised before any server starts.
    """
    runners: list[Runner] = []
    skipped: list[dict[str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    try:
        for requested in pythons or (sys.executable,):
            try:
                found = locate(requested)
                key = ("this process", "") if found.is_this_process() else found.identity
                if key in seen:
                    raise Skipped(f"{requested} is the same interpreter as {seen[key]}")
                seen[key] = requested
                import_path = _own_import_path() if found.is_this_process() else ()
                for python_gil in gil_settings(found, gil):
                    runners.append(SubprocessRunner(with_requests(found, notify), import_path=import_path,
                                                    python_gil=python_gil))  # fmt: skip
            except Skipped as reason:
                skipped.append({"requested": requested, "reason": str(reason)})
                notify(f"skipping {requested}: {reason}")
        if not runners:
            given = "given with --python " if pythons else ""
            raise UsageError(f"none of the interpreters {given}can run the client ({len(skipped)} skipped)")
        if gil in ("off", "both") and not any(runner.interpreter.free_threaded_build for runner in runners):
            raise UsageError(f"--gil {gil} needs a free-threaded interpreter (a 3.13t, with --python); "
                             "a GIL build cannot run with its GIL off")  # fmt: skip
    except BaseException:
        close_runners(runners, abandon=True)
        raise
    return runners, skipped


def close_runners(runners: list[Runner], abandon: bool = False) -> None:
    """Stop every client; ``abandon`` kills them at once (see ``SubprocessRunner.close``)."""
    for runner in runners:
        runner.close(abandon)
