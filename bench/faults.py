"""Inject each process-level fault into a real ``iobench run`` and print what happened as a Markdown table.

    python bench/faults.py        # about 30 s; starts and breaks its own servers only

For every scenario: how the fault was injected, what the user saw (exit code, last stderr line, seconds
from the fault to the harness's exit), what the results file kept, and which processes were left
(expected: none, ever). The tests assert the same things; this script shows them side by side.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

RUN = [sys.executable, "-m", "iobench", "run", "--delay", "0.4", "--workers", "2", "--rounds", "20", "--waves", "2",
       "--plots", ""]  # fmt: skip


def wait_for(condition: Callable[[], bool], within: float = 60.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def batches(path: Path) -> int:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    return sum(len(p["warmup"]) + len(p["rounds"]) for s in document["series"] for p in s["points"])


def errors(path: Path) -> int:
    document = json.loads(path.read_text())
    return sum(sum(x["errors"].values()) for s in document["series"] for p in s["points"]
               for x in p["warmup"] + p["rounds"])  # fmt: skip


def servers_under(pid: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(pid).children(recursive=True) if "gunicorn" in " ".join(p.cmdline())]


def left(processes: list[psutil.Process]) -> list[int]:
    wait_for(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes), 10)
    return [p.pid for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


Fault = Callable[[subprocess.Popen[str], int, Path], None]


def scenario(name: str, how: str, fault: Fault, extra: tuple[str, ...] = (), ignore_sigint: bool = False) -> str:
    """Run the harness, inject ``fault(harness, server_master_pid, results_path)`` mid-batch, describe the outcome."""
    with tempfile.TemporaryDirectory(prefix="iobench-faults-") as folder:
        out = Path(folder) / "r.json"
        harness = subprocess.Popen(
            [*RUN, *extra, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None,
        )  # fmt: skip
        wait_for(lambda: batches(out) >= 1)
        servers = servers_under(harness.pid)
        time.sleep(0.3)  # land inside the next batch (each lasts 0.8 s)
        began = time.monotonic()
        fault(harness, master(servers, harness.pid) if servers else 0, out)  # no server of its own with --target
        _, stderr = harness.communicate(timeout=300)
        seconds = time.monotonic() - began
        saw = (stderr.strip().splitlines() or ["(nothing)"])[-1].replace(str(out), "r.json")
        status = json.loads(out.read_text())["status"]
        done = batches(out)
        saved = f"status {status}, {done} batch{'' if done == 1 else 'es'}, {errors(out)} failed requests"
        if harness.returncode < 0:  # only SIGKILL ends the harness unhandled
            user_saw = f"killed by {signal.Signals(-harness.returncode).name} (no cleanup runs)"
        else:
            user_saw = f"exit {harness.returncode} after {seconds:.2f} s: `{saw}`"
        return f"| {name} | {how} | {user_saw} | {saved} | {left(servers) or 'none'} |"


def master(servers: list[psutil.Process], parent: int) -> int:
    return next(p.pid for p in servers if p.ppid() == parent)


def crash_the_worker(harness: subprocess.Popen[str], server: int, out: Path) -> None:
    """Kill the worker, let the sweep record the batch it hit and one more, then stop it with Ctrl-C."""
    done = batches(out)
    os.kill(next(p.pid for p in psutil.Process(server).children()), signal.SIGKILL)
    wait_for(lambda: batches(out) >= done + 2)
    harness.send_signal(signal.SIGINT)


def main() -> None:
    rows = [
        scenario("Ctrl-C", "SIGINT to the harness, started with SIGINT ignored as `cmd &` does",
                 lambda h, m, o: h.send_signal(signal.SIGINT), ignore_sigint=True),
        scenario("SIGTERM", "SIGTERM to the harness", lambda h, m, o: h.send_signal(signal.SIGTERM)),
        scenario("SIGKILL", "SIGKILL to the harness", lambda h, m, o: h.kill()),
        scenario("server killed", "SIGKILL to the gunicorn master mid-batch",
                 lambda h, m, o: os.kill(m, signal.SIGKILL)),
        scenario("server hangs", "SIGSTOP to the server's process group mid-batch",
                 lambda h, m, o: os.killpg(m, signal.SIGSTOP)),
        scenario("worker crash", "SIGKILL to the gunicorn worker mid-batch; Ctrl-C two batches later",
                 crash_the_worker),
    ]  # fmt: skip
    serve = subprocess.Popen([sys.executable, "-m", "iobench", "serve", "--capacity", "8"], stdout=subprocess.PIPE,
                             text=True)  # fmt: skip
    try:
        url = re.search(r"http://\S+", serve.stdout.readline() if serve.stdout else "")
        assert url, "iobench serve did not start"
        group = master(servers_under(serve.pid), serve.pid)
        rows.append(
            scenario(
                "external server hangs",
                "SIGSTOP to an `iobench serve` given as --target",
                lambda h, m, o: os.killpg(group, signal.SIGSTOP),
                extra=("--target", url.group(0)),
            )
        )
        os.killpg(group, signal.SIGCONT)
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=30)
    print("| fault | injected | the user saw | saved | server processes left |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
