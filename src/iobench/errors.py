"""The two kinds of failure a user can act on, kept apart so the CLI can map each to its exit code.

Anything else that escapes is a bug in iobench and is allowed to show its traceback.
"""


class UsageError(ValueError):
    """Bad input: a flag, a sweep-file field or a results file. The CLI prints it on one line, exit 2."""


class ServerError(RuntimeError):
    """The HTTP server could not start, is too slow to measure the client, or died during a sweep."""
