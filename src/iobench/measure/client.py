"""The client side of a sweep, run as a script under another interpreter: ``python -P client.py``.

It needs only the standard library and requests. It speaks JSON lines: first it writes one hello line,
``{"hello": <Interpreter>, "batch_options": [...], "clock_waits": true}``, read **after** importing everything
a batch uses (importing an extension can switch a free-threaded build's GIL back on); ``batch_options``
names the keyword arguments its ``run_batch`` takes, so a newer harness sends an older client only those (a
client from before the list takes ``runners.FIRST_BATCH_OPTIONS``). Then for each request line
``{"workload": NAME, "params": {...}, "batch": {<keyword arguments of executors.run_batch>}}`` it runs
the batch and answers ``{"sample": <RoundSample>}`` or ``{"error": "...", "usage": bool}``; a batch asked
for with ``"clock": true`` first sends ``{"clock": true}`` as its clock starts and ``{"clock": false}`` as
it stops, each time waiting for one line back (``clock_waits``: the harness reads its server's CPU then); for
``{"check": [{"workload": NAME, "params": {...}}, ...]}`` it builds each workload (importing a user's task)
and answers ``{"checked": N}`` or the error. End of input (the harness closed the pipe, or died) ends the
process.

Ctrl-C is ignored here: the harness handles it for the whole sweep and then closes the pipe.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys
import types
from functools import partial
from typing import Any, TextIO


def _adopt_package() -> None:
    """Make ``iobench.<module>`` importable without running ``iobench/__init__.py``.

    The package's ``__init__`` imports the whole harness (server, psutil, plotting...), which this
    interpreter does not have and must not need. An empty package object whose path is this folder
    lets the stdlib+requests modules load on their own.
    """
    package = types.ModuleType("iobench")
    package.__path__ = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    sys.modules["iobench"] = package


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, allow_nan=False) + "\n")
    channel.flush()


def _clock(requests_in: TextIO, replies: TextIO, starts: bool) -> None:
    """Tell the harness the batch's clock starts (or stopped), and wait until it has read its server's CPU.

    The wait keeps the reading where the clock is: before the first task, and after the last one but before
    the batch closes its connections, whose ends (a PostgreSQL backend exiting) are no part of the batch.
    """
    _send(replies, {"clock": starts})
    requests_in.readline()


def serve(requests_in: TextIO, replies: TextIO) -> None:
    """Answer batch requests until end of input."""
    # Imported here: the package is adopted first when run as a script.
    from iobench.errors import UsageError
    from iobench.measure.environment import this_interpreter
    from iobench.measure.executors import run_batch
    from iobench.measure.workloads import make_workload

    # The keyword arguments of run_batch this client takes: a newer harness leaves out what it cannot use.
    options = [name for name in inspect.signature(run_batch).parameters if name != "workload"]
    # "clock_waits": at each clock line it waits for the harness to say it has read its server's CPU.
    _send(replies, {"hello": this_interpreter().to_json(), "batch_options": options, "clock_waits": True})
    for line in requests_in:
        try:
            request = json.loads(line)
            if "check" in request:
                checked = [make_workload(item["workload"], item["params"]) for item in request["check"]]
                _send(replies, {"checked": len(checked)})
                continue
            workload = make_workload(request["workload"], request["params"])
            batch = dict(request["batch"])
            if batch.pop("clock", False):
                batch["clock"] = partial(_clock, requests_in, replies)
            sample = run_batch(workload, **batch)
        except Exception as exc:
            usage = isinstance(exc, UsageError)
            _send(replies, {"error": str(exc) if usage else f"{type(exc).__name__}: {exc}", "usage": usage})
            continue
        _send(replies, {"sample": sample.to_json()})


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Replies go to a private copy of stdout; fd 1 then points at stderr, so a stray print() from a
    # library or a user's task lands in the log instead of corrupting the protocol.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    serve(sys.stdin, replies)
    return 0


if __name__ == "__main__":
    _adopt_package()
    sys.exit(main())
